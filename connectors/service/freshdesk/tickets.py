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
from typing import Any

import structlog

from connectors.base import DeskTicket
from connectors.desk import created_ticket_id
from connectors.errors import PermanentError, RecordError
from connectors.http import VendorClient

log = structlog.get_logger("dealbridge.freshdesk")

PRIORITY = {"info": 1, "warning": 2, "critical": 4}
"""Freshdesk priorities: 1 low, 2 medium, 3 high, 4 urgent."""
OPEN = 2


class FreshdeskTickets:
    """Opens alert tickets and adds private notes through the target's client."""

    def __init__(self, http: VendorClient) -> None:
        self._http = http

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
        response = await self._http.request(
            "POST", "/api/v2/tickets", operation="open_ticket", json=fields
        )
        return created_ticket_id(self._http, response, "Freshdesk", "id")

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """A private note on ``ticket_id``; a deleted ticket gets a new one."""
        try:
            await self._http.request(
                "POST",
                f"/api/v2/tickets/{ticket_id}/notes",
                operation="note_ticket",
                json={"body": as_html(ticket.body), "private": True},
            )
        except RecordError as exc:
            if exc.status != 404:
                raise
            log.warning("freshdesk_ticket_gone", ticket=ticket_id)
            return await self.open_ticket(ticket, follows=ticket_id)
        return ticket_id


def as_html(text: str, follows: str | None = None) -> str:
    """Plain text as Freshdesk's HTML: escaped, line breaks kept."""
    if follows is not None:
        text = f"Follows alert ticket {follows}, which is gone.\n\n{text}"
    return "<br>".join(html.escape(line) for line in text.splitlines())
