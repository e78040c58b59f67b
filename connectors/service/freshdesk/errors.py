"""Freshdesk's answers turned into dealbridge's error tree, and its budget headers into pacing.

Error bodies (python-freshdesk ``_action``; Freshdesk API v2 "Error Codes"):

* validation: ``400 {"description": "Validation failed", "errors": [{"field", "message",
  "code"}]}`` with codes such as ``invalid_value``, ``datatype_mismatch``, ``invalid_field``;
* others: ``{"code": "invalid_credentials" | "access_denied" | ..., "message": "..."}``;
* 404 usually has an empty body; 429 carries ``Retry-After`` in seconds.

Budget headers on every response: ``X-Ratelimit-Total``, ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Used-CurrentRequest`` (calls with ``include=`` cost more than one).
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from connectors.error_table import Described, ErrorTable, Verdict, one_record_rule
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int, json_body, text_or_none

_ONE_RECORD = re.compile(r"/api/v2/((companies|contacts)/\d+|tickets/\d+/notes)/?$")
"""Paths that address one company, contact or ticket: their 400/404/409 concern it only."""


AUTH_HINT = " (check the API key and the agent's role)"

BY_CODE: dict[str, Verdict] = {
    **dict.fromkeys(("invalid_credentials", "access_denied"), "auth"),
    **dict.fromkeys(("account_suspended", "require_feature", "ssl_required"), "admin"),
    "password_lockout": "admin",
}
"""Vendor codes that decide the class whatever the status."""

BY_STATUS: dict[int, Verdict] = {
    401: "auth",
    403: "auth",
    404: "admin",  # on a list path: base_url points at no Freshdesk API
    409: "record",
    # 400: a bad request we built (on one record's PUT, that record's problem); 405/406/415 too
}
"""Status -> class, for everything the vendor code does not settle."""

RECORD_STATUSES = frozenset({400, 404, 409})


def describe(response: httpx.Response) -> Described:
    """The vendor's message, code and first offending field, readable and secret-free."""
    status, body = response.status_code, json_body(response)
    if not isinstance(body, dict):
        text = "record not found" if status == 404 else f"Freshdesk answered HTTP {status}"
        return Described(text)
    listed = body.get("errors")
    errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
    if errors:
        parts = [_one_error(e) for e in errors]
        head = str(body.get("description") or "Validation failed")
        first = errors[0]
        message = redact(f"{head}: {'; '.join(parts)}")
        return Described(message, text_or_none(first.get("code")), _field(first))
    message = str(body.get("message") or body.get("description") or f"HTTP {status}")
    return Described(redact(message), text_or_none(body.get("code")))


def _one_error(error: dict[str, Any]) -> str:
    field = _field(error) or "request"
    message = str(error.get("message") or "rejected")
    code = text_or_none(error.get("code"))
    return f"{field}: {message}" + (f" ({code})" if code else "")


def _field(error: dict[str, Any]) -> str | None:
    return text_or_none(error.get("field"))


TABLE = ErrorTable(
    vendor="Freshdesk",
    describe=describe,
    by_status=BY_STATUS,
    auth_hint=AUTH_HINT,
    by_code=BY_CODE,
    redirect_hint="base_url must be the https://<domain>.freshdesk.com helpdesk address",
    record=one_record_rule(_ONE_RECORD, RECORD_STATUSES),
)  # a 429 waits what its Retry-After says: the table's default
classify = TABLE.classify


def read_limits(response: httpx.Response) -> LimitSignal:
    """Freshdesk's per-minute budget as the gate understands it.

    Freshdesk does not say when its minute window resets, so ``reset_after`` stays unknown:
    the steady token-bucket rate does the pacing and a 429's ``Retry-After`` the back-off.
    """
    headers = response.headers
    retry_after = None
    if response.status_code == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
    return LimitSignal(
        limit=header_int(headers.get("x-ratelimit-total")),
        remaining=header_int(headers.get("x-ratelimit-remaining")),
        retry_after=retry_after,
    )
