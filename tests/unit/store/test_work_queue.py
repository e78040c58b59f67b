"""The stage-2 queue: coalescing, one worker per customer, fencing, back-off and parking."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import tables as t
from sync_jobs.store import work
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TIMEOUT = timedelta(minutes=10)


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


async def test_stale_claims_are_looked_for_once_per_tenth_of_the_claim_timeout(
    engine: AsyncEngine,
) -> None:
    sweep = TIMEOUT / work.SWEEPS_PER_TIMEOUT
    keys = [f"organization:{n}" for n in range(1, 5)]
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", keys[:1], NOW)
    await work.claim(engine, "zd", 1, NOW, TIMEOUT)  # looks for stale claims; this worker dies
    async with write_tx(engine) as conn:  # more customers, so each claim has one to take
        await work.enqueue(conn, "zd", keys[1:], NOW)

    async def claim(at: datetime, limit: int = 1) -> set[str]:
        return {i.customer_key for i in await work.claim(engine, "zd", limit, at, TIMEOUT)}

    looked = NOW + TIMEOUT - timedelta(seconds=1)
    assert await claim(looked) == {keys[1]}, "looked a sweep later: nothing stale yet"
    assert await claim(NOW + TIMEOUT + timedelta(seconds=1)) == {keys[2]}, (
        "stale now, but the last look is less than a sweep ago"
    )
    assert await claim(looked + sweep, limit=3) == {keys[0], keys[3]}, "back a sweep later"


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


async def test_an_explicit_retry_makes_failed_items_due_once_and_they_still_park(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:3"], NOW)
    now = NOW
    for attempt in range(1, 4):
        async with write_tx(engine) as conn:
            await work.retry_now(conn, "zd", now)  # what an operator's run does first
        items = await work.claim(engine, "zd", 1, now, TIMEOUT)
        assert len(items) == 1, f"attempt {attempt} is made at once, not after the back-off"
        async with write_tx(engine) as conn:
            parked = await work.fail(conn, items[0], "HTTP 500", now, max_attempts=3)
        assert parked == (attempt == 3)
        assert await work.claim(engine, "zd", 1, now, TIMEOUT) == [], "once per run"
        now += timedelta(seconds=1)
    async with read_tx(engine) as conn:
        (dead,) = await work.failing(conn, "zd")
    assert (dead.status, dead.attempts, dead.last_error) == ("dead", 3, "HTTP 500")


async def test_failing_lists_waiting_and_parked_items_with_their_last_error(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:1", "user:2", "user:3"], NOW)
    first, second, _fine = await work.claim(engine, "zd", 3, NOW, TIMEOUT)
    async with write_tx(engine) as conn:
        await work.fail(conn, first, "HTTP 422: invalid value", NOW, max_attempts=5)
        await work.fail(conn, second, "HTTP 500", NOW, max_attempts=1)
    async with read_tx(engine) as conn:
        rows = await work.failing(conn, "zd")
        older = await work.failing(conn, "zd", before=NOW)
    assert [(r.customer_key, r.status, r.last_error) for r in rows] == [
        ("user:1", "pending", "HTTP 422: invalid value"),
        ("user:2", "dead", "HTTP 500"),
    ]
    assert older == [], "failures of this very moment are not 'from before'"


async def test_a_dead_holders_claims_go_back_at_once_keeping_their_attempts(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:1"], NOW)
        await work.enqueue(conn, "fd", ["company:9"], NOW)
    (tried,) = await work.claim(engine, "zd", 1, NOW, TIMEOUT, holder="replica-a")
    async with write_tx(engine) as conn:
        await work.fail(conn, tried, "HTTP 500", NOW, max_attempts=5)
    later = NOW + timedelta(minutes=5)
    held = await work.claim(engine, "zd", 1, later, TIMEOUT, holder="replica-a")
    other = await work.claim(engine, "fd", 1, later, TIMEOUT, holder="replica-a")
    assert held
    assert other
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:1"], later)  # changed again meanwhile
        assert await work.release_claims_of(conn, "replica-a", later) == 2
    again = await work.claim(engine, "zd", 5, later, TIMEOUT, holder="replica-b")
    assert [(i.customer_key, i.attempts) for i in again] == [("user:1", 1)], (
        "due at once, not after the claim timeout, and merged with its waiting twin"
    )
    assert [i.customer_key for i in await work.claim(engine, "fd", 5, later, TIMEOUT)] == [
        "company:9"
    ]
    async with write_tx(engine) as conn:
        assert await work.finish(conn, held) == 0, "the dead holder's claim is fenced off"


async def test_items_given_back_untried_keep_their_attempts(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", ["user:1", "user:2"], NOW)
    items = await work.claim(engine, "zd", 2, NOW, TIMEOUT)
    async with write_tx(engine) as conn:
        await work.release(conn, items, NOW)
    again = await work.claim(engine, "zd", 2, NOW, TIMEOUT)
    assert [(i.customer_key, i.attempts) for i in again] == [("user:1", 0), ("user:2", 0)]


_SHARED: dict[str, str] = {}


def shared_store(factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite file for every example (each example uses its own target)."""
    if "url" not in _SHARED:
        _SHARED["url"] = f"sqlite:///{factory.mktemp('queue') / 'state.db'}"
        asyncio.run(migrate_async(_SHARED["url"]))
    return _SHARED["url"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.lists(
        st.tuples(
            st.integers(0, 9),  # customer
            st.integers(0, 3),  # failed attempts before the dead holder's claim
            st.booleans(),  # changed again while claimed (a waiting twin)
        ),
        min_size=1,
        max_size=8,
        unique_by=lambda c: c[0],
    )
)
def test_releasing_a_dead_holders_claims_loses_nothing_and_keeps_attempts(
    tmp_path_factory: pytest.TempPathFactory, customers: list[tuple[int, int, bool]]
) -> None:
    """Whatever a dead holder had claimed (tried before or not, changed again meanwhile or not),
    after the release every customer waits exactly once, due now, with its attempts."""
    url = shared_store(tmp_path_factory)
    target = uuid.uuid4().hex[:12]
    wanted = {f"user:{n}": attempts for n, attempts, _ in customers}
    changed = [f"user:{n}" for n, _, again in customers if again]

    async def scenario() -> None:
        engine = make_engine(url)
        now = NOW
        try:
            async with write_tx(engine) as conn:
                await work.enqueue(conn, target, wanted, now)
            for _ in range(max(wanted.values())):  # fail each customer its number of times
                now += timedelta(hours=2)
                for item in await work.claim(engine, target, 100, now, TIMEOUT):
                    async with write_tx(engine) as conn:
                        if item.attempts < wanted[item.customer_key]:
                            await work.fail(conn, item, "HTTP 500", now, max_attempts=99)
                        else:
                            await work.release(conn, [item], now)
            now += timedelta(hours=2)
            await work.claim(engine, target, 100, now, TIMEOUT, holder="dead")
            async with write_tx(engine) as conn:
                await work.enqueue(conn, target, changed, now)
                assert await work.release_claims_of(conn, "dead", now) == len(wanted)
            async with read_tx(engine) as conn:
                rows = list(
                    await conn.execute(
                        sa.select(t.customer_work).where(t.customer_work.c.target == target)
                    )
                )
        finally:
            await engine.dispose()
        assert sorted(r.customer_key for r in rows) == sorted(wanted), "each waits exactly once"
        assert {r.status for r in rows} == {"pending"}
        assert all(r.not_before <= now for r in rows), "due at once"
        assert {r.customer_key: r.attempts for r in rows} == wanted

    asyncio.run(scenario())
