"""Request budgets: the account's per-minute limit, incremental exports (10/min), single-user
updates (about 1/s per account), and the cap on bulk jobs queued or running (30).

Numbers from developer.zendesk.com "Rate limits" (shared/vendor-apis section 1).

``ConnectorOptions.sleep`` is the test seam: when given, time is virtual (real monotonic time
plus everything slept through it), so a 60-second Retry-After or a job poll costs a test
nothing while the gates still see the time pass.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.clock import VirtualClock
from connectors.ratelimit import Sleep, VendorGate, Window
from connectors.service.zendesk.config import ZendeskConfig


@dataclass(frozen=True)
class Pacing:
    """The gates, the job slots and the sleeper one connector instance uses."""

    gate: VendorGate
    incremental: VendorGate
    single_users: VendorGate
    jobs: asyncio.Semaphore
    clock: Callable[[], float]
    sleep: Sleep
    retry_sleep: Sleep | None
    """What the HTTP client's retries sleep with (None: tenacity's own asyncio sleep)."""

    async def take(self, gate: VendorGate) -> None:
        """Wait for a slot in a secondary budget (the main gate is taken per request)."""
        gate.name = gate.name or self.gate.name
        await gate.acquire()
        gate.release()


def build_pacing(config: ZendeskConfig, sleep: Sleep | None) -> Pacing:
    """Gates for ``config``; a given ``sleep`` makes their time virtual (see module doc)."""
    clock: Callable[[], float] = time.monotonic
    sleeper: Sleep = asyncio.sleep
    retry_sleep: Sleep | None = None
    if sleep is not None:
        virtual = VirtualClock(sleep)
        clock, sleeper, retry_sleep = virtual.now, virtual.sleep, virtual.sleep

    def gate(
        rate: float | None = None, window: Window | None = None, in_flight: int = 1
    ) -> VendorGate:
        return VendorGate(
            rate_per_second=rate,
            window=window,
            max_in_flight=in_flight,
            clock=clock,
            sleep=sleeper,
        )

    return Pacing(
        # Zendesk counts both budgets per minute: a sliding window spends a fresh minute at once
        # (a small run is not paced out) and never puts more than the budget into one minute.
        gate=gate(window=Window.per_minute(config.steady_rate), in_flight=config.max_in_flight),
        incremental=gate(window=Window(config.incremental_per_minute)),
        single_users=gate(config.single_user_updates_per_second),
        jobs=asyncio.Semaphore(config.max_jobs_in_flight),
        clock=clock,
        sleep=sleeper,
        retry_sleep=retry_sleep,
    )
