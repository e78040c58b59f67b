"""The stage-2 queue: coalescing, one worker per customer, fencing, back-off and parking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import work
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TIMEOUT = timedelta(minutes=10)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate_async(store_url)
    eng = make_engine(store_url)
    yield eng
    await eng.dispose()


async def test_repeated_changes_to_one_customer_coalesce_into_one_item(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["organization:1", "organization:1"], NOW)
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["organization:1", "organization:2"], NOW)
    async with read_tx(engine) as conn:
        assert await work.pending_count(conn, "zd") == {"pending": 2}


async def test_a_customer_being_worked_is_not_claimed_twice(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["organization:1"], NOW)
    first = await work.claim(engine, "zd", 10, NOW, TIMEOUT)
    async with write_tx(engine) as conn:  # the customer changes again while being worked
        await work.enqueue(conn, "zd", ["organization:1"], NOW)
    assert [i.customer_key for i in first] == ["organization:1"]
    assert await work.claim(engine, "zd", 10, NOW, TIMEOUT) == []
    async with write_tx(engine) as conn:
        assert await work.finish(conn, first) == 1
    again = await work.claim(engine, "zd", 10, NOW, TIMEOUT)
    assert [i.customer_key for i in again] == ["organization:1"]


async def test_an_expired_claim_returns_to_the_queue_and_the_old_token_is_fenced_off(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["organization:7"], NOW)
    stale = await work.claim(engine, "zd", 10, NOW, TIMEOUT)
    later = NOW + TIMEOUT + timedelta(seconds=1)
    fresh = await work.claim(engine, "zd", 10, later, TIMEOUT)
    assert [i.customer_key for i in fresh] == ["organization:7"]
    async with write_tx(engine) as conn:
        assert await work.finish(conn, stale) == 0, "a stale claim must not complete work"
        assert await work.finish(conn, fresh) == 1


async def test_failures_back_off_then_park_the_item(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:3"], NOW)
    now = NOW
    for attempt in range(1, 4):
        items = await work.claim(engine, "zd", 1, now, TIMEOUT)
        assert len(items) == 1
        async with write_tx(engine) as conn:
            parked = await work.fail(conn, items[0], "HTTP 500", now, max_attempts=3)
        assert parked == (attempt == 3)
        assert await work.claim(engine, "zd", 1, now, TIMEOUT) == [], "backing off"
        now += timedelta(hours=2)
    async with read_tx(engine) as conn:
        assert await work.pending_count(conn, "zd") == {"dead": 1}


async def test_a_parked_customer_can_be_queued_again(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:9"], NOW)
    (item,) = await work.claim(engine, "zd", 1, NOW, TIMEOUT)
    async with write_tx(engine) as conn:
        assert await work.fail(conn, item, "HTTP 422", NOW, max_attempts=1)
    async with read_tx(engine) as conn:
        assert [r.customer_key for r in await work.parked(conn)] == ["user:9"]
    async with write_tx(engine) as conn:
        assert await work.unpark(conn, NOW) == 1
    assert [i.customer_key for i in await work.claim(engine, "zd", 1, NOW, TIMEOUT)] == ["user:9"]
