"""Dataverse and Entra answers sorted into dealbridge's error tree.

Web API errors are ``{"error": {"code": "<hex or empty>", "message": "..."}}``; the code "is
not related to the http status code and is frequently empty" (FACTS.md §9.1), so the code
decides where it is known and the status otherwise:

* 429 with ``Retry-After`` seconds and one of three service-protection codes (FACTS.md §8.1-8.2):
  ``0x80072322`` requests, ``0x80072321`` combined execution time, ``0x80072326`` concurrency.
  A Retry-After longer than ``max_retry_after`` stops the job through :func:`budget_exhausted`.
* ``0x80044352`` (``ExpiredVersionStamp``, -2147204270) on a delta link: the change-tracking
  token is older than the org keeps changes (FACTS.md §6.7). Its HTTP status is not documented
  (400 and 410 are both reported), so it is recognised by code on any status, and by its message
  when the code is empty; :class:`StaleDeltaLink` makes the source start a full re-read.
* 401 (FACTS.md §2.5; the body is usually empty) is for the admin after one token renewal;
  403 is a missing privilege (change tracking needs organization-level read, §2.6).

The token endpoint answers OAuth 2 errors ``{"error", "error_description", "error_codes"}``
(FACTS.md §2.4): ``invalid_client`` (wrong or expired secret, AADSTS7000215), ``invalid_scope``
(AADSTS1002012, scope without ``/.default``), ``unauthorized_client``, ``invalid_request``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.error_table import (
    Described,
    ErrorFactory,
    ErrorTable,
    Verdict,
    auth_error,
    transient_error,
)
from connectors.errors import BudgetExhausted, ConnectorError, PermanentError, RateLimited
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int, json_body

THROTTLE_CODES: dict[str, str] = {
    "0x80072322": "requests per 5 minutes",
    "-2147015902": "requests per 5 minutes",
    "0x80072321": "combined execution time per 5 minutes",
    "-2147015903": "combined execution time per 5 minutes",
    "0x80072326": "concurrent requests",
    "-2147015898": "concurrent requests",
}
"""Service-protection codes and the limit each one names (FACTS.md §8.1)."""

EXPIRED_VERSION_CODES = frozenset({"0x80044352", "-2147204270"})
"""``ExpiredVersionStamp``: the delta token is older than ExpireChangeTrackingInDays."""

_STALE_MESSAGE = re.compile(r"version stamp|delta ?token|perform a full sync", re.IGNORECASE)
_DELTA_REQUEST = re.compile(r"(\$|%24)deltatoken=", re.IGNORECASE)

DEFAULT_THROTTLE_WAIT = 5.0
"""Seconds to wait after a 429 that names no Retry-After (Dataverse normally sends one)."""

AUTH_HINT = (
    " (check tenant_id, client_id and client_secret, and that the app registration is an "
    "application user of this environment)"
)
PRIVILEGE_HINT = (
    " (give the application user's security role organization-level read on Opportunity and "
    "Account: change tracking needs it)"
)

BY_STATUS: dict[int, Verdict | ErrorFactory] = {
    401: auth_error(AUTH_HINT),
    403: auth_error(PRIVILEGE_HINT),
    404: "admin",  # base_url or api_version names no Dataverse environment
    501: "developer",
    # 400 (a query dealbridge built; a mapping problem is caught before sending), 405, 412,
    # 413, 414: a request we built wrongly
}


class StaleDeltaLink(PermanentError):
    """A stored delta link Dataverse no longer accepts: read everything again."""


class DataverseBusy(BudgetExhausted):
    """Dataverse asked for a wait longer than a run should hold its job: the job holds until
    then (the service protection window moves on; calls are accepted again after it)."""


def describe(response: httpx.Response) -> Described:
    """The ``error.message`` and ``error.code`` (None when empty) of an error body."""
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        status = response.status_code
        return Described(_text_of(response) or f"HTTP {status} without an error body")
    code = str(error.get("code") or "").strip() or None
    message = " ".join(str(error.get("message") or "").split())
    return Described(redact(message or f"HTTP {response.status_code}"), code)


def make_classifier(max_retry_after: float) -> Any:
    """A classifier whose throttling longer than ``max_retry_after`` stops the job."""

    def special(response: httpx.Response, described: Described) -> ConnectorError | None:
        """Throttling, a stale delta link, and a 503 that says when to come back."""
        status, (message, code, _) = response.status_code, described
        if status == 429 or (code is not None and code in THROTTLE_CODES):
            return _throttled(response, code, message, max_retry_after)
        if _is_stale_delta(response, code, message):
            return StaleDeltaLink(
                f"the change-tracking link is no longer valid: {message}",
                status=status,
                vendor_code=code,
            )
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 503 and retry_after is not None:
            return RateLimited(message, retry_after=retry_after, status=status, vendor_code=code)
        return None

    table = ErrorTable(
        vendor="Dataverse",
        describe=describe,
        by_status=BY_STATUS,
        redirect_hint=None,  # the client follows nothing; a 3xx is not an error here
        special=special,
    )
    return table.classify


def _throttled(
    response: httpx.Response, code: str | None, message: str, max_retry_after: float
) -> ConnectorError:
    limit = THROTTLE_CODES.get(code or "", "service protection limit")
    wait = parse_retry_after(response.headers.get("retry-after"))
    if wait is not None and wait > max_retry_after:
        return budget_exhausted(
            f"Dataverse throttled this application user ({limit}) and asked to wait {wait:.0f} s, "
            f"longer than max_retry_after ({max_retry_after:.0f} s): {message}",
            resumes=datetime.now(UTC) + timedelta(seconds=wait),
            code=code,
        )
    return RateLimited(
        f"Dataverse service protection ({limit}): {message}",
        retry_after=wait if wait is not None else DEFAULT_THROTTLE_WAIT,
        status=429,
        vendor_code=code,
    )


def budget_exhausted(message: str, *, resumes: datetime, code: str | None) -> ConnectorError:
    """The one place a spent budget stops the job, saying when Dataverse accepts calls again."""
    when = resumes.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return DataverseBusy(
        f"{message}; calls are accepted again from about {when}, and the next run resumes "
        "from the stored cursor (lower the job's frequency or page_size if this repeats)",
        until=resumes.astimezone(UTC),
        exact=True,
        budget="Dataverse service protection limits",
        status=429,
        vendor_code=code,
    )


def _is_stale_delta(response: httpx.Response, code: str | None, message: str) -> bool:
    if code in EXPIRED_VERSION_CODES:
        return True
    if not _DELTA_REQUEST.search(str(response.request.url)):
        return False
    # The code of a malformed token is not documented: on a delta link, an error that talks
    # about the token or the version stamp means the same thing (read everything again).
    return response.status_code in (400, 404, 410) and bool(_STALE_MESSAGE.search(message))


def classify_token(response: httpx.Response) -> ConnectorError | None:
    """Entra's token endpoint: a refused grant is for the admin; its 5xx and 429 are transient."""
    status = response.status_code
    if status < 400:
        return None
    if status == 429 or status >= 500:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            return RateLimited(
                "Entra ID throttled the token request", retry_after=wait, status=status
            )
        return transient_error(
            f"Entra ID token endpoint unavailable (HTTP {status})", status, None, None
        )
    error, description = _oauth_error(response)
    hint = TOKEN_HINTS.get(error or "", "check tenant_id, client_id and client_secret")
    text = f"Entra ID refused the client-credentials grant: {error or f'HTTP {status}'}"
    if description:
        text += f" ({description})"
    return auth_error(f"; {hint}")(text, status, error, None)


TOKEN_HINTS: dict[str, str] = {
    "invalid_client": "the client secret is wrong or expired: create a new one under the app "
    "registration's Certificates & secrets and update the secret reference",
    "invalid_scope": "the scope must be the environment URL followed by /.default",
    "unauthorized_client": "the app registration is not allowed to use client credentials here",
    "invalid_request": "check tenant_id (the directory id or domain of the app registration) "
    "and the token endpoint",
    "invalid_grant": "the grant was refused; check the app registration",
}


def _oauth_error(response: httpx.Response) -> tuple[str | None, str]:
    body = json_body(response)
    if body is None:
        return None, _text_of(response)
    if not isinstance(body, dict):
        return None, ""
    error = body.get("error")
    description = " ".join(str(body.get("error_description") or "").split())
    # Entra appends trace and correlation ids on new lines; the first sentence says it all.
    first = description.split(" Trace ID:")[0]
    return (str(error) if isinstance(error, str) and error else None), redact(first[:300])


def read_limits(response: httpx.Response) -> LimitSignal:
    """Retry-After on a 429 or 503; the ``x-ms-ratelimit-*`` headers are for debugging only
    (FACTS.md §8.4: they reset on another web server), so they do not steer the gate."""
    retry_after = None
    if response.status_code in (429, 503):
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is None and response.status_code == 429:
            retry_after = DEFAULT_THROTTLE_WAIT
    return LimitSignal(retry_after=retry_after)


def remaining_requests(response: httpx.Response) -> int | None:
    """``x-ms-ratelimit-burst-remaining-xrm-requests`` as a number, for ``check`` (or None)."""
    return header_int(response.headers.get("x-ms-ratelimit-burst-remaining-xrm-requests"))


def _text_of(response: httpx.Response) -> str:
    try:
        text = " ".join(response.text.split())
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""
    return redact(text[:300])
