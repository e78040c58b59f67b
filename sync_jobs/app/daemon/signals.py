"""The daemon's signals: SIGTERM and SIGINT stop it gracefully, SIGHUP reloads."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def install(stop: Callable[[], None], reload: Callable[[], Awaitable[None]]) -> None:
    """Route the signals to ``stop`` and ``reload`` on the running loop."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reload()))


def remove() -> None:
    """Shutdown has begun: a second signal gets the default behaviour."""
    loop = asyncio.get_running_loop()
    for sig in HANDLED:
        loop.remove_signal_handler(sig)
