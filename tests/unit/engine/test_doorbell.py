"""The doorbell: many rings make one run, a ring during a run makes exactly one follow-up,
and a run another process holds is waited for, then made."""

from __future__ import annotations

import asyncio

import pytest

from sync_jobs.app.doorbell import Doorbell

pytestmark = pytest.mark.anyio


class Spy:
    """Counts runs; each run lasts ``seconds``; ``taken`` runs report another run won."""

    def __init__(self, seconds: float = 0.0, taken: int = 0) -> None:
        self.runs: list[str] = []
        self.seconds = seconds
        self.taken = taken
        self.waits = 0

    async def wait_free(self, _job: str) -> None:
        self.waits += 1

    async def run(self, job: str) -> bool:
        await asyncio.sleep(self.seconds)
        if self.taken:
            self.taken -= 1
            return False
        self.runs.append(job)
        return True


async def settled(bell: Doorbell, *jobs: str) -> None:
    async with asyncio.timeout(5):
        while True:
            if not any(bell.busy(job) for job in jobs):
                return
            await asyncio.sleep(0.01)


async def test_ten_rings_within_the_settle_time_make_one_run() -> None:
    spy = Spy()
    bell = Doorbell(spy.wait_free, spy.run, settle=0.05)
    answers = [bell.ring("emea") for _ in range(10)]
    assert answers == ["scheduled"] + ["coalesced"] * 9
    await settled(bell, "emea")
    assert spy.runs == ["emea"]


async def test_rings_during_a_run_make_exactly_one_follow_up() -> None:
    spy = Spy(seconds=0.2)
    bell = Doorbell(spy.wait_free, spy.run, settle=0.01)
    bell.ring("emea")
    await asyncio.sleep(0.05)  # the run is going
    answers = [bell.ring("emea") for _ in range(5)]
    assert answers == ["follow_up"] + ["coalesced"] * 4
    await settled(bell, "emea")
    assert spy.runs == ["emea", "emea"]


async def test_jobs_ring_independently() -> None:
    spy = Spy()
    bell = Doorbell(spy.wait_free, spy.run, settle=0.01)
    bell.ring("emea")
    bell.ring("west")
    await settled(bell, "emea", "west")
    assert sorted(spy.runs) == ["emea", "west"]


async def test_a_run_another_process_took_is_waited_for_and_made_after_it() -> None:
    spy = Spy(taken=2)
    bell = Doorbell(spy.wait_free, spy.run, settle=0.01)
    bell.ring("emea")
    await settled(bell, "emea")
    assert spy.runs == ["emea"]
    assert spy.waits == 3, "waited before each attempt"


async def test_a_crashing_run_does_not_silence_the_doorbell() -> None:
    calls: list[str] = []

    async def wait_free(_job: str) -> None:
        return None

    async def crash(job: str) -> bool:
        calls.append(job)
        raise RuntimeError("boom")

    bell = Doorbell(wait_free, crash, settle=0.01)
    bell.ring("emea")
    await settled(bell, "emea")
    assert bell.ring("emea") == "scheduled", "ready for the next notification"
    await settled(bell, "emea")
    assert calls == ["emea", "emea"]
