"""A vendor's status/code -> error table, and the one ``classify`` that reads it.

A vendor module maps HTTP statuses and its own error codes to one of the factories below; each
takes (message, status, vendor code, field named by the vendor) and returns the typed error
that decides what happens next (see :mod:`connectors.errors`). The vendor's table
(:class:`ErrorTable`) adds how to read its error body, which failures concern one record and
what needs more than a status (throttling); :meth:`ErrorTable.classify` is the skeleton they
all share, so a vendor's ``errors.py`` holds data and its own body format, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import httpx

from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
    RecordError,
    TransientError,
)
from connectors.ratelimit import parse_retry_after

ErrorFactory = Callable[[str, int, str | None, str | None], ConnectorError]


def auth_error(hint: str) -> ErrorFactory:
    """Credentials refused; ``hint`` says what the admin should check."""

    def build(message: str, status: int, code: str | None, _field: str | None) -> ConnectorError:
        return AuthError(message + hint, status=status, vendor_code=code)

    return build


def hinted(factory: ErrorFactory, hint: str) -> ErrorFactory:
    """``factory`` with ``hint`` (what the person who acts should check) after the message."""

    def build(message: str, status: int, code: str | None, field: str | None) -> ConnectorError:
        return factory(message + hint, status, code, field)

    return build


def meaning(factory: ErrorFactory, what: str) -> ErrorFactory:
    """``factory`` with ``what`` the answer means put before the vendor's own words."""

    def build(message: str, status: int, code: str | None, field: str | None) -> ConnectorError:
        return factory(f"{what}: {message}", status, code, field)

    return build


def admin_error(message: str, status: int, code: str | None, _field: str | None) -> ConnectorError:
    """Account or plan settings an admin must change."""
    return PermanentError(message, who_acts="admin", status=status, vendor_code=code)


def developer_error(
    message: str, status: int, code: str | None, _field: str | None
) -> ConnectorError:
    """A request the vendor cannot accept: a bug to fix in dealbridge."""
    return PermanentError(message, who_acts="developer", status=status, vendor_code=code)


def record_error(message: str, status: int, code: str | None, field: str | None) -> ConnectorError:
    """One record refused; the others go on."""
    return RecordError(message, field=field, status=status, vendor_code=code)


def transient_error(
    message: str, status: int, code: str | None, _field: str | None
) -> ConnectorError:
    """Worth retrying after a pause."""
    return TransientError(message, status=status, vendor_code=code)


# --- the one classify skeleton every vendor's table plugs into ------------------------------


class Described(NamedTuple):
    """What a vendor's error body says, secret-free: its message, its own error code and the
    first field it blames (None where the vendor says nothing)."""

    message: str
    code: str | None = None
    field: str | None = None


Verdict = Literal["auth", "admin", "developer", "record", "transient"]
"""Who acts on an error, as a vendor's table names it: ``auth`` (an admin renews credentials;
the table's ``auth_hint`` says which), ``admin`` (account or plan settings), ``developer`` (a
request dealbridge built wrongly), ``record`` (that record fails, the others go on),
``transient`` (retried after a pause)."""

_BY_VERDICT: dict[str, ErrorFactory] = {
    "admin": admin_error,
    "developer": developer_error,
    "record": record_error,
    "transient": transient_error,
}

Describe = Callable[[httpx.Response], Described]
Special = Callable[[httpx.Response, Described], ConnectorError | None]
RecordRule = Callable[[httpx.Response, Described], bool]


def one_record_rule(path: re.Pattern[str], statuses: Iterable[int]) -> RecordRule:
    """The usual record rule: these statuses, on a path that addresses one record, concern
    that record only (it fails alone, the others go on); on a list path they stop the job."""
    wanted = frozenset(statuses)

    def applies(response: httpx.Response, _: Described) -> bool:
        return response.status_code in wanted and bool(path.search(response.request.url.path))

    return applies


def _never(_response: httpx.Response, _described: Described) -> bool:
    return False


def _nothing_special(_response: httpx.Response, _described: Described) -> None:
    return None


@dataclass(frozen=True)
class ErrorTable:
    """A vendor's errors as data; :meth:`classify` is the skeleton every vendor shares.

    In order: success is None; a redirect means ``base_url`` is wrong (admin); ``special``
    settles what needs more than a status (throttling, a scroll's own answers); ``record``
    says which failures concern one record; then the vendor's code, then the status, decide
    the class. A status the table does not list is transient from 500 up, throttling at 429
    (waiting what ``Retry-After`` says) and a developer's bug below, so a table lists only
    what differs from that.
    """

    vendor: str
    describe: Describe
    by_status: Mapping[int, Verdict | ErrorFactory]
    auth_hint: str = ""
    redirect_hint: str | None = "check base_url"
    """What a 3xx answer tells the admin; None where a redirect is not an error (the client
    was meant to see it)."""
    by_code: Mapping[str, Verdict | ErrorFactory] = field(default_factory=dict)
    record: RecordRule = _never
    special: Special = _nothing_special
    otherwise: ErrorFactory | None = None
    """For a status neither table lists, instead of the default (transient from 500,
    throttling at 429, a developer's bug below): a vendor that words those answers itself."""

    def classify(self, response: httpx.Response) -> ConnectorError | None:
        """Map one response to a typed error (None when it succeeded)."""
        status = response.status_code
        if status < 300:
            return None
        if status < 400:
            if self.redirect_hint is None:
                return None
            text = f"{self.vendor} redirected the request (HTTP {status}); {self.redirect_hint}"
            return admin_error(text, status, None, None)
        described = self.describe(response)
        special = self.special(response, described)
        if special is not None:
            return special
        message, code, blamed = described
        if self.record(response, described):
            return record_error(message, status, code, blamed)
        verdict = (
            self.by_code.get(code or "")
            or self.by_status.get(status)
            or self.otherwise
            or self._unlisted(response)
        )
        return self._factory(verdict)(message, status, code, blamed)

    def _unlisted(self, response: httpx.Response) -> Verdict | ErrorFactory:
        """A status no rule or table settles: throttling at 429 (waiting what ``Retry-After``
        says), transient from 500 up, a developer's bug otherwise."""
        status = response.status_code
        if status != 429:
            return "transient" if status >= 500 else "developer"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        vendor = self.vendor

        def throttled(_message: str, status: int, _code: str | None, _f: str | None) -> RateLimited:
            return RateLimited(
                f"{vendor} rate limit reached", retry_after=retry_after, status=status
            )

        return throttled

    def _factory(self, verdict: Verdict | ErrorFactory) -> ErrorFactory:
        if callable(verdict):
            return verdict
        if verdict == "auth":
            return auth_error(self.auth_hint)
        return _BY_VERDICT[verdict]
