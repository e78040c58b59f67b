"""Reading one time window of deals through the search API by keyset, never by offset.

HubSpot's search (``POST /crm/v3/objects/deals/search``) has three traits this module works
around (search guide "limitations"; activepieces PR #10160; estuary/connectors #1906, #2100):

1. **Offset paging.** ``paging.next.after`` is a position in a list the vendor evaluates again
   for every page: a deal edited while we page moves to the end and every later deal slides
   one place up, so the next ``after`` skips one. So ``after`` is never sent. Every page is a
   new search that starts at a *key*: ``hs_lastmodifieddate GTE`` the instant the previous page
   ended at. An edit can then only move a deal later (it is read again there, or by the next
   run), never hide another.
2. **One sort key.** Only one sorting rule applies to a search (search guide; the api-evangelist
   schema has ``sorts`` ``maxItems: 1``), and the order among deals sharing an instant is not
   promised. So a page never resumes with ``GT`` an instant that may hold unread deals: it
   resumes ``GTE`` it and drops the deals it has already yielded (``KeysetPaging``'s boundary,
   by id and instant, so an edited deal that comes back at a new instant is yielded again).
   A page filled by one instant's ties is read by ``hs_object_id`` instead: ``EQ T`` +
   ``hs_object_id GT <last id>`` sorted by id, then the window continues ``GT T``.
3. **10,000 results per query.** Paging past it answers HTTP 400. Without ``after`` no query
   is paged at all, so the cap is never reached, however many deals share one instant.

Cost: each page re-sends the deals at the instant it starts at (usually the one deal the page
before ended with), so N changed deals take about ``N / (P - 1)`` searches, not ``N / P``.

Each batch reports ``complete_through``: the greatest (instant, id) read such that every deal
at or before it has been read, which is what the checkpoint may safely store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from connectors.paging import KeysetPaging, Page, Where
from connectors.sales.hubspot.select import Group, combine
from connectors.sales.hubspot.timefmt import parse_time, to_ms

LASTMOD = "hs_lastmodifieddate"
OBJECT_ID = "hs_object_id"

SearchCall = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Phase(IntEnum):
    """Where in one instant a search starts; the order is the order of reading."""

    FROM = 0
    """Every deal modified at or after the instant (``GTE``), by modified date."""
    TIES = 1
    """The deals modified exactly at the instant with an id above ``after_id``, by id."""
    PAST = 2
    """Every deal modified after the instant (``GT``): its ties are all read."""


@dataclass(frozen=True, order=True)
class Position:
    """Where a search starts: the keyset key. Positions only grow while a window is read."""

    ms: int
    phase: Phase = Phase.FROM
    after_id: int = 0

    def own_filters(self, upper_ms: int) -> list[dict[str, Any]]:
        """The connector's filters for this search (ANDed with the admin's select)."""
        if self.phase is Phase.TIES:
            return [_filter(LASTMOD, "EQ", self.ms), _filter(OBJECT_ID, "GT", self.after_id)]
        lower = "GTE" if self.phase is Phase.FROM else "GT"
        return [_filter(LASTMOD, lower, self.ms), _filter(LASTMOD, "LTE", upper_ms)]

    def sort_key(self) -> str:
        """Ranges sort by modified date, one instant's ties by object id."""
        return OBJECT_ID if self.phase is Phase.TIES else LASTMOD

    def following(self, hits: list[Hit], more: bool) -> Position | None:
        """Where the next search starts after a page of ``hits`` (None: the window is read).

        ``more``: the vendor said more results match this search than the page held."""
        if self.phase is Phase.TIES:
            if not more:
                return Position(self.ms, Phase.PAST)
            return Position(self.ms, Phase.TIES, max((h.numeric_id for h in hits), default=0))
        if not more:
            return None
        if not hits:
            return self  # "more" with an empty page: KeysetPaging stops the read (no progress)
        if hits[0].ms == hits[-1].ms:
            return Position(hits[-1].ms, Phase.TIES)  # a page filled by one instant's ties
        return Position(hits[-1].ms)

    def covers(self, hit: Hit) -> bool:
        """True when every deal at or before ``hit`` is read once a search may start here."""
        if self.phase is Phase.FROM:
            return hit.ms < self.ms
        if self.phase is Phase.TIES:
            return hit.ms < self.ms or (hit.ms == self.ms and hit.numeric_id <= self.after_id)
        return hit.ms <= self.ms


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

    @property
    def version(self) -> tuple[str, int]:
        """A deal at one instant: the same deal edited since is a new version to yield."""
        return (self.id, self.ms)

    @property
    def instant_end(self) -> Position:
        """The last position whose search may send this deal again."""
        return Position(self.ms, Phase.PAST)


@dataclass(frozen=True)
class Batch:
    """Deals from one search page (ordered, de-duplicated) and how far reading is complete."""

    hits: tuple[Hit, ...]
    complete_through: tuple[int, str] | None


class _Completion:
    """The deals yielded but not yet known to be preceded only by read deals."""

    def __init__(self) -> None:
        self._open: list[Hit] = []

    def after(self, fresh: tuple[Hit, ...], following: Position | None) -> tuple[int, str] | None:
        """The greatest yielded point everything before which is read, once at ``following``."""
        waiting = [*self._open, *fresh]
        done = [h for h in waiting if following is None or following.covers(h)]
        self._open = [h for h in waiting if following is not None and not following.covers(h)]
        if not done:
            return None
        last = max(done, key=lambda h: h.key)
        return (last.ms, last.id)


class WindowReader:
    """Reads every live deal modified in a window, page by page, as the module explains."""

    def __init__(
        self,
        search: SearchCall,
        *,
        properties: list[str],
        select: list[Group],
        limit: int,
    ) -> None:
        self._search = search
        self._properties = properties
        self._select = select
        self._limit = limit
        self.queries = 0

    async def batches(self, lower_ms: int, upper_ms: int) -> AsyncIterator[Batch]:
        """Batches oldest-first until every deal modified in [lower, upper] is read."""

        async def fetch(position: Position) -> Page[Hit, Position]:
            self.queries += 1
            data = await self._search(self._body(position, upper_ms))
            hits = sorted(parse_hits(data), key=lambda h: h.key)
            return Page(items=hits, following=position.following(hits, _has_more(data)))

        paging = KeysetPaging(
            fetch,
            where=Where(operation="search", vendor="HubSpot search"),
            key_of=lambda hit: hit.instant_end,
            identity=lambda hit: hit.version,
        )
        completion = _Completion()
        async for page in paging.pages(Position(lower_ms)):
            fresh = tuple(page.items)
            yield Batch(hits=fresh, complete_through=completion.after(fresh, page.following))

    def _body(self, position: Position, upper_ms: int) -> dict[str, Any]:
        return {
            "filterGroups": combine(position.own_filters(upper_ms), self._select),
            "sorts": [{"propertyName": position.sort_key(), "direction": "ASCENDING"}],
            "properties": self._properties,
            "limit": self._limit,
        }


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


def _has_more(data: dict[str, Any]) -> bool:
    """HubSpot names a next page (``paging.next.after``) when more results match the search;
    the token itself is never sent back (it is an offset)."""
    paging = data.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    return after is not None and after != ""


def _filter(name: str, operator: str, value: int) -> dict[str, Any]:
    return {"propertyName": name, "operator": operator, "value": str(value)}
