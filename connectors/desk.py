"""What every service-desk target shares, so a desk connector writes only what is its own.

A desk target delegates the identity feed (``customers``), direct lookups and closing its API
to its own modules; its health check proves access with one cheap call and reports the budget
the vendor says is left. :class:`DeskTarget` holds that skeleton; a connector subclasses it and
writes its ``read``, ``write``, ``field_catalog``, ``notices`` and the call that proves access
(:meth:`DeskTarget._prove_access`). :class:`AlertTickets` adds the ``TicketDesk`` capability
for a desk whose ``tickets`` module opens alert tickets (``created_ticket_id`` checks what a
create answered; :class:`RestTickets` is the flow of a desk whose tickets are plain REST
calls).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import httpx

from connectors.base import (
    Cursor,
    CustomerPage,
    CustomerRecord,
    DeskTicket,
    Health,
    IdentityKey,
    RecordChange,
)
from connectors.errors import AuthError, ConnectorError, PermanentError, RecordError
from connectors.http import VendorClient
from connectors.ratelimit import LimitSignal, VendorGate
from connectors.record_values import RecordProblem, log_problems, read_each
from connectors.settings import ConnectorConfig


class IdentityPages(Protocol):
    """A connector's identity feed: customers changed since a cursor, page by page."""

    def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]: ...


class RecordLookup(Protocol):
    """A connector's direct lookups of records by identity key."""

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Records carrying any of ``keys``; the hits that did not read go to ``problems``."""
        ...


class Closable(Protocol):
    """A connector's API layer: pooled connections to release."""

    async def aclose(self) -> None: ...


T = TypeVar("T")
Config = TypeVar("Config", bound=ConnectorConfig)
Api = TypeVar("Api", bound=Closable)


class DeskTarget(Generic[Config, Api]):
    """The ServiceTarget skeleton a desk connector fills in (see the module docstring), typed
    by the connector's config model and API layer."""

    credentials: str = "credentials"
    """What a 401/403 at check time names as refused ("API token", "access token", ...)."""
    config: Config
    _api: Api
    _feed: IdentityPages
    _lookup: RecordLookup
    _budget: tuple[VendorGate, str] | None = None
    """The gate whose limit headers the check reports, and the period they count."""

    def __init__(self, name: str, config: Config, write_batch_size: int, text_limit: int) -> None:
        self.name = name
        self.config = config
        self.write_batch_size = write_batch_size
        """Changes the engine hands to one ``write`` call."""
        self.text_limit = text_limit
        """Characters the agent note may hold on this desk."""

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Customers changed since the cursor, page by page with safe checkpoints (the
        connector's ``identity`` module says which calls)."""
        async for page in self._feed.pages(since):
            yield page

    async def lookup(
        self, keys: Sequence[IdentityKey], problems: list[str] | None = None
    ) -> list[CustomerRecord]:
        """Records carrying any of ``keys`` (the connector's ``lookup`` module says how); the
        messages of the hits that did not read go to ``problems``, or to the log."""
        unread: list[RecordProblem] = []
        records = await self._lookup.records(keys, unread)
        if problems is None:
            log_problems(unread)
        else:
            problems += (problem.message for problem in unread)
        return records

    async def check(self) -> Health:
        """One cheap call that proves credentials, base URL and access; the budget left."""
        try:
            detail = await self._prove_access()
        except AuthError as exc:
            return Health(ok=False, detail=f"{self.credentials} refused: {exc}")
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True, detail=detail, api_usage=self._usage())

    async def aclose(self) -> None:
        """Release connections."""
        await self._api.aclose()

    async def _prove_access(self) -> str:
        """Make the check's call; return what it proved, for people."""
        raise NotImplementedError

    def _usage(self) -> str | None:
        """The vendor's budget as the check reports it (None: nothing known)."""
        if self._budget is None:
            return None
        gate, period = self._budget
        return budget_used(gate.last_signal, period)


class DeskPart(Generic[Config, Api]):
    """One job of a desk connector (identity feed, lookup, writer) done through the
    connector's API under its config."""

    desk: ClassVar[str] = ""
    """The desk's name in problem messages ("Zendesk")."""
    id_field: ClassVar[str] = "id"
    """The member holding a record's id in the desk's rows (named in problems)."""

    def __init__(self, api: Api, config: Config) -> None:
        self._api = api
        self._config = config
        self._problems: list[RecordProblem] = []

    def _read(self, rows: Iterable[Any], read: Callable[[dict[str, Any]], T], kind: str) -> list[T]:
        """``read`` of each row that reads (:func:`read_each`); the others' problems are kept
        for the next page this part yields (:meth:`_page`)."""
        return read_each(
            rows, read, desk=self.desk, kind=kind, problems=self._problems, id_field=self.id_field
        )

    def _page(self, records: Iterable[CustomerRecord], checkpoint: Cursor) -> CustomerPage:
        """An identity page of ``records``, carrying the problems of the rows its reading
        left out (each page's answers are read whole before it is yielded)."""
        problems, self._problems = self._problems, []
        return CustomerPage(
            records=tuple(records),
            checkpoint=checkpoint,
            problems=tuple(problem.message for problem in problems),
        )

    def _read_into(
        self,
        rows: Iterable[Any],
        read: Callable[[dict[str, Any]], T],
        kind: str,
        problems: list[RecordProblem],
    ) -> list[T]:
        """:meth:`_read` for a lookup: the rows left out go to the lookup's own ``problems``
        (the run reports them beside the deal left unmatched for want of the record)."""
        return read_each(
            rows, read, desk=self.desk, kind=kind, problems=problems, id_field=self.id_field
        )


def wanted_keys(
    keys: Iterable[IdentityKey], askable: Callable[[IdentityKey], bool]
) -> dict[tuple[str, str], list[str]]:
    """The values to look up, each once, grouped by (kind, match); keys ``askable`` refuses
    (a kind not configured, a match the desk cannot search, a value it cannot take) are
    left out."""
    wanted: dict[tuple[str, str], list[str]] = defaultdict(list)
    for key in dict.fromkeys(keys):
        if askable(key):
            wanted[(key.kind, key.match)].append(key.value)
    return wanted


def of_kinds(
    kinds: Collection[str], takes: Callable[[str], bool] = bool
) -> Callable[[IdentityKey], bool]:
    """The usual ``askable`` of :func:`wanted_keys`: keys of a configured kind whose value the
    desk ``takes`` (by default, any value that is not empty)."""
    return lambda key: key.kind in kinds and takes(key.value)


@dataclass(frozen=True)
class PlannedChange:
    """A change a writer has checked and will send, with its position in the write call (the
    results come back in the changes' order)."""

    index: int
    change: RecordChange


def budget_used(signal: LimitSignal, period: str) -> str | None:
    """``"12/700 requests used this minute"`` from the vendor's last limit headers."""
    if signal.limit is None or signal.remaining is None:
        return None
    return f"{signal.limit - signal.remaining}/{signal.limit} requests used {period}"


class TicketOpener(Protocol):
    """A connector's ``tickets`` module: alerts as tickets (cases) with internal notes."""

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str: ...

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str: ...


class AlertTickets:
    """The ``TicketDesk`` capability, delegated to the connector's ``tickets`` module."""

    _tickets: TicketOpener

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Open an alert ticket with the body as its first internal note (``TicketDesk``)."""
        return await self._tickets.open_ticket(ticket, follows=follows)

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """Add the alert as an internal note; the id the thread continues on (``TicketDesk``)."""
        return await self._tickets.add_internal_note(ticket_id, ticket)


def merged_by_name(
    entries: Iterable[tuple[str, str, T]], combine: Callable[[T, T], T] = lambda first, _: first
) -> list[tuple[T, list[str]]]:
    """Fields of several record kinds as one catalog: each name once, first seen first, with
    the kinds that have it (``entries`` are (kind, name, field); two fields of one name become
    ``combine(first, later)``, the first by default)."""
    merged: dict[str, tuple[T, list[str]]] = {}
    for kind, name, entry in entries:
        if name in merged:
            first, kinds = merged[name]
            merged[name] = (combine(first, entry), [*kinds, kind])
        else:
            merged[name] = (entry, [kind])
    return list(merged.values())


def labelled(label: str, kinds: Iterable[str]) -> str:
    """A catalog label that says which kinds have the field: ``Tier (organization, user)``."""
    return f"{label} ({', '.join(kinds)})"


def created_ticket_id(http: VendorClient, response: httpx.Response, desk: str, *path: str) -> str:
    """The id ``desk`` answered a ticket create with, at ``path`` in the JSON answer; an
    answer without one is a vendor or connector defect, never worth repeating (a repeat could
    open a second ticket)."""
    found: object = http.decode(response, "open_ticket")
    for key in path:
        found = found.get(key) if isinstance(found, dict) else None
    if isinstance(found, bool) or not isinstance(found, int | str) or str(found) == "":
        raise PermanentError(
            f"{desk} created the ticket without returning its id",
            connector=http.connector,
            operation="open_ticket",
            status=response.status_code,
        )
    return str(found)


class RestTickets:
    """A desk's ``tickets`` module where opening a ticket and noting on it are plain REST calls
    through the target's own client.

    A note goes on its ticket; where the desk refuses it because of the ticket (gone, closed:
    the vendor's :meth:`_successor` says which refusals mean that), a new ticket takes over and
    its id is what the alert thread continues on. A vendor writes ``open_ticket``, the note's
    request (:meth:`_note`) and :meth:`_successor`."""

    desk: ClassVar[str]
    """The desk's name in errors ("Zendesk")."""
    created_id_at: ClassVar[tuple[str, ...]]
    """Where a create's JSON answer holds the new ticket's id (``("ticket", "id")``)."""

    def __init__(self, http: VendorClient) -> None:
        self._http = http

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Open an alert ticket with the body as its first internal note (``TicketDesk``)."""
        raise NotImplementedError

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """The alert as an internal note on ``ticket_id``, or on the ticket that succeeds it;
        the id the thread continues on (``TicketDesk``)."""
        method, path, body = self._note(ticket_id, ticket)
        try:
            await self._http.request(method, path, operation="note_ticket", json=body)
        except RecordError as exc:
            successor = self._successor(ticket_id, ticket, exc)
            if successor is None:
                raise
            return await successor
        return ticket_id

    async def _created(self, path: str, fields: object, **options: Any) -> str:
        """POST a new ticket; the id the desk answered (see :func:`created_ticket_id`)."""
        response = await self._http.request(
            "POST", path, operation="open_ticket", json=fields, **options
        )
        return created_ticket_id(self._http, response, self.desk, *self.created_id_at)

    def _note(self, ticket_id: str, ticket: DeskTicket) -> tuple[str, str, object]:
        """The request that adds the note: method, path and JSON body."""
        raise NotImplementedError

    def _successor(
        self, ticket_id: str, ticket: DeskTicket, refused: RecordError
    ) -> Awaitable[str] | None:
        """The new ticket that takes over when the desk refused the note because of its
        ticket; None where the refusal is not about the ticket (it is raised)."""
        raise NotImplementedError
