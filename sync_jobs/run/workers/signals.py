"""The events a lead raises for its helpers, and how a helper waits for them (they live in
another process: no asyncio primitive can wait for them, so they are polled)."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event

POLL = 0.05
"""How often a process looks at the cross-process signals (seconds)."""


@dataclass
class Signals:
    """One run's signals, shared by the lead and its helpers."""

    go: Event
    """The helpers may claim (at once in an incremental run, after stage 1 in a backfill)."""
    pulled: Event
    """The lead's stage 1 is done: a helper stops when the queue is empty."""
    stop: Event
    """The run failed or is stopping: helpers stop after the batch in hand."""
    started: Synchronized[int]
    """How many helpers are ready to claim."""

    @classmethod
    def new(cls, mp: BaseContext) -> Signals:
        """Fresh signals, none raised."""
        return cls(mp.Event(), mp.Event(), mp.Event(), mp.Value("i", 0))


async def until(check: Callable[[], bool]) -> None:
    """Until ``check()`` holds, looking every ``POLL`` seconds."""
    while not check():  # noqa: ASYNC110 - the signals live in another process
        await asyncio.sleep(POLL)


def orphaned() -> bool:
    """The lead is gone (killed): nobody would tell this helper to stop."""
    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()
