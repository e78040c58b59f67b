"""Alerts as Freshdesk tickets (the ``TicketDesk`` capability of the Freshdesk target).

* open: ``POST /api/v2/tickets`` ``{"subject", "description" (HTML), "email", "priority" 1-4,
  "status": 2 (open), "tags", "group_id"}`` -> 201 ``{"id"}``. Freshdesk needs a requester, so
  the alert channel must name one (``requester_email``). Freshdesk has no idempotency key: a
  create retried after a lost answer may open a second ticket;
* note: ``POST /api/v2/tickets/{id}/notes`` ``{"body" (HTML), "private": true}``. Closed
  tickets take notes; a deleted ticket (404) is replaced by a new one.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable
from typing import Any

import structlog

from connectors.base import DeskTicket
from connectors.desk import RestTickets
from connectors.errors import PermanentError, RecordError

log = structlog.get_logger("dealbridge.freshdesk")

PRIORITY = {"info": 1, "warning": 2, "critical": 4}
"""Freshdesk priorities: 1 low, 2 medium, 3 high, 4 urgent."""
OPEN = 2


class FreshdeskTickets(RestTickets):
    """Opens alert tickets and adds private notes through the target's client."""

    desk = "Freshdesk"
    created_id_at = ("id",)

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Create an open ticket whose description is the alert; return its id."""
        if ticket.requester_email is None:
            raise PermanentError(
                "Freshdesk tickets need a requester: set requester_email on the alert channel",
                who_acts="admin",
                connector=self._http.connector,
                operation="open_ticket",
            )
        fields: dict[str, Any] = {
            "subject": ticket.subject,
            "description": as_html(ticket.body, follows),
            "email": ticket.requester_email,
            "priority": PRIORITY[ticket.severity],
            "status": OPEN,
            "tags": list(dict.fromkeys(tag for tag in ticket.tags if tag.strip())),
        }
        if ticket.group is not None:
            fields["group_id"] = int(ticket.group) if ticket.group.isdigit() else ticket.group
        return await self._created("/api/v2/tickets", fields)

    def _note(self, ticket_id: str, ticket: DeskTicket) -> tuple[str, str, object]:
        """A private note on ``ticket_id``."""
        body = {"body": as_html(ticket.body), "private": True}
        return "POST", f"/api/v2/tickets/{ticket_id}/notes", body

    def _successor(
        self, ticket_id: str, ticket: DeskTicket, refused: RecordError
    ) -> Awaitable[str] | None:
        """A deleted ticket (404) gets a new one; closed tickets take notes."""
        if refused.status != 404:
            return None
        log.warning("freshdesk_ticket_gone", ticket=ticket_id)
        return self.open_ticket(ticket, follows=ticket_id)


def as_html(text: str, follows: str | None = None) -> str:
    """Plain text as Freshdesk's HTML: escaped, line breaks kept."""
    if follows is not None:
        text = f"Follows alert ticket {follows}, which is gone.\n\n{text}"
    return "<br>".join(html.escape(line) for line in text.splitlines())
