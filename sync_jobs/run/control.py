"""What steers a run from outside its stages: commit-point hook, shutdown, lease, progress.

Stages get a :class:`RunControl` instead of the whole run, so a test can drive a stage with
no lease, no daemon and no display (:meth:`RunControl.free`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime

from sync_jobs.run.progress import Phase
from sync_jobs.store.db import Connection

Clock = Callable[[], datetime]
"""The engine's clock (aware UTC); tests pass a fixed one."""

Checkpoint = Callable[[str], None]
"""Called at each named commit point; tests use it to simulate a crash there."""


def today(clock: Clock) -> date:
    """The date deals' validity is judged against."""
    return clock().date()


async def first_of(one: asyncio.Event, other: asyncio.Event | None) -> None:
    """Until either event is set (``other`` None: until ``one`` is)."""
    if other is None:
        await one.wait()
        return
    waits = [asyncio.ensure_future(one.wait()), asyncio.ensure_future(other.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()


class QueueSignal:
    """A count of stage-1 commits that waiters can wait past, so no wake-up is ever missed
    (an Event cleared by one worker could swallow another's)."""

    def __init__(self) -> None:
        self.count = 0
        self._next = asyncio.Event()

    def notify(self) -> None:
        """Customers may have been queued."""
        self.count += 1
        self._next.set()
        self._next = asyncio.Event()

    async def wait_past(self, count: int) -> None:
        """Return once ``notify`` was called after ``count`` was read."""
        while self.count <= count:
            await self._next.wait()


async def _unfenced(_conn: Connection) -> None:
    return None


def _no_lease_check() -> None:
    return None


def _nowhere(_phase: Phase) -> None:
    return None


@dataclass(frozen=True)
class RunControl:
    """The run's hooks, shared by its stages."""

    checkpoint: Checkpoint
    stopping: asyncio.Event
    """Set on SIGTERM: stages stop after the page or batch in hand is committed."""
    queued: QueueSignal
    """Stage 1 signals each commit that may have queued customers (stage 2 may be waiting)."""
    fence: Callable[[Connection], Awaitable[None]]
    """Refuses the commit in progress unless the run still holds its job lease."""
    check_lease: Callable[[], None]
    """Between pages and batches: raises LeaseLost if another replica took the lease."""
    progress: Callable[[Phase], None]
    """Tells the progress display how far the run got."""

    @classmethod
    def free(cls, checkpoint: Checkpoint = lambda _name: None) -> RunControl:
        """No lease, no display, never stopping: a stage on its own (tests, tools)."""
        return cls(
            checkpoint=checkpoint,
            stopping=asyncio.Event(),
            queued=QueueSignal(),
            fence=_unfenced,
            check_lease=_no_lease_check,
            progress=_nowhere,
        )
