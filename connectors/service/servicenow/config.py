"""What an admin writes under ``connectors.<name>`` for a ServiceNow CSM target.

Authentication is one of two flows, chosen by ``auth.flow`` (FACTS.md section 1):

* ``client_credentials``: an OAuth 2.0 client registered in the instance's Application
  Registry; the connector trades ``client_id``/``client_secret`` for a bearer token at
  ``/oauth_token.do`` and fetches a new one when the instance answers 401;
* ``basic``: the user name and password of an integration user.

ServiceNow publishes no default request budget: an instance admin creates per-hour rules
(FACTS.md 9.1). ``requests_per_hour`` is that rule's limit when one applies to the
integration user; the connector also adopts the limit the instance reports in
``X-RateLimit-Limit``, whichever is lower.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from connectors.base import Frozen
from connectors.settings import DeskConfig, Secret

COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
"""Dictionary column names: lowercase ASCII letters, digits and ``_`` (FACTS.md 6.2)."""

Kind = Literal["account", "contact", "consumer"]
"""Record kinds deals attach to: CSM accounts (B2B), their contacts, consumers (B2C)."""


DEFAULT_EXTERNAL_IDS: dict[Kind, str] = {"account": "number", "consumer": "number"}


class BasicAuth(Frozen):
    """HTTP Basic with an integration user (FACTS.md 1.1)."""

    flow: Literal["basic"]
    username: str = Field(min_length=1, description="ServiceNow user the integration acts as")
    password: Secret = Field(description="That user's password (${ENV_VAR} or file:/path)")


class ClientCredentialsAuth(Frozen):
    """OAuth 2.0 client credentials against ``/oauth_token.do`` (FACTS.md 1.2)."""

    flow: Literal["client_credentials"]
    client_id: str = Field(min_length=1, description="Client ID from the Application Registry")
    client_secret: Secret = Field(description="Client secret (${ENV_VAR} or file:/path)")
    scope: str | None = Field(None, description="Optional OAuth scope the client is granted")


ServiceNowAuth = Annotated[BasicAuth | ClientCredentialsAuth, Field(discriminator="flow")]


def _column(value: str) -> str:
    if not COLUMN_NAME.match(value) or "__" in value:
        raise ValueError(
            f"{value!r} is not a ServiceNow column name (lowercase letters, digits and single "
            "underscores, e.g. number or u_customer_number)"
        )
    return value


class ServiceNowConfig(DeskConfig):
    """A ServiceNow instance (``https://<instance>.service-now.com``) with CSM installed."""

    base_url_example = "https://acme.service-now.com"
    api_suffix = "/api/now"

    kind: Literal["servicenow"]
    auth: ServiceNowAuth
    record_kinds: tuple[Kind, ...] = Field(
        ("account",), min_length=1, description="Which records deals attach to"
    )
    external_id_fields: dict[Kind, str] = Field(
        default_factory=lambda: dict(DEFAULT_EXTERNAL_IDS),
        description="Column holding the customer number per kind (accounts have no standard "
        "external id: number, account_code or a u_ column; FACTS.md 3.1)",
    )
    domain_field: str = Field(
        "website", description="Account column whose host name is the account's domain"
    )
    note_max_length: int = Field(
        4000,
        ge=200,
        description="Longest note text written, in characters: customer_account.notes and "
        "csm_consumer.notes hold 4,000 (FACTS.md section 3); a custom note column's "
        "max_length when the note lives there",
    )
    page_size: int = Field(
        1000,
        ge=1,
        le=10_000,
        description="Rows per identity page (sysparm_limit; the instance default is 10,000, "
        "but a page must finish well inside the 60-second Table API quota)",
    )
    ids_per_query: int = Field(
        100, ge=1, le=200, description="sys_ids or keys per IN query (read, lookup, versions)"
    )
    write_batch_size: int = Field(
        100, ge=1, le=200, description="Records per write call (read and checked together)"
    )
    use_batch_api: bool = Field(
        True, description="Write through /api/now/v1/batch (single PATCHes when false)"
    )
    batch_max_items: int = Field(
        50, ge=1, le=200, description="Most PATCHes one Batch API call carries"
    )
    batch_seconds: float = Field(
        10.0,
        gt=0,
        le=25,
        description="Planned run time of one batch, well inside the 30-second REST Batch API "
        "transaction quota (FACTS.md 8.3); items per batch follow from observed item times",
    )
    batch_item_seconds: float = Field(
        0.4, gt=0, description="Assumed run time of one PATCH until batches report their own"
    )
    batches_in_flight: int = Field(
        2,
        ge=1,
        le=8,
        description="Batch API calls of this connector running at once (its items run one "
        "after another and it is not meant for parallel processing, FACTS.md 8.4)",
    )
    batch_rounds: int = Field(
        4, ge=1, le=10, description="Batches an item may be left unserviced in before it fails"
    )
    requests_per_hour: int | None = Field(
        None,
        ge=1,
        description="Limit of the rate-limit rule that applies to the integration user "
        "(sys_rate_limit_rules); unset: paced only by the limit the instance reports",
    )
    hourly_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description="Share of the hourly rule dealbridge may spend: the instance commits its "
        "counts every 30 s, so it cannot stop an overshoot in time (FACTS.md 9.3)",
    )
    batch_items_count: bool = Field(
        True,
        description="Plan as if every Batch API item counts as one request against the rule "
        "(undocumented, FACTS.md 8.6: the cautious reading)",
    )
    max_throttle_wait: float = Field(
        120.0,
        gt=0,
        description="A 429 asking to wait longer than this ends the run until the hour resets "
        "instead of sleeping inside it",
    )
    settle_seconds: int = Field(
        5,
        ge=1,
        le=300,
        description="Changes this recent are read again on the next refresh (sys_updated_on "
        "has one-second resolution; a save in the same second may land after a read)",
    )
    catalog_ttl: float = Field(
        3600.0,
        gt=0,
        description="Seconds the sys_dictionary/sys_choice catalog is reused (2 requests a load)",
    )
    case_table: str = Field(
        "sn_customerservice_case", description="Table alerts are opened in (FACTS.md 11.3)"
    )
    case_account: str | None = Field(
        None, description="sys_id of the account alert cases are filed under (B2B cases)"
    )
    case_key_field: str = Field(
        "correlation_id",
        description="Case column that holds the alert key, so a retried create finds the case "
        "it already opened (checked against sys_dictionary before use)",
    )

    @field_validator("external_id_fields")
    @classmethod
    def _external_ids(cls, value: dict[Kind, str]) -> dict[Kind, str]:
        return {kind: _column(column) for kind, column in value.items()}

    @field_validator("domain_field", "case_key_field", "case_table")
    @classmethod
    def _columns(cls, value: str) -> str:
        return _column(value)

    @field_validator("case_account")
    @classmethod
    def _sys_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{32}", value):
            raise ValueError("case_account must be a 32-character sys_id (FACTS.md 2.5)")
        return value

    @property
    def hourly_budget(self) -> int | None:
        """Requests dealbridge plans to spend in any hour (None: no rule configured)."""
        if self.requests_per_hour is None:
            return None
        return max(1, int(self.requests_per_hour * self.hourly_share))
