"""ServiceNow's answers turned into dealbridge's error tree, and its rate-limit headers into pacing.

Failure envelope (FACTS.md 10.1): ``{"error": {"message": ..., "detail": ...}, "status":
"failure"}``, ``detail`` possibly empty or null. Statuses (FACTS.md 10.2): 400 a request the
instance cannot take (also: a URI that matches no API), 401 credentials, 403 an ACL, business
rule or data policy refused the operation, 404 a record missing or hidden by an ACL, 429 a
rate-limit rule denied the request (``Retry-After`` plus the ``X-RateLimit-*`` headers,
FACTS.md 9.4), 5xx the instance failed. The token endpoint answers the OAuth shape
``{"error": "invalid_client", "error_description": ...}`` (FACTS.md 1.4, assumed).

On a path that addresses one record (``/api/now/table/<table>/<sys_id>``) a 400, 403 or 404
concerns that record only: it fails alone and the others go on.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.error_table import Described, ErrorTable, Verdict, one_record_rule
from connectors.errors import BudgetExhausted, ConnectorError, RateLimited
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.record_values import unix_time
from connectors.redact import redact
from connectors.responses import header_int, json_body, short_text

ONE_RECORD = re.compile(r"/api/now/(?:v\d+/)?table/[a-z0-9_]+/[0-9a-f]{32}/?$")
"""A path addressing one record by sys_id (32 hex characters, FACTS.md 2.5)."""

RECORD_STATUSES = frozenset({400, 403, 404})

AUTH_HINT = (
    " (check the user name and password or the OAuth client id and secret, and that the "
    "integration user may use the REST API)"
)

BY_STATUS: dict[int, Verdict] = {
    401: "auth",
    403: "admin",  # an ACL refuses a table or the API: the instance admin grants access
    404: "admin",  # on a list path: no such table (plugin missing) or base_url wrong
    # 400 (also a missing API at the batch URL), 405, 406, 415: a request we built wrongly
}
"""Status -> class for everything the path rules do not settle."""


def make_classifier(
    max_throttle_wait: float, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Callable[[httpx.Response], ConnectorError | None]:
    """The classifier for one connector: a 429 asking for a longer wait than
    ``max_throttle_wait`` seconds means the hourly rule is spent, and the job waits for the
    reset instead of sleeping inside the run."""

    def throttled(response: httpx.Response, described: Described) -> ConnectorError | None:
        if response.status_code != 429:
            return None
        return _throttled(response, described.message, max_throttle_wait, now())

    table = ErrorTable(
        vendor="ServiceNow",
        describe=describe,
        by_status=BY_STATUS,
        auth_hint=AUTH_HINT,
        redirect_hint="base_url must be the instance URL, e.g. https://acme.service-now.com",
        record=one_record_rule(ONE_RECORD, RECORD_STATUSES),
        special=throttled,
    )
    return table.classify


def _throttled(
    response: httpx.Response, message: str, max_wait: float, now: datetime
) -> ConnectorError:
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    reset = header_int(response.headers.get("x-ratelimit-reset"))
    reset_at = unix_time(reset)  # None too for a count no calendar date has: no reset given
    if reset_at is None:
        reset = None
    if retry_after is None and reset is not None:
        retry_after = max(0.0, reset - now.timestamp())
    if retry_after is not None and retry_after > max_wait:
        rule = response.headers.get("x-ratelimit-rule")
        named = f"rate-limit rule {rule}" if rule else "rate-limit rule"
        # The instance's own reset time when it gives one (its hours may not be ours, 9.6).
        until = reset_at or now + timedelta(seconds=retry_after)
        return BudgetExhausted(
            f"{message}; the {named} allows no more requests before its hour resets",
            until=until,
            exact=reset is not None,
            budget="hourly REST API rate-limit rule",
            status=429,
        )
    return RateLimited(message, retry_after=retry_after, status=429)


def describe(response: httpx.Response) -> Described:
    """The instance's message (and OAuth error code), readable and secret-free."""
    status = response.status_code
    body = json_body(response)
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = _text(error.get("message")) or f"HTTP {status}"
            detail = _text(error.get("detail"))
            text = f"{message}: {detail}" if detail and detail != message else message
            return Described(redact(text))
        if isinstance(error, str):  # the OAuth token endpoint's shape
            text = _text(body.get("error_description")) or error
            return Described(redact(f"{error}: {text}" if text != error else text), error)
    return Described(short_text(response, f"ServiceNow answered HTTP {status}"))


def read_limits(response: httpx.Response) -> LimitSignal:
    """What a response says about the hourly rule: ``X-RateLimit-Limit`` (requests per hour)
    and ``X-RateLimit-Reset`` (Unix time of the next reset), on requests a rule matches; no
    ``Remaining`` is documented (FACTS.md 9.4), so the connector counts its own requests."""
    headers = response.headers
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(headers.get("retry-after"))
    reset = header_int(headers.get("x-ratelimit-reset"))
    reset_after = None
    if reset is not None:
        reset_after = max(0.0, reset - server_time(response).timestamp())
    return LimitSignal(
        limit=header_int(headers.get("x-ratelimit-limit")),
        remaining=None,
        reset_after=reset_after,
        retry_after=retry_after,
    )


def server_time(response: httpx.Response) -> datetime:
    """The instance's clock from the ``Date`` header (ours when it is missing or unreadable)."""
    raw = response.headers.get("date")
    if raw:
        try:
            when: datetime | None = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return when if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
