"""HubSpot's request limits as the fake enforces them, with the headers and 429 bodies.

Sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md):

* Burst: a rolling ten-second window per app and account, 100/10 s (Free/Starter) or 190/10 s
  (Professional/Enterprise) for private apps (changelog "increasing-our-api-limits", sales-apis.md
  s.2). Over it: HTTP 429 with ``policyName: TEN_SECONDLY_ROLLING``.
* Daily: 250,000 / 650,000 / 1,000,000 calls per day for private apps, reset at midnight in the
  account's time zone (the usage endpoint's ``resetsAt``, developers.hubspot.com
  .../account-information/get-usage-details). OAuth calls have no daily limit and carry no
  ``-Daily`` headers (changelog "rate-limit-headers-will-now-appear-for-oauth-authenticated-calls").
  Over it: 429 ``policyName: DAILY``.
* Search: about five requests per second per account (activepieces PR #10160 quoting the search
  guide; four per token in the older changelog "crm-search-api-rate-limit-increase"); search
  answers carry no X-HubSpot-RateLimit headers (reported; the connector's docstring cites the same
  community sources). Which ``policyName`` a search 429 carries is not documented; SECONDLY is
  used.
* Headers on other answers: ``X-HubSpot-RateLimit-Max``, ``-Remaining``,
  ``-Interval-Milliseconds``, and for private apps ``-Daily``, ``-Daily-Remaining`` (changelog
  "2018-11-06-rate-limit-information-headers"; sales-apis.md s.2 [R/M]). The ``-Secondly``
  pair is not modelled.
* 429 body: ``{"status": "error", "message": "You have reached your <policy> limit.",
  "errorType": "RATE_LIMIT", "correlationId", "policyName"}`` (tests/fixtures/hubspot/
  error_429_*.json, from HGData/mk-node-hubspot #84/#89 and hubspot-api-nodejs #416). No
  Retry-After header is documented, so none is sent.
* A refused (429) call does not count against the limits [assumed].
"""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

Policy = Literal["TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"]

_MESSAGES: dict[Policy, str] = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}


def rate_limit_body(policy: Policy) -> dict[str, Any]:
    """The 429 body for ``policy``."""
    return {
        "status": "error",
        "message": _MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": uuid.uuid4().hex,
    }


@dataclass
class Limits:
    """Counters for one account; ``check`` is asked before each call."""

    burst_max: int = 190
    burst_window: timedelta = timedelta(seconds=10)
    daily_max: int = 650_000
    search_per_second: int = 5
    account_timezone: timezone = UTC
    _burst: deque[datetime] = field(default_factory=deque)
    _search: deque[datetime] = field(default_factory=deque)
    _daily: int = 0
    _day: Any = None

    def _roll(self, now: datetime) -> None:
        while self._burst and self._burst[0] <= now - self.burst_window:
            self._burst.popleft()
        while self._search and self._search[0] <= now - timedelta(seconds=1):
            self._search.popleft()
        day = now.astimezone(self.account_timezone).date()
        if day != self._day:
            self._day, self._daily = day, 0

    def spend_daily(self, calls: int, now: datetime) -> None:
        """Other apps of the account used ``calls`` of today's allowance."""
        self._roll(now)
        self._daily += calls

    def check(self, now: datetime, *, is_search: bool, daily_applies: bool) -> Policy | None:
        """The policy that refuses this call, or None after counting it."""
        self._roll(now)
        if daily_applies and self._daily >= self.daily_max:
            return "DAILY"
        if is_search:
            if len(self._search) >= self.search_per_second:
                return "SECONDLY"
            self._search.append(now)
        elif len(self._burst) >= self.burst_max:
            return "TEN_SECONDLY_ROLLING"
        else:
            self._burst.append(now)
        self._daily += 1
        return None

    def headers(self, *, daily_applies: bool) -> dict[str, str]:
        """Rate-limit headers for a non-search answer."""
        headers = {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(
                int(self.burst_window.total_seconds() * 1000)
            ),
            "X-HubSpot-RateLimit-Max": str(self.burst_max),
            "X-HubSpot-RateLimit-Remaining": str(max(0, self.burst_max - len(self._burst))),
        }
        if daily_applies:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily_max)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                max(0, self.daily_max - self._daily)
            )
        return headers
