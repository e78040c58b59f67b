"""Reading changed deals with COQL: 2,000 deals and their account fields per call.

``POST /crm/v8/coql`` with ``select <columns> from Deals where <criteria> order by
Modified_Time asc, id asc limit <n> offset <k>`` (FACTS.md §4). Why COQL is the default reader:

* up to 2,000 rows per call against 200 on the list API, and related records' fields come in
  the same call through lookup traversal (``Account_Name.Website``, §4.5): no per-deal and no
  per-page account calls;
* credits follow LIMIT (1 up to 200, 2 up to 1,000, 3 up to 2,000; §4.4): an incremental run
  asks for 200 first (1 credit) and switches to 2,000 only when the window holds more.

Paging is a keyset on (Modified_Time, id), not a growing OFFSET, so the 100,000-row OFFSET cap
(§4.2) never bites and records that change during the walk cannot shift the pages. Each query
starts at the last row's Modified_Time (``>=``, whole seconds); only rows sharing that instant
are skipped with OFFSET, and one of them is read again to prove the group did not change under
us (a record modified during the walk leaves its group); when it did, the group is re-read
from its start and duplicates are dropped. The WHERE clause always exists (§4.3) and nests
criteria in pairs, as COQL asks for more than two (§4.2 limitations page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

import structlog

from connectors.conditions import condition_problem
from connectors.errors import PermanentError, TransientError
from connectors.sales.zoho.client import ZohoApi
from connectors.sales.zoho.payloads import row_point, usable_row, zoho_time

log = structlog.get_logger("dealbridge.zoho")

MAX_LIMIT = 2000
"""COQL returns at most 2,000 rows per call (§4.2)."""
SMALL_LIMIT = 200
"""The largest LIMIT that costs one credit (§4.4)."""
OFFSET_CAP = 100_000
"""OFFSET + LIMIT may reach 100,000 rows at most (§4.2)."""
STALLS_ALLOWED = 3


def conjunction(criteria: Sequence[str]) -> str:
    """``a``, or ``((a) and (b)) and (c)``: when there are several criteria each is bracketed
    (an admin's condition may hold its own ``or``) and no level holds more than two."""
    if not criteria:
        raise ValueError("a COQL WHERE clause needs at least one criterion")
    if len(criteria) == 1:
        return criteria[0]
    text = f"({criteria[0]})"
    for criterion in criteria[1:]:
        text = f"({text} and ({criterion}))"
    return text


def changed_query(
    module: str,
    columns: Sequence[str],
    *,
    since: datetime | None,
    condition: str | None,
    limit: int,
    offset: int,
) -> str:
    """The select for deals modified at or after ``since`` (all deals when None)."""
    criteria = [condition.strip()] if condition and condition.strip() else []
    criteria.append(
        f"Modified_Time >= '{zoho_time(since)}'" if since else "Modified_Time is not null"
    )
    # API names come from Zoho's own fields metadata and times are formatted here.
    query = (
        f"select {', '.join(columns)} from {module} where {conjunction(criteria)} "  # noqa: S608
        f"order by Modified_Time asc, id asc limit {limit}"
    )
    return query + (f" offset {offset}" if offset else "")


class _Edge:
    """The instant the next query starts at, and the ids read so far that share it."""

    def __init__(self, since: datetime | None) -> None:
        self.at = since
        self.ids: list[str] = []

    @property
    def offset(self) -> int:
        """Rows of the edge group to skip: all read ones but the last (read again to check)."""
        return max(0, len(self.ids) - 1)

    @property
    def rereads(self) -> bool:
        """Whether the next query starts by reading the last row of the group again."""
        return bool(self.ids)

    def continues(self, rows: list[tuple[datetime, str]]) -> bool:
        """True when the page starts where the last one stopped (no drift in the group)."""
        return not self.ids or (bool(rows) and rows[0] == (self.at, self.ids[-1]))

    def advance(self, rows: list[tuple[datetime, str]], offset: int) -> None:
        last_at = rows[-1][0]
        if last_at == self.at:
            self.ids = self.ids[:offset] + [i for t, i in rows if t == last_at]
        else:
            self.at = last_at
            self.ids = [i for t, i in rows if t == last_at]


class CoqlReader:
    """Walks one window of changed deals in (Modified_Time, id) order."""

    def __init__(
        self,
        api: ZohoApi,
        module: str,
        columns: Sequence[str],
        *,
        condition: str | None,
        page_size: int,
    ) -> None:
        self._api = api
        self._module = module
        self._columns = columns
        self._condition = condition
        self._page_size = page_size

    async def pages(
        self, since: datetime | None, *, small_first: bool
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Rows not yet seen in this walk, page by page, oldest first."""
        edge = _Edge(since)
        seen: dict[str, datetime] = {}
        limit = min(SMALL_LIMIT, self._page_size) if small_first else self._page_size
        stalls = 0
        while True:
            offset = edge.offset
            # The re-read row takes a place of the page: ask for one more so a page always moves.
            asked = min(limit + edge.rereads, MAX_LIMIT)
            rows, more = await self._query(edge.at, asked, offset)
            points = [row_point(row) for row in rows]
            if not edge.continues(points):
                log.info("zoho_coql_group_changed", at=str(edge.at), offset=offset)
                offset = 0
                rows, more = await self._query(edge.at, limit, 0)
                points = [row_point(row) for row in rows]
            fresh = [row for row, p in zip(rows, points, strict=True) if seen.get(p[1]) != p[0]]
            seen.update({i: t for t, i in points})
            if fresh:
                stalls = 0
                yield fresh
            else:
                stalls += 1
            if not more or not rows:
                return
            if stalls >= STALLS_ALLOWED:
                raise TransientError(
                    f"{self._module} records sharing Modified_Time {edge.at} keep changing while "
                    "they are read; the next run tries again",
                    operation="read changed deals",
                )
            edge.advance(points, offset)
            limit = self._page_size

    async def _query(
        self, since: datetime | None, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        if offset + limit > OFFSET_CAP:
            raise PermanentError(
                f"more than {OFFSET_CAP - limit} {self._module} records share the Modified_Time "
                f"{since}; COQL cannot page past that many",
                operation="read changed deals",
            )
        query = changed_query(
            self._module,
            self._columns,
            since=since,
            condition=self._condition,
            limit=limit,
            offset=offset,
        )
        body = await self._api.coql(query, "read changed deals")
        if body is None:
            return [], False
        rows = [r for r in body.get("data") or [] if isinstance(r, dict) and usable_row(r)]
        info = body.get("info")
        more = info.get("more_records") if isinstance(info, dict) else None
        return rows, bool(more) if isinstance(more, bool) else len(rows) >= limit


SELECT_LANGUAGE = "a COQL condition on Deals fields (what follows where, without where)"
SELECT_EXAMPLE = "select: \"((Stage = 'Closed Won') and (Has_Special_Terms = true))\""


def select_problem(condition: str) -> str | None:
    """What is wrong with a mapping's select as a COQL condition (None: nothing seen before
    Zoho checks field names and operators)."""
    return condition_problem(
        condition,
        language=SELECT_LANGUAGE,
        refused_prefixes=("where ", "select "),
        example='"Has_Special_Terms = true"',
    )
