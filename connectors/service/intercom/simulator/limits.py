"""The app's request budget, counted in 10-second windows (FACTS.md §3).

* §3.1: the per-minute budget is enforced as a sixth of it per 10-second window (1,000 a
  minute: 167 per 10 s). Only the app's budget is modelled (the simulator plays one app; the
  workspace's 25,000 a minute is never the first limit it meets).
* §3.2: authenticated answers carry ``X-RateLimit-Limit`` (the window's budget),
  ``X-RateLimit-Remaining`` and ``X-RateLimit-Reset`` (Unix time the window ends); answers to
  requests without valid credentials carry none.
* §3.3: over the budget, 429 ``rate_limit_exceeded`` "Exceeded rate limit of N in
  10_seconds", ``X-RateLimit-Remaining: 0``, no ``Retry-After``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sandbox.controls import WindowLimiter

WINDOW = 10.0


class AppBudget:
    """One app's window budget and the headers that report it."""

    def __init__(
        self, per_minute: int, monotonic: Callable[[], float], wall: Callable[[], float]
    ) -> None:
        self.per_window = math.ceil(per_minute / 6)
        self._limiter = WindowLimiter(self.per_window, WINDOW, monotonic)
        self._wall = wall

    def spend(self) -> tuple[bool, dict[str, str]]:
        """Count one request: (allowed, the headers to send with the answer)."""
        allowed, remaining, reset_in = self._limiter.hit("app")
        headers = {
            "X-RateLimit-Limit": str(self.per_window),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(self._wall() + reset_in)),
        }
        return allowed, headers

    def refusal(self) -> str:
        """The 429 message (§3.3)."""
        return f"Exceeded rate limit of {self.per_window} in 10_seconds"
