"""``IntercomTarget``: the ServiceTarget protocol (and TicketDesk) over companies and contacts.

``customers`` keeps the identity index (``identity``: a periodic company scroll, a day-granular
contact search), ``lookup`` asks Intercom directly for what the index misses (``lookup``),
``read`` fetches records one GET each (Intercom has no bulk read), ``write`` sends one PUT per
changed record (``writer``), and alerts become tickets (``tickets``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from connectors.base import CustomerRecord, FieldInfo, RecordChange, RecordRef, WriteResult
from connectors.desk import AlertTickets, DeskTarget
from connectors.errors import PermanentError
from connectors.record_values import RecordProblem, read_each
from connectors.service.intercom.catalog import CatalogCache
from connectors.service.intercom.client import IntercomApi
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.contact_notes import current_note
from connectors.service.intercom.identity import IdentityFeed
from connectors.service.intercom.lookup import Lookup
from connectors.service.intercom.pacing import build_pacing
from connectors.service.intercom.payloads import (
    COMPANY,
    CONTACT,
    KINDS,
    company_record,
    contact_record,
)
from connectors.service.intercom.tickets import Tickets
from connectors.service.intercom.writer import Writer
from connectors.settings import ConnectorOptions


class IntercomTarget(AlertTickets, DeskTarget[IntercomConfig, IntercomApi]):
    """An Intercom workspace as the contact center's service desk.

    Customers come from a full company scroll when one is due, then changed contacts
    (``identity``); lookups find companies by company_id, contacts by external id (one call
    each) and email (a search per 15, hits read again; ``lookup``). Alerts become Back-office
    tickets with the body as their first internal note; an update goes on as an internal note
    (a new ticket when the old one is gone or closed; ``tickets``)."""

    system = "intercom"
    credentials = "access token"
    _feed: IdentityFeed

    def __init__(
        self,
        name: str,
        config: IntercomConfig,
        options: ConnectorOptions,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name, config, config.write_concurrency, config.text_limit)
        self._api = IntercomApi(
            name, config, options, build_pacing(config, options.sleep, options.budget_share)
        )
        self._budget = (self._api.pacing.gate, "this 10-second window")
        self._admin: str | None = config.admin_id
        contact_notes = config.note_max_length if config.note_place == "contact_note" else None
        self._catalog = CatalogCache(
            self._api.data_attributes,
            config.record_kinds,
            ttl=config.catalog_ttl_seconds,
            text_max_length=config.text_max_length,
            contact_notes=contact_notes,
            clock=self._api.pacing.clock,
        )
        self._feed = IdentityFeed(self._api, config, now=wall_clock)
        self._lookup = Lookup(self._api, config)
        self._writer = Writer(self._api, config, self._catalog, self._admin_id)
        self._tickets = Tickets(self._api, config, self._admin_id)

    @property
    def http_stats(self) -> Any:
        """Request counts of this instance (benchmarks and tests)."""
        return self._api.http.stats

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values, one GET per record, concurrently under the gate; gone ones left out."""
        wanted = [ref for ref in dict.fromkeys(refs) if ref.kind in KINDS]
        records = await asyncio.gather(*(self._read_one(ref) for ref in wanted))
        return [record for record in records if record is not None]

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """One request per changed record; one result per change, in order."""
        return await self._writer.write(changes)

    async def field_catalog(self) -> list[FieldInfo]:
        """Every company and contact data attribute; custom ones of a writable type writable."""
        catalog = await self._catalog.get(fresh=True)
        return catalog.field_infos()

    def notices(self) -> list[str]:
        """Facts an admin should see in ``status``."""
        config = self.config
        facts = [
            "Intercom has no bulk update: one PUT per changed record, "
            f"{config.write_concurrency} at a time, paced at {config.window_limit} requests "
            "per 10 seconds",
        ]
        if COMPANY in config.record_kinds:
            facts.append(
                "companies have no search or change filter in Intercom: they are re-read in "
                f"full by the scroll API at most every {config.company_scroll_minutes:g} "
                "minutes; in between, a company a deal needs is looked up by company_id "
                "(a company domain cannot be looked up)"
            )
        if config.note_place == "contact_note":
            facts.append(
                "the deal note is added as a new contact note whenever it changes (Intercom "
                "notes cannot be edited or deleted; earlier versions stay in the history)"
            )
        facts += self._feed.events
        seen = self._api.pacing.gate.last_signal.limit
        if seen is not None and seen < config.window_limit:
            facts.append(
                f"Intercom allows this app {seen} requests per 10 seconds, below the "
                f"{config.window_limit} configured: lower requests_per_minute to avoid 429s"
            )
        return facts

    async def _read_one(self, ref: RecordRef) -> CustomerRecord | None:
        row = await self._api.get_record(ref.kind, ref.id)
        if row is None:
            return None
        notes: str | None = None
        if ref.kind == CONTACT and self.config.note_place == "contact_note":
            found = await self._api.contact_notes(ref.id)
            notes = current_note(found or [], await self._admin_id()) or ""
        problems: list[RecordProblem] = []
        reader = company_record if ref.kind == COMPANY else partial(contact_record, notes=notes)
        for record in read_each([row], reader, desk="Intercom", kind=ref.kind, problems=problems):
            return record
        return CustomerRecord(ref=ref, problem=problems[0].message)  # the record asked for

    async def _admin_id(self) -> str:
        """The admin dealbridge writes notes as: configured, else the token's own (GET /me)."""
        if self._admin is None:
            admin_id = (await self._api.me()).get("id")
            if admin_id is None:
                raise PermanentError(
                    "GET /me named no admin; set admin_id on the Intercom connector",
                    who_acts="admin",
                    operation="check",
                )
            self._admin = str(admin_id)
        return self._admin

    async def _prove_access(self) -> str:
        """``GET /me``: proves the token, the region's base URL and the version header."""
        admin = await self._api.me()
        app = admin.get("app")
        workspace = (app.get("name") or app.get("id_code")) if isinstance(app, dict) else None
        return f"token accepted (admin {admin.get('id')}, workspace {workspace or '?'})"


__all__ = ["IntercomTarget"]
