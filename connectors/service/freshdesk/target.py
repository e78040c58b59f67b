"""``FreshdeskTarget``: the ServiceTarget protocol (and ``TicketDesk``) over companies and
contacts.

Freshdesk has no bulk read or bulk update for companies and contacts, so ``read`` issues one
``GET`` and ``write`` one ``PUT`` per record, ``write_batch_size`` of them concurrently under
the rate gate. A PUT answers with the stored record, which is the read-back. A record Freshdesk
rejects (400 validation, 404 gone, 409 conflict) fails alone with the vendor's message naming
the field and the value sent; auth, permission and outage errors stop the batch. Alerts become
tickets with private notes (see ``tickets``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from functools import partial
from typing import Any

import structlog

from connectors.base import CustomerRecord, FieldInfo, RecordChange, RecordRef, WriteResult
from connectors.desk import AlertTickets, DeskTarget
from connectors.errors import RecordError
from connectors.record_values import (
    MalformedRecord,
    RecordProblem,
    read_each,
    unreadable_answer,
)
from connectors.service.freshdesk.catalog import build_catalog
from connectors.service.freshdesk.client import FreshdeskApi
from connectors.service.freshdesk.config import FreshdeskConfig
from connectors.service.freshdesk.identity import IdentityFeed
from connectors.service.freshdesk.lookup import Lookup
from connectors.service.freshdesk.pacing import build_pacing
from connectors.service.freshdesk.payloads import (
    COMPANY,
    CONTACT,
    KINDS,
    UnwritablePath,
    company_record,
    contact_record,
    path_of,
    stored_values,
    update_body,
)
from connectors.service.freshdesk.tickets import FreshdeskTickets
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.freshdesk")


class FreshdeskTarget(AlertTickets, DeskTarget[FreshdeskConfig, FreshdeskApi]):
    """A Freshdesk helpdesk as the contact center's service desk.

    Customers come from company then contact listings (``identity``); lookups find contacts by
    email or external id (list filters) and companies by customer number or domain (filter
    API, hits read again; ``lookup``)."""

    system = "freshdesk"
    _feed: IdentityFeed

    def __init__(self, name: str, config: FreshdeskConfig, options: ConnectorOptions) -> None:
        super().__init__(name, config, config.write_concurrency, config.note_max_length)
        self._api = FreshdeskApi(
            name, config, options, build_pacing(config, options.sleep, options.budget_share)
        )
        self._budget = (self._api.pacing.gate, "this minute")
        self._feed = IdentityFeed(self._api, config)
        self._lookup = Lookup(self._api, config)
        self._tickets = FreshdeskTickets(self._api.http)

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values, one GET per record, concurrently; missing records are left out."""
        wanted = [ref for ref in refs if ref.kind in KINDS]
        rows = await asyncio.gather(*(self._api.get_record(r.kind, r.id) for r in wanted))
        records: list[CustomerRecord] = []
        for ref, row in zip(wanted, rows, strict=True):
            if not row:
                continue
            problems: list[RecordProblem] = []
            reader = partial(self._record, ref.kind)
            records += read_each([row], reader, desk="Freshdesk", kind=ref.kind, problems=problems)
            # asked by this ref: a record whose own id is unreadable is still this record
            records += [CustomerRecord(ref=ref, problem=problem.message) for problem in problems]
        return records

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """One PUT per change, ``write_batch_size`` at a time; results in the changes' order."""
        results: list[WriteResult] = []
        size = max(1, self.write_batch_size)
        for start in range(0, len(changes), size):
            batch = changes[start : start + size]
            outcomes = await asyncio.gather(
                *(self._write_one(c) for c in batch), return_exceptions=True
            )
            results += _raise_fatal(outcomes)
        return results

    async def field_catalog(self) -> list[FieldInfo]:
        """Built-in ``description``/``note`` plus every custom company and contact field."""
        definitions = {kind: await self._api.field_definitions(kind) for kind in KINDS}
        return build_catalog(definitions, self.text_limit)

    def notices(self) -> list[str]:
        """Facts an admin should see in ``status``."""
        facts = [
            "Freshdesk has no bulk update for companies or contacts: one PUT per record, "
            f"{self.write_batch_size} at a time, paced at {self.config.steady_rate * 60:.0f}/min",
            f"contact listings paced at {self.config.contact_list_rate * 60:.0f}/min "
            "(Freshdesk caps that endpoint separately)",
        ]
        if not self.config.company_search:
            facts.append(
                "companies are listed in full at every identity refresh (the company list has "
                "no update filter, and the filter API lags behind changes by minutes)"
            )
        elif self._feed.full_company_listings:
            facts.append(
                "companies were listed in full (the company list has no update filter and the "
                "filter API returns at most 300 results)"
            )
        seen_limit = self._api.pacing.gate.last_signal.limit
        if seen_limit is not None and seen_limit < self.config.requests_per_minute:
            facts.append(
                f"account limit is {seen_limit}/min, below requests_per_minute="
                f"{self.config.requests_per_minute}: lower it to avoid 429 responses"
            )
        return facts

    async def _prove_access(self) -> str:
        """List one company: proves the key, the agent's access and the base URL."""
        await self._api.ping()
        return "API key accepted; companies readable"

    async def _write_one(self, change: RecordChange) -> WriteResult:
        ref = change.ref
        if ref.kind not in KINDS:
            error = f"unknown Freshdesk record kind {ref.kind!r} (use company or contact)"
            return WriteResult(ref=ref, ok=False, error=error)
        try:
            body = update_body(ref.kind, change.fields)
        except UnwritablePath as exc:
            return WriteResult(ref=ref, ok=False, error=str(exc))
        if not body:
            return WriteResult(ref=ref, ok=True)
        try:
            stored = await self._api.put_record(ref.kind, ref.id, body)
        except RecordError as exc:
            return self._rejected(change, exc)
        try:
            fields = stored_values(ref.kind, stored, change.fields)
        except MalformedRecord as exc:
            return WriteResult(ref=ref, ok=False, error=unreadable_answer("Freshdesk", ref, exc))
        return WriteResult(ref=ref, ok=True, fields=fields)

    def _rejected(self, change: RecordChange, exc: RecordError) -> WriteResult:
        ref = change.ref
        if exc.status == 404:
            error = f"{ref.kind} {ref.id} not found in Freshdesk (deleted or merged?)"
        else:
            path = path_of(exc.field, change.fields)
            sent = f" (sent {path} = {change.fields[path]!r})" if path in change.fields else ""
            error = f"{exc.message}{sent}"
        log.warning("freshdesk_record_rejected", record=ref.key, status=exc.status, error=error)
        return WriteResult(ref=ref, ok=False, error=error)

    def _record(self, kind: str, row: dict[str, Any]) -> CustomerRecord:
        if kind == COMPANY:
            return company_record(row, self.config.customer_number_field)
        assert kind == CONTACT
        return contact_record(row)


def _raise_fatal(outcomes: Sequence[WriteResult | BaseException]) -> list[WriteResult]:
    """Results of a batch; the first error that is not one record's problem is raised."""
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return [o for o in outcomes if isinstance(o, WriteResult)]
