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

from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
    WhoActs,
)
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact

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

    def classify_answer(response: httpx.Response) -> ConnectorError | None:
        return _classify(response, time_zone, daily_recheck, clock)

    return classify_answer


CATEGORY_TABLE: dict[str, tuple[type[ConnectorError], WhoActs]] = {
    "INVALID_AUTHENTICATION": (AuthError, "admin"),
    "EXPIRED_AUTHENTICATION": (AuthError, "admin"),
    "MISSING_SCOPES": (AuthError, "admin"),
    "VALIDATION_ERROR": (PermanentError, "admin"),  # a mapped property or the select filter
    "OBJECT_NOT_FOUND": (PermanentError, "admin"),  # base_url or object type is wrong
    "CONFLICT": (PermanentError, "developer"),
    "BAD_REQUEST": (PermanentError, "developer"),
}
"""Categories HubSpot reports on 4xx answers, and who has to act on them."""

STATUS_TABLE: dict[int, tuple[type[ConnectorError], WhoActs]] = {
    401: (AuthError, "admin"),
    403: (AuthError, "admin"),  # missing scopes or a locked account: the admin grants access
    404: (PermanentError, "admin"),
    414: (PermanentError, "developer"),  # too many properties in a GET URL
}
"""Fallback by status when the body carries no known category."""


def classify(response: httpx.Response) -> ConnectorError | None:
    """Turn a HubSpot error answer into the error class that says what must happen next."""
    return _classify(response, None, 3600.0, lambda: datetime.now(UTC))


def _classify(
    response: httpx.Response,
    time_zone: str | None,
    daily_recheck: float,
    clock: Callable[[], datetime],
) -> ConnectorError | None:
    status = response.status_code
    if status < 400:
        return None
    body = json_body(response)
    text = describe(body, response)
    if status == 429:
        policy = str(body.get("policyName") or "")
        if policy.upper() == "DAILY":
            return _daily_spent(text, policy, time_zone, daily_recheck, clock())
        return RateLimited(
            text, retry_after=throttle_wait(response, body), status=429, vendor_code=policy or None
        )
    if status == 477 or status >= 500 or status == 408:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            return RateLimited(text, retry_after=retry_after, status=status)
        return TransientError(text, status=status)
    category = str(body.get("category") or "")
    cls, who = CATEGORY_TABLE.get(category) or STATUS_TABLE.get(
        status, (PermanentError, "developer")
    )
    if status in (401, 403):
        cls, who = AuthError, "admin"
    return _build(cls, text, who=who, status=status, vendor_code=category or None)


def read_limits(response: httpx.Response) -> LimitSignal:
    """Budget left in the 10-second window, and how long to back off after a 429."""
    headers = response.headers
    retry_after = None
    if response.status_code == 429:
        retry_after = throttle_wait(response, json_body(response))
    return LimitSignal(
        limit=_int(headers.get("x-hubspot-ratelimit-max")),
        remaining=_int(headers.get("x-hubspot-ratelimit-remaining")),
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


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in the body, or an empty dict for HTML, text or a JSON non-object."""
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


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


def _build(
    cls: type[ConnectorError], text: str, *, who: WhoActs, status: int, vendor_code: str | None
) -> ConnectorError:
    if issubclass(cls, PermanentError):
        return cls(text, who_acts=who, status=status, vendor_code=vendor_code)
    return cls(text, status=status, vendor_code=vendor_code)


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
    millis = _int(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    return millis / 1000 if millis else None


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None
