"""Job leases: one holder at a time, takeover after expiry, and stale holders fenced off."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store.db import make_engine, migrate_async, write_tx
from sync_jobs.store.leases import LeaseLost, acquire, fence, release, renew
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]
TTL = timedelta(seconds=2)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate_async(store_url)
    eng = make_engine(store_url)
    yield eng
    await eng.dispose()


def now() -> datetime:
    return datetime.now(UTC)


async def test_only_one_replica_holds_a_job_lease(engine: AsyncEngine) -> None:
    first = await acquire(engine, "job:west", "replica-a", TTL, now())
    assert first is not None
    assert await acquire(engine, "job:west", "replica-b", TTL, now()) is None
    again = await acquire(engine, "job:west", "replica-a", TTL, now())
    assert again is not None
    assert again.epoch == first.epoch, "renewal by the holder keeps the fencing token"


async def test_an_expired_lease_is_taken_over_with_a_higher_epoch_and_the_old_holder_is_fenced(
    engine: AsyncEngine,
) -> None:
    short = timedelta(milliseconds=200)
    old = await acquire(engine, "job:west", "replica-a", short, now())
    assert old is not None
    await asyncio.sleep(0.4)  # the database clock decides expiry on PostgreSQL
    new = await acquire(engine, "job:west", "replica-b", TTL, now())
    assert new is not None
    assert new.epoch == old.epoch + 1
    with pytest.raises(LeaseLost):
        async with write_tx(engine) as conn:
            await fence(conn, old, now())
    with pytest.raises(LeaseLost):
        await renew(engine, old, TTL, now())
    async with write_tx(engine) as conn:
        await fence(conn, new, now())


async def test_a_released_lease_is_free_at_once(engine: AsyncEngine) -> None:
    grant = await acquire(engine, "job:west", "replica-a", TTL, now())
    assert grant is not None
    await release(engine, grant, now())
    assert await acquire(engine, "job:west", "replica-b", TTL, now()) is not None
