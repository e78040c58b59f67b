"""HubSpot answers -> typed errors, and HubSpot's rate-limit headers -> pacing signals.

Error bodies (HubSpot "Error" schema, spec collection @9989379; error-handling guide):
``{"status": "error", "message": ..., "correlationId": ..., "category": ...,
"subCategory"?, "errors"?: [{"message", "code", "context", "in"}], "context"?, "links"?}``.
The guide says every field is optional, so nothing here assumes one is present.

Throttling (changelog "increasing our API limits"; usage guidelines): HTTP 429 with
``{"errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING" | "SECONDLY" | "DAILY", ...}``.
Non-search responses carry ``X-HubSpot-RateLimit-Max / -Remaining / -Interval-Milliseconds``
(and ``-Daily / -Daily-Remaining`` for private apps); search responses carry none of them.

Choices:

* ``TEN_SECONDLY_ROLLING`` waits Retry-After if sent, else one whole interval
  (``-Interval-Milliseconds``, 10 s by default): the window rolls, so one interval always frees it.
* ``SECONDLY`` (search: about 5 requests per second per account) waits one second.
* ``DAILY`` is :class:`~connectors.errors.BudgetExhausted`: the budget refills at midnight in
  the account's time zone, hours away, so retrying inside this run only burns time; the job
  stops, alerts once, and waits until that midnight (``account_time_zone``; without it, it is
  tried again after ``daily_limit_recheck``), then resumes from the stored cursor.
* 477 "migration in progress" is transient and honours Retry-After.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from connectors.error_table import Described, ErrorTable, Verdict
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    RateLimited,
    TransientError,
)
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int, json_object

DEFAULT_INTERVAL_SECONDS = 10.0
SECONDLY_WAIT = 1.0


Classifier = Callable[[httpx.Response], ConnectorError | None]


def next_midnight(now: datetime, zone: str) -> datetime:
    """The next midnight in ``zone`` after ``now``, in UTC (when HubSpot's daily budget refills)."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=local.tzinfo)
    return midnight.astimezone(UTC)


def make_classifier(
    time_zone: str | None = None,
    daily_recheck: float = 3600.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Classifier:
    """:func:`classify` with the account's time zone, for the daily budget's reset time."""
    return _table(time_zone, daily_recheck, clock).classify


CATEGORY_TABLE: dict[str, Verdict] = {
    "INVALID_AUTHENTICATION": "auth",
    "EXPIRED_AUTHENTICATION": "auth",
    "MISSING_SCOPES": "auth",
    "VALIDATION_ERROR": "admin",  # a mapped property or the select filter
    "OBJECT_NOT_FOUND": "admin",  # base_url or object type is wrong
    "CONFLICT": "developer",
    "BAD_REQUEST": "developer",
}
"""Categories HubSpot reports on 4xx answers, and who has to act on them."""

STATUS_TABLE: dict[int, Verdict] = {
    404: "admin",
    414: "developer",  # too many properties in a GET URL
}
"""Fallback by status when the body carries no known category (401 and 403 are always the
admin's credentials or scopes, whatever the category: see ``_special``)."""


def _table(
    time_zone: str | None, daily_recheck: float, clock: Callable[[], datetime]
) -> ErrorTable:
    def special(answer: httpx.Response, described: Described) -> ConnectorError | None:
        return _special(answer, described, time_zone, daily_recheck, clock)

    return ErrorTable(
        vendor="HubSpot",
        describe=_described,
        by_status=STATUS_TABLE,
        by_code=CATEGORY_TABLE,
        redirect_hint=None,  # a redirect is not an error here
        special=special,
    )


def _described(response: httpx.Response) -> Described:
    body = json_object(response)
    return Described(describe(body, response), str(body.get("category") or "") or None)


def _special(
    response: httpx.Response,
    described: Described,
    time_zone: str | None,
    daily_recheck: float,
    now: Callable[[], datetime],
) -> ConnectorError | None:
    """Throttling (the daily budget apart), outages, and credentials or scopes refused."""
    status, text = response.status_code, described.message
    if status == 429:
        body = json_object(response)
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return _daily_spent(text, policy, time_zone, daily_recheck, now())
        return RateLimited(
            text, retry_after=throttle_wait(response, body), status=429, vendor_code=policy or None
        )
    if status == 477 or status >= 500 or status == 408:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            return RateLimited(text, retry_after=retry_after, status=status)
        return TransientError(text, status=status)
    if status in (401, 403):
        return AuthError(text, status=status, vendor_code=described.code)
    return None


def read_limits(response: httpx.Response) -> LimitSignal:
    """Budget left in the 10-second window, and how long to back off after a 429."""
    headers = response.headers
    retry_after = None
    if response.status_code == 429:
        retry_after = throttle_wait(response, json_object(response))
    return LimitSignal(
        limit=header_int(headers.get("x-hubspot-ratelimit-max")),
        remaining=header_int(headers.get("x-hubspot-ratelimit-remaining")),
        reset_after=_interval_seconds(headers),
        retry_after=retry_after,
    )


def throttle_wait(response: httpx.Response, body: dict[str, Any]) -> float | None:
    """Seconds to wait after a 429, by policy; None for DAILY (not worth waiting in-run)."""
    policy = str(body.get("policyName") or "").upper()
    if policy == "DAILY":
        return None
    header = parse_retry_after(response.headers.get("retry-after"))
    if header is not None:
        return header
    if policy == "TEN_SECONDLY_ROLLING":
        return _interval_seconds(response.headers) or DEFAULT_INTERVAL_SECONDS
    return SECONDLY_WAIT


def describe(body: dict[str, Any], response: httpx.Response) -> str:
    """The vendor's own message, with the scopes it asks for and its correlation id."""
    message = str(body.get("message") or "").strip() or _short_text(response)
    scopes = _required_scopes(body)
    if scopes:
        message += f" (grant the scopes: {', '.join(scopes)})"
    correlation = body.get("correlationId")
    if correlation:
        message += f" [correlationId {correlation}]"
    return redact(message)


def _daily_spent(
    text: str, policy: str, time_zone: str | None, recheck: float, now: datetime
) -> BudgetExhausted:
    if time_zone is not None:
        until, exact = next_midnight(now, time_zone), True
        where = time_zone
    else:
        until, exact = now + timedelta(seconds=recheck), False
        where = "the account's time zone (set account_time_zone to know when)"
    return BudgetExhausted(
        f"{text}; the daily budget refills at midnight in {where}",
        until=until,
        exact=exact,
        status=429,
        vendor_code=policy,
    )


def _required_scopes(body: dict[str, Any]) -> list[str]:
    found: list[str] = []
    contexts = [body.get("context")] + [e.get("context") for e in _details(body)]
    for context in contexts:
        if not isinstance(context, dict):
            continue
        for key in ("requiredGranularScopes", "requiredScopes", "missingScopes"):
            values = context.get(key)
            if isinstance(values, list):
                found += [str(v) for v in values if str(v) not in found]
    return found


def _details(body: dict[str, Any]) -> list[dict[str, Any]]:
    errors = body.get("errors")
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def _short_text(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = " ".join(response.text.split())
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        text = ""
    return text[:limit] or f"HTTP {response.status_code} with no message"


def _interval_seconds(headers: httpx.Headers) -> float | None:
    millis = header_int(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    return millis / 1000 if millis else None


classify = _table(None, 3600.0, lambda: datetime.now(UTC)).classify
"""Turn a HubSpot error answer into the error class that says what must happen next."""
