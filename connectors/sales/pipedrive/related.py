"""Organizations, persons and owners of a page of deals, fetched in batches, never per deal.

* ``GET /api/v2/organizations?ids=1,2,3`` and ``GET /api/v2/persons?ids=...``: up to 100 ids a
  call, ids that do not exist or are not visible silently left out, 10 tokens a call (FACTS.md
  §6.1). One call per 100 *distinct* ids of a page; records read earlier in the same run are
  not asked for again.
* ``GET /v1/users`` (no v2 twin: the v2 users API only lists followers, SDK ``users-api.ts``):
  the company's users, ``start``/``limit`` pages of 500 (§3.7), once per run, only when a
  mapping reads ``owner.*``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from connectors.sales.pipedrive.catalog import EntityFields
from connectors.sales.pipedrive.client import PipedriveClient
from connectors.sales.pipedrive.paging import offset_pages
from connectors.sales.pipedrive.payloads import readable_record, user_record

IDS_PER_CALL = 100
USERS_PER_PAGE = 500
"""v1 ``limit`` maximum (FACTS.md §3.7)."""
CACHE_LIMIT = 20_000
"""Related records kept for one run; past this the cache starts over (memory stays flat)."""
LIST_PATHS = {"organization": "/api/v2/organizations", "person": "/api/v2/persons"}


class RelatedReader:
    """Related records for one run of ``changed_deals`` (its cache lives as long as the run)."""

    def __init__(self, client: PipedriveClient) -> None:
        self._client = client
        self._cache: dict[str, dict[int, dict[str, Any]]] = {e: {} for e in LIST_PATHS}
        self._users: dict[int, dict[str, Any]] | None = None

    async def records(
        self, entity: str, ids: Iterable[int], fields: EntityFields | None
    ) -> dict[int, dict[str, Any]]:
        """The records of ``entity`` with these ids that Pipedrive returns (by id)."""
        wanted = list(dict.fromkeys(ids))
        cache = self._cache[entity]
        missing = [i for i in wanted if i not in cache]
        if len(cache) + len(missing) > CACHE_LIMIT:
            cache.clear()
            missing = wanted
        chunks = [
            missing[start : start + IDS_PER_CALL] for start in range(0, len(missing), IDS_PER_CALL)
        ]
        for found in await asyncio.gather(*(self._batch(entity, c, fields) for c in chunks)):
            cache.update(found)
        return {i: cache[i] for i in wanted if i in cache}

    async def users(self) -> dict[int, dict[str, Any]]:
        """Every user of the company by id (read once per run, v1 offset pages of 500)."""
        if self._users is None:

            async def fetch(params: dict[str, Any]) -> dict[str, Any]:
                return await self._client.get(
                    "/users", operation="list users", params=params, endpoint="users", v1=True
                )

            self._users = {}
            async for page in offset_pages(fetch, {}, limit=USERS_PER_PAGE):
                self._users.update(
                    {u["id"]: user_record(u) for u in page if isinstance(u.get("id"), int)}
                )
        return self._users

    async def _batch(
        self, entity: str, ids: Sequence[int], fields: EntityFields | None
    ) -> dict[int, dict[str, Any]]:
        path = LIST_PATHS[entity]
        params = {"ids": ",".join(map(str, ids)), "limit": len(ids)}
        body = await self._client.get(path, operation=f"read {entity}s", params=params)
        data = body.get("data")
        items = [r for r in data if isinstance(r, dict)] if isinstance(data, list) else []
        return {
            r["id"]: readable_record(r, fields)
            for r in items
            if isinstance(r.get("id"), int) and r.get("is_deleted") is not True
        }
