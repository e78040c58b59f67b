"""``POST /crm/v3/objects/deals/search`` as HubSpot answers it.

Documented behaviour reproduced (deals search spec; search guide limitations; sales-apis.md):
``limit`` up to 200; up to 5 filter groups, 10 filters per group, 25 in all; ``after`` is a
position, and a query cannot page past ``cap`` results (HTTP 400); ``total`` counts every
match; only requested properties that exist come back (unknown names are silently ignored),
plus ``hs_object_id``, ``createdate`` and ``hs_lastmodifieddate``; without ``properties`` the
defaults (dealname, amount, closedate, pipeline, dealstage) come back. Search results lag
writes (eventual consistency; sales-apis.md section 2, and the CRM search index in general): a
deal created or changed less than ``lag`` seconds ago is not found yet. HubSpot would probably
still show its previous version; the simulator shows nothing, which is what a reader's
incremental window must cover either way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from connectors.sales.hubspot.simulator.filters import SearchRejected, run_group, sort_ids
from connectors.sales.hubspot.simulator.store import CrmStore

MAX_GROUPS = 5
MAX_PER_GROUP = 10
MAX_FILTERS = 25
ALWAYS = ("hs_object_id", "createdate", "hs_lastmodifieddate")
DEFAULTS = ("dealname", "amount", "closedate", "pipeline", "dealstage")
CACHE_SIZE = 16


class DealSearch:
    """Answers search requests; remembers recent match lists until the data changes."""

    def __init__(
        self,
        store: CrmStore,
        *,
        cap: int,
        page_max: int,
        lag: float = 0.0,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.cap = cap
        self.page_max = page_max
        self.lag = lag
        self.now = now
        self._cache: dict[str, tuple[int, list[str]]] = {}

    def answer(self, body: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
        """The search response body; raise SearchRejected for what HubSpot answers with 400."""
        limit = _int(body.get("limit", 10), "limit")
        if not 1 <= limit <= self.page_max:
            raise SearchRejected(f"limit must be between 1 and {self.page_max}, got {limit}")
        offset = _int(body.get("after") or 0, "after")
        if offset >= self.cap:
            raise SearchRejected(
                f"Paging through more than {self.cap} results is not supported; narrow the "
                "query with filters"
            )
        ids = self._indexed(self._matches(body, types))
        page = ids[offset : offset + limit]
        names = _names(body.get("properties"), types)
        deals = self.store.objects["deals"]
        result: dict[str, Any] = {
            "total": len(ids),
            "results": [deals[i].as_json(names) for i in page],
        }
        if offset + limit < len(ids):
            after = str(offset + limit)
            result["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return result

    def _indexed(self, ids: list[str]) -> list[str]:
        """The matches the search index has caught up with (changed ``lag`` seconds ago)."""
        if self.lag <= 0 or self.now is None:
            return ids
        horizon = self.now() - timedelta(seconds=self.lag)
        deals = self.store.objects["deals"]
        return [i for i in ids if deals[i].updated_at <= horizon]

    def _matches(self, body: dict[str, Any], types: dict[str, str]) -> list[str]:
        groups = _groups(body.get("filterGroups"))
        sorts = body.get("sorts") or []
        key = json.dumps([groups, sorts], sort_keys=True)
        cached = self._cache.get(key)
        if cached is not None and cached[0] == self.store.version:
            return cached[1]
        if not groups:
            ids = self.store.deals_between(-(10**18), 10**18)
        elif len(groups) == 1:
            ids = run_group(self.store, groups[0], types)
        else:
            found = {i for g in groups for i in run_group(self.store, g, types)}
            ids = list(found)
        ids = sort_ids(self.store, ids, sorts, types)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (self.store.version, ids)
        return ids


def _groups(raw: Any) -> list[list[dict[str, Any]]]:
    groups = raw if isinstance(raw, list) else []
    filters = [g.get("filters") if isinstance(g, dict) else None for g in groups]
    if any(not isinstance(f, list) for f in filters):
        raise SearchRejected("each filter group needs a filters list")
    checked: list[list[dict[str, Any]]] = [f for f in filters if isinstance(f, list)]
    if len(checked) > MAX_GROUPS:
        raise SearchRejected(
            f"Too many filter groups ({len(checked)}); the maximum is {MAX_GROUPS}"
        )
    if any(len(f) > MAX_PER_GROUP for f in checked):
        raise SearchRejected(f"Too many filters in a group; the maximum is {MAX_PER_GROUP}")
    if sum(len(f) for f in checked) > MAX_FILTERS:
        raise SearchRejected(f"Too many filters; the maximum is {MAX_FILTERS}")
    return checked


def _names(raw: Any, types: dict[str, str]) -> list[str]:
    asked = [str(n) for n in raw] if isinstance(raw, list) and raw else list(DEFAULTS)
    return list(dict.fromkeys([*ALWAYS, *(n for n in asked if n in types)]))


def _int(raw: Any, name: str) -> int:
    try:
        return int(str(raw))
    except ValueError:
        raise SearchRejected(f"{name} must be an integer, got {raw!r}") from None
