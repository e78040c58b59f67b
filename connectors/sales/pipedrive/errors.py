"""Pipedrive answers -> typed errors (status table from ``connectors.error_table`` factories).

Bodies (FACTS.md §8.1, §2.3-2.4, §7.5): every API error is the envelope ``{"success": false,
"error": "<message>", "error_info": ..., "data": null, "additional_data": null}``; 401 may
instead be ``{"success": false, "error": "unauthorized access", "errorCode": 401}``; the OAuth
token endpoint answers 400 with a documented message (body shape unverified: ``error`` or
``message`` is read). Nothing here assumes a field is present.

429 (FACTS.md §7.5) is either limit, and Pipedrive does not say which. Read in this order:

1. ``Retry-After`` of at most a minute: the 2-second burst window; wait as told.
2. ``Retry-After`` longer than that: a wait that long is the daily budget; stop.
3. ``x-ratelimit-remaining`` > 0: the burst window has room, so it is the daily budget; stop.
4. otherwise (remaining 0, or no headers): the burst window; wait ``x-ratelimit-reset`` (or one
   window). A 429 that survives three such waits in a row cannot be the burst window (it rolls
   every 2 s), so it is the daily budget: stop.

A 403 that is not JSON is Cloudflare blocking an integration that kept going after 429s (§7.6).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from connectors.error_table import (
    Described,
    ErrorFactory,
    ErrorTable,
    admin_error,
    auth_error,
    developer_error,
    meaning,
    transient_error,
)
from connectors.errors import ConnectorError, PermanentError, RateLimited
from connectors.http import default_limits
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import json_object
from connectors.sales.pipedrive.limits import BURST_WINDOW_SECONDS, budget_exhausted

LONGEST_BURST_WAIT = 60.0
"""A Retry-After beyond this is not about a 2-second window."""
BURST_STRIKES = 3
"""Consecutive 429s after which the burst window cannot be the reason."""

STATUS_TABLE: dict[int, ErrorFactory] = {
    400: meaning(developer_error, "Pipedrive did not accept a parameter dealbridge sent"),
    401: meaning(
        auth_error(
            " (check the API token in Pipedrive under Settings > Personal preferences > API, "
            "or reinstall the OAuth app)"
        ),
        "Pipedrive refused the credentials",
    ),
    402: meaning(admin_error, "the Pipedrive company account is not open (trial ended or unpaid)"),
    403: meaning(
        auth_error(
            " (the app needs the scopes deals:read, contacts:read and users:read, or the "
            "token's user cannot see these records: use an admin user's token)"
        ),
        "Pipedrive refused access",
    ),
    404: meaning(admin_error, "not found: check base_url (https://<company>.pipedrive.com)"),
    405: meaning(developer_error, "method not allowed"),
    408: meaning(transient_error, "Pipedrive is unavailable"),
    410: meaning(developer_error, "Pipedrive removed this endpoint: the connector needs an update"),
    415: meaning(admin_error, "a feature this call needs is not enabled for the company"),
    422: meaning(developer_error, "Pipedrive could not process the request"),
    501: meaning(developer_error, "Pipedrive does not implement this call"),
}
"""Status -> what it means, before Pipedrive's own words (unlisted: 5xx "Pipedrive is
unavailable", transient; 4xx "Pipedrive rejected the request", a developer's bug)."""


def vendor_message(body: dict[str, Any], response: httpx.Response) -> str:
    """Pipedrive's own words (``error``, else ``message``), or the start of the body."""
    for key in ("error", "message", "error_description"):
        value = body.get(key)
        if isinstance(value, str) and value.strip():
            return redact(" ".join(value.split()))
    try:
        text = " ".join(response.text.split())[:160]
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        text = ""
    return redact(text) or f"HTTP {response.status_code} with no message"


def describe(response: httpx.Response) -> Described:
    """Pipedrive's own words and its error code (``code`` or ``errorCode``), if any."""
    body = json_object(response)
    code = str(body.get("code") or body.get("errorCode") or "") or None
    return Described(vendor_message(body, response), code)


def _unlisted(message: str, status: int, code: str | None, field: str | None) -> ConnectorError:
    if status >= 500:
        return transient_error(f"Pipedrive is unavailable: {message}", status, code, field)
    return developer_error(f"Pipedrive rejected the request: {message}", status, code, field)


class Classifier:
    """Classifies API answers; remembers consecutive 429s to tell the two limits apart."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self.strikes = 0
        self._table = ErrorTable(
            vendor="Pipedrive",
            describe=describe,
            by_status=STATUS_TABLE,
            redirect_hint=None,  # a redirect is not an error here
            special=self._special,
            otherwise=_unlisted,
        )

    def __call__(self, response: httpx.Response) -> ConnectorError | None:
        if response.status_code != 429:
            self.strikes = 0
        return self._table.classify(response)

    def _special(self, response: httpx.Response, described: Described) -> ConnectorError | None:
        """A 429 (burst window or daily budget); Cloudflare's bare 403 after repeated 429s."""
        status, message = response.status_code, described.message
        if status == 429:
            self.strikes += 1
            return self._throttled(response, message)
        if status == 403 and not json_object(response):
            return PermanentError(
                "Pipedrive's edge (Cloudflare) blocked this integration, which happens after "
                f"repeated 429s: {message[:80]}. Wait an hour before the next run, and check "
                "that no other integration spends the same token's budget",
                who_acts="admin",
                status=status,
            )
        return None

    def _throttled(self, response: httpx.Response, message: str) -> ConnectorError:
        signal = read_limits(response)
        retry_after = signal.retry_after
        daily = (
            (retry_after is not None and retry_after > LONGEST_BURST_WAIT)
            or (retry_after is None and signal.remaining is not None and signal.remaining > 0)
            or self.strikes > BURST_STRIKES
        )
        if daily:
            return budget_exhausted(
                f"Pipedrive answered 429 '{message}': the company's daily API token budget "
                "is spent",
                now=self._now(),
                status=429,
            )
        wait = retry_after if retry_after is not None else signal.reset_after
        return RateLimited(
            f"Pipedrive's 2-second burst limit was reached: {message}",
            retry_after=wait if wait is not None and wait > 0 else BURST_WINDOW_SECONDS,
            status=429,
            vendor_code="burst",
        )


def read_limits(response: httpx.Response) -> LimitSignal:
    """The burst window's headers (x-ratelimit-limit/-remaining/-reset) and any Retry-After.

    A daily-budget 429 carries no wait worth taking, so it must not block the gate.
    """
    signal = default_limits(response)
    if signal.retry_after is not None and signal.retry_after > LONGEST_BURST_WAIT:
        return LimitSignal(
            limit=signal.limit, remaining=signal.remaining, reset_after=signal.reset_after
        )
    return signal


def classify_token(response: httpx.Response) -> ConnectorError | None:
    """The OAuth token endpoint: every 400 message documented there needs the admin (FACTS.md
    §2.3), except the two that mean dealbridge built the request wrong."""
    status = response.status_code
    if status < 400:
        return None
    body = json_object(response)
    message = vendor_message(body, response)
    if status >= 500 or status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(
            f"Pipedrive's token endpoint is unavailable: {message}",
            retry_after=retry_after or BURST_WINDOW_SECONDS,
            status=status,
        )
    if message.startswith(("Unsupported grant type", "Missing parameter", "Invalid request")):
        return developer_error(
            f"Pipedrive refused the token request: {message}", status, None, None
        )
    return auth_error(
        " (the refresh token expires after 60 days unused, or was revoked: reinstall the app "
        "and store the new refresh token; or check client_id and client_secret)"
    )(f"Pipedrive refused the OAuth refresh: {message}", status, None, None)
