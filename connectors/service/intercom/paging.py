"""The two ways Intercom pages the listings dealbridge reads.

* **Scroll** (companies, FACTS.md §4.7): ``GET /companies/scroll``, then the same path with the
  ``scroll_param`` of the page before, until a page comes back with no companies. One scroll per
  app at a time; a scroll left unused for a minute expires; a broken one cannot be resumed. So
  a scroll is read straight through, and any failure surfaces to the caller, which starts
  again (:class:`~connectors.service.intercom.errors.ScrollLost`) or leaves it for later
  (:class:`~connectors.service.intercom.errors.ScrollBusy`).
* **Search cursor** (contacts, §5.3): ``POST /contacts/search`` with the query in the body and
  ``pagination.starting_after`` from ``pages.next`` of the page before; sent as a query
  parameter it would be ignored and the first page would come back again. A cursor seen twice
  stops the read instead of looping.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from connectors.paging import CursorPaging, Where
from connectors.service.intercom.client import IntercomApi, Page


async def scroll_pages(api: IntercomApi) -> AsyncIterator[Page]:
    """Every page of one company scroll, ending at the first empty page.

    Not a :class:`~connectors.paging.CursorPaging` read: ``scroll_param`` names the scroll,
    not a position in it, so the same parameter comes back on every page by design."""
    page, following = await api.scroll_companies(None)
    while page.rows:
        yield page
        if following is None:
            return  # Intercom gave no way on: the read ends here, as at an empty page
        page, following = await api.scroll_companies(following)


async def search_pages(
    api: IntercomApi, query: Mapping[str, Any], per_page: int
) -> AsyncIterator[Page]:
    """Every page of one contact search, following ``pages.next.starting_after``."""

    async def fetch(cursor: str | None) -> Page:
        return await api.search_contacts(query, per_page, cursor)

    where = Where(api.http.connector, "search_contacts", "Intercom's contact search")
    paging = CursorPaging(
        fetch, where=where, position="page cursor", is_last=lambda page: not page.rows
    )
    async for page in paging.pages():
        yield page
