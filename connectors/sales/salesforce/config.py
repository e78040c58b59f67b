"""What an admin writes under ``connectors.<name>`` for a Salesforce territory.

The login (``auth``: ``client_credentials``, ``jwt_bearer`` or ``refresh_token``), the org URL,
the API version and the throttle waits are shared with the Service Cloud target
(:mod:`connectors.salesforce_common.config`); the fields here say what a deal is and how it is
read.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from connectors.salesforce_common.config import (
    API_NAME,
    ClientCredentialsAuth,
    JwtBearerAuth,
    RefreshTokenAuth,
    SalesforceAuth,
    SalesforceOrgConfig,
)

BATCH_MIN, BATCH_MAX = 200, 2000
"""``Sforce-Query-Options: batchSize`` accepts 200..2000 (REST API guide, Query Options Header)."""

__all__ = [
    "API_NAME",
    "BATCH_MAX",
    "BATCH_MIN",
    "ClientCredentialsAuth",
    "JwtBearerAuth",
    "RefreshTokenAuth",
    "SalesforceAuth",
    "SalesforceConfig",
]


class SalesforceConfig(SalesforceOrgConfig):
    """Connection, credentials and read tuning for one Salesforce org."""

    kind: Literal["salesforce"]
    object: str = Field("Opportunity", description="sObject that holds the deals")
    page_size: int = Field(
        BATCH_MAX,
        ge=BATCH_MIN,
        le=BATCH_MAX,
        description="Records per query batch, sent as Sforce-Query-Options: batchSize=N",
    )
    overlap_seconds: int = Field(
        300,
        ge=0,
        description="Once per this many seconds, re-read this far behind the previous such "
        "re-read's start, for saves that became visible late (long transactions)",
    )
    child_relationships: tuple[str, ...] = Field(
        ("OpportunityContactRoles",),
        description="Child relationships a mapping may read through (as subqueries)",
    )
    track_departures: bool = Field(
        True,
        description="With a select filter, also read deals that stopped matching it and report "
        "them as removed, so their terms leave the customer's note",
    )

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
