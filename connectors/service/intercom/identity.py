"""The identity index feed: companies by a periodic full scroll, contacts by a day-granular search.

**Companies** have no search and no incremental filter (FACTS.md §4.8): the only complete
listing is the scroll (§4.7), and it reads every company. So a refresh scrolls only when the
last complete scroll started ``company_scroll_minutes`` ago or more; in between, companies a
deal needs and the index lacks are found by ``lookup`` (``GET /companies?company_id=``), and
every write is preceded by a read of the record itself. The scroll is read straight through
(an unused scroll expires after a minute); if it is lost (expired, or the 500 that asks to
restart it) it is started again, and companies already yielded are skipped, not yielded twice
(see ``_scroll`` for when it gives up). If another scroll is open for the app (one at a time), this
refresh leaves companies alone and the next one tries again. The checkpoint moves only when a
scroll completes, so a crash in the middle scrolls again.

Companies deleted in Intercom do not come through the scroll as deletions (it lists what
exists); the engine finds them gone when it reads a record before writing it.

**Contacts** come from ``POST /contacts/search`` filtered by ``role`` and ``updated_at``. Date
filters match whole calendar days in the workspace's time zone, and ``>`` starts at the next
day (§5.3), so the query asks for ``updated_at > cursor - 25 h``: whatever the time zone, that
starts no later than the midnight before the cursor (a day's overlap at most), and contacts
whose full ``updated_at`` is older than the cursor are dropped here. Search sees changes "a
few minutes" late, so the next cursor is Intercom's time at the search (its ``Date`` header,
else the newest change seen; never our clock) minus ``search_lag_seconds``: a change the search
had not indexed yet is read by the next refresh. Search results have no documented order, so
the cursor moves only when the search has been read to its end.

The cursor is JSON ``{"companies": {"scrolled_at": t}, "contacts": {"since": t}}`` (Unix
seconds; ``scrolled_at`` by our clock, ``since`` by Intercom's).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import structlog

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.desk import DeskPart
from connectors.ratelimit import Clock
from connectors.service.intercom.client import IntercomApi
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.errors import ScrollBusy, ScrollLost
from connectors.service.intercom.paging import scroll_pages, search_pages
from connectors.service.intercom.payloads import COMPANY, CONTACT, company_record, contact_record

log = structlog.get_logger("dealbridge.intercom")

SCROLL_ATTEMPTS = 3
"""Lost scrolls in a row without a new company before a refresh gives up on companies."""
SCROLL_RESTARTS = 20
"""Lost scrolls in one refresh before it gives up on companies, progress or not."""
DAY_OVERLAP = 25 * 3600
"""Seconds subtracted from the contact cursor before the day-granular ``>`` filter: a day,
plus an hour for a 25-hour day at a daylight-saving change."""


@dataclass(frozen=True)
class IdentityCursor:
    """When the last complete company scroll started, and the contacts' change cursor."""

    scrolled_at: float | None = None
    contacts_since: int | None = None

    def encode(self) -> Cursor:
        """The JSON text stored by the engine."""
        payload: dict[str, Any] = {}
        if self.scrolled_at is not None:
            payload["companies"] = {"scrolled_at": self.scrolled_at}
        if self.contacts_since is not None:
            payload["contacts"] = {"since": self.contacts_since}
        return Cursor.of(payload)

    @classmethod
    def decode(cls, cursor: Cursor | None) -> IdentityCursor:
        """Read a stored cursor; anything unreadable means "read everything again"."""
        payload = Cursor.payload(cursor)
        companies, contacts = payload.get("companies"), payload.get("contacts")
        scrolled = companies.get("scrolled_at") if isinstance(companies, dict) else None
        since = contacts.get("since") if isinstance(contacts, dict) else None
        return cls(scrolled_at=_number(scrolled), contacts_since=_whole(since))


class IdentityFeed(DeskPart[IntercomConfig, IntercomApi]):
    """Reads companies and contacts for ``customers(since)``."""

    desk = "Intercom"

    def __init__(self, api: IntercomApi, config: IntercomConfig, now: Clock = time.time) -> None:
        super().__init__(api, config)
        self._now = now
        self.events: list[str] = []
        """What the last refresh could not do (for ``notices``)."""

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Company pages (when a scroll is due), then contact pages; the last page of each
        carries the moved checkpoint."""
        self.events = []
        position = IdentityCursor.decode(since)
        if COMPANY in self._config.record_kinds and self._scroll_due(position):
            started = self._now()
            completed = False
            async for records, done in self._scroll():
                completed = completed or done
                if done:
                    position = replace(position, scrolled_at=started)
                yield self._page(records, position.encode())
            if not completed:
                log.warning("intercom_scroll_incomplete", events=self.events)
        if CONTACT in self._config.record_kinds:
            async for records, position in self._contacts(position):  # noqa: B020
                yield self._page(records, position.encode())

    def _scroll_due(self, position: IdentityCursor) -> bool:
        if position.scrolled_at is None:
            return True
        return self._now() - position.scrolled_at >= self._config.company_scroll_minutes * 60

    async def _scroll(self) -> AsyncIterator[tuple[list[CustomerRecord], bool]]:
        """Pages of companies not yielded before in this refresh; ``True`` marks the end of a
        complete scroll (an empty page that moves the checkpoint).

        A lost scroll starts again from its first page. Pages already yielded are read again
        without being yielded (nothing waits on them, so they cannot outlive the scroll), so
        every attempt that gets past them makes progress; the feed gives up after
        :data:`SCROLL_ATTEMPTS` attempts in a row without a new company, or
        :data:`SCROLL_RESTARTS` in all."""
        yielded: set[str] = set()
        stalled = 0
        for attempt in range(1, SCROLL_RESTARTS + 2):
            progressed = False
            try:
                async for page in scroll_pages(self._api):
                    records = self._read(page.rows, company_record, COMPANY)
                    fresh = [r for r in records if r.ref.id not in yielded]
                    if fresh:
                        yielded.update(r.ref.id for r in fresh)
                        progressed = True
                        yield fresh, False
            except ScrollBusy as exc:
                self.events.append(
                    "another company scroll is open for this Intercom app (one at a time): "
                    "companies were not re-read in this refresh; the next refresh tries again "
                    f"({exc.message})"
                )
                return
            except ScrollLost as exc:
                log.warning("intercom_scroll_lost", attempt=attempt, error=str(exc))
                stalled = 0 if progressed else stalled + 1
                if stalled >= SCROLL_ATTEMPTS:
                    break
                continue
            yield [], True
            return
        self.events.append(
            f"the company scroll was lost {attempt} times in one refresh (it expires after a "
            "minute unused and cannot be resumed); the next refresh starts it again"
        )

    async def _contacts(
        self, position: IdentityCursor
    ) -> AsyncIterator[tuple[list[CustomerRecord], IdentityCursor]]:
        since = position.contacts_since
        roles = set(self._config.contact_roles)
        yielded: set[str] = set()
        vendor_now: float | None = None
        newest: float | None = None
        query = contact_query(self._config.contact_roles, since)
        async for page in search_pages(self._api, query, self._config.contact_page_size):
            vendor_now = vendor_now if vendor_now is not None else page.vendor_time
            records = []
            for row, record in self._read(page.rows, _with_contact, CONTACT):
                if record.updated_at is not None:
                    newest = max(newest or 0.0, record.updated_at.timestamp())
                if row.get("role") not in roles or record.ref.id in yielded:
                    continue
                if since is not None and (
                    record.updated_at is None or record.updated_at.timestamp() < since
                ):
                    continue  # before the cursor: on the overlapping day, already indexed
                yielded.add(record.ref.id)
                records.append(record)
            yield records, position
        yield [], replace(position, contacts_since=self._next_since(since, vendor_now, newest))

    def _next_since(
        self, since: int | None, vendor_now: float | None, newest: float | None
    ) -> int | None:
        """Where the next search starts: everything changed before Intercom's time of this
        search minus the lag was searchable, so it was read. Without a ``Date`` header, the
        newest change seen stands in for Intercom's time (it was changed before the search);
        our own clock never does, so skew cannot move the cursor past unread changes."""
        anchor = vendor_now if vendor_now is not None else newest
        if anchor is None:
            return since
        return max(since or 0, int(anchor) - self._config.search_lag_seconds)


def contact_query(roles: tuple[str, ...], since: int | None) -> dict[str, Any]:
    """The search query: the roles indexed, and (after the first read) the changed days.

    Two single filters in one AND group: the form the description allows (FACTS.md §10.4)."""
    role: dict[str, Any] = (
        {"field": "role", "operator": "=", "value": roles[0]}
        if len(set(roles)) == 1
        else {"field": "role", "operator": "IN", "value": sorted(set(roles))}
    )
    if since is None:
        return role
    changed = {"field": "updated_at", "operator": ">", "value": max(0, since - DAY_OVERLAP)}
    return {"operator": "AND", "value": [role, changed]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _whole(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _with_contact(row: dict[str, Any]) -> tuple[dict[str, Any], CustomerRecord]:
    """A contact row with its record (the row's role decides whether it is yielded)."""
    return row, contact_record(row)
