"""Service protection limits, per user over a sliding window (FACTS.md §8).

One simulated web server (a trial environment has one, §8.1) counts per user:

* requests: 6,000 in 300 s (``0x80072322``);
* combined execution time: 1,200 s in 300 s (``0x80072321``), each request costing
  ``request_seconds`` plus ``row_seconds`` per row it returns;
* concurrent requests: 52 (``0x80072326``), refused at once (§8.3).

A refused request is answered 429 with ``Retry-After`` (whole seconds) and the standard error
body (§8.2). Requests sent while a user is held lengthen the hold by ``penalty_seconds``:
"continuing to send demanding requests lengthens Retry-After" (§8.3). Every answer carries the
informational ``x-ms-ratelimit-burst-remaining-xrm-requests`` and
``x-ms-ratelimit-time-remaining-xrm-requests`` headers (§8.4; their value format is not
documented: plain numbers here, the second in milliseconds).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors.sales.dynamics.simulator.errors import (
    CONCURRENCY_LIMIT,
    EXECUTION_TIME_LIMIT,
    REQUESTS_LIMIT,
    ODataError,
)


@dataclass
class LimitSettings:
    """The limits of one web server (FACTS.md §8.1 defaults)."""

    requests: int = 6000
    execution_seconds: float = 1200.0
    concurrency: int = 52
    window: float = 300.0
    request_seconds: float = 0.02
    row_seconds: float = 0.0
    penalty_seconds: float = 1.0
    enabled: bool = True


@dataclass
class _User:
    sent: deque[float] = field(default_factory=deque)
    spent: deque[tuple[float, float]] = field(default_factory=deque)
    in_flight: int = 0
    held_until: float = 0.0


class ServiceProtection:
    """Admits or refuses each request of each user."""

    def __init__(self, settings: LimitSettings, clock: Callable[[], float]) -> None:
        self.settings = settings
        self._clock = clock
        self._users: dict[str, _User] = {}
        self.refused = 0

    def admit(self, user: str) -> None:
        """Count one request of ``user``; raise the 429 answer when a limit is reached."""
        if not self.settings.enabled:
            return
        state = self._users.setdefault(user, _User())
        now = self._clock()
        self._expire(state, now)
        limits = self.settings
        if state.held_until > now:
            state.held_until += limits.penalty_seconds
            self._refuse(state, now, *self._held_reason(state))
        if state.in_flight >= limits.concurrency:
            self._refuse(
                state,
                now,
                CONCURRENCY_LIMIT,
                f"Number of concurrent requests exceeded the limit of {limits.concurrency}.",
                hold=False,
            )
        if len(state.sent) >= limits.requests:
            state.held_until = state.sent[0] + limits.window
            self._refuse(state, now, *self._held_reason(state))
        if sum(cost for _, cost in state.spent) >= limits.execution_seconds:
            state.held_until = state.spent[0][0] + limits.window
            self._refuse(state, now, *self._held_reason(state))
        state.sent.append(now)
        state.in_flight += 1

    def finish(self, user: str, rows: int) -> None:
        """The request of ``user`` is answered; charge its execution time."""
        if not self.settings.enabled:
            return
        state = self._users.setdefault(user, _User())
        state.in_flight = max(0, state.in_flight - 1)
        cost = self.settings.request_seconds + rows * self.settings.row_seconds
        state.spent.append((self._clock(), cost))

    def headers(self, user: str) -> dict[str, str]:
        """The informational budget headers for ``user``'s answer."""
        state = self._users.setdefault(user, _User())
        self._expire(state, self._clock())
        left = max(0, self.settings.requests - len(state.sent))
        spent = sum(cost for _, cost in state.spent)
        time_left = max(0.0, self.settings.execution_seconds - spent) * 1000
        return {
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(left),
            "x-ms-ratelimit-time-remaining-xrm-requests": f"{time_left:.2f}",
        }

    def hold(self, user: str, seconds: float) -> None:
        """Make ``user`` wait ``seconds`` (tests: a window spent elsewhere)."""
        state = self._users.setdefault(user, _User())
        state.held_until = self._clock() + seconds

    def _held_reason(self, state: _User) -> tuple[str, str]:
        if sum(cost for _, cost in state.spent) >= self.settings.execution_seconds:
            return (
                EXECUTION_TIME_LIMIT,
                "Combined execution time of incoming requests exceeded limit of "
                f"{self.settings.execution_seconds * 1000:,.0f} milliseconds over time window of "
                f"{self.settings.window:.0f} seconds. Decrease number of concurrent requests or "
                "reduce the duration of requests and try again later.",
            )
        return (
            REQUESTS_LIMIT,
            f"Number of requests exceeded the limit of {self.settings.requests} over time "
            f"window of {self.settings.window:.0f} seconds.",
        )

    def _refuse(
        self, state: _User, now: float, code: str, message: str, *, hold: bool = True
    ) -> None:
        self.refused += 1
        wait = max(1, math.ceil(state.held_until - now)) if hold else 1
        raise ODataError(429, message, code, headers={"Retry-After": str(wait)})

    def _expire(self, state: _User, now: float) -> None:
        horizon = now - self.settings.window
        while state.sent and state.sent[0] <= horizon:
            state.sent.popleft()
        while state.spent and state.spent[0][0] <= horizon:
            state.spent.popleft()
