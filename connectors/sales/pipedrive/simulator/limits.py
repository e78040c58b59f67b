"""The two limits the simulator enforces, with Pipedrive's headers (FACTS.md §7).

* Daily token budget per company: 30,000 x plan multiplier x seats; each call costs its
  endpoint's tokens (§7.2); it resets at midnight (UTC here: the real zone is undocumented).
  Spent: every call answers 429 until the reset, with no Retry-After (§7.5: unverified).
* Burst per token in a rolling 2-second window (§7.3): past it, 429 with Retry-After (reported
  by a third party for the old limits) and ``x-ratelimit-remaining: 0``.

Headers on every API answer (§7.4): ``x-ratelimit-limit``, ``x-ratelimit-remaining``,
``x-ratelimit-reset`` (seconds until the window has room again), and ``x-daily-requests-left``
(POST/PUT left today) for API-token requests.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

PLAN_MULTIPLIER = {"lite": 1, "growth": 2, "premium": 5, "ultimate": 7}
BURST = {  # plan: (API token, OAuth app) per 2 s
    "lite": (20, 80),
    "growth": (40, 160),
    "premium": (100, 400),
    "ultimate": (120, 480),
}
WINDOW_SECONDS = 2.0
DAILY_WRITES = 10_000
"""The historic POST/PUT cap that survives as ``x-daily-requests-left`` (§7.7)."""


@dataclass
class DailyBudget:
    """Tokens the company may spend per UTC day."""

    tokens: int
    clock: Callable[[], float]
    day: str = ""
    spent: int = 0

    def spend(self, cost: int) -> bool:
        """Charge ``cost``; False (nothing charged) when the budget cannot cover it."""
        today = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%Y-%m-%d")
        if today != self.day:
            self.day, self.spent = today, 0
        if self.spent + cost > self.tokens:
            return False
        self.spent += cost
        return True


@dataclass
class BurstWindow:
    """A rolling window per token: at most ``limit`` requests in any 2 seconds."""

    limit: int
    clock: Callable[[], float]
    sent: dict[str, deque[float]] = field(default_factory=dict)

    def hit(self, token: str) -> tuple[bool, int, int]:
        """Count one request; (allowed, remaining, seconds until the window has room)."""
        now = self.clock()
        times = self.sent.setdefault(token, deque())
        while times and times[0] <= now - WINDOW_SECONDS:
            times.popleft()
        if len(times) >= self.limit:
            return False, 0, max(1, math.ceil(times[0] + WINDOW_SECONDS - now))
        times.append(now)
        reset = math.ceil(times[0] + WINDOW_SECONDS - now) if times else 0
        return True, self.limit - len(times), max(0, reset)


def headers(limit: int, remaining: int, reset: int, *, api_token: bool) -> dict[str, str]:
    """The rate-limit headers of one answer."""
    found = {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(reset),
    }
    if api_token:
        found["x-daily-requests-left"] = str(DAILY_WRITES)
    return found
