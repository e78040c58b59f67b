"""What both service-desk fakes share: a movable clock, per-minute budgets, Basic auth, a log.

Nothing here is vendor behaviour; each vendor module names the documented rule it builds
from these parts.
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from starlette.requests import Request


class FakeClock:
    """Wall time plus an offset that tests (and the connector's injected sleep) move forward.

    The connector reads the real clock when it builds a ``start_time``; basing the fake on the
    real clock keeps both sides in agreement, while ``advance`` lets a test say "a minute
    later" without sleeping.
    """

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    async def sleep(self, seconds: float) -> None:
        """The sleep handed to the connector: records the wait and moves time on at once."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))


class MinuteBudget:
    """A sliding one-minute request budget; answers how long to wait when it is spent."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._hits: deque[float] = deque()

    def _forget_old(self, now: float) -> None:
        while self._hits and now - self._hits[0] >= 60.0:
            self._hits.popleft()

    def take(self, now: float) -> int | None:
        """Count one request; ``None`` when allowed, else whole seconds until a slot frees."""
        self._forget_old(now)
        if len(self._hits) >= self.limit:
            return max(1, math.ceil(60.0 - (now - self._hits[0])))
        self._hits.append(now)
        return None

    def remaining(self, now: float) -> int:
        self._forget_old(now)
        return max(0, self.limit - len(self._hits))

    def resets_in(self, now: float) -> int:
        self._forget_old(now)
        return math.ceil(60.0 - (now - self._hits[0])) if self._hits else 60


@dataclass
class Throttle:
    """Forced 429s a test asks for: the next ``count`` requests are refused for ``seconds``."""

    count: int = 0
    seconds: int = 1


class Call(NamedTuple):
    method: str
    path: str
    query: str
    status: int


@dataclass
class RequestLog:
    """Every request the fake answered, and every documented limit the client broke."""

    calls: list[Call] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def to(self, path_prefix: str, method: str = "GET") -> list[Call]:
        return [c for c in self.calls if c.method == method and c.path.startswith(path_prefix)]

    def refused(self, status: int = 429) -> list[Call]:
        return [c for c in self.calls if c.status == status]


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """User name and password of an ``Authorization: Basic`` header, or ``None``."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def iso(epoch: float) -> str:
    """``2026-01-02T03:04:05Z``: the UTC second form both vendors print."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def strip_json_suffix(path: str) -> str:
    """Both vendors' examples use paths with and without ``.json``; the fakes accept both."""
    return path.removesuffix(".json")
