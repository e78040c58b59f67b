"""The event loop a dealbridge process runs its coroutines on.

uvloop (the libuv-based asyncio loop by the authors of asyncpg) where it is installed, which
is everywhere but Windows: a run is thousands of small awaits (a database statement answered
from the SQLite thread, an HTTP response read in chunks, the write workers handing batches on),
and uvloop's scheduling and socket handling cost less CPU per await than the standard loop's
(1.07x deals per CPU second for the whole run at 10,000 deals, bench/analysis.md, issue 19).

``DEALBRIDGE_EVENT_LOOP=asyncio`` asks for the standard loop instead: asyncio's debug mode and
some profilers understand only that one, and it is the way back should uvloop ever misbehave.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

ENV = "DEALBRIDGE_EVENT_LOOP"
CHOICES = ("uvloop", "asyncio")

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


class EventLoopChoiceError(ValueError):
    """``DEALBRIDGE_EVENT_LOOP`` names no loop this process can run."""


def loop_factory() -> LoopFactory:
    """The loop chosen by ``DEALBRIDGE_EVENT_LOOP`` (default: uvloop where installed)."""
    asked = os.environ.get(ENV, "").strip().lower()
    if asked not in ("", *CHOICES):
        raise EventLoopChoiceError(
            f"{ENV}={asked!r} is not a loop dealbridge knows: use one of {', '.join(CHOICES)}, "
            "or leave it unset for uvloop where installed"
        )
    if asked == "asyncio":
        return asyncio.new_event_loop
    try:
        import uvloop
    except ImportError:
        if asked == "uvloop":
            raise EventLoopChoiceError(
                f"{ENV}=uvloop but uvloop is not installed here (it is not built for Windows): "
                f"install it, or set {ENV}=asyncio"
            ) from None
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(coro)
