"""What an admin writes under ``connectors.<name>`` for a Pipedrive territory (``kind: pipedrive``).

Authentication is one of two flows, chosen by ``auth.flow`` (FACTS.md §2):

* ``api_token``: a user's personal API token, sent as the ``x-api-token`` header. It sees what
  that user sees, so use an admin user's token;
* ``oauth``: a Marketplace or private app's refresh token; the connector trades it for one-hour
  access tokens at ``token_url`` and calls the company host the token answer names
  (``api_domain``).

``plan`` sets the burst pace (requests per 2-second window, FACTS.md §7.3); the daily token
budget is shared by the whole company and not reported by Pipedrive, so ``max_tokens_per_day``
lets an admin cap what this connector may spend of it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from connectors.base import Frozen
from connectors.settings import ConnectorConfig, Secret

PAGE_MAX = 500
"""``limit`` on v2 list endpoints: "a maximum value of 500" (FACTS.md §3.1)."""

DEFAULT_API_HOST = "https://api.pipedrive.com"
DEFAULT_TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"  # noqa: S105 - a URL, not a secret

Plan = Literal[
    "lite", "growth", "premium", "ultimate",
    "essential", "advanced", "professional", "power", "enterprise",
]  # fmt: skip
"""Current plan names (FACTS.md §7.3) and the older ones (PD-RL-OLD)."""


class ApiTokenAuth(Frozen):
    """A user's personal API token (Settings > Personal preferences > API)."""

    flow: Literal["api_token"]
    api_token: Secret = Field(description="The user's API token, as ${ENV} or file:")


class OAuthAuth(Frozen):
    """An app's OAuth 2 refresh token; Pipedrive returns the same refresh token on each use."""

    flow: Literal["oauth"]
    client_id: str = Field(min_length=1, description="The app's client id")
    client_secret: Secret = Field(description="The app's client secret")
    refresh_token: Secret = Field(description="Refresh token of the app's install")
    token_url: str = Field(DEFAULT_TOKEN_URL, description="Pipedrive's OAuth token endpoint")


PipedriveAuth = Annotated[ApiTokenAuth | OAuthAuth, Field(discriminator="flow")]


class PipedriveConfig(ConnectorConfig):
    """Connection, credentials and read tuning for one Pipedrive company."""

    kind: Literal["pipedrive"]
    base_url: str = Field(
        DEFAULT_API_HOST,
        description="API host: https://api.pipedrive.com or https://<company>.pipedrive.com "
        "(OAuth uses the api_domain of the token answer instead)",
    )
    auth: PipedriveAuth
    plan: Plan = Field("lite", description="The company's plan: sets the burst pace")
    page_size: int = Field(PAGE_MAX, ge=1, le=PAGE_MAX, description="Deals per list request")
    overlap_seconds: int = Field(
        0,
        ge=0,
        le=3600,
        description="Re-read this many seconds before the checkpoint (a list that lags behind "
        "writes); the checkpoint's own second is always re-read",
    )
    read_archived: bool = Field(
        True,
        description="Also read GET /api/v2/deals/archived (20 tokens a call): archived deals "
        "are not in the main list since 15 Jul 2025",
    )
    max_tokens_per_day: int | None = Field(
        None,
        ge=1,
        description="Stop this connector once it has spent this many API tokens today (UTC); "
        "the company's budget is shared with every other integration",
    )
    app_url: str | None = Field(
        None, description="https://<company>.pipedrive.com, for deep links to deals"
    )

    @field_validator("base_url")
    @classmethod
    def _host_only(cls, value: str) -> str:
        root = value.strip().rstrip("/")
        if not root.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (e.g. https://api.pipedrive.com)")
        for suffix in ("/api/v2", "/api/v1", "/v1"):
            root = root.removesuffix(suffix)
        return root

    @field_validator("app_url")
    @classmethod
    def _app_root(cls, value: str | None) -> str | None:
        if value is None:
            return None
        root = value.strip().rstrip("/")
        if not root.startswith(("https://", "http://")):
            raise ValueError("app_url must start with https:// (e.g. https://acme.pipedrive.com)")
        return root

    @property
    def uses_oauth(self) -> bool:
        """True when access tokens are minted from a refresh token."""
        return isinstance(self.auth, OAuthAuth)
