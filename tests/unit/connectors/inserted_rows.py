"""A desk's list answers with rows that are not JSON objects put among their records, as a
desk (or an integration writing to it) could send them: a transport between a connector and
its simulator that rewrites the answers it is told to, and remembers where it put each row."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from hypothesis import strategies as st

NOT_OBJECTS: list[Any] = [7, 1.5, "row", "", None, True, [], [{"id": 1}]]
"""Rows a JSON list can hold that are no record: a number, text, null, true, lists."""

Insertion = tuple[int, Any]
"""Where a row goes in one answer's list (an index; past the end: last) and the row."""


def insertions(most: int = 3) -> st.SearchStrategy[list[Insertion]]:
    """Rows for one answer; indexes run past short pages, so a row often comes last."""
    where = st.integers(min_value=0, max_value=8)
    return st.lists(st.tuples(where, st.sampled_from(NOT_OBJECTS)), max_size=most)


class InsertedRows(httpx.AsyncBaseTransport):
    """``inner``, except that the list ``member`` of each answer ``rewrites`` picks gets the
    next answer's rows of ``plan`` (answers past the plan pass unchanged).

    ``positions`` holds, for each rewritten answer in turn, the 1-based positions its
    inserted rows took: the positions the connector's problems must name."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        member: str,
        rewrites: Callable[[httpx.Request], bool],
        plan: Sequence[Sequence[Insertion]],
        *,
        into_empty: bool = True,
    ) -> None:
        self._inner = inner
        self._member = member
        self._rewrites = rewrites
        self._plan = list(plan)
        self._into_empty = into_empty
        self.positions: list[list[int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if response.status_code != 200 or not self._rewrites(request):
            return response
        body = json.loads(await response.aread())
        rows = body.get(self._member) if isinstance(body, dict) else None
        if not isinstance(rows, list) or (not rows and not self._into_empty):
            return response
        plan = self._plan[len(self.positions)] if len(self.positions) < len(self._plan) else []
        marked = [(row, False) for row in rows]
        for where, row in plan:
            marked.insert(min(where, len(marked)), (row, True))
        self.positions.append([n for n, (_, inserted) in enumerate(marked, 1) if inserted])
        body[self._member] = [row for row, _ in marked]
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(
            response.status_code, headers=kept, content=json.dumps(body).encode(), request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()

    def problems(self, desk: str, kind: str) -> list[str]:
        """The start of each problem the inserted rows must be, in the order they were sent."""
        return [
            f"{desk} {kind} #{position} of the page: is "
            for answer in self.positions
            for position in answer
        ]
