"""Zendesk's answers turned into dealbridge's error tree, and its budget headers into pacing.

Error bodies (developer.zendesk.com "Errors"; shared/vendor-apis section 1):

* ``401 {"error": "Couldn't authenticate you"}``: wrong email or token;
* ``403 {"error": "Forbidden", "description": ...}``: no permission (also: bulk user
  endpoints not enabled for the account; the writer falls back on that one);
* ``404 {"error": "RecordNotFound", "description": "Not found"}``;
* ``422 {"error": "RecordInvalid", "description": "Record validation errors",
  "details": {"<field>": [{"description": ..., "error": ...}]}}``;
* ``429`` with ``Retry-After`` seconds; the body may be plain text (single-user update
  limit) or ``{"error": "TooManyJobs", ...}`` when 30 jobs are queued or running.

Budget headers: ``X-Rate-Limit`` / ``X-Rate-Limit-Remaining`` (account, per minute),
``ratelimit-limit/remaining/reset`` (Ticketing APIs) and per-endpoint
``zendesk-ratelimit-<name>: total=N; remaining=N; resets=S``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from connectors.error_table import (
    ErrorFactory,
    admin_error,
    auth_error,
    developer_error,
    record_error,
    transient_error,
)
from connectors.errors import (
    ConnectorError,
    RateLimited,
)
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact

TOO_MANY_JOBS_WAIT = 10.0
"""Seconds to wait when Zendesk refuses a job with TooManyJobs and no Retry-After."""

_ONE_RECORD = re.compile(r"/api/v2/(organizations|users|tickets)/\d+(\.json)?/?$")
_JOB_STATUS = re.compile(r"/api/v2/job_statuses/[^/]+?(\.json)?/?$")


_auth = auth_error(" (check email, API token and the agent's role)")


BY_STATUS: dict[int, ErrorFactory] = {
    400: developer_error,
    401: _auth,
    403: _auth,
    404: admin_error,  # on a list path: base_url points at no Zendesk account
    409: transient_error,  # concurrent update of the same record: try again
    413: developer_error,
    422: developer_error,  # on one record's PUT it is that record's problem (see RECORD_STATUSES)
    500: transient_error,
    502: transient_error,
    503: transient_error,
    504: transient_error,
}
"""Status -> class, for responses the path rules below do not settle."""

RECORD_STATUSES = frozenset({404, 422})


def classify(response: httpx.Response) -> ConnectorError | None:
    """Map one Zendesk response to a typed error (None when it succeeded)."""
    status = response.status_code
    if status < 300:
        return None
    if status < 400:
        text = f"Zendesk redirected the request (HTTP {status}); base_url must be the account URL"
        return admin_error(text, status, None, None)
    body = _json_body(response)
    message, code, field = describe(body, response)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429 or (status == 503 and retry_after is not None):
        if code == "TooManyJobs" and retry_after is None:
            retry_after = TOO_MANY_JOBS_WAIT
        return RateLimited(message, retry_after=retry_after, status=status, vendor_code=code)
    path = response.request.url.path
    if status in RECORD_STATUSES and (_ONE_RECORD.search(path) or _JOB_STATUS.search(path)):
        return record_error(message, status, code, field)
    factory = BY_STATUS.get(status) or (transient_error if status >= 500 else developer_error)
    return factory(message, status, code, field)


def describe(body: Any, response: httpx.Response) -> tuple[str, str | None, str | None]:
    """The vendor's message, error code and first offending field, secret-free."""
    status = response.status_code
    if not isinstance(body, dict):
        text = " ".join(_text_body(response).split())[:300]
        return redact(text or f"Zendesk answered HTTP {status}"), None, None
    code = _text(body.get("error")) if isinstance(body.get("error"), str) else None
    details = body.get("details")
    if isinstance(details, dict) and details:
        parts, first = _field_errors(details)
        head = str(body.get("description") or code or "Record validation errors")
        return redact(f"{head}: {'; '.join(parts)}"), code, first
    error = body.get("error")
    if isinstance(error, dict):  # OAuth-style {"error": {"title", "message"}}
        code = _text(error.get("title"))
        text = str(error.get("message") or error.get("title") or f"HTTP {status}")
        return redact(text), code, None
    text = str(body.get("description") or body.get("error") or f"HTTP {status}")
    if code and text != code:
        text = f"{code}: {text}"
    return redact(text), code, None


def _field_errors(details: dict[str, Any]) -> tuple[list[str], str | None]:
    parts: list[str] = []
    for field, problems in details.items():
        items = problems if isinstance(problems, list) else [problems]
        for item in items:
            text = item.get("description") if isinstance(item, dict) else item
            kind = item.get("error") if isinstance(item, dict) else None
            parts.append(f"{field}: {text}" + (f" ({kind})" if kind else ""))
    return parts, next(iter(details), None)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _text_body(response: httpx.Response) -> str:
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""


def read_limits(response: httpx.Response) -> LimitSignal:
    """The account's per-minute budget as the gate understands it.

    ``X-Rate-Limit(-Remaining)`` give the account budget without a reset time;
    ``ratelimit-reset`` (seconds) is used when present, so a nearly spent budget blocks the
    gate until the window turns instead of provoking 429s.
    """
    headers = response.headers
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(headers.get("retry-after"))
    limit = _int(headers.get("x-rate-limit")) or _int(headers.get("ratelimit-limit"))
    remaining = _int(headers.get("x-rate-limit-remaining"))
    if remaining is None:
        remaining = _int(headers.get("ratelimit-remaining"))
    reset = _int(headers.get("ratelimit-reset"))
    return LimitSignal(
        limit=limit,
        remaining=remaining,
        reset_after=float(reset) if reset is not None else None,
        retry_after=retry_after,
    )


def endpoint_budget(response: httpx.Response, name: str) -> tuple[int, int, float] | None:
    """``zendesk-ratelimit-<name>: total=30; remaining=29; resets=60`` as (total, left, s)."""
    raw = response.headers.get(f"zendesk-ratelimit-{name}")
    if raw is None:
        return None
    pairs = (item.partition("=") for item in raw.split(";"))
    parts = {k.strip().lower(): v.strip() for k, _, v in pairs}
    total, remaining, resets = (
        _int(parts.get("total")),
        _int(parts.get("remaining")),
        _int(parts.get("resets")),
    )
    if total is None or remaining is None:
        return None
    return total, remaining, float(resets or 0)


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw.split(",")[0].strip()))
    except ValueError:
        return None
