"""What an admin writes under ``connectors.<name>`` for a Dynamics 365 Sales territory.

The connector signs in as a Dataverse *application user*: an Entra ID app registration with a
client secret, bound to an application user that has a security role with organization-level
read on Opportunity and Account (FACTS.md §2.1, §2.6). Defaults follow Dataverse's documented
service protection limits (FACTS.md §8.1): 6,000 requests per user in a 5-minute window, and
1,200 s of combined execution time in that window, which at most 4 requests in flight can never
reach (4 x 300 s), so ``max_in_flight`` defaults to 4.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from connectors.base import Frozen
from connectors.settings import ConnectorConfig, Secret

MAX_PAGE_SIZE = 5000
"""``Prefer: odata.maxpagesize`` cannot ask for more than 5,000 rows (FACTS.md §4.1)."""

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"

NAVIGATION_TARGETS: dict[str, tuple[str, str, str]] = {
    "parentaccountid": ("account", "accounts", "accountid"),
    "parentcontactid": ("contact", "contacts", "contactid"),
}
"""Single-valued navigation properties of ``opportunity`` a mapping may read through, with the
target table's logical name, entity set and key (FACTS.md §1.5, §3.2)."""

_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]*$")


class ClientCredentials(Frozen):
    """OAuth 2 client credentials against Microsoft Entra ID (FACTS.md §2.2)."""

    tenant_id: str = Field(description="Directory (tenant) id or domain of the app registration")
    client_id: str = Field(min_length=1, description="Application (client) id")
    client_secret: Secret = Field(description="Client secret of the app registration")
    authority: str = Field(
        DEFAULT_AUTHORITY,
        description="Entra sign-in host (sovereign clouds use their own, e.g. "
        "https://login.microsoftonline.us)",
    )
    token_url: str | None = Field(
        None,
        description="Full token endpoint; default {authority}/{tenant_id}/oauth2/v2.0/token",
    )
    scope: str | None = Field(
        None, description="Default {base_url}/.default: the environment URL plus /.default"
    )

    @field_validator("tenant_id")
    @classmethod
    def _tenant(cls, value: str) -> str:
        if not _TENANT.match(value.strip()):
            raise ValueError(f"{value!r} is not a tenant id or domain")
        return value.strip()

    @field_validator("authority", "token_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip().rstrip("/")
        if not text.startswith(("https://", "http://")):
            raise ValueError("must start with https://")
        return text

    @field_validator("scope")
    @classmethod
    def _default_suffix(cls, value: str | None) -> str | None:
        if value is not None and not value.endswith("/.default"):
            raise ValueError(
                "client credentials need a scope ending in /.default, e.g. "
                "https://contoso.crm.dynamics.com/.default (Entra answers AADSTS1002012 otherwise)"
            )
        return value

    def endpoint(self) -> str:
        """The token endpoint this app registration signs in at."""
        return self.token_url or f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token"


class DynamicsConfig(ConnectorConfig):
    """Connection, credentials and read tuning for one Dataverse environment."""

    kind: Literal["dynamics"]
    base_url: str = Field(
        description="Environment URL, e.g. https://contoso.crm4.dynamics.com (no /api/data)"
    )
    api_version: str = Field("v9.2", pattern=r"^v9\.\d$", description="Web API version")
    auth: ClientCredentials
    incremental: Literal["change_tracking", "modifiedon"] = Field(
        "change_tracking",
        description="change_tracking: delta links, deletions seen (needs Track changes on the "
        "Opportunity table); modifiedon: polling by modified time, deletions not seen",
    )
    page_size: int = Field(
        1000, ge=1, le=MAX_PAGE_SIZE, description="Rows per page (Prefer: odata.maxpagesize)"
    )
    id_batch_size: int = Field(
        50,
        ge=1,
        le=100,
        description="Changed deals re-read per request (an 'opportunityid eq ... or ...' filter; "
        "the URL grows about 55 characters per id)",
    )
    overlap_seconds: int = Field(
        300, ge=0, description="modifiedon mode: re-read this much before the cursor"
    )
    related: tuple[str, ...] = Field(
        tuple(NAVIGATION_TARGETS),
        description="Navigation properties a mapping may read through (parentaccountid, "
        "parentcontactid); the catalog lists their columns",
    )
    requests_per_window: int = Field(
        6000, ge=1, description="Service protection: requests per user per window"
    )
    window_seconds: float = Field(300.0, gt=0, description="Service protection window")
    max_in_flight: int = Field(
        4, ge=1, le=52, description="Requests at once (4 x 300 s stays within 1,200 s)"
    )
    max_retry_after: float = Field(
        300.0,
        gt=0,
        description="A Retry-After longer than this stops the job (it resumes from its "
        "cursor on the next run) instead of holding it",
    )
    metadata_max_age: float = Field(
        3600.0, ge=0, description="Seconds column and choice metadata is reused before re-reading"
    )

    @field_validator("base_url")
    @classmethod
    def _environment_root(cls, value: str) -> str:
        root = re.sub(r"/api/data/v\d+\.\d+/?$", "", value.strip().rstrip("/"))
        if not root.startswith(("https://", "http://")):
            raise ValueError(
                "base_url must start with https:// (e.g. https://contoso.crm.dynamics.com)"
            )
        return root

    @field_validator("related")
    @classmethod
    def _known_navigation(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in value if name not in NAVIGATION_TARGETS]
        if unknown:
            raise ValueError(
                f"unknown navigation properties {', '.join(map(repr, unknown))}; "
                f"supported: {', '.join(NAVIGATION_TARGETS)}"
            )
        return value

    @property
    def api_root(self) -> str:
        """Every Web API URL starts here: ``{base_url}/api/data/v9.2``."""
        return f"{self.base_url}/api/data/{self.api_version}"

    @property
    def scope(self) -> str:
        """The token scope: the environment URL plus ``/.default`` unless configured."""
        return self.auth.scope or f"{self.base_url}/.default"
