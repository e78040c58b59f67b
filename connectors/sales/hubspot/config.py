"""What an admin writes under ``connectors.<name>`` for a HubSpot territory (``kind: hubspot``).

Two ways to authenticate, exactly one of which must be given:

* a private-app access token (``access_token``): a static Bearer token that does not expire;
* OAuth (``client_id`` + ``client_secret`` + ``refresh_token``): the connector trades the
  refresh token for 30-minute access tokens at ``token_path``.
"""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from connectors.settings import ConnectorConfig, Secret

SEARCH_PAGE_MAX = 200
"""The search API returns at most 200 objects per page (PublicObjectSearchRequest.limit)."""

SEARCH_RESULT_CAP = 10_000
"""A search query can page through at most 10,000 results; paging further answers HTTP 400."""


class HubSpotConfig(ConnectorConfig):
    """Connection, credentials and read tuning for one HubSpot account (portal)."""

    kind: Literal["hubspot"]
    base_url: str = Field("https://api.hubapi.com", description="HubSpot API root")
    access_token: Secret | None = Field(None, description="Private-app access token")
    client_id: str | None = Field(None, description="OAuth app client id")
    client_secret: Secret | None = Field(None, description="OAuth app client secret")
    refresh_token: Secret | None = Field(None, description="OAuth refresh token of the install")
    token_path: Literal["/oauth/v1/token", "/oauth/v3/token"] = Field(
        "/oauth/v1/token",
        description="OAuth token endpoint; v1 is deprecated on 2027-02-16, v3 takes the same form",
    )
    page_size: int = Field(SEARCH_PAGE_MAX, ge=1, le=SEARCH_PAGE_MAX)
    overlap_seconds: int = Field(
        300, ge=0, description="Re-read this much before the cursor (search index lag, ties)"
    )
    search_rate_per_second: float = Field(
        4.0, gt=0, description="Pace of search calls; HubSpot allows about 5 per second"
    )
    search_result_cap: int = Field(
        SEARCH_RESULT_CAP,
        ge=1,
        le=SEARCH_RESULT_CAP,
        description="Results HubSpot lets one search query page through (10,000); the reader "
        "never pages a query with `after` (keyset reads), so it stays below any cap",
    )
    read_archived: bool = Field(
        True, description="List archived deals each run so they arrive as deletions"
    )
    portal_id: int | None = Field(None, description="Hub ID, for deep links to deals")
    app_url: str = Field("https://app.hubspot.com", description="HubSpot web app root")
    account_time_zone: str | None = Field(
        None,
        description="The account's time zone (IANA name, e.g. America/Chicago): the daily API "
        "budget refills at midnight there, so a spent budget is tried again exactly then",
    )
    daily_limit_recheck: float = Field(
        3600.0,
        gt=0,
        description="Without account_time_zone: seconds before a job whose daily budget was "
        "spent is tried again",
    )

    @field_validator("account_time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r}; write an IANA name such as Europe/Berlin "
                "(HubSpot: Settings > Account defaults > Time zone)"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> HubSpotConfig:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if self.access_token is not None:
            if any(v is not None for v in oauth):
                raise ValueError(
                    "give either access_token (private app) or client_id, client_secret and "
                    "refresh_token (OAuth), not both"
                )
            return self
        if any(v is None for v in oauth):
            raise ValueError(
                "HubSpot needs access_token (private app) or all of client_id, client_secret "
                "and refresh_token (OAuth)"
            )
        return self

    @property
    def uses_oauth(self) -> bool:
        """True when the connector must mint access tokens from the refresh token."""
        return self.access_token is None
