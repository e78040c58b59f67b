"""Intercom's answers turned into dealbridge's error tree, and its budget headers into pacing.

Error body (FACTS.md §2.1): ``{"type": "error.list", "request_id": ..., "errors": [{"code",
"message", "field"?}]}``. The codes the operations we use answer (§2.2), by what happens next:

=====================================================  ===========================================
``unauthorized`` (401)                                  the token is wrong or revoked: admin acts
``forbidden``, ``api_plan_restricted`` (403)            the plan or the app's scopes: admin acts
``company_not_found``, ``not_found`` (404)              that record is gone: the record fails
``parameter_invalid``, ``data_invalid``, ``bad_request``  on one record's write: that record fails;
``parameter_not_found``, ``missing_parameter`` (400)    elsewhere a request we built wrong
``rate_limit_exceeded`` (429)                           wait for ``X-RateLimit-Reset`` (§3.3)
``service_unavailable``, 5xx                            retried
=====================================================  ===========================================

The company scroll (§4.7) has answers of its own: a second scroll while one is open
(``scroll_exists``) is :class:`ScrollBusy`; an expired scroll parameter (404) and the 500 that
says "restart the scroll operation" are :class:`ScrollLost`. Both are handled by the identity
feed, never retried in place (resending the same ``scroll_param`` cannot succeed).

Budget headers (§3.2) come only on authenticated answers: ``X-RateLimit-Limit`` (requests in
the current 10-second window), ``X-RateLimit-Remaining``, ``X-RateLimit-Reset`` (Unix time).
No ``Retry-After`` is documented: a 429 waits until the reset.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from connectors.error_table import Described, ErrorTable, Verdict
from connectors.errors import ConnectorError, RateLimited
from connectors.ratelimit import LimitSignal
from connectors.redact import redact
from connectors.responses import header_int, json_body, text_or_none

WINDOW_SECONDS = 10.0
"""Intercom spreads the minute's budget over 10-second windows (FACTS.md §3.1)."""

SCROLL_PATH = "/companies/scroll"
_ONE_RECORD = re.compile(
    r"^/(companies|contacts|tickets)/(?!scroll$|list$|search$|merge$|enqueue$)[^/]+"
    r"(/notes|/reply)?/?$"
)
_FIND_BY_EXTERNAL_ID = re.compile(r"^/contacts/find_by_external_id/[^/]+/?$")

RECORD_CODES = frozenset(
    {
        "parameter_invalid",
        "data_invalid",
        "bad_request",
        "parameter_not_found",
        "missing_parameter",
        "parameter_mismatch",
    }
)
"""400 codes that, on one record's write, are that record's problem (FACTS.md §2.2)."""

AUTH_HINT = " (check the access token and that its app is installed on the workspace)"

BY_STATUS: dict[int, Verdict] = {
    401: "auth",
    403: "admin",
    404: "admin",  # without Intercom's error body: base_url points at no Intercom API
    409: "transient",
    # 400 and 422 elsewhere than one record's write: a request we built wrongly
}
"""Status -> class for everything the scroll, throttling and record rules do not settle."""


class ScrollBusy(ConnectorError):
    """Another company scroll is open for this app (one at a time, FACTS.md §4.7)."""


class ScrollLost(ConnectorError):
    """The company scroll expired or broke: it cannot be resumed, only started again."""


def _special(response: httpx.Response, described: Described) -> ConnectorError | None:
    """The scroll's own answers and throttling, which carry more than a status."""
    status, (message, code, _) = response.status_code, described
    if response.request.url.path.rstrip("/") == SCROLL_PATH:
        scroll_error = _scroll_error(message, status, code, response)
        if scroll_error is not None:
            return scroll_error
    if status == 429 or code == "rate_limit_exceeded":
        wait = wait_for_reset(response)
        return RateLimited(message, retry_after=wait, status=status, vendor_code=code)
    return None


def _one_record_failed(response: httpx.Response, described: Described) -> bool:
    """Intercom's own "not found" (that record is gone), or a 400 about one record's write."""
    status = response.status_code
    if status == 404 and _is_intercom_error(json_body(response)):
        return True
    path = response.request.url.path
    return status == 400 and described.code in RECORD_CODES and _names_one_record(path)


def _scroll_error(
    message: str, status: int, code: str | None, response: httpx.Response
) -> ConnectorError | None:
    if code == "scroll_exists":
        return ScrollBusy(message, status=status, vendor_code=code)
    asked_to_continue = "scroll_param" in response.request.url.params
    if (status == 404 and asked_to_continue) or status == 500:
        return ScrollLost(message, status=status, vendor_code=code)
    return None


def describe(response: httpx.Response) -> Described:
    """The vendor's messages, the first error's code and field, secret-free."""
    status, body = response.status_code, json_body(response)
    if not _is_intercom_error(body):
        return Described(f"Intercom answered HTTP {status} without an error list")
    errors = [e for e in body["errors"] if isinstance(e, dict)]
    parts = [str(error.get("message") or error.get("code") or "error") for error in errors]
    first = errors[0] if errors else {}
    code = text_or_none(first.get("code"))
    field = text_or_none(first.get("field"))
    return Described(redact("; ".join(parts) or f"HTTP {status}"), code, field)


def _is_intercom_error(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("errors"), list)


def _names_one_record(path: str) -> bool:
    return bool(_ONE_RECORD.match(path) or _FIND_BY_EXTERNAL_ID.match(path))


TABLE = ErrorTable(
    vendor="Intercom",
    describe=describe,
    by_status=BY_STATUS,
    auth_hint=AUTH_HINT,
    by_code={"service_unavailable": "transient"},
    record=_one_record_failed,
    special=_special,
)
classify = TABLE.classify


def read_limits(response: httpx.Response) -> LimitSignal:
    """The current 10-second window's budget as the gate understands it.

    ``X-RateLimit-Reset`` is a Unix time; it is measured against the answer's own ``Date``
    (Intercom's clock), so our clock's skew cannot stretch a wait beyond one window."""
    headers = response.headers
    limit = header_int(headers.get("x-ratelimit-limit"))
    remaining = header_int(headers.get("x-ratelimit-remaining"))
    reset_after = seconds_to_reset(response)
    retry_after = wait_for_reset(response) if response.status_code == 429 else None
    return LimitSignal(
        limit=limit, remaining=remaining, reset_after=reset_after, retry_after=retry_after
    )


def seconds_to_reset(response: httpx.Response) -> float | None:
    """Seconds until the window in ``X-RateLimit-Reset`` ends (None without the header)."""
    reset = header_int(response.headers.get("x-ratelimit-reset"))
    if reset is None:
        return None
    return min(WINDOW_SECONDS, max(0.0, reset - _vendor_now(response)))


def wait_for_reset(response: httpx.Response) -> float:
    """How long a 429 waits: until the window resets, at least a second, at most a window."""
    reset = seconds_to_reset(response)
    return WINDOW_SECONDS if reset is None else max(1.0, reset)


def _vendor_now(response: httpx.Response) -> float:
    raw = response.headers.get("date")
    if raw:
        try:
            return float(parsedate_to_datetime(raw).timestamp())
        except (TypeError, ValueError):
            pass
    return time.time()
