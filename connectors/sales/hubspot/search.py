"""Reading one time window of deals through the search API, without ever losing a deal.

HubSpot's search (``POST /crm/v3/objects/deals/search``) has three traits this module works
around (search guide "limitations"; activepieces PR #10160; estuary/connectors #1906, #2100):

1. **10,000 results per query.** Paging past it answers HTTP 400. So a query is never paged past
   ``cap``: before the next page would cross it, the query is *re-sliced* at the newest
   instant read so far (below).
2. **One reliable sort key.** Results are ordered by ``hs_lastmodifieddate``; the order among
   deals that share an instant is unspecified. So the window is never re-entered with ``GT``
   on a timestamp that may still hold unread deals.
3. **Offset paging.** ``paging.next.after`` is a position: if a deal in the window changes while
   we page (it moves past the window's upper bound), every later deal shifts up one place and
   one would be skipped. ``total`` shrinks when that happens, so a changed ``total`` discards
   the page and re-slices at the last instant fully before it.

Re-slicing at instant ``T``: read every deal modified exactly at ``T`` ordered by
``hs_object_id`` (``EQ T`` + ``hs_object_id GT <last id>``, so even more than ``cap`` deals at
one instant make progress), skipping ids already yielded; then continue with ``GT T``. Each
page reports ``complete_through``: the greatest (instant, id) such that every deal at or
before it has been read, which is what the checkpoint may safely store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from connectors.paging import CursorPaging, Where
from connectors.sales.hubspot.select import Group, combine
from connectors.sales.hubspot.timefmt import parse_time, to_ms

LASTMOD = "hs_lastmodifieddate"
OBJECT_ID = "hs_object_id"

SearchCall = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Slice:
    """One search query: a modified-date range, or one instant read in id order."""

    lower_ms: int
    upper_ms: int
    lower_op: Literal["GTE", "GT"] = "GTE"
    at_ms: int | None = None
    after_id: int = 0

    def own_filters(self) -> list[dict[str, Any]]:
        """The connector's filters for this slice (ANDed with the admin's select)."""
        if self.at_ms is None:
            return [
                _filter(LASTMOD, self.lower_op, self.lower_ms),
                _filter(LASTMOD, "LTE", self.upper_ms),
            ]
        return [_filter(LASTMOD, "EQ", self.at_ms), _filter(OBJECT_ID, "GT", self.after_id)]

    def sort_key(self) -> str:
        """Range slices sort by modified date, instant slices by object id."""
        return LASTMOD if self.at_ms is None else OBJECT_ID

    def when_done(self) -> Slice | None:
        """After an instant is drained, the rest of the range strictly after it."""
        if self.at_ms is None:
            return None
        return Slice(lower_ms=self.at_ms, upper_ms=self.upper_ms, lower_op="GT")

    def resume_at(self, at_ms: int, last_id: int) -> Slice:
        """Re-slice at the last instant read (range) or after the last id read (instant)."""
        if self.at_ms is None:
            return Slice(lower_ms=at_ms, upper_ms=self.upper_ms, at_ms=at_ms)
        return replace(self, after_id=last_id)


@dataclass(frozen=True)
class Hit:
    """One search result with its sort key parsed."""

    ms: int
    id: str
    raw: dict[str, Any]

    @property
    def key(self) -> tuple[int, int, str]:
        """Order by (modified instant, numeric id); ids are digit strings in HubSpot."""
        return (self.ms, len(self.id), self.id)

    @property
    def numeric_id(self) -> int:
        """The id as the ``hs_object_id GT`` filter compares it."""
        return int(self.id) if self.id.isdigit() else 0


@dataclass(frozen=True)
class Batch:
    """Deals from one search page (ordered, de-duplicated) and how far reading is complete."""

    hits: tuple[Hit, ...]
    complete_through: tuple[int, str] | None


@dataclass(frozen=True)
class _Answer:
    """One search page: its hits in key order, the ``after`` token and the stated total."""

    items: list[Hit]
    following: str | None
    total: Any


@dataclass
class _Newest:
    """Ids already read at the newest instant seen, to skip them when an instant is re-read."""

    ms: int = -1
    ids: set[str] = field(default_factory=set)

    def fresh(self, hits: list[Hit]) -> list[Hit]:
        kept = [h for h in hits if not (h.ms == self.ms and h.id in self.ids)]
        for hit in hits:
            if hit.ms > self.ms:
                self.ms, self.ids = hit.ms, {hit.id}
            elif hit.ms == self.ms:
                self.ids.add(hit.id)
        return kept

    def last_id(self) -> str:
        return max(self.ids, key=lambda i: (len(i), i)) if self.ids else ""


class WindowReader:
    """Pages through every live deal modified in a window, re-slicing as the module explains."""

    def __init__(
        self,
        search: SearchCall,
        *,
        properties: list[str],
        select: list[Group],
        limit: int,
        cap: int,
    ) -> None:
        self._search = search
        self._properties = properties
        self._select = select
        self._limit = limit
        self._cap = max(cap, limit)
        self._newest = _Newest()
        self._next: Slice | None = None
        self.queries = 0

    async def batches(self, window: Slice) -> AsyncIterator[Batch]:
        """Batches oldest-first until the window is read to its upper bound."""
        query: Slice | None = window
        while query is not None:
            self.queries += 1
            self._next = None
            async for batch in self._query(query):
                yield batch
            query = self._next

    async def _query(self, query: Slice) -> AsyncIterator[Batch]:
        read, total, previous = 0, None, None

        async def fetch(after: str | None) -> _Answer:
            data = await self._search(self._body(query, after))
            hits = sorted(parse_hits(data), key=lambda h: h.key)
            return _Answer(items=hits, following=_next_after(data), total=data.get("total"))

        where = Where(operation="search", vendor="HubSpot search")
        async for answer in CursorPaging(fetch, where=where, position="paging token").pages():
            hits = answer.items
            if previous is not None and answer.total != total:
                self._next = query.resume_at(*previous)  # results shifted under us: re-read
                return
            total, read = answer.total, read + len(hits)
            finished = answer.following is None or not hits
            capped = not finished and read + self._limit > self._cap
            if finished:
                self._next = query.when_done()
            elif capped:
                self._next = query.resume_at(hits[-1].ms, _resume_id(query, hits))
            yield self._batch(query, hits, finished=finished)
            if finished or capped:
                return
            previous = (hits[-1].ms, _resume_id(query, hits))

    def _batch(self, query: Slice, hits: list[Hit], *, finished: bool) -> Batch:
        fresh = self._newest.fresh(hits)
        return Batch(hits=tuple(fresh), complete_through=self._complete(query, hits, finished))

    def _complete(self, query: Slice, hits: list[Hit], finished: bool) -> tuple[int, str] | None:
        """How far every deal is read once this page is: see the module docstring."""
        if query.at_ms is not None:
            if not finished:
                return None
            newest = self._newest
            return (query.at_ms, newest.last_id() if newest.ms == query.at_ms else "")
        if not hits:
            return None
        if finished:
            return (hits[-1].ms, self._newest.last_id())
        earlier = [h for h in hits if h.ms < hits[-1].ms]
        return (earlier[-1].ms, earlier[-1].id) if earlier else None

    def _body(self, query: Slice, after: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "filterGroups": combine(query.own_filters(), self._select),
            "sorts": [{"propertyName": query.sort_key(), "direction": "ASCENDING"}],
            "properties": self._properties,
            "limit": self._limit,
        }
        if after is not None:
            body["after"] = after
        return body


def parse_hits(data: dict[str, Any]) -> list[Hit]:
    """Search results with their modified instant; entries without an id are dropped."""
    results = data.get("results")
    items = results if isinstance(results, list) else []
    return [
        Hit(ms=modified_ms(raw), id=str(raw["id"]), raw=raw)
        for raw in items
        if isinstance(raw, dict) and raw.get("id") is not None
    ]


def modified_ms(raw: dict[str, Any]) -> int:
    """``hs_lastmodifieddate``, falling back to ``updatedAt`` then ``createdAt`` (0 if none)."""
    found = raw.get("properties")
    props: dict[str, Any] = found if isinstance(found, dict) else {}
    for value in (props.get(LASTMOD), raw.get("updatedAt"), raw.get("createdAt")):
        moment = parse_time(value)
        if moment is not None:
            return to_ms(moment)
    return 0


def _resume_id(query: Slice, hits: list[Hit]) -> int:
    """For an instant slice, the greatest id read; a range slice re-reads its instant from 0."""
    return max(h.numeric_id for h in hits) if query.at_ms is not None else 0


def _next_after(data: dict[str, Any]) -> str | None:
    paging = data.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    return None if after is None or after == "" else str(after)


def _filter(name: str, operator: str, value: int) -> dict[str, Any]:
    return {"propertyName": name, "operator": operator, "value": str(value)}
