"""Inbound REST rate-limit rules as an instance enforces them (FACTS.md section 9).

* A rule limits requests **per hour** per user for a REST resource (here ``table`` for the
  Table API, ``batch`` for the Batch API); with several matching rules the lowest limit
  applies (9.1-9.2).
* **Counts are committed every 30 seconds** (9.3): each request adds to the node's pending
  count, which is written to the shared count only every 30 s, and a request is refused only
  once the *committed* count has reached the limit. A client can therefore go over the limit
  inside a 30-second window, and is then refused until the hour resets.
* Requests a rule matches carry ``X-RateLimit-Limit`` (per hour), ``X-RateLimit-Reset`` (Unix
  time of the next reset) and ``X-RateLimit-Rule`` (the rule's sys_id); no ``Remaining``
  (9.4). A refused request: 429, ``Retry-After`` seconds and the failure envelope.
* The hour is clock-aligned here (undocumented, 9.6; clients should trust
  ``X-RateLimit-Reset``); changing a rule's limit resets its count (9.5).
* Whether a Batch API call counts once or once per item is undocumented (8.6):
  ``batch_counts_items`` chooses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.service.servicenow.simulator.store import new_sys_id

COMMIT_EVERY = 30.0
RESOURCE_LABELS = {"table": "Table API", "batch": "Batch API"}


@dataclass
class RateRule:
    """One rule of ``sys_rate_limit_rules``."""

    limit: int
    resources: frozenset[str] = frozenset({"table", "batch"})
    sys_id: str = field(default_factory=new_sys_id)


@dataclass(frozen=True)
class Verdict:
    """Whether a request may run, and the headers it carries."""

    allowed: bool
    headers: dict[str, str]
    retry_after: int = 0
    body: dict[str, Any] | None = None


class RateLimits:
    """The instance's rules and per-user counts (pending and committed)."""

    def __init__(
        self,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float],
        *,
        batch_counts_items: bool = False,
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self.batch_counts_items = batch_counts_items
        self.rules: list[RateRule] = []
        self._pending: dict[tuple[str, str], int] = {}
        self.committed: dict[tuple[str, str], int] = {}
        self._last_commit = monotonic()
        self._hour = self._hour_of(wall())

    def add(self, rule: RateRule) -> RateRule:
        """Create a rule (counting starts at zero)."""
        self.rules.append(rule)
        return rule

    def set_limit(self, rule: RateRule, limit: int) -> None:
        """Change a rule's limit: its counts go back to zero for this hour (9.5)."""
        rule.limit = limit
        for key in [k for k in (*self._pending, *self.committed) if k[0] == rule.sys_id]:
            self._pending.pop(key, None)
            self.committed.pop(key, None)

    def check(self, resource: str, user: str, cost: int = 1) -> Verdict:
        """Count one request (``cost`` units) of ``user`` against the rule for ``resource``."""
        self._roll()
        matching = [r for r in self.rules if resource in r.resources]
        if not matching:
            return Verdict(True, {})
        rule = min(matching, key=lambda r: r.limit)
        key = (rule.sys_id, user)
        reset = self._next_reset()
        headers = {
            "X-RateLimit-Limit": str(rule.limit),
            "X-RateLimit-Reset": str(reset),
            "X-RateLimit-Rule": rule.sys_id,
        }
        if self.committed.get(key, 0) >= rule.limit:
            wait = max(1, math.ceil(reset - self._wall().timestamp()))
            label = RESOURCE_LABELS.get(resource, resource)
            body = {
                "error": {
                    "message": "Rate limit exceeded",
                    "detail": f"Rate limit of {rule.limit} requests per hour for {label} exceeded",
                },
                "status": "failure",
            }
            return Verdict(False, headers | {"Retry-After": str(wait)}, wait, body)
        self._pending[key] = self._pending.get(key, 0) + cost
        return Verdict(True, headers)

    def counted(self, user: str) -> int:
        """Requests of ``user`` counted this hour (pending and committed) under any rule."""
        self._roll()
        keys = {*self._pending, *self.committed}
        return sum(self._pending.get(k, 0) + self.committed.get(k, 0) for k in keys if k[1] == user)

    def _roll(self) -> None:
        hour = self._hour_of(self._wall())
        if hour != self._hour:
            self._hour = hour
            self._pending.clear()
            self.committed.clear()
            self._last_commit = self._monotonic()
            return
        now = self._monotonic()
        if now - self._last_commit >= COMMIT_EVERY:
            for key, count in self._pending.items():
                self.committed[key] = self.committed.get(key, 0) + count
            self._pending.clear()
            self._last_commit = now

    def _next_reset(self) -> int:
        return (self._hour + 1) * 3600

    @staticmethod
    def _hour_of(moment: datetime) -> int:
        return int(moment.astimezone(UTC).timestamp()) // 3600
