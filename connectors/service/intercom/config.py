"""What an admin writes under ``connectors.<name>`` for an Intercom target, and what it implies.

Defaults follow FACTS.md: the access token is a bearer token (§1.2); ``Intercom-Version`` is
pinned to the version the spec we validate against describes (2.15, §1.3); the budget is a
per-app, per-minute figure that Intercom enforces in 10-second windows (§3.1); string custom
attributes hold 255 characters (§6.4, a third-party figure: see the field's description).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from connectors.settings import DeskConfig, Secret, WriteConcurrency

IntercomKind = Literal["company", "contact"]
ContactRole = Literal["user", "lead"]
NotePlace = Literal["attribute", "contact_note"]

VERSIONS = (
    "1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7",
    "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15",
)  # fmt: skip
"""The ``Intercom-Version`` values the 2.15 description lists (schema ``intercom_version``)."""
TESTED_VERSIONS = ("2.14", "2.15")
"""Versions whose descriptions this connector's payloads were checked against (FACTS.md §11)."""

TEXT_ATTRIBUTE_MAX = 255
"""Characters a string custom attribute holds (FACTS.md §6.4: a third-party figure)."""


class IntercomConfig(DeskConfig):
    """An Intercom workspace, written through the REST API with an access token."""

    base_url_example = "https://api.intercom.io"

    kind: Literal["intercom"]
    base_url: str = Field(
        "https://api.intercom.io",
        description="API root: https://api.intercom.io, https://api.eu.intercom.io (EU) or "
        "https://api.au.intercom.io (AU)",
    )
    access_token: Secret = Field(
        description="Access token of the private app (or the OAuth token of a public app), "
        "${ENV_VAR} or file:/path"
    )
    intercom_version: str = Field(
        "2.15",
        description="Sent as the Intercom-Version header on every request, so the app's "
        "default version in Intercom's developer hub never changes what dealbridge reads",
    )
    record_kinds: tuple[IntercomKind, ...] = Field(
        ("company", "contact"), min_length=1, description="Which records deals attach to"
    )
    contact_roles: tuple[ContactRole, ...] = Field(
        ("user",),
        min_length=1,
        description="Contact roles indexed: users (identified people); add lead to match "
        "leads too (a lead and a user may share an email, which makes matches ambiguous)",
    )
    requests_per_minute: int = Field(
        1000,
        ge=6,
        le=10_000,
        description="This app's share of the per-minute budget (private apps: 10,000 a minute "
        "per app, 25,000 per workspace); Intercom enforces a sixth of it per 10 seconds",
    )
    company_scroll_minutes: float = Field(
        60.0,
        ge=1.0,
        description="Companies have no search and no change filter: the identity index reads "
        "them all through the scroll API at most this often (misses are looked up by company_id "
        "in between)",
    )
    contact_page_size: int = Field(
        150, ge=1, le=150, description="Contacts per search page (Intercom: default 50, max 150)"
    )
    search_lag_seconds: int = Field(
        600,
        ge=0,
        description="How far the contact search may lag behind changes ('can take a few "
        "minutes'); each identity refresh reads that window again",
    )
    write_concurrency: WriteConcurrency = 10
    verify_before_write: bool = Field(
        True,
        description="Read a record again just before writing it when the engine passes the "
        "version it planned on, and refuse the write if an agent changed it since (Intercom has "
        "no conditional update); costs one GET per written record",
    )
    note_place: NotePlace = Field(
        "attribute",
        description="attribute: the note lives in a string custom attribute, replaced in place "
        "(255 characters); contact_note: every change of the note adds an Intercom note to the "
        "contact (notes cannot be edited or deleted)",
    )
    text_max_length: int = Field(
        TEXT_ATTRIBUTE_MAX,
        ge=50,
        le=TEXT_ATTRIBUTE_MAX,
        description="Longest value of a string custom attribute (255 characters, a limit "
        "documented by third parties only; lower it if your workspace refuses shorter ones)",
    )
    note_max_length: int = Field(
        2000,
        ge=200,
        le=65_000,
        description="Longest contact note dealbridge adds (note_place: contact_note); Intercom "
        "documents no limit",
    )
    admin_id: str | None = Field(
        None,
        description="Intercom admin (teammate) id that contact notes and alert ticket notes are "
        "written as; default: the admin the token belongs to (GET /me)",
    )
    ticket_type_id: str | None = Field(
        None,
        description="Ticket type of alert tickets (create a Back-office ticket type, so alerts "
        "are never shared with customers); needed only when alerts go to Intercom",
    )
    alert_contact_email: str | None = Field(
        None,
        description="Contact an alert ticket is filed for when the alert names none (Intercom "
        "tickets need one contact; Intercom creates it if no contact has this email)",
    )
    catalog_ttl_seconds: float = Field(
        600.0, ge=0, description="How long the data attribute catalog is trusted before writes"
    )

    @field_validator("intercom_version")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value not in VERSIONS:
            raise ValueError(f"Intercom-Version must be one of {', '.join(VERSIONS)}")
        return value

    @model_validator(mode="after")
    def _note_kind(self) -> IntercomConfig:
        if self.note_place == "contact_note" and "contact" not in self.record_kinds:
            raise ValueError(
                "note_place: contact_note needs contact in record_kinds (companies take no "
                "notes through the API)"
            )
        return self

    @property
    def window_limit(self) -> int:
        """Requests per 10-second window: a sixth of the minute's budget, rounded up as
        Intercom's own example does (1,000 a minute is 167 per 10 seconds)."""
        if self.rate_per_second is not None:
            return max(1, int(self.rate_per_second * 10))
        return -(-self.requests_per_minute // 6)

    @property
    def text_limit(self) -> int:
        """The note's limit in characters, wherever the note lives."""
        return self.text_max_length if self.note_place == "attribute" else self.note_max_length
