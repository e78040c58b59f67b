"""Tickets, as far as alerts use them (Intercom 2.15 description: ``createTicket``,
``getTicket``, ``updateTicket``, ``replyTicket``, ``searchTickets``).

* a ticket needs a known ``ticket_type_id`` and exactly one contact (``id``, ``external_id`` or
  ``email``; an unknown email creates a contact, as the description says);
* ``_default_title_`` and ``_default_description_`` are the ticket's attributes;
* replies of ``message_type: note`` by an admin become ``note`` parts; parts are listed on the
  ticket (``ticket_parts``);
* ``PUT`` may close (``open: false``) or reopen a ticket;
* search takes the contact search's query form over ``title``, ``description``,
  ``ticket_type_id``, ``open`` and ``state`` (``=``, ``!=``, ``~``); it is answered from the
  tickets themselves (an indexing delay for tickets is not documented, so none is modelled).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from connectors.service.intercom.simulator.search import MAX_ITEMS, QueryError

TicketPredicate = Callable[[Mapping[str, Any]], bool]


class TicketRefused(Exception):
    """(status, code, message) for a ticket request Intercom refuses."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(message)


class TicketDesk:
    """The workspace's ticket types and tickets."""

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self.types: dict[str, dict[str, Any]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(601)
        self._parts = itertools.count(1001)

    def add_type(self, name: str, category: str = "Back-office") -> dict[str, Any]:
        """A ticket type (what an admin creates under Settings > Tickets)."""
        type_id = str(80 + len(self.types))
        self.types[type_id] = {
            "type": "ticket_type",
            "id": type_id,
            "name": name,
            "description": f"{name} tickets",
            "icon": "!",
            "workspace_id": "dealbridge-demo-workspace",
            "archived": False,
            "created_at": self._now(),
            "updated_at": self._now(),
            "is_internal": category != "Customer",
            "category": category,
        }
        return self.types[type_id]

    def create(self, body: Mapping[str, Any], contact: Mapping[str, Any]) -> dict[str, Any]:
        """A new ticket for ``contact`` (already resolved from ``body["contacts"]``)."""
        ticket_type = self.types.get(str(body.get("ticket_type_id")))
        if ticket_type is None:
            raise TicketRefused(400, "parameter_invalid", "Ticket type not found")
        attributes = body.get("ticket_attributes")
        attributes = dict(attributes) if isinstance(attributes, dict) else {}
        assignment = body.get("assignment")
        team = assignment.get("team_assignee_id") if isinstance(assignment, dict) else None
        ticket_id = str(next(self._ids))
        now = self._now()
        self.tickets[ticket_id] = {
            "type": "ticket",
            "id": ticket_id,
            "ticket_id": str(int(ticket_id) - 590),
            "category": ticket_type["category"],
            "ticket_attributes": {
                "_default_title_": attributes.get("_default_title_"),
                "_default_description_": attributes.get("_default_description_"),
            },
            "ticket_state": _state("submitted"),
            "ticket_type": ticket_type,
            "contacts": {
                "type": "contact.list",
                "contacts": [
                    {
                        "type": "contact",
                        "id": contact["id"],
                        "external_id": contact.get("external_id"),
                    }
                ],
            },
            "admin_assignee_id": "0",
            "team_assignee_id": str(team) if team else "0",
            "created_at": now,
            "updated_at": now,
            "open": True,
            "ticket_parts": {"type": "ticket_part.list", "ticket_parts": [], "total_count": 0},
            "linked_objects": {"type": "list", "data": [], "total_count": 0, "has_more": False},
            "is_shared": ticket_type["category"] == "Customer",
        }
        return self.tickets[ticket_id]

    def get(self, ticket_id: str) -> dict[str, Any]:
        """One ticket, or 404."""
        ticket = self.tickets.get(ticket_id)
        if ticket is None:
            raise TicketRefused(404, "not_found", "Resource Not Found")
        return ticket

    def update(self, ticket_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Close or reopen (``open``); ``ticket_attributes`` merged."""
        ticket = self.get(ticket_id)
        if isinstance(body.get("open"), bool):
            ticket["open"] = body["open"]
            ticket["ticket_state"] = _state("in_progress" if body["open"] else "resolved")
        if isinstance(body.get("ticket_attributes"), dict):
            ticket["ticket_attributes"].update(body["ticket_attributes"])
        ticket["updated_at"] = self._now()
        return ticket

    def reply(
        self, ticket_id: str, body: Mapping[str, Any], admin: Mapping[str, Any]
    ) -> dict[str, Any]:
        """An admin's note (or comment) on the ticket, as a ticket part."""
        ticket = self.get(ticket_id)
        kind = body.get("message_type")
        if kind not in ("note", "comment") or body.get("type") != "admin":
            raise TicketRefused(
                400, "parameter_invalid", "Only admin notes and comments are modelled"
            )
        if not isinstance(body.get("body"), str) or not body["body"]:
            raise TicketRefused(400, "parameter_not_found", "body is required for notes")
        now = self._now()
        part = {
            "type": "ticket_part",
            "id": str(next(self._parts)),
            "part_type": kind,
            "body": body["body"],
            "created_at": now,
            "updated_at": now,
            "author": {
                "id": admin["id"],
                "type": "admin",
                "name": admin.get("name"),
                "email": admin.get("email"),
            },
            "attachments": [],
            "redacted": False,
        }
        parts = ticket["ticket_parts"]
        parts["ticket_parts"].append(part)
        parts["total_count"] = len(parts["ticket_parts"])
        ticket["updated_at"] = now
        return part

    def search(self, query: Any) -> list[dict[str, Any]]:
        """Tickets matching ``query`` (the search request form), by id."""
        keep = _compile(query, depth=0)
        return [self.tickets[i] for i in sorted(self.tickets, key=int) if keep(self.tickets[i])]


def _state(category: str) -> dict[str, Any]:
    label = category.replace("_", " ").capitalize()
    return {
        "type": "ticket_state",
        "id": str(
            8000 + ["submitted", "in_progress", "waiting_on_customer", "resolved"].index(category)
        ),
        "category": category,
        "internal_label": label,
        "external_label": label,
    }


FIELDS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "title": lambda t: t["ticket_attributes"].get("_default_title_"),
    "description": lambda t: t["ticket_attributes"].get("_default_description_"),
    "ticket_type_id": lambda t: t["ticket_type"]["id"],
    "open": lambda t: t["open"],
    "state": lambda t: t["ticket_state"]["category"],
}


def _compile(query: Any, depth: int) -> TicketPredicate:
    if not isinstance(query, dict):
        raise QueryError("query must be an object")
    if query.get("operator") in ("AND", "OR") and "field" not in query:
        items = query.get("value")
        if depth >= 2 or not isinstance(items, list) or not 0 < len(items) <= MAX_ITEMS:
            raise QueryError("a group holds 1 to 15 filters and nests at most 2 levels")
        parts = [_compile(item, depth + 1) for item in items]
        if query["operator"] == "AND":
            return lambda t: all(p(t) for p in parts)
        return lambda t: any(p(t) for p in parts)
    read = FIELDS.get(str(query.get("field")))
    operator, value = query.get("operator"), query.get("value")
    if read is None or operator not in ("=", "!=", "~"):
        raise QueryError(f"unsupported ticket filter {query.get('field')!r} {operator!r}")
    if operator == "~":
        text = str(value).lower()
        return lambda t: text in str(read(t) or "").lower()
    if operator == "=":
        return lambda t: _same(read(t), value)
    return lambda t: not _same(read(t), value)


def _same(have: Any, value: Any) -> bool:
    if isinstance(have, bool):
        return have == (value if isinstance(value, bool) else str(value).lower() == "true")
    return str(have) == str(value)
