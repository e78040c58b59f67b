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

_ONE_RECORD = re.compile(r"/api/v2/((companies|contacts)/\d+|tickets/\d+/notes)/?$")
"""Paths that address one company, contact or ticket: their 400/404/409 concern it only."""


_auth = auth_error(" (check the API key and the agent's role)")


BY_CODE: dict[str, ErrorFactory] = {
    "invalid_credentials": _auth,
    "access_denied": _auth,
    "account_suspended": admin_error,
    "require_feature": admin_error,
    "ssl_required": admin_error,
    "password_lockout": admin_error,
}
"""Vendor codes that decide the class whatever the status."""

BY_STATUS: dict[int, ErrorFactory] = {
    400: developer_error,  # a bad request we built; on one record's PUT it is that record's problem
    401: _auth,
    403: _auth,
    404: admin_error,  # on a list path: base_url points at no Freshdesk API
    405: developer_error,
    406: developer_error,
    409: record_error,
    415: developer_error,
    500: transient_error,
    502: transient_error,
    503: transient_error,
    504: transient_error,
}
"""Status -> class, for everything the vendor code does not settle."""

RECORD_STATUSES = frozenset({400, 404, 409})


def classify(response: httpx.Response) -> ConnectorError | None:
    """Map one Freshdesk response to a typed error (None when it succeeded)."""
    status = response.status_code
    if status < 300:
        return None
    if status < 400:
        return admin_error(
            f"Freshdesk redirected the request (HTTP {status}); base_url must be the "
            "https://<domain>.freshdesk.com helpdesk address",
            status,
            None,
            None,
        )
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited("Freshdesk rate limit reached", retry_after=retry_after, status=status)
    body = _json_body(response)
    message, code, field = describe(body, status)
    if _addresses_one_record(response) and status in RECORD_STATUSES:
        return record_error(message, status, code, field)
    factory = BY_CODE.get(code or "") or BY_STATUS.get(status)
    if factory is None:
        factory = transient_error if status >= 500 else developer_error
    return factory(message, status, code, field)


def describe(body: Any, status: int) -> tuple[str, str | None, str | None]:
    """The vendor's message, code and first offending field, readable and secret-free."""
    if not isinstance(body, dict):
        text = "record not found" if status == 404 else f"Freshdesk answered HTTP {status}"
        return text, None, None
    errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    if errors:
        parts = [_one_error(e) for e in errors]
        head = str(body.get("description") or "Validation failed")
        first = errors[0]
        return redact(f"{head}: {'; '.join(parts)}"), _text(first.get("code")), _field(first)
    message = str(body.get("message") or body.get("description") or f"HTTP {status}")
    return redact(message), _text(body.get("code")), None


def _one_error(error: dict[str, Any]) -> str:
    field = _field(error) or "request"
    message = str(error.get("message") or "rejected")
    code = _text(error.get("code"))
    return f"{field}: {message}" + (f" ({code})" if code else "")


def _field(error: dict[str, Any]) -> str | None:
    return _text(error.get("field"))


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _addresses_one_record(response: httpx.Response) -> bool:
    return bool(_ONE_RECORD.search(response.request.url.path))


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
        limit=_int(headers.get("x-ratelimit-total")),
        remaining=_int(headers.get("x-ratelimit-remaining")),
        retry_after=retry_after,
    )


def _int(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        return int(float(raw.strip()))
    except ValueError:
        return None
