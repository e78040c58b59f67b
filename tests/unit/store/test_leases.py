"""Job leases: one holder at a time, takeover after expiry (or at once from a dead holder on
this host), and stale holders fenced off."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store.db import write_tx
from sync_jobs.store.leases import (
    LeaseLost,
    Takeover,
    acquire,
    dead_holders,
    fence,
    holder_of,
    release,
    renew,
)
from sync_jobs.store.liveness import ProcessId, start_time, this_process
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]
TTL = timedelta(seconds=2)


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


# -- dead holders --------------------------------------------------------------------------


def dead_process() -> ProcessId:
    """A process of this host that has ended (its pid is free, or soon someone else's)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = start_time(proc.pid)
    proc.wait()
    return replace(this_process(), pid=proc.pid, started=started)


LONG = timedelta(minutes=5)


async def test_a_dead_holder_on_this_host_is_taken_over_at_once(engine: AsyncEngine) -> None:
    dead = dead_process()
    old = await acquire(engine, "job:west", "replica-a", LONG, now(), process=dead)
    assert old is not None
    new = await acquire(engine, "job:west", "replica-b", TTL, now())
    assert new is not None, "not after the lease's five minutes: now"
    assert new.epoch == old.epoch + 1
    assert new.took_over is not None
    assert new.took_over.died
    message = new.took_over.describe()
    assert f"previous run (pid {dead.pid} on {dead.host}) died at or after" in message
    assert message.endswith("; taking over")
    with pytest.raises(LeaseLost):
        async with write_tx(engine) as conn:
            await fence(conn, old, now())


async def test_a_live_holder_on_this_host_keeps_its_lease(engine: AsyncEngine) -> None:
    assert await acquire(engine, "job:west", "replica-a", LONG, now()) is not None
    assert await acquire(engine, "job:west", "replica-b", TTL, now()) is None
    held = await holder_of(engine, "job:west")
    assert held is not None
    assert held.describe() == f"pid {os.getpid()} on {this_process().host}"


async def test_a_holder_on_another_host_is_trusted_until_its_lease_lapses(
    engine: AsyncEngine,
) -> None:
    elsewhere = ProcessId("host-b", "host-b/boot/pid:[1]", 4242, "99")
    short = timedelta(milliseconds=300)
    old = await acquire(engine, "job:west", "replica-a", short, now(), process=elsewhere)
    assert old is not None
    assert await acquire(engine, "job:west", "replica-b", TTL, now()) is None
    await asyncio.sleep(0.5)
    new = await acquire(engine, "job:west", "replica-b", TTL, now())
    assert new is not None
    assert new.took_over is not None
    assert not new.took_over.died
    assert "previous run (pid 4242 on host-b) stopped renewing its lease" in (
        new.took_over.describe()
    )


async def test_a_takeover_runs_its_hook_in_the_same_transaction_and_a_handover_does_not(
    engine: AsyncEngine,
) -> None:
    seen: list[Takeover] = []

    async def hook(conn: AsyncConnection, takeover: Takeover) -> None:
        seen.append(takeover)
        await conn.execute(sa.select(1))  # usable: the transaction is open

    clean = await acquire(engine, "job:west", "replica-a", LONG, now())
    assert clean is not None
    await release(engine, clean, now())
    handed = await acquire(engine, "job:west", "replica-b", TTL, now(), on_takeover=hook)
    assert handed is not None
    assert handed.took_over is None, "a released lease was given back, not taken over"
    assert seen == []
    await release(engine, handed, now())
    await acquire(engine, "job:west", "replica-c", LONG, now(), process=dead_process())
    taken = await acquire(engine, "job:west", "replica-d", TTL, now(), on_takeover=hook)
    assert taken is not None
    assert [t.previous.holder for t in seen] == ["replica-c"]


async def test_dead_holders_lists_only_dead_processes_of_this_host(engine: AsyncEngine) -> None:
    await acquire(engine, "job:west", "replica-dead", LONG, now(), process=dead_process())
    await acquire(engine, "job:emea", "replica-live", LONG, now())
    elsewhere = ProcessId("host-b", "host-b/boot/pid:[1]", 1, "1")
    await acquire(engine, "job:apac", "replica-far", LONG, now(), process=elsewhere)
    found = await dead_holders(engine, except_holder="replica-me")
    assert [h.holder for h in found] == ["replica-dead"]
