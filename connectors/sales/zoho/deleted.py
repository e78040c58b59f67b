"""Deleted deals: ``GET /crm/v8/Deals/deleted?type=all`` with ``If-Modified-Since``.

Entries are ``{"id", "deleted_time", "type": "recycle"|"permanent", "display_name",
"deleted_by", "created_by"}``, 200 per page with ``page``; 204 when none (FACTS.md §5.1, §5.2).
Zoho lists recycle-bin records for 60 days and permanently deleted ones for 120 (§5.3), so a
poll with the last watermark minus the overlap usually fits one page. The endpoint has no page
token, and neither whether the 2,000-record ``page`` cap applies to it nor the order it lists
entries in is documented (§5.3). When Zoho refuses a page past the cap, the deletions read so
far are used, and the next poll starts at the newest one read: if they came oldest first
(:attr:`DeletedReader.resume_at`) it goes on from there; if newest first, the older ones cannot
be reached and the source reports that as a problem.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from connectors.errors import PermanentError
from connectors.sales.zoho.client import ZohoApi
from connectors.sales.zoho.config import LIST_PAGE_MAX
from connectors.sales.zoho.payloads import parse_time, zoho_time

PAGE_CAP_CODE = "DISCRETE_PAGINATION_LIMIT_EXCEEDED"


class DeletedReader:
    """Pages of deletion entries since a watermark; remembers whether the page cap cut it."""

    def __init__(self, api: ZohoApi, module: str, *, page_size: int) -> None:
        self._api = api
        self._module = module
        self._per_page = min(LIST_PAGE_MAX, page_size)
        self.capped = False
        self._times: list[datetime] = []

    @property
    def resume_at(self) -> datetime | None:
        """After a capped walk listed oldest first: where the next poll should start."""
        ordered = all(a <= b for a, b in itertools.pairwise(self._times))
        return self._times[-1] if self.capped and self._times and ordered else None

    async def pages(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Each page's entries (all deletions Zoho still lists when ``since`` is None)."""
        headers = {"If-Modified-Since": zoho_time(since)} if since else None
        page = 1
        while True:
            params = {"type": "all", "per_page": self._per_page, "page": page}
            try:
                body = await self._api.get(
                    f"/{self._module}/deleted", "read deleted deals", params=params, headers=headers
                )
            except PermanentError as exc:
                if exc.vendor_code != PAGE_CAP_CODE:
                    raise
                self.capped = True
                return
            if body is None:
                return
            entries = [e for e in body.get("data") or [] if isinstance(e, dict)]
            self._times += [t for e in entries if (t := parse_time(e.get("deleted_time")))]
            if entries:
                yield entries
            info = _info(body)
            if not entries or info.get("more_records") is not True:
                return
            page += 1


def _info(body: dict[str, Any]) -> dict[str, Any]:
    info = body.get("info")
    return info if isinstance(info, dict) else {}
