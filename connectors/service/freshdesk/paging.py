"""Freshdesk list paging and the identity cursor.

List endpoints take ``page`` and ``per_page`` (max 100) and announce a further page with
``Link: <https://acme.freshdesk.com/api/v2/contacts?page=2&per_page=100>; rel="next"``; no
``next`` link means the last page (:func:`connectors.paging.next_link` reads it, and
:class:`connectors.paging.CursorPaging` follows it). The filter (search) API instead answers
``{"total": n, "results": [...]}`` with 30 per page and at most 10 pages.

The identity cursor keeps one watermark per record kind: the vendor's clock (``Date`` header)
when that kind's listing began, so a record edited while we were paging is read again next time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from connectors.base import Cursor
from connectors.record_values import iso_time

SEARCH_PAGE_SIZE = 30
SEARCH_MAX_PAGES = 10
SEARCH_MAX_RESULTS = SEARCH_PAGE_SIZE * SEARCH_MAX_PAGES


def vendor_time(response: httpx.Response, fallback: datetime) -> datetime:
    """The vendor's clock from the ``Date`` header (our clock when absent or unreadable)."""
    raw = response.headers.get("date")
    if raw:
        try:
            when: datetime = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return fallback
        return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return fallback


@dataclass(frozen=True)
class IdentityCursor:
    """Where the last completed listing of each kind started (None: never listed)."""

    companies: datetime | None = None
    contacts: datetime | None = None

    def advance(self, kind: str, mark: datetime) -> IdentityCursor:
        """A copy with one kind's watermark moved to ``mark``."""
        return replace(self, **{kind: mark})

    def encode(self) -> Cursor:
        """JSON text the engine stores: ``{"companies": {"ts": ...}, "contacts": {"ts": ...}}``."""
        payload = {
            kind: {"ts": mark.isoformat()}
            for kind, mark in (("companies", self.companies), ("contacts", self.contacts))
            if mark is not None
        }
        return Cursor.of(payload)

    @classmethod
    def decode(cls, cursor: Cursor | None) -> IdentityCursor:
        """Read a stored cursor; anything unreadable means "list everything again"."""
        payload = Cursor.payload(cursor)
        return cls(
            companies=_mark(payload.get("companies")), contacts=_mark(payload.get("contacts"))
        )


def _mark(entry: object) -> datetime | None:
    return iso_time(entry.get("ts")) if isinstance(entry, dict) else None
