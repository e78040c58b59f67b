"""Building blocks for a vendor's status/code -> error table.

A vendor module maps HTTP statuses and its own error codes to one of these factories; each
takes (message, status, vendor code, field named by the vendor) and returns the typed error
that decides what happens next (see :mod:`connectors.errors`).
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RecordError,
    TransientError,
)

ErrorFactory = Callable[[str, int, str | None, str | None], ConnectorError]


def auth_error(hint: str) -> ErrorFactory:
    """Credentials refused; ``hint`` says what the admin should check."""

    def build(message: str, status: int, code: str | None, _field: str | None) -> ConnectorError:
        return AuthError(message + hint, status=status, vendor_code=code)

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
