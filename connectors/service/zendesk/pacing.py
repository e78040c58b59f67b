"""Request budgets: the account's per-minute limit, incremental exports (10/min), single-user
updates (about 1/s per account), and the cap on bulk jobs queued or running (30).

Numbers from developer.zendesk.com "Rate limits" (shared/vendor-apis section 1).

``ConnectorOptions.sleep`` is the test seam: when given, time is virtual (real monotonic time
plus everything slept through it), so a 60-second Retry-After or a job poll costs a test
nothing while the gates still see the time pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from connectors.clock import VirtualClock, share_of
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
        await gate.take_turn(self.gate.name)

    @asynccontextmanager
    async def during(self, gate: VendorGate) -> AsyncIterator[None]:
        """A slot in a secondary budget held while the request runs (an ``answered`` window
        counts the request from its answer)."""
        gate.name = gate.name or self.gate.name
        async with gate.turn():
            yield


def build_pacing(config: ZendeskConfig, sleep: Sleep | None, share: float = 1.0) -> Pacing:
    """Gates for ``config``; a given ``sleep`` makes their time virtual (see module doc).
    ``share``: this process's part of the account's budgets and job slots (worker processes);
    the export's budget is whole, as only the lead process refreshes the identity index."""
    timing = VirtualClock(sleep, share)
    return Pacing(
        # Zendesk counts both budgets per minute: a sliding window spends a fresh minute at once
        # (a small run is not paced out) and never puts more than the budget into one minute.
        # Each request counts from its answer (Zendesk saw it before): no margin for latency,
        # which cost the identity export a second a minute (Window's doc has the argument).
        gate=timing.gate(
            window=Window.per_minute(config.steady_rate, answered=True),
            max_in_flight=config.max_in_flight,
        ),
        incremental=timing.gate(
            window=Window(config.incremental_per_minute, margin=0.0, answered=True), shared=False
        ),
        single_users=timing.gate(rate_per_second=config.single_user_updates_per_second),
        jobs=asyncio.Semaphore(share_of(config.max_jobs_in_flight, share)),
        clock=timing.now,
        sleep=timing.sleep,
        retry_sleep=timing.retry_sleep,
    )
