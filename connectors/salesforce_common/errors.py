"""Salesforce answers, sorted into dealbridge's error tree, and the API budget it reports.

REST errors are a JSON array of ``{"message", "errorCode", "fields"}`` (REST API guide,
"Status Codes and Error Responses"; restforce fixtures ``query_error_response.json``,
``expired_session_response.json``). The throttle is HTTP **403** with ``REQUEST_LIMIT_EXCEEDED``
and no Retry-After (same page), for two different limits (shared/vendor-apis/sales-apis.md
section 1, "Limits, throttling, errors"):

* the org's **rolling 24-hour allocation** (``TotalRequests Limit exceeded.``; the
  ``Sforce-Limit-Info`` header then reads ``api-usage=M/M``). The org is "blocked from making
  additional calls until usage for the preceding 24 hours drops below the limit" (Salesforce's
  words, as quoted on its answers forum): no fixed reset time, capacity returns as calls age
  out of the window. It becomes :class:`BudgetExhausted`, tried again after
  ``daily_limit_recheck`` (one refused request an hour, instead of one a minute);
* the **concurrent** long-request limit (25 requests of 20 s or more;
  ``ConcurrentPerOrgLongTxn Limit exceeded.``) frees within seconds: :class:`RateLimited`
  with a configured wait.

The OAuth token endpoint answers ``{"error", "error_description"}`` instead (restforce
``auth_error_response.json``). Every response carries ``Sforce-Limit-Info: api-usage=N/M``
(REST API guide, "Limit Info Header").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.error_table import Described, ErrorFactory, ErrorTable, Verdict
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from connectors.http import default_limits
from connectors.ratelimit import LimitSignal
from connectors.redact import redact
from connectors.responses import json_body

ERROR_CODES: dict[str, Verdict] = {
    # Credentials and permissions: an admin renews or grants them.
    **dict.fromkeys(
        (
            "INVALID_SESSION_ID",
            "INSUFFICIENT_ACCESS",
            "INSUFFICIENT_ACCESS_OR_READONLY",
            "API_DISABLED_FOR_ORG",
            "API_CURRENTLY_DISABLED",
            "INVALID_OPERATION_WITH_EXPIRED_PASSWORD",
        ),
        "auth",
    ),
    # The query names something the org does not have: the mapping or select needs fixing.
    **dict.fromkeys(
        (
            "INVALID_FIELD",
            "MALFORMED_QUERY",
            "INVALID_TYPE",
            "INVALID_QUERY_FILTER_OPERATOR",
            "NOT_FOUND",
            "FUNCTIONALITY_NOT_ENABLED",
            "OPERATION_TOO_LARGE",
        ),
        "admin",
    ),
    "EXCEEDED_ID_LIMIT": "developer",
    # Salesforce-side hiccups: the same request later is expected to work.
    **dict.fromkeys(
        (
            "QUERY_TIMEOUT",
            "SERVER_UNAVAILABLE",
            "UNABLE_TO_LOCK_ROW",
            "UNKNOWN_EXCEPTION",
            "INVALID_QUERY_LOCATOR",
        ),
        "transient",
    ),
}
"""errorCode -> who acts. REQUEST_LIMIT_EXCEEDED is handled apart because it needs a wait."""


def _access_refused(message: str, status: int, code: str | None, _: str | None) -> ConnectorError:
    return AuthError(f"access refused: {message}", status=status, vendor_code=code)


def _url_too_long(message: str, status: int, code: str | None, _: str | None) -> ConnectorError:
    return PermanentError(
        f"query too long for the URL limit (16,384 bytes); map fewer fields: {message}",
        who_acts="admin",
        status=status,
        vendor_code=code,
    )


BY_STATUS: dict[int, Verdict | ErrorFactory] = {
    401: "auth",
    403: _access_refused,
    408: "transient",
    414: _url_too_long,
    431: _url_too_long,
}
"""Status -> class for what the errorCode does not settle."""

THROTTLE_CODE = "REQUEST_LIMIT_EXCEEDED"
DAILY_TOTAL_MESSAGE = "TotalRequests"
"""How the 24-hour allocation's refusal names itself (the concurrent limit says otherwise)."""

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def vendor_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``[{message, errorCode, fields}]`` items of an error body (empty when not JSON)."""
    body = json_body(response)
    if isinstance(body, dict):
        body = [body]
    return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []


def describe_error(item: dict[str, Any]) -> str:
    """The vendor's own words, plus the fields it names (``message [fields: A, B]``)."""
    message = " ".join(str(item.get("message") or "no message").split())
    fields = item.get("fields")
    if isinstance(fields, list) and fields:
        message += f" [fields: {', '.join(map(str, fields))}]"
    return redact(message)


def make_classifier(
    throttle_wait: float,
    daily_recheck: float = 3600.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[httpx.Response], ConnectorError | None]:
    """A classifier for REQUEST_LIMIT_EXCEEDED: the spent 24-hour allocation stops the job
    for ``daily_recheck`` seconds; the concurrent limit waits ``throttle_wait`` seconds."""

    def throttled(response: httpx.Response, described: Described) -> ConnectorError | None:
        message, code, _ = described
        if code != THROTTLE_CODE:
            return None
        usage = parse_api_usage(response.headers.get("sforce-limit-info"))
        if DAILY_TOTAL_MESSAGE in message or (usage is not None and usage[0] >= usage[1]):
            return _allocation_spent(message, usage, clock() + timedelta(seconds=daily_recheck))
        return RateLimited(
            f"API request limit reached: {message}",
            retry_after=throttle_wait,
            status=response.status_code,
            vendor_code=code,
        )

    table = ErrorTable(
        vendor="Salesforce",
        describe=describe,
        by_status=BY_STATUS,
        by_code=ERROR_CODES,
        redirect_hint=None,  # a redirect is not an error here
        special=throttled,
    )
    return table.classify


def describe(response: httpx.Response) -> Described:
    """The first error item's words (with the fields it names) and its errorCode."""
    items = vendor_errors(response)
    if not items:
        return Described(f"HTTP {response.status_code} without an error body")
    code = str(items[0].get("errorCode") or items[0].get("error") or "") or None
    return Described(describe_error(items[0]), code)


def _allocation_spent(
    message: str, usage: tuple[int, int] | None, until: datetime
) -> BudgetExhausted:
    counted = f"api-usage {usage[0]}/{usage[1]} " if usage else ""
    return BudgetExhausted(
        f"the org's API request allocation is spent ({counted}over the last 24 hours: "
        f"{message}); capacity returns as calls older than 24 hours age out of the window",
        until=until,
        exact=False,
        budget="24-hour API allocation",
        status=403,
        vendor_code=THROTTLE_CODE,
    )


def token_classifier(flow: str) -> Callable[[httpx.Response], ConnectorError | None]:
    """Classify token-endpoint answers; a refused grant is an AuthError naming the flow."""

    def classify(response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        if status >= 500:
            return TransientError(f"token endpoint unavailable (HTTP {status})", status=status)
        items = vendor_errors(response)
        item = items[0] if items else {}
        error = str(item.get("error") or item.get("errorCode") or f"HTTP {status}")
        detail = redact(str(item.get("error_description") or item.get("message") or ""))
        text = f"Salesforce refused the {flow} grant: {error}" + (f" ({detail})" if detail else "")
        if error == "unsupported_grant_type":
            return PermanentError(text, who_acts="developer", status=status, vendor_code=error)
        return AuthError(text, status=status, vendor_code=error)

    return classify


def parse_api_usage(header: str | None) -> tuple[int, int] | None:
    """``api-usage=18/5000; per-app-api-usage=...`` -> ``(18, 5000)`` (None if absent)."""
    match = _USAGE.search(header or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def read_limits(response: httpx.Response) -> LimitSignal:
    """The org's rolling 24-hour API budget from ``Sforce-Limit-Info`` (plus any Retry-After)."""
    base = default_limits(response)
    usage = parse_api_usage(response.headers.get("sforce-limit-info"))
    if usage is None:
        return base
    used, limit = usage
    return LimitSignal(limit=limit, remaining=max(0, limit - used), retry_after=base.retry_after)
