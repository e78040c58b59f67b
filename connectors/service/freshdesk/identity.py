"""The identity index feed: companies and contacts changed since the cursor, page by page.

* Contacts: ``GET /api/v2/contacts?_updated_since=<ISO>&per_page=100`` (the documented contact
  filter, python-freshdesk ``list_contacts``), then the same with ``state=deleted`` so soft-
  deleted contacts leave the index. Contact listings have their own, lower rate cap.
* Companies: the list endpoint has no update filter, so every refresh lists them all
  (``GET /api/v2/companies?per_page=100``, ~1 request per 100 companies): the list reads the
  companies themselves, while the filter API is a search index that "may take a few minutes"
  to see a change [API docs "Filter Companies"], and an index built from it kept pointing at a
  company that had lost its customer number. ``company_search: true`` opts back into the
  filter API after the first run (``GET /api/v2/search/companies?query="updated_at:>'D'"``,
  ``:>`` is "on or after", dates only, 30 a page, 10 pages at most), for books too large to
  list each refresh; its lag is then covered by the overlap below, by direct lookups of index
  misses and by the identity check before every write. More than 300 matches fall back to the
  full list.

Companies are deleted for good in Freshdesk and nothing lists deletions, so a deleted company
stays in the index until ``read`` finds it missing (the engine reports that record).

Each kind's watermark only moves when its listing completed, so a crash mid-listing re-reads
rather than skips. Re-reads start ``overlap_seconds`` before the watermark (and, for the
date-only company filter, on that whole UTC day), so ties and index lag are covered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import structlog

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.desk import DeskPart
from connectors.service.freshdesk.client import COMPANIES_PATH, CONTACTS_PATH, FreshdeskApi
from connectors.service.freshdesk.config import FreshdeskConfig
from connectors.service.freshdesk.paging import SEARCH_MAX_RESULTS, IdentityCursor, vendor_time
from connectors.service.freshdesk.payloads import COMPANY, CONTACT, company_record, contact_record

log = structlog.get_logger("dealbridge.freshdesk")

Batch = tuple[list[CustomerRecord], datetime | None]
"""Records of one page, and the kind's new watermark when this page completed the listing."""


class IdentityFeed(DeskPart[FreshdeskConfig, FreshdeskApi]):
    """Reads changed companies and contacts for ``customers(since)``."""

    desk = "Freshdesk"

    def __init__(
        self,
        api: FreshdeskApi,
        config: FreshdeskConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(api, config)
        self._clock = clock
        self.full_company_listings = 0

    async def pages(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        """Company pages, then contact pages; each checkpoint is safe once its page is stored."""
        cursor = IdentityCursor.decode(since)
        async for records, mark in self._companies(cursor.companies):
            if mark is not None:
                cursor = cursor.advance("companies", mark)
            yield self._page(records, cursor.encode())
        async for records, mark in self._contacts(cursor.contacts):
            if mark is not None:
                cursor = cursor.advance("contacts", mark)
            yield self._page(records, cursor.encode())

    async def _companies(self, previous: datetime | None) -> AsyncIterator[Batch]:
        started = self._clock()
        if previous is not None and self._config.company_search:
            changed = await self._changed_companies(previous, started)
            if changed is not None:
                yield changed
                return
        self.full_company_listings += 1
        mark: datetime | None = None
        params = {"per_page": self._config.per_page, "page": 1}
        async for page in self._api.pages(COMPANIES_PATH, params, operation="list_companies"):
            mark = mark or vendor_time(page.response, started)
            yield self._read(page.rows, self._company, COMPANY), (mark if page.last else None)

    async def _changed_companies(self, previous: datetime, started: datetime) -> Batch | None:
        """Companies updated since the watermark's UTC day, or None when too many for search."""
        day = (previous - self._overlap).astimezone(UTC).date().isoformat()
        records: list[CustomerRecord] = []
        mark: datetime | None = None
        pages = self._api.search_companies(f"updated_at:>'{day}'", operation="search_companies")
        async for page in pages:
            if page.total > SEARCH_MAX_RESULTS:
                log.info("freshdesk_company_search_too_broad", total=page.total, since=day)
                return None
            mark = mark or vendor_time(page.response, started)
            records += self._read(page.rows, self._company, COMPANY)
        return records, mark or started

    async def _contacts(self, previous: datetime | None) -> AsyncIterator[Batch]:
        started = self._clock()
        params: dict[str, Any] = {"per_page": self._config.per_page, "page": 1}
        listings = [(params, False)]
        if previous is not None:
            params["_updated_since"] = iso_seconds(previous - self._overlap)
            listings.append(({**params, "state": "deleted"}, True))
        mark: datetime | None = None
        for number, (query, deleted) in enumerate(listings, start=1):
            final = number == len(listings)
            async for page in self._api.pages(CONTACTS_PATH, query, operation="list_contacts"):
                mark = mark or vendor_time(page.response, started)
                read = partial(contact_record, deleted=deleted)
                records = self._read(page.rows, read, CONTACT)
                yield records, (mark if final and page.last else None)

    @property
    def _overlap(self) -> timedelta:
        return timedelta(seconds=self._config.overlap_seconds)

    def _company(self, row: dict[str, Any]) -> CustomerRecord:
        return company_record(row, self._config.customer_number_field)


def iso_seconds(moment: datetime) -> str:
    """``2024-05-01T10:00:00Z``: the timestamp form Freshdesk documents for filters."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
