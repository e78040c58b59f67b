"""One notion of time for the connector's gates, retries and token expiry.

In production the connector sleeps with ``asyncio.sleep`` and reads ``time.monotonic``. When a
test or benchmark passes a fake ``sleep`` through ``ConnectorOptions``, the gates must not wait
on the real clock (a 10-second back-off would spin for 10 real seconds), so time becomes
virtual: the monotonic clock plus everything slept so far.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from connectors.ratelimit import Sleep


@dataclass
class Timing:
    """A clock and a sleep that agree with each other."""

    fake_sleep: Sleep | None = None
    slept: float = field(default=0.0)

    def clock(self) -> float:
        """Monotonic seconds, advanced by fake sleeps when there are any."""
        return time.monotonic() + self.slept

    async def sleep(self, seconds: float) -> None:
        """Sleep for real, or hand the wait to the fake sleeper and move virtual time on."""
        if self.fake_sleep is None:
            await asyncio.sleep(seconds)
            return
        self.slept += max(0.0, seconds)
        await self.fake_sleep(seconds)
