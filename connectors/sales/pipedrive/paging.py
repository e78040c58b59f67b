"""Paging: Pipedrive's v2 ``cursor`` walk, and the merge of several walks into one time order.

v2 list endpoints page by an opaque ``cursor``: the answer's ``additional_data.next_cursor``
names the first item of the next page and is null at the end (FACTS.md §3.1-3.3, PD-PAGING).
The cursor is keyset (sort value, id), so a deal updated while we page moves to its new place
and is read again later, never lost, when sorting by ``update_time`` ascending.

Changed, deleted and archived deals come from three walks (``/deals``, ``/deals?status=deleted``,
``/deals/archived``), each sorted by ``update_time``. :func:`merge_by_time` interleaves them so
that every deal handed out is no newer than any deal still unread in any walk: a checkpoint at
the last deal handed out then covers all three.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

log = structlog.get_logger("dealbridge.pipedrive")

Fetch = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SortKey = Callable[[dict[str, Any]], tuple[datetime, int]]


async def cursor_pages(
    fetch: Fetch, params: Mapping[str, Any]
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of one v2 list, following ``next_cursor`` until it is null (or repeats)."""
    query = dict(params)
    seen: set[str] = set()
    while True:
        body = await fetch(query)
        data = body.get("data")
        yield [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        extra = body.get("additional_data")
        following = extra.get("next_cursor") if isinstance(extra, dict) else None
        if not isinstance(following, str) or not following:
            return
        if following in seen:
            log.warning("pipedrive_cursor_repeated", cursor=following[:40])
            return
        seen.add(following)
        query = {**query, "cursor": following}


async def offset_pages(
    fetch: Fetch, params: Mapping[str, Any], *, limit: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Every page of one v1 list: ``start``/``limit``, following
    ``additional_data.pagination.next_start`` while ``more_items_in_collection`` (FACTS.md §3.7)."""
    start = 0
    while True:
        body = await fetch({**params, "start": start, "limit": limit})
        data = body.get("data")
        yield [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []
        extra = body.get("additional_data")
        paging = extra.get("pagination") if isinstance(extra, dict) else None
        if not isinstance(paging, dict) or paging.get("more_items_in_collection") is not True:
            return
        following = paging.get("next_start")
        if not isinstance(following, int) or following <= start:
            log.warning("pipedrive_next_start_missing", start=start)
            return
        start = following


@dataclass
class Walk:
    """One sorted walk and the items of its current page not handed out yet."""

    name: str
    pages: AsyncIterator[list[dict[str, Any]]]
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    done: bool = False

    async def head(self) -> dict[str, Any] | None:
        """The walk's next item (fetching its next page when the current one is used up)."""
        while not self.pending and not self.done:
            try:
                self.pending.extend(await anext(self.pages))
            except StopAsyncIteration:
                self.done = True
        return self.pending[0] if self.pending else None


async def merge_by_time(
    walks: list[Walk], key: SortKey
) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Items of every walk, oldest first: (walk name, item)."""
    while True:
        best: tuple[tuple[datetime, int], int] | None = None
        for index, walk in enumerate(walks):
            item = await walk.head()
            if item is not None and (best is None or key(item) < best[0]):
                best = (key(item), index)
        if best is None:
            return
        walk = walks[best[1]]
        yield walk.name, walk.pending.popleft()
