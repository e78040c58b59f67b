"""What an admin writes under ``connectors.<name>`` for a Salesforce territory.

Authentication is one of two OAuth 2.0 flows, chosen by ``auth.flow``:

* ``jwt_bearer``: a connected app / External Client App with a certificate; the connector signs
  a short-lived RS256 JWT with the private key and trades it for an access token (no refresh
  token is issued, so expiry simply means signing a new JWT);
* ``refresh_token``: a refresh token issued to the app; the connector trades it for access
  tokens and adopts a rotated refresh token when Salesforce returns one.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from connectors.base import Frozen
from connectors.settings import ConnectorConfig, Secret

API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
"""Salesforce API names: a letter, then letters, digits, underscores (``Special_Discount__c``)."""

BATCH_MIN, BATCH_MAX = 200, 2000
"""``Sforce-Query-Options: batchSize`` accepts 200..2000 (REST API guide, Query Options Header)."""


class JwtBearerAuth(Frozen):
    """OAuth 2.0 JWT bearer flow: ``iss`` = client id, ``sub`` = username, ``aud`` = login URL."""

    flow: Literal["jwt_bearer"]
    client_id: str = Field(min_length=1, description="Consumer key of the connected app")
    username: str = Field(min_length=1, description="Salesforce user the integration acts as")
    private_key: Secret = Field(description="PEM private key matching the app's certificate")
    audience: str = Field(
        "https://login.salesforce.com",
        description="JWT aud: https://login.salesforce.com, or https://test.salesforce.com for "
        "sandboxes (some orgs use their My Domain URL)",
    )


class RefreshTokenAuth(Frozen):
    """OAuth 2.0 refresh-token flow (with optional refresh-token rotation)."""

    flow: Literal["refresh_token"]
    client_id: str = Field(min_length=1, description="Consumer key of the connected app")
    client_secret: Secret = Field(description="Consumer secret of the connected app")
    refresh_token: Secret = Field(description="Refresh token issued to the app for the user")


SalesforceAuth = Annotated[JwtBearerAuth | RefreshTokenAuth, Field(discriminator="flow")]


class SalesforceConfig(ConnectorConfig):
    """Connection, credentials and read tuning for one Salesforce org."""

    kind: Literal["salesforce"]
    base_url: str = Field(
        description="Login or My Domain URL that issues tokens, e.g. https://acme.my.salesforce.com"
    )
    api_version: str = Field("v61.0", pattern=r"^v\d{2,3}\.\d$", description="REST API version")
    auth: SalesforceAuth
    object: str = Field("Opportunity", description="sObject that holds the deals")
    page_size: int = Field(
        BATCH_MAX,
        ge=BATCH_MIN,
        le=BATCH_MAX,
        description="Records per query batch, sent as Sforce-Query-Options: batchSize=N",
    )
    overlap_seconds: int = Field(
        300, ge=0, description="Re-read this much before the cursor (ties, clock skew, lag)"
    )
    child_relationships: tuple[str, ...] = Field(
        ("OpportunityContactRoles",),
        description="Child relationships a mapping may read through (as subqueries)",
    )
    throttle_retry_after: float = Field(
        60.0,
        gt=0,
        description="Seconds to wait after 403 REQUEST_LIMIT_EXCEEDED on the concurrent-request "
        "limit (Salesforce sends no Retry-After)",
    )
    daily_limit_recheck: float = Field(
        3600.0,
        gt=0,
        description="After the org's 24-hour API allocation is spent, seconds before a job on "
        "this org is tried again (the window rolls: capacity returns as old calls age out)",
    )
    track_departures: bool = Field(
        True,
        description="With a select filter, also read deals that stopped matching it and report "
        "them as removed, so their terms leave the customer's note",
    )

    @field_validator("base_url")
    @classmethod
    def _login_root(cls, value: str) -> str:
        root = value.strip().rstrip("/")
        if not root.startswith(("https://", "http://")):
            raise ValueError(
                "base_url must start with https:// (e.g. https://login.salesforce.com)"
            )
        return root

    @field_validator("object")
    @classmethod
    def _object_is_api_name(cls, value: str) -> str:
        if not API_NAME.match(value):
            raise ValueError(f"{value!r} is not a Salesforce object API name (e.g. Opportunity)")
        return value

    @field_validator("child_relationships")
    @classmethod
    def _relationships_are_api_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not API_NAME.match(name)]
        if bad:
            raise ValueError(f"not child relationship names: {', '.join(map(repr, bad))}")
        return value

    @property
    def api_root(self) -> str:
        """Path prefix of every REST call, e.g. ``/services/data/v61.0``."""
        return f"/services/data/{self.api_version}"
