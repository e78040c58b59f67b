"""The two connector roles and the immutable records they exchange with the engine.

A sales source reads deals; a service target indexes, reads and writes customer records.
Both are small on purpose: auth, paging and payload shapes live in the vendor module, and
everything vendor-neutral (mapping, matching, planning, state) lives in ``sync_jobs``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """Base for value objects: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Cursor(Frozen):
    """Opaque incremental position, owned by the connector that made it (JSON text)."""

    value: str

    @classmethod
    def of(cls, payload: dict[str, Any]) -> Cursor:
        """A connector's position as the JSON text the engine stores (keys sorted, so equal
        positions are equal text)."""
        return cls(value=json.dumps(payload, sort_keys=True))

    @staticmethod
    def payload(cursor: Cursor | None) -> dict[str, Any]:
        """A stored cursor's JSON object; ``{}`` (read everything again) for no cursor or
        for anything unreadable, so a damaged cursor costs a re-read, never a failed run."""
        try:
            payload = json.loads(cursor.value) if cursor else {}
        except ValueError:
            return {}
        return payload if isinstance(payload, dict) else {}


class FieldInfo(Frozen):
    """A readable or writable field; ``dealbridge validate`` checks mappings against these."""

    path: str
    """Dotted path as mappings write it: ``Account.Website``, ``organization_fields.tier``."""
    type: str
    """Vendor type name as the vendor reports it (``currency``, ``picklist``, ``dropdown``...)."""
    label: str = ""
    custom: bool = False
    writable: bool = False
    choices: tuple[str, ...] = ()
    """Allowed values for picklists and dropdowns (the value the API accepts, not the label)."""
    max_length: int | None = None


class Health(Frozen):
    """What a connector's ``check`` found: reachable, authorised, and how much budget is left."""

    ok: bool
    detail: str = ""
    api_usage: str | None = None


class SourceDeal(Frozen):
    """One deal as the source system holds it.

    ``payload`` is the vendor's record with related objects embedded (account, contacts), in
    the shape the connector documents; mappings address it with dotted paths, and a path that
    crosses a list maps over its items. A value the source could not read is an
    :func:`unreadable` marker: mapping it fails this deal, not the run.
    """

    id: str
    modified_at: datetime
    payload: dict[str, Any] = Field(default_factory=dict)
    deleted: bool = False
    url: str | None = None


UNREADABLE = "$unreadable"
"""Key of the marker a source puts where it could not read a value (see :func:`unreadable`)."""


def unreadable(reason: str) -> dict[str, str]:
    """A payload value the source could not read, with the reason an admin can act on.

    A source puts this marker where a value should be but cannot be given honestly (an option
    id the CRM no longer labels, a related organization that was deleted). A mapping that reads
    it, or reads through it, fails for that deal with ``reason``; the other deals go on.
    """
    return {UNREADABLE: reason}


def unreadable_reason(value: Any) -> str | None:
    """The reason of an :func:`unreadable` marker, or None for any other value."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(UNREADABLE), str):
        reason: str = value[UNREADABLE]
        return reason
    return None


class DealQuery(Frozen):
    """What the engine asks a source for: the field paths a mapping reads, and a filter."""

    fields: tuple[str, ...] = ()
    select: str | None = None
    """Vendor-native filter written by the admin (a SOQL condition for Salesforce)."""
    full: bool = False
    """Ignore the cursor and read everything (backfill or reconcile)."""


class DealPage(Frozen):
    """A page of changed deals and the cursor that is safe to store once they are committed."""

    deals: tuple[SourceDeal, ...]
    checkpoint: Cursor


RecordKind = Literal["organization", "user", "company", "contact", "account"]
MatchType = Literal["external_id", "email", "domain"]
"""How an identity rule finds a customer: by external id (customer number), email or domain."""


class IdentityKey(Frozen):
    """One value a customer may be found by, as the engine asks a desk to look it up.

    ``value`` is already normalised (lower case; domains without scheme or ``www.``), and
    ``kind`` is the record kind the mapping attaches deals to (``organization``, ``company``...).
    """

    match: MatchType
    value: str
    kind: str


class RecordRef(Frozen):
    """Address of one customer record in a service system."""

    kind: str
    id: str

    @property
    def key(self) -> str:
        """Stable text form used as the customer key in the state store."""
        return f"{self.kind}:{self.id}"

    @classmethod
    def from_key(cls, key: str) -> RecordRef:
        """The record a customer key (``kind:id``) names."""
        kind, _, record_id = key.partition(":")
        return cls(kind=kind, id=record_id)


class CustomerRecord(Frozen):
    """A customer record in the service system: identity for matching, plus current field values.

    ``fields`` holds the writable values keyed by the same dotted paths mappings write to
    (``notes``, ``organization_fields.special_discount``...).
    """

    ref: RecordRef
    name: str = ""
    external_id: str | None = None
    emails: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    fields: dict[str, Any] = Field(default_factory=dict)
    updated_at: datetime | None = None
    deleted: bool = False
    version: str | None = None
    """The desk's change counter or stamp for the record as read (ServiceNow ``sys_mod_count``,
    Salesforce ``SystemModstamp``), where it has one; see ``RecordChange.expected_version``."""
    problem: str | None = None
    """Set when the desk's answer for this record could not be read (a field of the wrong
    kind: ``connectors.record_values.MalformedRecord``): the message names the desk, the
    record and the field. Only ``ref`` is meaningful then; the engine fails the record's
    write with the message, and tries again on its next attempt."""


class CustomerPage(Frozen):
    """A page of customer records for the identity index, with its resumable checkpoint."""

    records: tuple[CustomerRecord, ...]
    checkpoint: Cursor
    problems: tuple[str, ...] = ()
    """Records of the page that could not be read and were left out, one message each
    (desk, record or position, field, what to do): reported in the run."""


class RecordChange(Frozen):
    """The fields to change on one record; ``None`` clears a field. Only changed fields appear."""

    ref: RecordRef
    fields: dict[str, Any]
    expected_version: str | None = None
    """The ``CustomerRecord.version`` the plan was made on. A connector whose desk can tell
    (a conditional update, or the version read again just before the write) refuses to write a
    record changed since, with a failed ``WriteResult`` saying so; the engine plans it again
    from fresh values on its next attempt, so an agent's edit in between is never overwritten."""


class WriteResult(Frozen):
    """Outcome of one record's write; ``fields`` are the values as the target stored them."""

    ref: RecordRef
    ok: bool
    error: str | None = None
    fields: dict[str, Any] = Field(default_factory=dict)
    moved: bool = False
    """Refused because the record changed since the plan's read (its ``expected_version`` no
    longer holds): nothing was written, and the engine plans the record again at once."""


@runtime_checkable
class SalesSource(Protocol):
    """A territory's CRM (or spreadsheet): yields changed deals page by page."""

    name: str
    system: str

    def changed_deals(self, query: DealQuery, since: Cursor | None) -> AsyncIterator[DealPage]:
        """Deals changed since the cursor (inclusive overlap), oldest first, with deletions."""
        ...

    async def field_catalog(self) -> list[FieldInfo]:
        """Every readable field path, for ``dealbridge validate``."""
        ...

    async def check(self) -> Health:
        """Authenticate and make one cheap call."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class ServiceTarget(Protocol):
    """The contact center's service desk: indexes, reads and writes customer records."""

    name: str
    system: str
    write_batch_size: int
    """How many records one ``write`` call should carry (the vendor's bulk size, 1 if none)."""
    text_limit: int
    """Longest text the note field accepts; longer notes are truncated with a marker."""

    def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Customer records changed since the cursor, for the local identity index."""
        ...

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values of the given records (batched; missing records are left out)."""
        ...

    async def lookup(
        self, keys: Sequence[IdentityKey], problems: list[str] | None = None
    ) -> list[CustomerRecord]:
        """Records that carry any of ``keys`` now, asked of the desk directly (for misses of
        the local identity index, which can lag the desk).

        A record the desk answered that could not be read (a field of the wrong kind) is left
        out, the others returned; its message (desk, record or position, field, what to do) is
        added to ``problems`` for the run's report, or logged when no list is given.

        Batched where the desk allows and paced by the connector's rate gate like every other
        call. A key no record carries contributes nothing; a key the desk's records of that
        kind cannot carry (an email on an organization) costs no request. Each returned record
        is read from the desk's records, not from a search index's copy, so its identity
        values are current; the engine still keeps only records that carry a key it asked.
        """
        ...

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Apply changes (batched), one result per change, in order."""
        ...

    async def field_catalog(self) -> list[FieldInfo]:
        """Every writable field path, for ``dealbridge validate``."""
        ...

    async def check(self) -> Health:
        """Authenticate and make one cheap call."""
        ...

    def notices(self) -> list[str]:
        """Operational facts worth showing in ``status`` (e.g. a bulk-endpoint fallback)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


TicketSeverity = Literal["info", "warning", "critical"]


class DeskTicket(Frozen):
    """An alert as a service desk takes it: vendor-neutral text, rendered by the alert layer."""

    key: str
    """Idempotency identity (a hash of the alert's dedupe key): the same key is the same ticket,
    so a create retried after a lost answer must not open a second one where the desk can
    prevent it (Zendesk's ``Idempotency-Key``, an external id field...)."""
    subject: str
    body: str
    """Plain text; a connector whose desk renders HTML escapes it."""
    severity: TicketSeverity = "warning"
    tags: tuple[str, ...] = ()
    requester_email: str | None = None
    group: str | None = None
    """Desk-specific queue/assignment group id, as the admin configured it."""


@runtime_checkable
class TicketDesk(Protocol):
    """Optional capability of a service target: alerts become tickets (cases) on the desk.

    The alert outbox owns retries, dedupe and threading; the connector only speaks the desk's
    API, with its one HTTP client and error taxonomy (``connectors.errors``)."""

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Create a ticket (a follow-up of the closed ticket ``follows``, where the desk links
        them) with ``ticket.body`` as its first internal note; return the new ticket's id."""
        ...

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """Add ``ticket.body`` as an internal (agent-only) note to ``ticket_id``; return the id
        the thread continues on: the same, or a new ticket's when the old one is gone or closed
        for good (the connector opens it)."""
        ...
