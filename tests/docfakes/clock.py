"""A wall clock the fakes share with the connector's injected ``sleep``.

The connector under test keeps virtual time: the real monotonic clock plus everything it has
slept through the injected sleeper (``connectors/clock.py``). This clock moves the same way (real
elapsed time plus every injected sleep), so a fake's windows, token lifetimes and index lag agree
with the connector's gates and token expiry. Tests may also ``advance`` it, for time that passes
between runs, when the connector is not looking.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """UTC time = start + real elapsed time + injected sleeps + explicit advances.

    ``follow_real_time=False`` freezes it between advances, for tests of the fakes alone.
    """

    def __init__(self, start: datetime | None = None, *, follow_real_time: bool = True) -> None:
        self._start = start or datetime.now(UTC)
        self._follow = follow_real_time
        self._started = time.monotonic()
        self._moved = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The fake's current time (UTC)."""
        real = time.monotonic() - self._started if self._follow else 0.0
        elapsed = real + self._moved
        return self._start + timedelta(seconds=elapsed)

    def advance(self, seconds: float) -> None:
        """Move time on; never backwards."""
        self._moved += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """What the connector calls instead of ``asyncio.sleep``: time passes, nothing waits."""
        self.slept.append(seconds)
        self.advance(seconds)
