"""What every desk connector's alert tickets (``TicketDesk``) need alike."""

from __future__ import annotations

from connectors.errors import PermanentError


def created_ticket_id(found: object, *, desk: str, connector: str, status: int) -> str:
    """The id a desk answered a ticket create with; an answer without one is a vendor or
    connector defect, never worth repeating (a repeat could open a second ticket)."""
    if isinstance(found, bool) or not isinstance(found, int | str) or str(found) == "":
        raise PermanentError(
            f"{desk} created the ticket without returning its id",
            connector=connector,
            operation="open_ticket",
            status=status,
        )
    return str(found)
