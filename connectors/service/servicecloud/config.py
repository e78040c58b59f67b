"""What an admin writes under ``connectors.<name>`` for a Salesforce Service Cloud target.

The login, org URL, API version and throttle waits are the ones every Salesforce org connection
has (:class:`connectors.salesforce_common.config.SalesforceOrgConfig`: ``client_credentials``,
``jwt_bearer`` or ``refresh_token``). The Service Cloud org is usually not the territories'
Salesforce org, so it is its own connector instance with its own credentials.

Defaults follow FACTS.md: query batches of 2,000 (4.1), sObject Collections of 200 (5.1); the
org's rolling 24-hour allocation is shared with everything else that calls the contact center's
org, so dealbridge leaves ``api_reserve`` of it to the others (7.2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.salesforce_common.config import API_NAME, SalesforceOrgConfig

ServiceCloudKind = Literal["account", "contact"]
QUERY_BATCH_MIN, QUERY_BATCH_MAX = 200, 2000
"""``Sforce-Query-Options: batchSize`` accepts 200..2000 (FACTS.md 4.1)."""
COLLECTION_MAX = 200
"""sObject Collections take at most 200 records a call (FACTS.md 5.1)."""


class ServiceCloudConfig(SalesforceOrgConfig):
    """One Service Cloud org: which records deals attach to, their identity fields, the note."""

    kind: Literal["servicecloud"]
    record_kinds: tuple[ServiceCloudKind, ...] = Field(
        ("account",),
        min_length=1,
        description="Which records deals attach to: account (business and person accounts) "
        "and/or contact (business contacts; a person account's contact is its account)",
    )
    account_external_id_field: str | None = Field(
        None,
        description="Account field holding the shared customer number (an External ID field, "
        "e.g. Customer_Number__c); matched by identity rules with match: external_id",
    )
    account_domain_field: str | None = Field(
        "Website", description="Account field whose host matches identity rules with match: domain"
    )
    contact_external_id_field: str | None = Field(
        None, description="Contact field matched by match: external_id, if contacts carry one"
    )
    note_field: str = Field(
        "Description",
        description="Long Text Area field holding the agent note on every configured record kind "
        "(a dedicated field such as Deal_Terms__c is best); the mapping's note.field names it too",
    )
    note_max_chars: int | None = Field(
        None,
        ge=200,
        description="Characters the note may take. Default: the field's describe length / 4, "
        "because Salesforce enforces text-area limits in UTF-8 bytes and a character can take "
        "four; raise it (up to the length) when the field's text is mostly single-byte",
    )
    fields: tuple[str, ...] | None = Field(
        None,
        description="API names the connector reads and writes (default: every updateable field "
        "of the configured kinds); narrow it when an org's field list is too long for one query",
    )
    page_size: int = Field(
        QUERY_BATCH_MAX,
        ge=QUERY_BATCH_MIN,
        le=QUERY_BATCH_MAX,
        description="Records per identity-feed query batch (Sforce-Query-Options: batchSize)",
    )
    write_batch_size: int = Field(
        COLLECTION_MAX,
        ge=1,
        le=COLLECTION_MAX,
        description="Records per sObject Collections update (Salesforce takes 200)",
    )
    api_reserve: float = Field(
        0.2,
        ge=0.0,
        le=0.9,
        description="Share of the org's rolling 24-hour API allocation left to everything else "
        "(CTI, email-to-case, other integrations): once Sforce-Limit-Info shows usage above the "
        "rest, dealbridge stops and the job waits daily_limit_recheck",
    )
    check_versions: bool = Field(
        True,
        description="Before writing records the engine planned on a known SystemModstamp, read "
        "the stamps again (one query per write batch) and refuse records changed since",
    )
    describe_refresh: float = Field(
        300.0,
        ge=0.0,
        description="A field or picklist value missing from the cached describe re-reads it, at "
        "most this often (seconds) per object",
    )
    case_key_field: str | None = Field(
        None,
        description="External ID text field on Case (e.g. Dealbridge_Key__c) holding each "
        "alert's key: alert cases are upserted by it, so a retried create never duplicates one",
    )
    case_origin: str | None = Field(
        None, description="Case Origin picklist value for alert cases (e.g. Web), if wanted"
    )
    max_in_flight: int = Field(
        4,
        ge=1,
        le=25,
        description="Requests at once (Salesforce allows 25 long-running requests per org)",
    )

    @field_validator(
        "account_external_id_field",
        "account_domain_field",
        "contact_external_id_field",
        "note_field",
        "case_key_field",
    )
    @classmethod
    def _api_name(cls, value: str | None) -> str | None:
        if value is not None and not API_NAME.match(value):
            raise ValueError(f"{value!r} is not a Salesforce field API name (e.g. Deal_Terms__c)")
        return value

    @field_validator("fields")
    @classmethod
    def _api_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        bad = [name for name in value or () if not API_NAME.match(name)]
        if bad:
            raise ValueError(f"not Salesforce field API names: {', '.join(map(repr, bad))}")
        return value

    @model_validator(mode="after")
    def _kinds_once(self) -> ServiceCloudConfig:
        if len(set(self.record_kinds)) != len(self.record_kinds):
            raise ValueError("record_kinds lists a kind twice")
        return self
