"""Zoho CRM answers, sorted into dealbridge's error tree; and the API-credit meter.

Error bodies are ``{"code", "details", "message", "status": "error"}`` (FACTS.md §9.1); the code
decides, the HTTP status is the fallback. The token endpoint answers ``{"error": ...}`` instead,
often with HTTP 200: a refusal is recognised by the missing ``access_token`` (§2.3).

Throttling (§8.3, §8.4): one answer, HTTP 429 ``TOO_MANY_REQUESTS`` without Retry-After, covers
both "the 24-hour API credits are spent" and "too many calls at once". They are told apart by
``X-API-CREDITS-REMAINING``, which Zoho sends once half the credits are used: a 429 while the
credits left are at or under the reserve (or the 429 itself says 0 are left) is the daily budget
and stops the job (:func:`budget_exhausted`); any other 429 is concurrency and is retried after
``throttle_wait`` seconds, doubling on each further 429 in a row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from connectors.error_table import (
    Described,
    ErrorFactory,
    ErrorTable,
    Verdict,
    admin_error,
    auth_error,
    developer_error,
    hinted,
    transient_error,
)
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    RateLimited,
)
from connectors.http import default_limits
from connectors.ratelimit import LimitSignal, parse_retry_after
from connectors.redact import redact
from connectors.responses import header_int, json_body

CREDIT_RECHECK = timedelta(hours=1)
"""When a job stopped by spent credits is tried again: credits come back as they age out."""

SCOPES = (
    "ZohoCRM.modules.deals.READ, ZohoCRM.modules.accounts.READ, "
    "ZohoCRM.modules.contacts.READ, ZohoCRM.settings.fields.READ, ZohoCRM.coql.READ"
)

ERROR_TABLE: dict[str, ErrorFactory] = {
    # Credentials and permissions (§2.6): an admin renews or grants them.
    "INVALID_TOKEN": auth_error("; generate a new refresh token in the Zoho API console"),
    "AUTHENTICATION_FAILURE": auth_error("; check client_id, client_secret and refresh_token"),
    "OAUTH_SCOPE_MISMATCH": auth_error(f"; the refresh token needs the scopes {SCOPES}"),
    "NO_PERMISSION": auth_error(
        "; the Zoho user behind the refresh token needs read access to the module and fields"
    ),
    # The query names something the org does not have: the mapping, select or config is wrong.
    "INVALID_MODULE": hinted(
        admin_error, " (check the connector's module: the API name of the deals module)"
    ),
    "INVALID_QUERY": hinted(
        admin_error, " (check the mapping's select and field API names against the catalog)"
    ),
    "SYNTAX_ERROR": hinted(
        admin_error,
        " (check the mapping's select: a COQL condition such as Stage = 'Closed Won')",
    ),
    # Requests dealbridge should never send: a bug to fix here.
    "INVALID_DATA": developer_error,
    "REQUIRED_PARAM_MISSING": developer_error,
    "LIMIT_EXCEEDED": developer_error,
    "INVALID_URL_PATTERN": developer_error,
    "INVALID_REQUEST_METHOD": developer_error,
    "INVALID_ALIAS": developer_error,
    "DUPLICATE_DATA": developer_error,
    "DUPLICATE_ALIAS": developer_error,
    # Paging answers (§3.2): the readers catch these by code and restart their walk.
    "DISCRETE_PAGINATION_LIMIT_EXCEEDED": developer_error,
    "PAGINATION_LIMIT_EXCEEDED": developer_error,
    "TOKEN_BOUND_DATA_MISMATCH": developer_error,
    "EXPIRED_VALUE": developer_error,
    "AMBIGUITY_DURING_PROCESSING": developer_error,
    # Zoho's own trouble.
    "INTERNAL_ERROR": transient_error,
}
"""Zoho error code -> the error that decides what happens next (FACTS.md §2.6, §3.2, §4.6, §9.2)."""

RESTARTABLE_PAGING = frozenset(
    {
        "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
        "PAGINATION_LIMIT_EXCEEDED",
        "TOKEN_BOUND_DATA_MISMATCH",
        "EXPIRED_VALUE",
        "INVALID_DATA",
    }
)
"""Answers to a page request that a reader survives by starting a fresh query (§3.2)."""

THROTTLE_CODE = "TOO_MANY_REQUESTS"
CREDITS_HEADER = "x-api-credits-remaining"


def budget_exhausted(detail: str, *, now: datetime, status: int | None = None) -> BudgetExhausted:
    """The org's 24-hour API credits are spent (or down to the reserve): stop the job.

    Zoho counts credits over a rolling 24 hours and names no reset time (§8.1, §8.4): every
    credit spent now was spent in the last 24 hours, so all of them are back 24 hours from now
    at the latest, and some return sooner as old calls age out. The job is tried again after
    ``CREDIT_RECHECK`` (not an exact reset, as for Salesforce's rolling allocation).
    """
    back_by = (now + timedelta(hours=24)).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return BudgetExhausted(
        f"Zoho API credits are used up: {detail}. Zoho counts credits over a rolling 24 hours "
        f"and sends no reset time; credits return 24 hours after they were spent, all of them "
        f"by {back_by}. The job stops and resumes from its cursor on a later run; to read more "
        "per day, buy API credit add-ons or lower credit_reserve",
        until=(now + CREDIT_RECHECK).astimezone(UTC),
        exact=False,
        budget="Zoho API credits",
        status=status,
        vendor_code=THROTTLE_CODE if status == 429 else None,
    )


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of an error answer, or an empty dict for anything else."""
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
        first = body["data"][0]  # multi-record answers carry their errors per record
        return first if isinstance(first, dict) else {}
    return body if isinstance(body, dict) else {}


def describe(body: dict[str, Any], response: httpx.Response) -> str:
    """Zoho's message, plus what ``details`` names (a parameter, a field, a limit)."""
    message = " ".join(str(body.get("message") or "").split())
    if not message:
        try:
            message = " ".join(response.text.split())[:200]
        except (httpx.ResponseNotRead, UnicodeDecodeError):
            message = ""
    message = message or f"HTTP {response.status_code} with no message"
    details = body.get("details")
    if isinstance(details, dict) and details:
        shown = ", ".join(f"{k}={v}" for k, v in list(details.items())[:4])
        message += f" [{shown}]"
    return redact(message)


def credits_remaining(response: httpx.Response) -> int | None:
    """``X-API-CREDITS-REMAINING`` as a number (absent until half the credits are used)."""
    return header_int(response.headers.get(CREDITS_HEADER))


TokenDiagnosis = Callable[[httpx.Response], str | None]
"""Explains an INVALID_TOKEN answer to a just-issued token (wrong data centre), or None."""


class CreditMeter:
    """What Zoho last said about the org's credits, and how to read its 429s with that."""

    def __init__(
        self,
        *,
        reserve: int,
        throttle_wait: float,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.reserve = reserve
        self.throttle_wait = throttle_wait
        self.remaining: int | None = None
        self.wall_clock = wall_clock
        self._throttled_in_a_row = 0

    def observe(self, response: httpx.Response) -> LimitSignal:
        """``read_limits`` for the VendorClient: remember the credits left."""
        left = credits_remaining(response)
        if left is not None:
            self.remaining = left
        if response.status_code != 429:
            self._throttled_in_a_row = 0
        base = default_limits(response)
        return LimitSignal(remaining=left, retry_after=base.retry_after)

    def check_reserve(self) -> None:
        """Refuse to spend the reserve: raise before the call, not after Zoho's 429."""
        if self.remaining is not None and self.remaining <= self.reserve:
            raise budget_exhausted(
                f"{self.remaining} credits left in the org's 24-hour window, at or under "
                f"credit_reserve ({self.reserve})",
                now=self.wall_clock(),
            )

    def throttled(self, response: httpx.Response, text: str) -> ConnectorError:
        """A 429: the daily credits (stop) or the concurrency limit (wait and retry)."""
        left = credits_remaining(response)
        known = left if left is not None else self.remaining
        if known is not None and (left == 0 or known <= self.reserve):
            return budget_exhausted(
                f"Zoho answered 429 with {known} credits left ({text})",
                now=self.wall_clock(),
                status=429,
            )
        self._throttled_in_a_row += 1
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            wait = self.throttle_wait * 2 ** min(self._throttled_in_a_row - 1, 5)
        back_by = (self.wall_clock() + timedelta(hours=24)).strftime("%Y-%m-%d %H:%M UTC")
        return RateLimited(
            f"too many concurrent requests for this org and app ({text}); Zoho gives the same "
            "answer when the org's 24-hour API credits are spent, so if it persists, they "
            f"probably are: credits return 24 hours after they were spent, all of them by "
            f"{back_by}",
            retry_after=wait,
            status=429,
            vendor_code=THROTTLE_CODE,
        )


def make_classifier(
    meter: CreditMeter, diagnose_token: TokenDiagnosis
) -> Callable[[httpx.Response], ConnectorError | None]:
    """The API classifier: code table, 429 by the credit meter, wrong-DC diagnosis on 401."""

    def special(response: httpx.Response, described: Described) -> ConnectorError | None:
        """Throttling by the credit meter; a refused token diagnosed (a wrong data centre)."""
        status, (text, code, _) = response.status_code, described
        if status == 429 or code == THROTTLE_CODE:
            return meter.throttled(response, text)
        if code == "INVALID_TOKEN" or (status == 401 and not code):
            diagnosis = diagnose_token(response)
            if diagnosis is not None:
                return AuthError(f"{diagnosis} ({text})", status=status, vendor_code=code)
        return None

    table = ErrorTable(
        vendor="Zoho",
        describe=_described,
        by_status=BY_STATUS,
        by_code=ERROR_TABLE,
        redirect_hint=None,  # a redirect is not an error here
        special=special,
    )
    return table.classify


def _described(response: httpx.Response) -> Described:
    body = error_body(response)
    return Described(describe(body, response), str(body.get("code") or "") or None)


def _refused(text: str, status: int, code: str | None, _: str | None) -> ConnectorError:
    return AuthError(f"Zoho refused access: {text}", status=status, vendor_code=code)


BY_STATUS: dict[int, Verdict | ErrorFactory] = {401: _refused, 403: _refused, 408: "transient"}
"""Status -> class for answers whose code the table does not list."""


def classify_token(response: httpx.Response) -> ConnectorError | None:
    """Token endpoint answers: 5xx retry; a body without ``access_token`` is a refusal.

    The refusal's own code (``invalid_code``, ``invalid_client``) is kept as the vendor code so
    the caller can diagnose it (a refresh token from another data centre, §2.5). Too many
    refreshes (10 access tokens per refresh token per 10 minutes, §2.4) is waited out.
    """
    status = response.status_code
    if status >= 500:
        return transient_error(f"Zoho's token endpoint answered HTTP {status}", status, None, None)
    body = json_body(response)
    if isinstance(body, dict) and isinstance(body.get("access_token"), str):
        return None
    data = body if isinstance(body, dict) else {}
    error = str(data.get("error") or f"HTTP {status}")
    detail = redact(" ".join(str(data.get("error_description") or "").split()))
    text = error + (f": {detail}" if detail else "")
    if "too many requests" in detail.lower() or status == 429:
        return RateLimited(
            f"Zoho refused to issue another access token ({text}); it allows 10 per refresh "
            "token every 10 minutes",
            retry_after=60.0,
            status=status,
            vendor_code=error,
        )
    return AuthError(f"Zoho refused the refresh token ({text})", status=status, vendor_code=error)
