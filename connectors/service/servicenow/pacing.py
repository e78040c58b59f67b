"""Request budgets: the instance's per-hour rate-limit rule, counted on our side.

ServiceNow limits inbound REST requests by rules an admin creates, **per hour** per user, role
or everyone (FACTS.md 9.1-9.2). Responses to requests a rule matches carry
``X-RateLimit-Limit`` and ``X-RateLimit-Reset`` but no ``Remaining`` (9.4), and each node
commits its counts to the database only every 30 seconds (9.3): the instance cannot stop a
client that goes over in time, and once the committed count passes the limit it denies every
request (429) until the hour resets. So the connector keeps its own count of the last hour and
never plans more than ``hourly_share`` of the limit: the configured ``requests_per_hour`` or
the limit the instance reports, whichever is lower. A sliding hour never puts more requests
into any hour than the limit, whether the instance's hours are clock-aligned or rolling
(undocumented, 9.6).

When the hour's share is spent and the wait for room is longer than ``max_throttle_wait``,
the run stops with ``BudgetExhausted`` (the job is held until then) instead of sleeping.

``ConnectorOptions.sleep`` is the test seam: when given, time is virtual (real monotonic time
plus everything slept through it), so an hour of pacing costs a test nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from connectors.clock import VirtualClock
from connectors.errors import BudgetExhausted
from connectors.ratelimit import Sleep, VendorGate
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.waits import announce_wait

HOUR = 3600.0
MARGIN = 2.0
"""Seconds added to the window for latency and clock skew between our sends and the count."""


class HourlyBudget:
    """Requests sent in the last hour, held under ``share`` of the rule's limit."""

    def __init__(
        self,
        *,
        configured: int | None,
        share: float,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Sleep,
        name: str = "",
    ) -> None:
        self.configured = configured
        self.seen: int | None = None
        self.rule: str | None = None
        self._share = share
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.name = name

    @property
    def limit(self) -> int | None:
        """Requests dealbridge may send in any hour (None: no rule known)."""
        known = [n for n in (self.configured, self.seen) if n is not None]
        if not known:
            return None
        return max(1, int(min(known) * self._share))

    def adopt(self, limit: int | None, rule: str | None = None) -> None:
        """Take the limit the instance reported for the rule that matched a request."""
        if limit is not None and limit > 0:
            self.seen = limit if self.seen is None else min(self.seen, limit)
            self.rule = rule or self.rule

    def spent(self) -> int:
        """Requests counted in the last hour."""
        self._forget(self._clock())
        return len(self._sent)

    async def spend(self, count: int = 1) -> None:
        """Wait until ``count`` more requests fit into the hour, then count them."""
        async with self._lock:
            for _ in range(3):  # re-check after sleeping; a test's sleep moves virtual time
                wait = self._wait(count)
                if wait <= 0:
                    break
                if wait > self._max_wait:
                    raise BudgetExhausted(
                        f"dealbridge's share of the hourly rate-limit rule ({self.limit} of "
                        f"{self._rule_limit()} requests) is spent",
                        until=datetime.now(UTC) + timedelta(seconds=wait),
                        exact=False,
                        budget="hourly REST API rate-limit rule",
                        connector=self.name,
                    )
                announce_wait(self.name, wait)
                await self._sleep(wait)
            now = self._clock()
            self._sent.extend([now] * count)

    def _wait(self, count: int) -> float:
        limit = self.limit
        now = self._clock()
        self._forget(now)
        if limit is None or len(self._sent) + count <= limit or not self._sent:
            return 0.0
        # The oldest sends that must age out before ``count`` more fit.
        index = min(len(self._sent) - 1, len(self._sent) + count - limit - 1)
        return self._sent[index] + HOUR + MARGIN - now

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - HOUR - MARGIN:
            self._sent.popleft()

    def _rule_limit(self) -> str:
        known = [n for n in (self.configured, self.seen) if n is not None]
        return str(min(known)) if known else "?"


@dataclass(frozen=True)
class Pacing:
    """The gate (in-flight cap, Retry-After), the hourly budget and the sleeper."""

    gate: VendorGate
    hourly: HourlyBudget
    clock: Callable[[], float]
    sleep: Sleep
    retry_sleep: Sleep | None
    """What the HTTP client's retries sleep with (None: tenacity's own asyncio sleep)."""


def build_pacing(
    config: ServiceNowConfig, sleep: Sleep | None, name: str = "", share: float = 1.0
) -> Pacing:
    """Gates for ``config``; a given ``sleep`` makes their time virtual (see module doc).
    ``share``: this process's part of the budgets (worker processes spend them together)."""
    timing = VirtualClock(sleep, share)
    gate = timing.gate(rate_per_second=config.rate_per_second, max_in_flight=config.max_in_flight)
    hourly = HourlyBudget(
        configured=config.requests_per_hour,
        share=config.hourly_share * share,
        max_wait=config.max_throttle_wait,
        clock=timing.now,
        sleep=timing.sleep,
        name=name,
    )
    return Pacing(
        gate=gate,
        hourly=hourly,
        clock=timing.now,
        sleep=timing.sleep,
        retry_sleep=timing.retry_sleep,
    )
