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

from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
    WhoActs,
)
from connectors.http import default_limits
from connectors.ratelimit import LimitSignal
from connectors.redact import redact

ErrorClass = type[ConnectorError]

ERROR_CODES: dict[str, tuple[ErrorClass, WhoActs | None]] = {
    # Credentials and permissions: an admin renews or grants them.
    "INVALID_SESSION_ID": (AuthError, "admin"),
    "INSUFFICIENT_ACCESS": (AuthError, "admin"),
    "INSUFFICIENT_ACCESS_OR_READONLY": (AuthError, "admin"),
    "API_DISABLED_FOR_ORG": (AuthError, "admin"),
    "API_CURRENTLY_DISABLED": (AuthError, "admin"),
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": (AuthError, "admin"),
    # The query names something the org does not have: the mapping or select needs fixing.
    "INVALID_FIELD": (PermanentError, "admin"),
    "MALFORMED_QUERY": (PermanentError, "admin"),
    "INVALID_TYPE": (PermanentError, "admin"),
    "INVALID_QUERY_FILTER_OPERATOR": (PermanentError, "admin"),
    "NOT_FOUND": (PermanentError, "admin"),
    "FUNCTIONALITY_NOT_ENABLED": (PermanentError, "admin"),
    "OPERATION_TOO_LARGE": (PermanentError, "admin"),
    "EXCEEDED_ID_LIMIT": (PermanentError, "developer"),
    # Salesforce-side hiccups: the same request later is expected to work.
    "QUERY_TIMEOUT": (TransientError, None),
    "SERVER_UNAVAILABLE": (TransientError, None),
    "UNABLE_TO_LOCK_ROW": (TransientError, None),
    "UNKNOWN_EXCEPTION": (TransientError, None),
    "INVALID_QUERY_LOCATOR": (TransientError, None),
}
"""errorCode -> error class (and who acts, for permanent ones). REQUEST_LIMIT_EXCEEDED is
handled apart because it needs a wait time."""

THROTTLE_CODE = "REQUEST_LIMIT_EXCEEDED"
DAILY_TOTAL_MESSAGE = "TotalRequests"
"""How the 24-hour allocation's refusal names itself (the concurrent limit says otherwise)."""

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


def vendor_errors(response: httpx.Response) -> list[dict[str, Any]]:
    """The ``[{message, errorCode, fields}]`` items of an error body (empty when not JSON)."""
    try:
        body = response.json()
    except ValueError:
        return []
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

    def classify(response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status < 400:
            return None
        items = vendor_errors(response)
        code = str(items[0].get("errorCode") or items[0].get("error") or "") if items else ""
        message = describe_error(items[0]) if items else f"HTTP {status} without an error body"
        if code == THROTTLE_CODE:
            usage = parse_api_usage(response.headers.get("sforce-limit-info"))
            if DAILY_TOTAL_MESSAGE in message or (usage is not None and usage[0] >= usage[1]):
                return _allocation_spent(message, usage, clock() + timedelta(seconds=daily_recheck))
            return RateLimited(
                f"API request limit reached: {message}",
                retry_after=throttle_wait,
                status=status,
                vendor_code=code,
            )
        return _by_code(code, message, status) or _by_status(code, message, status)

    return classify


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


def _by_code(code: str, message: str, status: int) -> ConnectorError | None:
    entry = ERROR_CODES.get(code)
    if entry is None:
        return None
    cls, who = entry
    if issubclass(cls, PermanentError):
        return cls(message, who_acts=who, status=status, vendor_code=code)
    return cls(message, status=status, vendor_code=code)


def _by_status(code: str, message: str, status: int) -> ConnectorError:
    vendor_code = code or None
    if status == 401:
        return AuthError(message, status=status, vendor_code=vendor_code)
    if status == 403:
        return AuthError(f"access refused: {message}", status=status, vendor_code=vendor_code)
    if status in (414, 431):
        return PermanentError(
            f"query too long for the URL limit (16,384 bytes); map fewer fields: {message}",
            who_acts="admin",
            status=status,
            vendor_code=vendor_code,
        )
    if status >= 500 or status == 408:
        return TransientError(message, status=status, vendor_code=vendor_code)
    return PermanentError(message, status=status, vendor_code=vendor_code)


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
