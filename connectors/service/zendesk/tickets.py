"""Alerts as Zendesk tickets (the ``TicketDesk`` capability of the Zendesk target).

* open: ``POST /api/v2/tickets.json`` ``{"ticket": {"subject", "comment": {"body", "public":
  false}, "priority", "tags", "external_id", "group_id", "requester"}}`` -> 201 ``{"ticket":
  {"id"}}``, sent with an ``Idempotency-Key`` derived from the alert, so a create retried after
  a lost answer gets the first ticket back instead of a second one [doc: Tickets API
  "Idempotency"];
* note: ``PUT /api/v2/tickets/{id}.json`` ``{"ticket": {"comment": {"body", "public":
  false}}}``. A deleted ticket (404) is replaced by a new one; a closed ticket cannot be
  updated (422 "Status: closed prevents ticket update"), so a follow-up ticket is opened with
  ``via_followup_source_id``.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import structlog

from connectors.base import DeskTicket
from connectors.desk import RestTickets
from connectors.errors import RecordError

log = structlog.get_logger("dealbridge.zendesk")

PRIORITY = {"info": "low", "warning": "normal", "critical": "urgent"}


class ZendeskTickets(RestTickets):
    """Opens alert tickets and adds private comments through the target's client."""

    desk = "Zendesk"
    created_id_at = ("ticket", "id")

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Create the ticket (idempotently) with the alert as a private first comment."""
        return await self._create(ticket, follows=follows)

    async def _create(
        self, ticket: DeskTicket, *, follows: str | None = None, replaces: str | None = None
    ) -> str:
        fields: dict[str, Any] = {
            "subject": ticket.subject,
            "comment": {"body": ticket.body, "public": False},
            "priority": PRIORITY[ticket.severity],
            "tags": tags(ticket.tags),
            "external_id": ticket.key,
        }
        if ticket.group is not None:
            fields["group_id"] = _number(ticket.group)
        if ticket.requester_email is not None:
            fields["requester"] = {"email": ticket.requester_email}
        if follows is not None:
            fields["via_followup_source_id"] = _number(follows)
        # Zendesk replays a key's first answer for hours, deleted ticket included: a ticket
        # opened after another one needs a key of its own.
        after = follows or replaces
        tail = f"-after-{after}" if after else ""
        return await self._created(
            "/api/v2/tickets.json",
            {"ticket": fields},
            headers={"Idempotency-Key": f"dealbridge-{ticket.key}{tail}"},
            idempotent=True,  # the key makes a repeated create answer the first ticket
        )

    def _note(self, ticket_id: str, ticket: DeskTicket) -> tuple[str, str, object]:
        """A private comment on ``ticket_id``."""
        body = {"ticket": {"comment": {"body": ticket.body, "public": False}}}
        return "PUT", f"/api/v2/tickets/{ticket_id}.json", body

    def _successor(
        self, ticket_id: str, ticket: DeskTicket, refused: RecordError
    ) -> Awaitable[str] | None:
        """A deleted ticket (404) gets a new one; a closed one (422 "Status: closed prevents
        ticket update") a follow-up."""
        if refused.status == 404:
            log.warning("zendesk_ticket_gone", ticket=ticket_id)
            return self._create(ticket, replaces=ticket_id)
        if refused.status == 422 and "closed" in refused.message.lower():
            log.info("zendesk_ticket_closed", ticket=ticket_id)
            return self._create(ticket, follows=ticket_id)
        return None


def tags(raw: tuple[str, ...]) -> list[str]:
    """Zendesk tags: lower-case, no spaces (a space would split one tag in two), no repeats."""
    cleaned = ["_".join(tag.lower().split()) for tag in raw if tag.strip()]
    return list(dict.fromkeys(cleaned))


def _number(value: str) -> int | str:
    return int(value) if value.isdigit() else value
