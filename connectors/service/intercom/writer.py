"""Writing changed values: one request per changed record, nothing for an unchanged one.

Intercom has no bulk update for companies or contacts (FACTS.md §5.6), so each change is:

1. checked against the data attributes catalog before anything is sent (``catalog``): a path
   that is no attribute, a list value outside its options, a string over the limit, a value of
   the wrong type fail that record alone, with what to do;
2. when the engine passes the version it planned on and ``verify_before_write`` is on: the
   record read again (``GET``), and refused if it is gone or its custom attributes changed
   since (Intercom has no conditional update, §9);
3. ``PUT /companies/{id}`` or ``PUT /contacts/{id}`` with ``{"custom_attributes": {...}}``
   carrying only the changed attributes; the answer is the stored record, our read-back. A
   company is always addressed by Intercom's own id: ``POST /companies`` would create a company
   for a ``company_id`` it does not know (§4.2), so it is never used;
4. a changed contact note (``note_place: contact_note``): ``POST /contacts/{id}/notes``.

``write_concurrency`` records go at once under the 10-second window gate. A record Intercom
refuses (400 on its write, 404 gone) fails alone; a refused token, a plan restriction or an
outage stops the batch (raised).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from connectors.base import RecordChange, WriteResult
from connectors.desk import DeskPart
from connectors.errors import RecordError
from connectors.record_values import MalformedRecord, unreadable_answer
from connectors.service.intercom.catalog import (
    AttributeCatalog,
    AttributeProblem,
    CatalogCache,
    MissingAttribute,
)
from connectors.service.intercom.client import IntercomApi
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.contact_notes import to_html, to_text
from connectors.service.intercom.payloads import (
    CUSTOM_PREFIX,
    KINDS,
    NOTES_PATH,
    UnwritablePath,
    split_changes,
    stored_values,
    version_of,
)

log = structlog.get_logger("dealbridge.intercom")

AdminId = Callable[[], Awaitable[str]]


@dataclass(frozen=True)
class Planned:
    """One change made ready: the attribute values to send and the note text, if any."""

    attributes: dict[str, Any]
    note: str | None


class Writer(DeskPart[IntercomConfig, IntercomApi]):
    """Applies ``RecordChange`` batches."""

    def __init__(
        self, api: IntercomApi, config: IntercomConfig, catalog: CatalogCache, admin_id: AdminId
    ) -> None:
        super().__init__(api, config)
        self._catalog = catalog
        self._admin_id = admin_id

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """One result per change, in order; bad records fail alone, account problems raise."""
        catalog = await self._catalog.get()
        prepared = [(change, self._prepare(change, catalog)) for change in changes]
        if any(isinstance(p, MissingAttribute) for _, p in prepared):
            # An attribute created in Intercom since the catalog was read is not missing.
            catalog = await self._catalog.get(fresh=True)
            prepared = [(change, self._prepare(change, catalog)) for change in changes]
        results: list[WriteResult] = []
        size = max(1, self._config.write_concurrency)
        for start in range(0, len(prepared), size):
            batch = prepared[start : start + size]
            outcomes = await asyncio.gather(
                *(self._write_one(planned, change) for change, planned in batch),
                return_exceptions=True,
            )
            results += _raise_fatal(outcomes)
        return results

    def _prepare(
        self, change: RecordChange, catalog: AttributeCatalog
    ) -> Planned | AttributeProblem | UnwritablePath:
        kind = change.ref.kind
        if kind not in KINDS:
            return UnwritablePath(f"unknown Intercom record kind {kind!r} (use company or contact)")
        try:
            names, note = split_changes(kind, change.fields)
            attributes = {name: catalog.prepare(kind, name, v) for name, v in names.items()}
        except (UnwritablePath, AttributeProblem) as problem:
            return problem
        if note is not None and len(note) > self._config.note_max_length:
            return AttributeProblem(
                f"notes would be {len(note)} characters; dealbridge adds contact notes of at "
                f"most note_max_length={self._config.note_max_length}"
            )
        return Planned(attributes, note)

    async def _write_one(
        self, planned: Planned | AttributeProblem | UnwritablePath, change: RecordChange
    ) -> WriteResult:
        ref = change.ref
        if not isinstance(planned, Planned):
            return _failed(change, f"not written: {planned}")
        if not planned.attributes and planned.note is None:
            return WriteResult(ref=ref, ok=True)
        refusal = await self._still_as_planned(change)
        if refusal is not None:
            return refusal
        fields: dict[str, Any] = {}
        try:
            if planned.attributes:
                stored = await self._api.put_record(
                    ref.kind, ref.id, {"custom_attributes": planned.attributes}
                )
                try:
                    fields = stored_values(stored, change.fields)
                except MalformedRecord as exc:
                    error = unreadable_answer("Intercom", ref, exc)
                    return WriteResult(ref=ref, ok=False, error=error)
            if planned.note is not None:
                fields[NOTES_PATH] = await self._add_note(ref.id, planned.note)
        except RecordError as exc:
            return _failed(change, self._refused(change, exc, written=fields))
        return WriteResult(ref=ref, ok=True, fields=fields)

    async def _still_as_planned(self, change: RecordChange) -> WriteResult | None:
        """The refusal when the record may not be written now (None: go ahead)."""
        if change.expected_version is None or not self._config.verify_before_write:
            return None
        ref = change.ref
        current = await self._api.get_record(ref.kind, ref.id)
        if current is None:
            return _failed(
                change, f"{ref.kind} {ref.id} no longer exists in Intercom (deleted or merged)"
            )
        if version_of(current) != change.expected_version:
            return _failed(
                change,
                moved=True,
                error=(
                    f"{ref.kind} {ref.id} changed in Intercom since it was read (an agent or "
                    "another integration edited its attributes); not written: planned again "
                    "from its current values at once"
                ),
            )
        return None

    async def _add_note(self, contact_id: str, text: str) -> str:
        note = await self._api.add_contact_note(contact_id, to_html(text), await self._admin_id())
        body = note.get("body")
        return to_text(body) if isinstance(body, str) else text

    def _refused(self, change: RecordChange, exc: RecordError, *, written: dict[str, Any]) -> str:
        ref = change.ref
        if exc.status == 404:
            text = f"{ref.kind} {ref.id} not found in Intercom (deleted or merged?)"
        else:
            path = CUSTOM_PREFIX + exc.field if exc.field else None
            sent = f" (sent {path} = {change.fields[path]!r})" if path in change.fields else ""
            text = f"Intercom refused the write: {exc.message}{sent}"
        if written:
            text += f"; already written: {', '.join(sorted(written))}"
        log.warning("intercom_record_rejected", record=ref.key, status=exc.status, error=text)
        return text


def _failed(change: RecordChange, error: str, *, moved: bool = False) -> WriteResult:
    return WriteResult(ref=change.ref, ok=False, error=error, moved=moved)


def _raise_fatal(outcomes: Sequence[WriteResult | BaseException]) -> list[WriteResult]:
    """Results of a batch; the first error that is not one record's problem is raised."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [o for o in outcomes if isinstance(o, WriteResult)]
