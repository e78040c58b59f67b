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

from connectors.error_table import Described, ErrorTable, Verdict, one_record_rule
from connectors.errors import ConnectorError, RateLimited
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int, json_body, short_text, text_or_none

TOO_MANY_JOBS_WAIT = 10.0
"""Seconds to wait when Zendesk refuses a job with TooManyJobs and no Retry-After."""

_ONE_RECORD_OR_JOB = re.compile(
    r"/api/v2/(organizations|users|tickets)/\d+(\.json)?/?$"
    r"|/api/v2/job_statuses/[^/]+?(\.json)?/?$"
)
"""One record (or ticket), or one job's status: their 404/422 concern that one only."""


AUTH_HINT = " (check email, API token and the agent's role)"

BY_STATUS: dict[int, Verdict] = {
    401: "auth",
    403: "auth",
    404: "admin",  # on a list path: base_url points at no Zendesk account
    409: "transient",  # concurrent update of the same record: try again
    # 400, 413 and 422: a request we built wrongly (422 on one record's PUT: that record's)
}
"""Status -> class, for responses the path rules below do not settle."""

RECORD_STATUSES = frozenset({404, 422})


def _throttled(response: httpx.Response, described: Described) -> ConnectorError | None:
    """429, or 503 with ``Retry-After``; TooManyJobs without one waits a fixed while."""
    status, (message, code, _) = response.status_code, described
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if status == 429 or (status == 503 and retry_after is not None):
        if code == "TooManyJobs" and retry_after is None:
            retry_after = TOO_MANY_JOBS_WAIT
        return RateLimited(message, retry_after=retry_after, status=status, vendor_code=code)
    return None


def describe(response: httpx.Response) -> Described:
    """The vendor's message, error code and first offending field, secret-free."""
    status = response.status_code
    body = json_body(response)
    if not isinstance(body, dict):
        return Described(short_text(response, f"Zendesk answered HTTP {status}"))
    code = text_or_none(body.get("error")) if isinstance(body.get("error"), str) else None
    details = body.get("details")
    if isinstance(details, dict) and details:
        parts, first = _field_errors(details)
        head = str(body.get("description") or code or "Record validation errors")
        return Described(redact(f"{head}: {'; '.join(parts)}"), code, first)
    error = body.get("error")
    if isinstance(error, dict):  # OAuth-style {"error": {"title", "message"}}
        code = text_or_none(error.get("title"))
        text = str(error.get("message") or error.get("title") or f"HTTP {status}")
        return Described(redact(text), code)
    text = str(body.get("description") or body.get("error") or f"HTTP {status}")
    if code and text != code:
        text = f"{code}: {text}"
    return Described(redact(text), code)


def _field_errors(details: dict[str, Any]) -> tuple[list[str], str | None]:
    parts: list[str] = []
    for field, problems in details.items():
        items = problems if isinstance(problems, list) else [problems]
        for item in items:
            text = item.get("description") if isinstance(item, dict) else item
            kind = item.get("error") if isinstance(item, dict) else None
            parts.append(f"{field}: {text}" + (f" ({kind})" if kind else ""))
    return parts, next(iter(details), None)


TABLE = ErrorTable(
    vendor="Zendesk",
    describe=describe,
    by_status=BY_STATUS,
    auth_hint=AUTH_HINT,
    redirect_hint="base_url must be the account URL",
    record=one_record_rule(_ONE_RECORD_OR_JOB, RECORD_STATUSES),
    special=_throttled,
)
classify = TABLE.classify


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
    limit = header_int(headers.get("x-rate-limit")) or header_int(headers.get("ratelimit-limit"))
    remaining = header_int(headers.get("x-rate-limit-remaining"))
    if remaining is None:
        remaining = header_int(headers.get("ratelimit-remaining"))
    reset = header_int(headers.get("ratelimit-reset"))
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
        header_int(parts.get("total")),
        header_int(parts.get("remaining")),
        header_int(parts.get("resets")),
    )
    if total is None or remaining is None:
        return None
    return total, remaining, float(resets or 0)
