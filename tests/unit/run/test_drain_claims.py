"""Idle write workers claim only when stage 1 may have queued something: each commit of
stage 1 wakes every one of them, and a claim is a write transaction, so once one claim found
the queue short the others wait for the next commit instead of each finding nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from sync_jobs.run import stage2
from sync_jobs.store import work
from sync_jobs.store.db import read_tx, write_tx
from tests.unit.run.kit import TARGET, World, org

pytestmark = pytest.mark.anyio
PAGES = 10
WORKERS = 16


def counting_claims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many customers each claim of the queue returned, in order."""
    claimed: list[int] = []
    claim = work.claim

    async def counted(*args: Any, **kwargs: Any) -> list[work.WorkItem]:
        items = await claim(*args, **kwargs)
        claimed.append(len(items))
        return items

    monkeypatch.setattr(work, "claim", counted)
    return claimed


async def pages_of_one_customer(world: World) -> None:
    """Stage 1 committing ``PAGES`` pages, each queueing one customer."""
    for n in range(PAGES):
        async with write_tx(world.store) as conn:
            await work.enqueue(conn, TARGET, [f"organization:{n}"], world.now)
        world.control.queued.notify()
        await asyncio.sleep(0.2)  # the workers write the page before the next one comes


async def test_idle_workers_do_not_each_claim_an_empty_queue(
    world_on_file: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = world_on_file
    world.desk.holding(*(org(str(n)) for n in range(PAGES)))
    claimed = counting_claims(monkeypatch)
    ctx = dataclasses.replace(world.stage2(), write_workers=WORKERS)

    await stage2.drain(ctx, pages_of_one_customer(world))

    assert sum(claimed) == PAGES, "every customer claimed once"
    async with read_tx(world.store) as conn:
        assert await work.queued_keys(conn, TARGET) == []
    # Per page: the claim that takes its customer (it finds the queue short), and the
    # worker that wrote it looks once more; at the end every worker looks once.
    assert len(claimed) <= 3 * PAGES + WORKERS, claimed
