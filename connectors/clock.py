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


def share_of(count: int, share: float) -> int:
    """A process's part of ``count`` slots (at least one): ``share`` of them, rounded down,
    so that the parts of processes splitting a budget never add up to more than it."""
    return max(1, int(count * share))


class VirtualClock:
    """A clock and a sleep that agree with each other."""

    def __init__(self, fake_sleep: Sleep | None = None, share: float = 1.0) -> None:
        self._fake_sleep = fake_sleep
        self._slept = 0.0
        self.share = share
        """This process's share of the vendor's budgets (``ConnectorOptions.budget_share``)."""

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
        shared: bool = True,
    ) -> VendorGate:
        """A gate that reads and sleeps on this clock, so virtual time paces it too.

        A ``shared`` budget is one several worker processes spend together: this process
        gets its ``share`` of it. ``shared=False`` for a budget only one process uses (the
        lead's identity export)."""
        share = self.share if shared else 1.0
        return VendorGate(
            rate_per_second=None if rate_per_second is None else rate_per_second * share,
            window=None if window is None else window.shared(share),
            max_in_flight=max_in_flight,
            clock=self.now,
            sleep=self.sleep,
        )
