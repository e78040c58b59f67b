"""What the CRM doc-fakes share: a clock tests move by hand, a rolling window, an in-flight gate.

The fakes never read the real time: rate windows, token expiry and record timestamps all come from
the injected clock, so a test can step over a 2-second burst window or a 7-day token lifetime
instantly.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request


class Refused(Exception):
    """A request the documentation says the vendor refuses; ``message`` goes into the body."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ManualClock:
    """A UTC clock that only moves when the test says so."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


class RollingWindow:
    """Weights recorded at instants and summed over the last ``span`` seconds."""

    def __init__(self, span_seconds: float) -> None:
        self.span = timedelta(seconds=span_seconds)
        self._events: deque[tuple[datetime, float]] = deque()

    def total(self, now: datetime) -> float:
        while self._events and self._events[0][0] <= now - self.span:
            self._events.popleft()
        return sum(weight for _, weight in self._events)

    def add(self, now: datetime, weight: float = 1.0) -> None:
        self._events.append((now, weight))

    def seconds_until_room(self, now: datetime, limit: float, weight: float = 1.0) -> int:
        """Whole seconds until ``weight`` more fits under ``limit`` (at least 1)."""
        total = self.total(now)
        for at, event_weight in self._events:
            total -= event_weight
            if total + weight <= limit:
                return max(1, math.ceil((at + self.span - now).total_seconds()))
        return max(1, math.ceil(self.span.total_seconds()))

    def seconds_until_oldest_leaves(self, now: datetime) -> int:
        self.total(now)
        if not self._events:
            return math.ceil(self.span.total_seconds())
        return max(1, math.ceil((self._events[0][0] + self.span - now).total_seconds()))


class InFlight:
    """Counts requests being served; a test can hold them open to create real concurrency."""

    def __init__(self) -> None:
        self.count = 0
        self._open = asyncio.Event()
        self._open.set()
        self._changed = asyncio.Event()

    def enter(self) -> None:
        self.count += 1
        self._changed.set()

    def leave(self) -> None:
        self.count -= 1
        self._changed.set()

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    async def wait_if_held(self) -> None:
        await self._open.wait()

    async def until(self, count: int) -> None:
        """Returns once ``count`` requests are in flight (test side)."""
        while self.count < count:
            self._changed.clear()
            await self._changed.wait()


def b64url_json(value: dict[str, Any]) -> str:
    """Opaque token text for cursors and skip tokens (base64url JSON without padding)."""
    raw = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def from_b64url_json(token: str) -> dict[str, Any] | None:
    """The dict inside a token from :func:`b64url_json`, or None when it is not one."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    return decoded if isinstance(decoded, dict) else None


def parse_instant(text: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 instant with a zone (``Z`` or an offset), else None."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def whole_seconds(moment: datetime) -> datetime:
    """The vendors store modification times to the second."""
    return moment.replace(microsecond=0)


async def form_fields(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (no python-multipart needed)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
