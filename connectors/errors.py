"""Typed errors, sorted by what must happen next rather than where they came from.

::

    DealbridgeError
    ├── ConfigError          an admin fixes config.yaml or a mapping; carries file, line, key, hint
    └── ConnectorError       carries connector, operation and a redacted request line
        ├── TransientError   retried with backoff (timeout, connection reset, 5xx)
        │   └── RateLimited  after ``retry_after`` s (429; a short window's budget)
        ├── BudgetExhausted  a daily budget is spent: the job stops until ``until``, not retried
        ├── PermanentError   the job stops and alerts; ``who_acts`` is "admin" or "developer"
        │   └── AuthError    credentials are wrong, expired or revoked (admin acts)
        └── RecordError      one record failed; it is reported and the run goes on

Conflicts are values the planner returns, never exceptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from connectors.redact import scrub

WhoActs = Literal["admin", "developer"]


class DealbridgeError(Exception):
    """Root of every error dealbridge raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a config or mapping file, located precisely enough to fix it.

    The text is scrubbed as it is made: it often quotes what the admin wrote, and what they
    wrote may be a credential in the wrong place (the terminal, the daemon's log and the
    ``config_invalid`` alert all show it)."""

    file: str
    line: int | None
    key: str
    message: str
    hint: str = ""

    def __post_init__(self) -> None:
        for name in ("key", "message", "hint"):
            object.__setattr__(self, name, scrub(getattr(self, name)))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where} {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


class ConfigError(DealbridgeError):
    """Config or mapping is invalid; every problem is reported at once."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConnectorError(DealbridgeError):
    """A call to a vendor failed."""

    def __init__(
        self,
        message: str,
        *,
        connector: str = "",
        operation: str = "",
        status: int | None = None,
        vendor_code: str | None = None,
    ) -> None:
        self.message = message
        self.connector = connector
        self.operation = operation
        self.status = status
        self.vendor_code = vendor_code
        super().__init__(message)

    def __str__(self) -> str:
        parts = [p for p in (self.connector, self.operation) if p]
        prefix = f"[{' '.join(parts)}] " if parts else ""
        code = f" ({self.vendor_code})" if self.vendor_code else ""
        if self.message.endswith(code):  # a vendor's own list of errors already named it
            code = ""
        status = f"HTTP {self.status}: " if self.status else ""
        return f"{prefix}{status}{self.message}{code}"


class TransientError(ConnectorError):
    """Worth retrying after a pause: the vendor or the network hiccupped."""


class RateLimited(TransientError):
    """The vendor asked us to slow down; ``retry_after`` is in seconds (None if unknown)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)  # type: ignore[arg-type]


class BudgetExhausted(ConnectorError):
    """The vendor's budget for a long period (a day) is spent: nothing can succeed before
    ``until`` (aware UTC), so retrying inside a run only burns time and the job waits.

    ``exact`` says whether ``until`` is the vendor's documented reset (HubSpot: midnight in
    the account's time zone) or only the earliest time worth asking again (Salesforce's
    allocation rolls over 24 hours: capacity returns as old calls age out of the window).
    """

    def __init__(
        self,
        message: str,
        *,
        until: datetime,
        exact: bool = True,
        budget: str = "daily API budget",
        **kw: object,
    ) -> None:
        if until.tzinfo is None:
            raise ValueError("BudgetExhausted.until must be an aware datetime")
        self.until = until
        self.exact = exact
        self.budget = budget
        super().__init__(message, **kw)  # type: ignore[arg-type]

    def when(self) -> str:
        """``resets at 2026-12-05 00:00 UTC`` or ``tried again at ...`` (for people)."""
        stamp = f"{self.until:%Y-%m-%d %H:%M} UTC"
        return f"resets at {stamp}" if self.exact else f"tried again at {stamp}"


class PermanentError(ConnectorError):
    """Retrying will not help; a person must act."""

    who_acts: WhoActs = "developer"

    def __init__(self, message: str, *, who_acts: WhoActs | None = None, **kw: object) -> None:
        if who_acts is not None:
            self.who_acts = who_acts
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AuthError(PermanentError):
    """Credentials were refused: an admin must renew or fix them."""

    who_acts: WhoActs = "admin"


class RecordError(ConnectorError):
    """One record could not be read or written; the others go on."""

    def __init__(
        self, message: str, *, record_id: str = "", field: str | None = None, **kw: object
    ) -> None:
        self.record_id = record_id
        self.field = field
        super().__init__(message, **kw)  # type: ignore[arg-type]
