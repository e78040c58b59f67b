"""The simulator's error answers: Dataverse's ``{"error": {"code", "message"}}`` body.

Codes and messages come from FACTS.md where it has them (§6.4 change-tracking options, §6.7
expired version stamp, §8.1 service protection, §9.3 a missing row); the rest say what the
simulator found, with an empty code ("frequently empty", §9.1).
"""

from __future__ import annotations

from typing import Any

ODATA_QUERY = "0x80060888"
"""The code of the documented query error example (FACTS.md §9.1); used for query errors."""
NOT_FOUND = "0x80040217"
EXPIRED_VERSION_STAMP = "0x80044352"
REQUESTS_LIMIT = "0x80072322"
EXECUTION_TIME_LIMIT = "0x80072321"
CONCURRENCY_LIMIT = "0x80072326"


class ODataError(Exception):
    """An error answer: HTTP status, code, message and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        """The JSON body Dataverse sends."""
        return {"error": {"code": self.code, "message": self.message}}


def unknown_property(name: str, table: str) -> ODataError:
    """A query names a column the table does not have."""
    return ODataError(
        400,
        f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{table}'.",
        ODATA_QUERY,
    )


def not_supported_with_tracking(option: str) -> ODataError:
    """FACTS.md §6.4: these options are refused with ``Prefer: odata.track-changes``."""
    return ODataError(
        400,
        f'The "${option}" query parameter isn\'t supported when Change Tracking is enabled.',
    )
