"""Deleted deals: ``GET /crm/v8/Deals/deleted?type=all`` with ``If-Modified-Since``.

Entries are ``{"id", "deleted_time", "type": "recycle"|"permanent", "display_name",
"deleted_by", "created_by"}``, 200 per page with ``page``; 204 when none (FACTS.md §5.1, §5.2).
Zoho lists recycle-bin records for 60 days and permanently deleted ones for 120 (§5.3), so a
poll with the last watermark minus the overlap usually fits one page. The endpoint has no page
token, and whether the 2,000-record ``page`` cap applies to it is not documented (§5.3): when
Zoho refuses a page past it, the deletions read so far are used and the rest is reported as a
problem that a full read (``dealbridge run JOB --full``) settles.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from connectors.errors import PermanentError
from connectors.sales.zoho.client import ZohoApi
from connectors.sales.zoho.config import LIST_PAGE_MAX
from connectors.sales.zoho.payloads import zoho_time

PAGE_CAP_CODE = "DISCRETE_PAGINATION_LIMIT_EXCEEDED"


class DeletedReader:
    """Pages of deletion entries since a watermark; remembers whether the page cap cut it."""

    def __init__(self, api: ZohoApi, module: str, *, page_size: int) -> None:
        self._api = api
        self._module = module
        self._per_page = min(LIST_PAGE_MAX, page_size)
        self.capped = False

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
            if entries:
                yield entries
            info = _info(body)
            if not entries or info.get("more_records") is not True:
                return
            page += 1


def _info(body: dict[str, Any]) -> dict[str, Any]:
    info = body.get("info")
    return info if isinstance(info, dict) else {}
