"""Alerts as Intercom tickets (the ``TicketDesk`` capability).

Why tickets, not contact notes: an alert is work for a person (a conflict to decide, a deal held
for review), often about no single contact. Intercom tickets are that: they have a state (open
or closed), an assignee team, sit in the inbox's ticket views, and take internal notes
(``message_type: note``) that customers never see. A contact note (FACTS.md §7) has no state,
no assignee and cannot be updated, so it would be read by whoever opens that contact, if anyone.
A **Back-office** ticket type keeps alerts off the customer's side (``is_shared`` false).

Calls (Intercom 2.15 description, ``createTicket``, ``replyTicket``, ``getTicket``,
``searchTickets``):

* open: ``POST /tickets/search`` for a ticket of the type whose title carries the alert's key
  (see below), then ``POST /tickets`` ``{"ticket_type_id", "contacts": [{"email"}],
  "ticket_attributes": {"_default_title_", "_default_description_"}, "assignment":
  {"team_assignee_id"}}`` and ``POST /tickets/{id}/reply`` ``{"message_type": "note", "type":
  "admin", "admin_id", "body"}`` (the body as the first internal note);
* note: ``GET /tickets/{id}``; a ticket that is gone (404) or closed (``open: false``) is
  followed by a new ticket naming it; otherwise ``POST /tickets/{id}/reply`` as above.

Intercom takes no idempotency key. The ticket's title ends with ``[dealbridge <key>]`` and a
create is preceded by a search for that text, so a create retried after a lost answer (the
outbox retries minutes later, when the search has indexed the first one) finds the ticket
instead of opening a second; the first note carries the key too and is added only if the
ticket does not have it yet. A retry inside the search's indexing delay can still duplicate.
A ticket needs exactly one contact: the alert's requester email, else ``alert_contact_email``
(Intercom creates a contact for an email it does not know). Severity and tags are written into
the description: a ticket's default attributes have neither a priority nor free tags.
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from connectors.base import DeskTicket
from connectors.errors import PermanentError, RecordError
from connectors.service.intercom.client import IntercomApi
from connectors.service.intercom.config import IntercomConfig

log = structlog.get_logger("dealbridge.intercom")

KEY_LENGTH = 16


def marker(ticket: DeskTicket) -> str:
    """The text that names this alert's ticket in its title and first note."""
    return f"[dealbridge {ticket.key[:KEY_LENGTH]}]"


def note_html(text: str) -> str:
    """Plain text as a note body: escaped, lines kept (notes accept some HTML)."""
    return "<br>".join(html.escape(line, quote=False) for line in text.split("\n"))


class Tickets:
    """Opens alert tickets and adds internal notes to them."""

    def __init__(
        self, api: IntercomApi, config: IntercomConfig, admin_id: Callable[[], Awaitable[str]]
    ) -> None:
        self._api = api
        self._config = config
        self._admin_id = admin_id

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """The ticket for ``ticket.key`` (found, or created with the body as its first note)."""
        type_id = self._ticket_type()
        existing = await self._find(type_id, ticket)
        if existing is not None:
            ticket_id = str(existing["id"])
            current = await self._api.get(f"/tickets/{ticket_id}", operation="read_ticket")
            if current is not None and not _has_note(current, marker(ticket)):
                await self._note(ticket_id, ticket)  # the first create's note was lost
            return ticket_id
        body: dict[str, Any] = {
            "ticket_type_id": type_id,
            "contacts": [{"email": self._contact(ticket)}],
            "ticket_attributes": {
                "_default_title_": f"{ticket.subject} {marker(ticket)}",
                "_default_description_": _description(ticket, follows),
            },
        }
        if ticket.group:
            body["assignment"] = {"team_assignee_id": ticket.group}
        created = await self._api.post("/tickets", body, operation="open_ticket")
        ticket_id = str(created.get("id") or "")
        if not ticket_id:
            raise PermanentError(
                "Intercom created a ticket but answered no id", operation="open_ticket"
            )
        await self._note(ticket_id, ticket)
        log.info("intercom_ticket_opened", ticket=ticket_id, follows=follows)
        return ticket_id

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """The note on ``ticket_id``; a gone or closed ticket is followed by a new one."""
        current = await self._api.get(f"/tickets/{ticket_id}", operation="read_ticket")
        if current is None or current.get("open") is False:
            state = "gone" if current is None else "closed"
            log.info("intercom_ticket_followed", ticket=ticket_id, state=state)
            return await self.open_ticket(ticket, follows=ticket_id)
        try:
            await self._note(ticket_id, ticket)
        except RecordError as exc:
            if exc.status != 404:
                raise
            return await self.open_ticket(ticket, follows=ticket_id)
        return ticket_id

    async def _find(self, type_id: str, ticket: DeskTicket) -> dict[str, Any] | None:
        query = {
            "operator": "AND",
            "value": [
                {"field": "ticket_type_id", "operator": "=", "value": type_id},
                {"field": "title", "operator": "~", "value": marker(ticket)},
            ],
        }
        found = await self._api.post(
            "/tickets/search",
            {"query": query, "pagination": {"per_page": 5}},
            operation="find_ticket",
            changes=False,
            idempotent=True,
        )
        tickets = found.get("tickets")
        for item in tickets if isinstance(tickets, list) else ():
            if isinstance(item, dict) and item.get("id") is not None:
                title = (item.get("ticket_attributes") or {}).get("_default_title_") or ""
                if marker(ticket) in str(title):
                    return item
        return None

    async def _note(self, ticket_id: str, ticket: DeskTicket) -> None:
        text = f"{ticket.body}\n\n{marker(ticket)}"
        await self._api.post(
            f"/tickets/{ticket_id}/reply",
            {
                "message_type": "note",
                "type": "admin",
                "admin_id": await self._admin_id(),
                "body": note_html(text),
            },
            operation="ticket_note",
        )

    def _ticket_type(self) -> str:
        if self._config.ticket_type_id is None:
            raise PermanentError(
                "alerts cannot become Intercom tickets: set ticket_type_id on the Intercom "
                "connector (a Back-office ticket type's id)",
                who_acts="admin",
                operation="open_ticket",
            )
        return self._config.ticket_type_id

    def _contact(self, ticket: DeskTicket) -> str:
        email = ticket.requester_email or self._config.alert_contact_email
        if not email:
            raise PermanentError(
                "an Intercom ticket needs a contact: set alert_contact_email on the Intercom "
                "connector (or give the alert a requester)",
                who_acts="admin",
                operation="open_ticket",
            )
        return email


def _description(ticket: DeskTicket, follows: str | None) -> str:
    lines = [f"dealbridge alert, severity {ticket.severity}. Details in the internal notes."]
    if follows:
        lines.append(f"Follows ticket {follows}, which is closed or gone.")
    if ticket.tags:
        lines.append(f"Tags: {', '.join(ticket.tags)}")
    return "\n".join(lines)


def _has_note(ticket: dict[str, Any], text: str) -> bool:
    parts = ticket.get("ticket_parts")
    items = parts.get("ticket_parts") if isinstance(parts, dict) else None
    if not isinstance(items, list):
        return False
    return any(
        isinstance(p, dict) and p.get("part_type") == "note" and text in str(p.get("body") or "")
        for p in items
    )
