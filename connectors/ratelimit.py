"""Per-connector request gate: the documented budget (a token bucket for a steady rate, or a
sliding window for "N requests per minute"), a cap on requests in flight, and a shared
``blocked_until`` deadline raised by the vendor's own signals.

No rate-limit library adapts to the server's headers (Retry-After, remaining = 0 with a reset)
or takes an injected clock (the tests' virtual time), so that part is here; the bucket and the
window are a few lines each and keep the gate dependency-free.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from connectors.waits import announce_wait

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


LONGEST_RETRY_AFTER = 86_400.0
"""The longest wait a Retry-After is taken for: no budget these vendors document takes longer
than a day to refill, and a longer (or infinite) wait, held in the gate, would stop the
connector for good. The vendor is asked again after it, and says so again if it must."""


@dataclass(frozen=True)
class LimitSignal:
    """What one response said about the vendor's budget (any part may be unknown)."""

    limit: int | None = None
    remaining: int | None = None
    reset_after: float | None = None
    """Seconds until the budget refills."""
    retry_after: float | None = None
    """Seconds the vendor told us to wait (429 Retry-After)."""


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests in any ``seconds``: a vendor's "N per minute" budget.

    Unlike a token bucket, a sliding window spends a fresh budget at once (a small run is not
    paced out over the minute) and can never put more than ``limit`` requests into one of the
    vendor's fixed minutes. ``margin`` widens the window for latency and clock skew between our
    send times and the vendor's arrival times.

    ``answered``: each request counts from when its answer came, not from when it was sent
    (a request in flight counts too). The vendor saw it between the two, so no ``limit + 1``
    requests can reach the vendor within any ``seconds`` without a margin, however long
    each one took: the next request in a slot is sent ``seconds`` after the answer that
    freed it, so it arrives after that too. Measured on our clock alone; a clock running a
    few parts per million apart from the vendor's moves a minute by microseconds."""

    limit: int
    seconds: float = 60.0
    margin: float = 1.0
    answered: bool = False

    def shared(self, share: float) -> Window:
        """This window's part for a process spending ``share`` of the budget (at least one
        request, rounded down: the processes' parts never add up to more than the budget)."""
        if share >= 1.0:
            return self
        return dataclasses.replace(self, limit=max(1, int(self.limit * share)))

    @classmethod
    def per_minute(cls, rate_per_second: float, *, answered: bool = False) -> Window:
        """The minute's budget of a documented rate (at least one request); ``answered``:
        counted from each answer, without a margin (see the class doc)."""
        limit = max(1, round(rate_per_second * 60))
        return cls(limit, margin=0.0, answered=True) if answered else cls(limit)


class VendorGate:
    """Paces one connector instance's requests; every caller waits out a vendor's back-off."""

    def __init__(
        self,
        *,
        rate_per_second: float | None = None,
        burst: int = 1,
        window: Window | None = None,
        max_in_flight: int = 8,
        low_water: int = 1,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if window is not None and rate_per_second is not None:
            raise ValueError("pace by rate_per_second or by window, not both")
        self._rate = rate_per_second
        self._window = window
        self._sent: deque[float] = deque()
        """When each request of the window was sent (or answered, for an ``answered`` one)."""
        self._unanswered = 0
        """Requests of an ``answered`` window in flight: they count until their answer."""
        self._answer = asyncio.Event()
        """Set when a request of an ``answered`` window is answered."""
        self._burst = max(1, burst)
        self._tokens = float(self._burst)
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._blocked_until = 0.0
        self._low_water = low_water
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._lock = asyncio.Lock()
        self.last_signal = LimitSignal()
        self.name = ""
        """The connector this gate paces (set by its client), named when it announces a wait."""

    @property
    def blocked_for(self) -> float:
        """Seconds every caller still has to wait because the vendor asked us to."""
        return max(0.0, self._blocked_until - self._clock())

    async def acquire(self) -> None:
        """Wait for a slot: vendor back-off first, then the steady rate, then in-flight room."""
        async with self._lock:
            while self._all_in_flight():  # a slot frees only when an answer comes
                self._answer.clear()
                await self._answer.wait()
            # Re-check after every sleep: another caller's answer may have raised the block
            # meanwhile, and a request sent before it ends would be spent on a 429.
            while (wait := self._wait_needed()) > 0:
                announce_wait(self.name, wait)
                await self._sleep(wait)
            if self._rate is not None:
                self._tokens -= 1
            if self._window is not None and self._window.answered:
                self._unanswered += 1
            elif self._window is not None:
                self._sent.append(self._clock())
        await self._in_flight.acquire()

    def release(self) -> None:
        """Give back the in-flight slot taken by :meth:`acquire` (the request was answered,
        or failed: an ``answered`` window counts it from now)."""
        self._in_flight.release()
        if self._window is not None and self._window.answered:
            self._unanswered -= 1
            self._sent.append(self._clock())
            self._answer.set()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """One request's slot, held until the request is answered (or failed)."""
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    async def take_turn(self, name: str = "") -> None:
        """Spend one unit of a secondary budget (an endpoint's own cap) and give the slot back
        at once: the request itself is paced by the main gate. ``name`` is the connector the
        wait is announced for when this gate has none yet."""
        self.name = self.name or name
        await self.acquire()
        self.release()

    def observe(self, signal: LimitSignal) -> None:
        """Feed the vendor's view of our budget back into the pacing."""
        self.last_signal = signal
        now = self._clock()
        if signal.retry_after is not None:
            self.block_for(signal.retry_after, now=now)
        elif (
            signal.remaining is not None
            and signal.remaining <= self._low_water
            and signal.reset_after is not None
        ):
            self.block_for(signal.reset_after, now=now)

    def block_for(self, seconds: float, *, now: float | None = None) -> None:
        """Hold every caller for ``seconds``, at most :data:`LONGEST_RETRY_AFTER` (never
        shortens an existing block). A budget's reset a vendor's header puts years away is
        not waited for: the vendor is asked again after a day."""
        start = self._clock() if now is None else now
        seconds = 0.0 if math.isnan(seconds) else min(max(0.0, seconds), LONGEST_RETRY_AFTER)
        self._blocked_until = max(self._blocked_until, start + seconds)

    def _wait_needed(self) -> float:
        now = self._clock()
        if now < self._blocked_until:
            return self._blocked_until - now
        if self._window is not None:
            return self._window_wait(now, self._window)
        if self._rate is None:
            return 0.0
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1:
            return 0.0
        return (1 - self._tokens) / self._rate

    def _window_wait(self, now: float, window: Window) -> float:
        span = window.seconds + window.margin
        # A slot expires at ``sent + span``: the same sum decides both whether it has expired
        # and how long to wait for it. (``sent <= now - span`` rounds differently: a slot
        # could then be kept while its wait came out as zero, letting a request through.)
        while self._sent and self._sent[0] + span <= now:
            self._sent.popleft()
        if len(self._sent) + self._unanswered < window.limit or not self._sent:
            return 0.0  # room, or every slot in flight (acquire waits for an answer first)
        return self._sent[0] + span - now

    def _all_in_flight(self) -> bool:
        window = self._window
        return window is not None and window.answered and self._unanswered >= window.limit


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3); return seconds to wait,
    at most :data:`LONGEST_RETRY_AFTER` (None for a value that is neither, NaN included)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float | None
    try:
        seconds = float(text)
    except ValueError:
        seconds = _seconds_until(text, now)
    if seconds is None or math.isnan(seconds):  # NaN is not a wait
        return None
    return min(max(0.0, seconds), LONGEST_RETRY_AFTER)


def _seconds_until(http_date: str, now: float | None) -> float | None:
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(http_date).timestamp()
    except (TypeError, ValueError, OverflowError):
        return None
    return when - (time.time() if now is None else now)
