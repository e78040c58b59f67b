"""Paging strategies: every item of a listing is read exactly once, and a vendor that sends a
read round in a circle stops it instead of looping forever."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.errors import PermanentError
from connectors.paging import (
    CursorPaging,
    KeysetPaging,
    NoProgress,
    OffsetPaging,
    Page,
    TimeWindows,
    Where,
    WindowAnswer,
    more_if_full,
    next_link,
)

T = TypeVar("T")
P = TypeVar("P")

MOST_CALLS = 10_000
"""A read that asks more often than this is looping: the tests fail instead of hanging."""


def collect(pages: AsyncIterator[Page[T, P]]) -> list[T]:
    async def run() -> list[T]:
        items: list[T] = []
        async for page in pages:
            items += page.items
        return items

    return asyncio.run(run())


class Calls:
    def __init__(self) -> None:
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        assert self.count < MOST_CALLS, "the read kept asking: it loops"


# --- cursor ---------------------------------------------------------------------------------


def cursor_vendor(items: Sequence[int], size: int, calls: Calls) -> CursorPaging[Page[int, str]]:
    async def fetch(token: str | None) -> Page[int, str]:
        calls.tick()
        start = int(token) if token else 0
        chunk = items[start : start + size]
        following = str(start + size) if start + size < len(items) else None
        return Page(items=chunk, following=following)

    return CursorPaging(fetch)


@given(items=st.lists(st.integers(), max_size=60), size=st.integers(1, 7))
def test_a_cursor_read_sees_every_item_exactly_once(items: list[int], size: int) -> None:
    calls = Calls()
    assert collect(cursor_vendor(items, size, calls).pages()) == items
    assert calls.count == max(1, -(-len(items) // size))


@given(tokens=st.lists(st.sampled_from("abc"), min_size=1, max_size=20))
def test_a_cursor_read_stops_on_a_repeated_token(tokens: list[str]) -> None:
    """Whatever tokens the vendor sends, the read ends: by the vendor's last page, or by
    NoProgress the first time a token comes back."""
    calls = Calls()
    answers = iter([*tokens, None])

    async def fetch(_: str | None) -> Page[int, str]:
        calls.tick()
        return Page(items=[calls.count], following=next(answers))

    paging = CursorPaging(fetch, where=Where("acme", "list"))
    repeats = len(tokens) != len(set(tokens))
    if repeats:
        with pytest.raises(NoProgress) as caught:
            collect(paging.pages())
        assert caught.value.connector == "acme"
        assert isinstance(caught.value, PermanentError)
    else:
        assert collect(paging.pages()) == list(range(1, len(tokens) + 2))
    assert calls.count <= len(set(tokens)) + 1


def test_a_scroll_that_ends_with_an_empty_page_stops_there() -> None:
    async def fetch(token: str | None) -> Page[int, str]:
        return Page(items=[] if token else [1, 2], following="again")

    assert collect(CursorPaging(fetch, is_last=lambda page: not page.items).pages()) == [1, 2]


def test_the_next_link_keeps_only_path_and_query() -> None:
    header = (
        '<https://evil.example/api/v2/contacts?page=1>; rel="prev", '
        '<https://acme.example/api/v2/contacts?page=3&per_page=100>; rel="next"'
    )
    assert next_link(header) == "/api/v2/contacts?page=3&per_page=100"
    assert next_link('<https://a.example/x?page=1>; rel="prev"') is None
    assert next_link(None) is None


# --- offset ---------------------------------------------------------------------------------


@given(
    items=st.lists(st.integers(), max_size=60),
    limit=st.integers(1, 7),
    hidden=st.sets(st.integers(0, 59)),
)
def test_an_offset_read_sees_every_visible_item_once_even_when_pages_come_back_short(
    items: list[int], limit: int, hidden: set[int]
) -> None:
    """Rows the vendor hides after sizing a page (ACLs) shorten it without ending the read."""
    calls = Calls()

    async def fetch(offset: int) -> Page[tuple[int, int], int]:
        calls.tick()
        rows = [(i, items[i]) for i in range(offset, min(offset + limit, len(items)))]
        more = offset + limit < len(items)
        visible = [row for row in rows if row[0] not in hidden]
        return Page(items=visible, following=offset + limit if more else None)

    read = collect(OffsetPaging(fetch).pages())
    assert read == [(i, v) for i, v in enumerate(items) if i not in hidden]


@given(items=st.lists(st.integers(), max_size=40), limit=st.integers(1, 5))
def test_a_short_page_ends_an_offset_read_when_the_vendor_says_nothing(
    items: list[int], limit: int
) -> None:
    async def fetch(offset: int) -> Page[int, int]:
        chunk = items[offset : offset + limit]
        return Page(items=chunk, following=more_if_full(chunk, offset, limit))

    assert collect(OffsetPaging(fetch).pages()) == items


def test_an_offset_read_stops_at_the_vendors_ceiling_and_on_a_step_back() -> None:
    async def endless(offset: int) -> Page[int, int]:
        return Page(items=[offset], following=offset + 10)

    assert collect(OffsetPaging(endless, max_offset=30).pages()) == [0, 10, 20]

    async def backwards(offset: int) -> Page[int, int]:
        return Page(items=[offset], following=0)

    with pytest.raises(NoProgress):
        collect(OffsetPaging(backwards).pages(start=5))


# --- keyset ---------------------------------------------------------------------------------


def keyset_vendor(
    times: Sequence[int], size: int, calls: Calls
) -> KeysetPaging[tuple[int, int], int]:
    """Zendesk-like: items updated at or after ``start``, at least ``size`` of them and every
    tie of the last one's second; ``following`` is the last item's time (so the boundary
    second comes again on the next page)."""
    rows = sorted((t, n) for n, t in enumerate(times))

    async def fetch(start: int) -> Page[tuple[int, int], int]:
        calls.tick()
        after = [row for row in rows if row[0] >= start]
        if len(after) <= size:
            return Page(items=after, following=None)
        edge = after[size - 1][0]
        chunk = [row for row in after if row[0] <= edge]
        return Page(items=chunk, following=edge)

    return KeysetPaging(
        fetch,
        step_past=lambda second: second + 1,
        key_of=lambda row: row[0],
        identity=lambda row: row,
    )


@settings(max_examples=200)
@given(times=st.lists(st.integers(0, 6), max_size=30), size=st.integers(1, 5))
def test_a_keyset_read_sees_every_item_and_gets_past_ties_that_fill_a_page(
    times: list[int], size: int
) -> None:
    calls = Calls()
    read = collect(keyset_vendor(times, size, calls).pages(0))
    assert sorted(read) == sorted((t, n) for n, t in enumerate(times))
    assert calls.count <= 2 * len(times) + 1


def test_a_keyset_read_that_cannot_move_stops_without_a_way_past_ties() -> None:
    async def stuck(start: int) -> Page[int, int]:
        return Page(items=[start], following=start)

    with pytest.raises(NoProgress):
        collect(KeysetPaging(stuck).pages(7))

    async def backwards(start: int) -> Page[int, int]:
        return Page(items=[start], following=start - 1)

    with pytest.raises(NoProgress):
        collect(KeysetPaging(backwards, step_past=lambda k: k + 1).pages(7))


# --- time windows ---------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    times=st.lists(st.integers(0, 999), max_size=80),
    cap=st.integers(2, 10),
    width=st.integers(1, 1000),
)
def test_time_windows_read_every_item_once_cutting_windows_that_overflow(
    times: list[int], cap: int, width: int
) -> None:
    """Items spread so that no one instant holds more than the cap: every window is then
    readable once cut fine enough."""
    per_instant: dict[int, int] = {}
    items = []
    for n, t in enumerate(times):
        if per_instant.get(t, 0) < cap:
            per_instant[t] = per_instant.get(t, 0) + 1
            items.append((t, n))
    calls = Calls()

    async def fetch(lower: int, upper: int) -> WindowAnswer[tuple[int, int]]:
        calls.tick()
        inside = [item for item in items if lower <= item[0] < upper]
        return WindowAnswer(items=inside[:cap], overflow=len(inside) > cap)

    read = collect(TimeWindows(fetch, width=width).pages(0, 1000))
    assert sorted(read) == sorted(items)
    assert len(read) == len(set(read))


def test_a_window_too_dense_to_cut_stops_the_read() -> None:
    async def crowded(lower: int, upper: int) -> WindowAnswer[int]:
        return WindowAnswer(items=[lower], overflow=True)

    with pytest.raises(NoProgress):
        collect(TimeWindows(crowded, width=8).pages(0, 8))


def test_each_window_page_says_where_the_next_read_may_resume() -> None:
    async def fetch(lower: int, upper: int) -> WindowAnswer[int]:
        return WindowAnswer(items=[lower])

    async def run() -> list[int | None]:
        paging = TimeWindows(fetch, width=4)
        return [page.following async for page in paging.pages(0, 10)]

    assert asyncio.run(run()) == [4, 8, None]
