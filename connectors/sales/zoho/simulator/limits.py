"""The org's API credits (rolling 24 hours) and its concurrency limit (FACTS.md §8).

Credits per edition are the documented base (§8.1); most calls cost 1, COQL by LIMIT (§4.4).
``X-API-CREDITS-REMAINING`` is sent once half the credits are used (§8.4), on every answer
from then on, the 429 included [unverified: FACTS.md Gaps 4]. Over budget, and over the number
of simultaneous calls (§8.2), Zoho answers the same 429 ``TOO_MANY_REQUESTS`` with no
Retry-After (§8.3): a client can only tell them apart by the header.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)

EDITION_CREDITS: dict[str, int] = {
    "free": 5_000,
    "standard": 50_000,
    "professional": 50_000,
    "enterprise": 50_000,
    "ultimate": 50_000,
}
"""The base every edition starts from; per-user additions are left to ``credits`` (§8.1)."""
EDITION_CONCURRENCY: dict[str, int] = {
    "free": 5,
    "standard": 10,
    "professional": 15,
    "enterprise": 20,
    "ultimate": 25,
}

THROTTLE_BODY = {
    "code": "TOO_MANY_REQUESTS",
    "details": {},
    "message": "Number of API requests for the 24 hour period is exceeded or the concurrency "
    "limit of the user for the app is exceeded",
    "status": "error",
}
"""One body for both causes (§8.3; the message is the status-code page's description)."""


@dataclass
class Limits:
    """Credits spent in the rolling window, and calls in flight."""

    clock: Callable[[], datetime]
    credits: int = 50_000
    concurrency: int = 10
    spent: deque[tuple[datetime, int]] = field(default_factory=deque)
    in_flight: int = 0
    peak_in_flight: int = 0

    @property
    def used(self) -> int:
        """Credits spent in the last 24 hours."""
        now = self.clock()
        while self.spent and now - self.spent[0][0] >= WINDOW:
            self.spent.popleft()
        return sum(cost for _, cost in self.spent)

    @property
    def remaining(self) -> int:
        return max(0, self.credits - self.used)

    def headers(self) -> dict[str, str]:
        """``X-API-CREDITS-REMAINING`` once half the credits are used."""
        if self.used * 2 < self.credits:
            return {}
        return {"X-API-CREDITS-REMAINING": str(self.remaining)}

    def charge(self, cost: int) -> bool:
        """Spend ``cost`` credits; False (nothing spent) when they are not there."""
        if self.used + cost > self.credits:
            return False
        self.spent.append((self.clock(), cost))
        return True

    def enter(self) -> bool:
        """One more call in flight; False when the concurrency limit is reached."""
        if self.in_flight >= self.concurrency:
            return False
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    def spend_all(self) -> None:
        """Use up the rest of the window's credits (as other integrations would)."""
        left = self.remaining
        if left:
            self.spent.append((self.clock(), left))
