"""What every simulator shares: injected latency and faults, request records, and window limits.

``SimControls`` is mounted as pure ASGI middleware in front of a vendor app (cheap enough for
benchmarks); each vendor decides how *its* throttling looks (Zendesk 429 + Retry-After,
Salesforce 403 REQUEST_LIMIT_EXCEEDED) using :class:`WindowLimiter`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Fault:
    """A canned answer for matching requests, served ``times`` times (then the real app answers)."""

    status: int
    body: Any = None
    path_contains: str = ""
    method: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1
    delay: float = 0.0
    """Seconds to stall before answering (to provoke client timeouts)."""

    def matches(self, method: str, path: str) -> bool:
        """True when this fault applies to the request."""
        return (self.method is None or self.method == method) and self.path_contains in path


@dataclass(frozen=True)
class SeenRequest:
    """One request the simulator received (for counting in tests and benchmarks)."""

    method: str
    path: str
    query: str


class SimControls:
    """Latency, faults and request log for one simulator instance."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.faults: list[Fault] = []
        self.requests: list[SeenRequest] = []
        self.keep_log = True

    def inject(self, fault: Fault) -> None:
        """Queue a fault for the next matching request(s)."""
        self.faults.append(fault)

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        """How many requests matched."""
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and path_contains in r.path
        )

    def by_method(self) -> Counter[str]:
        """Request counts per HTTP method."""
        return Counter(r.method for r in self.requests)

    def reset_log(self) -> None:
        """Forget the requests seen so far."""
        self.requests.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.matches(method, path):
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return ``app`` behind the latency, fault and logging layer."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            method, path = scope["method"], scope["path"]
            if self.keep_log:
                query = scope.get("query_string", b"").decode("latin-1")
                self.requests.append(SeenRequest(method, path, query))
            if self.latency:
                await asyncio.sleep(self.latency)
            fault = self._take_fault(method, path)
            if fault is None:
                await app(scope, receive, send)
                return
            if fault.delay:
                await asyncio.sleep(fault.delay)
            await send_json(send, fault.status, fault.body, fault.headers)

        return middleware


async def send_json(
    send: Send, status: int, body: Any, headers: dict[str, str] | None = None
) -> None:
    """Answer a raw ASGI request with JSON (or plain text when ``body`` is a string)."""
    if isinstance(body, str):
        payload, ctype = body.encode(), "text/plain; charset=utf-8"
    else:
        payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
    raw_headers = [
        (b"content-type", ctype.encode()),
        (b"content-length", str(len(payload)).encode()),
    ]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})


class WindowLimiter:
    """Fixed-window request budget, the way most vendors count (per minute, per 10 s, per day)."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._counts: dict[str, tuple[float, int]] = {}

    def hit(self, key: str = "") -> tuple[bool, int, float]:
        """Count one request; return (allowed, remaining, seconds until the window resets)."""
        now = self._clock()
        start, used = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, used = now, 0
        reset_in = max(0.0, self.window - (now - start))
        if used >= self.limit:
            self._counts[key] = (start, used)
            return False, 0, reset_in
        self._counts[key] = (start, used + 1)
        return True, self.limit - used - 1, reset_in


class SimTime:
    """A simulator's two clocks (wall time for records, monotonic for windows and jobs), both
    movable by :meth:`pass_time`, so a test sees exports, search indexing and job expiry catch
    up without waiting."""

    def __init__(
        self, wall: Callable[[], datetime], monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.wall_base = wall
        self.monotonic_base = monotonic
        self.shift = 0.0

    def wall(self) -> datetime:
        """The account's present."""
        return self.wall_base() + timedelta(seconds=self.shift)

    def monotonic(self) -> float:
        """Seconds for windows and job timers."""
        return self.monotonic_base() + self.shift

    def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass for this simulator."""
        self.shift += seconds
