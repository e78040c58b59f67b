"""The match pass's pages: every waiting deal is read exactly once, and the deals of one
account are read on one page (as long as they are no more than a page), so their customer
is decided, and queued, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.store import deals
from sync_jobs.store.db import memory_engine, read_tx, write_tx
from tests.unit.store.rows import pending_row

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def pending(deal_id: str, account_key: str) -> dict[str, Any]:
    return pending_row(deal_id, account_key, NOW)


async def pages_of(accounts: list[str], limit: int) -> list[list[tuple[str, str]]]:
    store = await memory_engine()
    async with write_tx(store) as conn:
        rows = [pending(f"D{n:03d}", key) for n, key in enumerate(accounts)]
        await deals.save_deals(conn, rows)
    pages: list[list[tuple[str, str]]] = []
    after = None
    while True:
        async with read_tx(store) as conn:
            page = await deals.undecided_page(conn, "west", "zd", "pending", after, limit)
        if not page:
            break
        pages.append([(row.account_key, row.deal_id) for row in page])
        after = deals.PageEnd(page[-1].account_key, page[-1].deal_id)
    await store.dispose()
    return pages


@settings(max_examples=40)
@given(
    accounts=st.lists(st.sampled_from(["", "a", "b", "c", "d", "e"]), max_size=40),
    limit=st.integers(1, 6),
)
def test_every_deal_is_read_once_and_an_account_on_one_page(
    accounts: list[str], limit: int
) -> None:
    pages = asyncio.run(pages_of(accounts, limit))

    read = [deal for page in pages for _key, deal in page]
    assert sorted(read) == [f"D{n:03d}" for n in range(len(accounts))]
    assert len(read) == len(set(read))
    for key in set(accounts) - {""}:
        holding = [i for i, page in enumerate(pages) if any(k == key for k, _ in page)]
        if accounts.count(key) <= limit:
            assert len(holding) == 1, (key, pages)
    assert all(len(page) <= 2 * limit for page in pages)
