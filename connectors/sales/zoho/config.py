"""What an admin writes under ``connectors.<name>`` for a Zoho CRM territory.

Zoho CRM speaks OAuth 2 only (FACTS.md §2): an admin creates a Self Client in the API console
of the org's data centre, generates a grant code with the scopes below, exchanges it once for a
**refresh token**, and gives dealbridge the client id, client secret and refresh token (the two
secrets as ``${ENV}`` or ``file:`` references). ``data_centre`` names where the org lives; the
accounts server follows from it (``base_url`` overrides it, e.g. for a proxy).

Scopes: ``ZohoCRM.modules.deals.READ`` (plus ``.accounts.READ`` / ``.contacts.READ`` for the
related paths a mapping reads), ``ZohoCRM.settings.fields.READ`` and ``ZohoCRM.coql.READ``
(FACTS.md §2.6).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from connectors.sales.zoho.datacentres import DATA_CENTRES, DataCentreCode, by_accounts_url
from connectors.settings import ConnectorConfig, Secret

API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
"""Zoho API names: letters, digits, underscores (``Special_Discount``, ``Record_Status__s``)."""

COQL_LIMIT_MAX = 2000
"""COQL returns at most 2,000 rows per call (FACTS.md §4.2)."""
LIST_PAGE_MAX = 200
"""``per_page`` is at most 200 on the list APIs (FACTS.md §3.1, §5.1)."""

Edition = Literal["free", "standard", "professional", "enterprise", "ultimate"]

EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}
"""Simultaneous calls per org per app, by edition (FACTS.md §8.2)."""


class ZohoConfig(ConnectorConfig):
    """Connection, credentials and read tuning for one Zoho CRM org."""

    kind: Literal["zoho"]
    data_centre: DataCentreCode = Field(
        "us",
        description="Where the org lives: us, eu, in, au, cn, jp, ca or sa (the domain of the "
        "Zoho login page the org uses: accounts.zoho.eu is eu)",
    )
    base_url: str = Field(
        "",
        description="Accounts server that refreshes tokens; defaults to the data centre's "
        "(https://accounts.zoho.eu for eu). API calls go to the token's api_domain.",
    )
    client_id: str = Field(min_length=1, description="Client ID of the Self Client")
    client_secret: Secret = Field(description="Client secret of the Self Client")
    refresh_token: Secret = Field(description="Refresh token generated for the Self Client")
    api_version: str = Field("v8", pattern=r"^v\d{1,2}$", description="CRM REST API version")
    module: str = Field("Deals", description="API name of the module that holds the deals")
    read_via: Literal["coql", "list"] = Field(
        "coql",
        description="coql: POST /coql, 2,000 deals and their account fields per call (needs "
        "ZohoCRM.coql.READ); list: GET /Deals with If-Modified-Since, 200 per call, accounts "
        "read in batches of 100",
    )
    page_size: int = Field(
        COQL_LIMIT_MAX,
        ge=1,
        le=COQL_LIMIT_MAX,
        description="Deals per call: COQL LIMIT (at most 2,000); the list API takes at most 200",
    )
    overlap_seconds: int = Field(
        300, ge=1, description="Re-read this much before the cursor (ties, clock skew, lag)"
    )
    related_lookups: tuple[str, ...] = Field(
        ("Account_Name", "Contact_Name"),
        description="Lookup fields whose related record's fields mappings may read "
        "(Account_Name.Website)",
    )
    edition: Edition = Field(
        "standard",
        description="The org's Zoho CRM edition; caps requests in flight at its concurrency limit",
    )
    credit_reserve: int = Field(
        500,
        ge=0,
        description="Stop the job when Zoho reports this many API credits or fewer left in its "
        "24-hour window (X-API-CREDITS-REMAINING), leaving them to people and other integrations",
    )
    throttle_wait: float = Field(
        2.0,
        gt=0,
        description="Seconds to wait after a 429 that is a concurrency limit (Zoho sends no "
        "Retry-After); doubled on each further 429",
    )
    read_deleted: bool = Field(True, description="Read /Deals/deleted for deletions")
    track_departures: bool = Field(
        True,
        description="With a select condition, report deals that stopped matching it as removed",
    )
    probe_data_centres: bool = Field(
        True,
        description="When the refresh token is refused, ask the other data centres' accounts "
        "servers which one issued it, so the error names the data centre to configure",
    )
    record_url: str | None = Field(
        None,
        description="Deep link template for a deal, with {id}: "
        "https://crm.zoho.eu/crm/org20071234/tab/Potentials/{id}",
    )

    @model_validator(mode="before")
    @classmethod
    def _accounts_server(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if not data.get("base_url"):
            code = data.get("data_centre", "us")
            if code in DATA_CENTRES:
                return {**data, "base_url": DATA_CENTRES[code].accounts_url}
        elif "data_centre" not in data and isinstance(data["base_url"], str):
            known = by_accounts_url(data["base_url"])
            if known is not None:
                return {**data, "data_centre": known.code}
        return data

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        root = value.strip().rstrip("/")
        if not root.startswith(("https://", "http://")):
            raise ValueError("base_url must start with https:// (e.g. https://accounts.zoho.eu)")
        return root

    @field_validator("module")
    @classmethod
    def _module_is_api_name(cls, value: str) -> str:
        if not API_NAME.match(value):
            raise ValueError(f"{value!r} is not a Zoho module API name (e.g. Deals)")
        return value

    @field_validator("related_lookups")
    @classmethod
    def _lookups_are_api_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [name for name in value if not API_NAME.match(name)]
        if bad:
            raise ValueError(f"not field API names: {', '.join(map(repr, bad))}")
        return value

    @field_validator("record_url")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None and "{id}" not in value:
            raise ValueError("record_url needs an {id} placeholder")
        return value

    @model_validator(mode="after")
    def _data_centre_agrees(self) -> ZohoConfig:
        known = by_accounts_url(self.base_url)
        if known is not None and known.code != self.data_centre:
            raise ValueError(
                f"base_url {self.base_url} is the {known.name} data centre's accounts server "
                f"but data_centre is {self.data_centre!r}; set data_centre: {known.code} or "
                "drop base_url"
            )
        return self

    @property
    def api_root(self) -> str:
        """Path prefix of every CRM call, e.g. ``/crm/v8``."""
        return f"/crm/{self.api_version}"

    @property
    def concurrency(self) -> int:
        """Requests in flight at most: the edition's limit, or less when configured so."""
        return min(self.max_in_flight, EDITION_CONCURRENCY[self.edition])
