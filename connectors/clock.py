"""One notion of time for a connector's gates, retries and token expiry.

In production a connector sleeps with ``asyncio.sleep`` and reads ``time.monotonic``. When a
test or benchmark passes a fake ``sleep`` through ``ConnectorOptions``, the gates must not wait
on the real clock (a 10-second back-off would spin for 10 real seconds), so time becomes
virtual: the monotonic clock plus everything slept so far.
"""

from __future__ import annotations

import asyncio
import time

from connectors.ratelimit import Sleep, VendorGate, Window


class VirtualClock:
    """A clock and a sleep that agree with each other."""

    def __init__(self, fake_sleep: Sleep | None = None) -> None:
        self._fake_sleep = fake_sleep
        self._slept = 0.0

    @property
    def is_virtual(self) -> bool:
        """True when sleeps are injected (tests, benchmarks)."""
        return self._fake_sleep is not None

    def now(self) -> float:
        """Monotonic seconds, advanced by injected sleeps when there are any."""
        return time.monotonic() + self._slept

    async def sleep(self, seconds: float) -> None:
        """Sleep for real, or hand the wait to the injected sleeper and move time on."""
        if self._fake_sleep is None:
            await asyncio.sleep(seconds)
            return
        self._slept += max(0.0, seconds)
        await self._fake_sleep(seconds)

    @property
    def retry_sleep(self) -> Sleep | None:
        """What an HTTP client's retries sleep with: this clock's sleep when time is virtual,
        None (tenacity's own asyncio sleep) when it is real."""
        return self.sleep if self.is_virtual else None

    def gate(
        self,
        *,
        rate_per_second: float | None = None,
        window: Window | None = None,
        max_in_flight: int = 1,
    ) -> VendorGate:
        """A gate that reads and sleeps on this clock, so virtual time paces it too."""
        return VendorGate(
            rate_per_second=rate_per_second,
            window=window,
            max_in_flight=max_in_flight,
            clock=self.now,
            sleep=self.sleep,
        )
