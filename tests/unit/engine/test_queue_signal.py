"""Stage 2's wake-up from stage 1: a waiter never misses a commit made after it looked."""

from __future__ import annotations

import asyncio

import pytest

from sync_jobs.run.control import QueueSignal

pytestmark = pytest.mark.anyio


async def test_a_waiter_wakes_for_a_commit_made_after_it_read_the_count() -> None:
    signal = QueueSignal()
    seen = signal.count
    waiter = asyncio.create_task(signal.wait_past(seen))
    await asyncio.sleep(0)
    assert not waiter.done()
    signal.notify()
    await asyncio.wait_for(waiter, timeout=1)


async def test_a_commit_between_reading_the_count_and_waiting_is_not_lost() -> None:
    signal = QueueSignal()
    seen = signal.count
    signal.notify()  # lands before the worker starts waiting
    await asyncio.wait_for(signal.wait_past(seen), timeout=1)


async def test_every_waiter_wakes_even_if_another_already_looked_again() -> None:
    signal = QueueSignal()
    first = asyncio.create_task(signal.wait_past(signal.count))
    second = asyncio.create_task(signal.wait_past(signal.count))
    await asyncio.sleep(0)
    signal.notify()
    await asyncio.wait_for(asyncio.gather(first, second), timeout=1)
    assert signal.count == 1
