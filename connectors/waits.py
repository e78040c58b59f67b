"""Where a connector says that it waits for a vendor's budget, so whoever runs it can show it.

A gate that holds a request back (the vendor's window is spent, or it asked us to retry
later) announces the wait here; a run listens for the duration of the run (a context
variable, so concurrent runs in one daemon each hear only their own connectors' waits).
Nothing here knows about any vendor, or about how the wait is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

WaitListener = Callable[[str, float], None]
"""Called with the connector's name and the seconds it is about to wait."""

ANNOUNCED_FROM = 1.0
"""Shorter waits are pacing, not news."""

_listener: ContextVar[WaitListener | None] = ContextVar("dealbridge_wait_listener", default=None)


def announce_wait(connector: str, seconds: float) -> None:
    """Tell the listener (if any) that ``connector`` waits ``seconds`` for its budget."""
    listener = _listener.get()
    if listener is not None and seconds >= ANNOUNCED_FROM:
        listener(connector, seconds)


@contextmanager
def listening(listener: WaitListener) -> Iterator[None]:
    """Hear the waits announced inside this block (and the tasks it starts)."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


@contextmanager
def also_listening(listener: WaitListener) -> Iterator[None]:
    """Hear the waits announced inside this block too, beside whoever listens already."""
    outer = _listener.get()

    def both(connector: str, seconds: float) -> None:
        listener(connector, seconds)
        if outer is not None:
            outer(connector, seconds)

    with listening(both):
        yield
