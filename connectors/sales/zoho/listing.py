"""Reading changed deals with the list API: ``GET /crm/v8/Deals`` and ``If-Modified-Since``.

The alternative reader (``read_via: list``) for orgs whose token lacks ``ZohoCRM.coql.READ``.
Facts (FACTS.md §3): ``fields`` is mandatory (at most 50), ``per_page`` at most 200,
``sort_by=Modified_Time&sort_order=asc`` (the default order is descending), and the header
``If-Modified-Since`` selects recently modified records; 304 when none are. Only the first
2,000 records of a query are reachable by ``page``; beyond them Zoho requires ``page_token``
from ``info.next_page_token``, bound to the query's other parameters and valid 24 hours.

Whether ``If-Modified-Since`` is inclusive is not documented (§3.5), and page tokens may be
positions in a result that shifts when records change (§3.2). So each page starts a fresh
query from the last record's Modified_Time minus one second (either reading of the header then
includes that second), and records already read are dropped. Page tokens are followed only
while that restart would not move forward (more than a page of deals modified within about one
second, e.g. a mass update); a refused or expired token restarts the query. Related records
(the account) come from ``GET /{module}?ids=`` in batches of 100 per page (§7.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import structlog

from connectors.errors import PermanentError
from connectors.sales.zoho.client import ZohoApi
from connectors.sales.zoho.config import LIST_PAGE_MAX
from connectors.sales.zoho.errors import RESTARTABLE_PAGING
from connectors.sales.zoho.payloads import row_point, usable_row, zoho_time
from connectors.sales.zoho.plan import ReadPlan

log = structlog.get_logger("dealbridge.zoho")

ONE_SECOND = timedelta(seconds=1)
RESTARTS_AT_ONE_BOUND = 3


class ListReader:
    """Walks one window of changed deals through the list API."""

    def __init__(self, api: ZohoApi, module: str, plan: ReadPlan, *, page_size: int) -> None:
        self._api = api
        self._module = module
        self._plan = plan
        self._per_page = min(LIST_PAGE_MAX, page_size)

    async def pages(self, since: datetime | None) -> AsyncIterator[list[dict[str, Any]]]:
        """Records not yet seen in this walk, page by page, oldest first."""
        bound = since
        token: str | None = None
        seen: dict[str, datetime] = {}
        restarts = 0
        while True:
            try:
                body = await self._page(bound, token)
            except PermanentError as exc:
                if token is None or exc.vendor_code not in RESTARTABLE_PAGING:
                    raise
                restarts += 1
                if restarts > RESTARTS_AT_ONE_BOUND:
                    raise
                log.info("zoho_page_token_refused", code=exc.vendor_code, bound=str(bound))
                token = None
                continue
            if body is None:
                return
            rows = [r for r in body.get("data") or [] if isinstance(r, dict) and usable_row(r)]
            fresh = []
            for row in rows:
                moment, deal_id = row_point(row)
                if seen.get(deal_id) != moment:
                    seen[deal_id] = moment
                    fresh.append(row)
            if fresh:
                yield fresh
            info = _info(body)
            if not rows or info.get("more_records") is not True:
                return
            restart_at = row_point(rows[-1])[0] - ONE_SECOND
            if bound is None or restart_at > bound:
                bound, token, restarts = restart_at, None, 0
                continue
            token = info.get("next_page_token")
            if not isinstance(token, str) or not token:
                raise PermanentError(
                    "Zoho said more records follow but sent no next_page_token",
                    operation="read changed deals",
                )

    async def related(self, rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
        """Lookup -> related record id -> record, for the embeds of the plan (batched)."""
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for embed in self._plan.embeds:
            ids = [
                str(target["id"])
                for row in rows
                if isinstance(target := row.get(embed.lookup), dict) and target.get("id")
            ]
            found[embed.lookup] = (
                await self._api.records_by_id(embed.module, ids, embed.fields) if ids else {}
            )
        return found

    async def _page(self, bound: datetime | None, token: str | None) -> dict[str, Any] | None:
        params: dict[str, Any] = {
            "fields": ",".join(self._plan.deal_fields),
            "sort_by": "Modified_Time",
            "sort_order": "asc",
            "per_page": self._per_page,
        }
        if token:
            params["page_token"] = token
        headers = {"If-Modified-Since": zoho_time(bound)} if bound else None
        return await self._api.get(
            f"/{self._module}", "read changed deals", params=params, headers=headers
        )


def _info(body: dict[str, Any]) -> dict[str, Any]:
    info = body.get("info")
    return info if isinstance(info, dict) else {}
