"""Freshdesk tickets as alerts use them: create, and private notes.

* ``POST /api/v2/tickets`` ``{"subject", "description", "email" | "requester_id", "priority",
  "status", "tags", "group_id"}`` answers 201 with the ticket; without a requester, 400
  ``missing_field`` [doc: API v2 "Create a Ticket"]. Freshdesk has no idempotency key.
* ``POST /api/v2/tickets/{id}/notes`` ``{"body", "private"}`` answers 201 with the note; a
  missing ticket answers 404 with no body. Closed tickets take notes.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

REQUESTERS = ("email", "requester_id", "phone", "twitter_id", "facebook_id", "unique_external_id")


class TicketBook:
    """Tickets by id with their notes."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.tickets: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(501)
        self._notes = itertools.count(9001)

    def delete(self, ticket_id: int) -> None:
        """What an agent deleting the ticket (and emptying the trash) does."""
        del self.tickets[ticket_id]

    async def create(self, request: Request) -> Response:
        """``POST /api/v2/tickets``."""
        fields = await _body(request)
        if not any(fields.get(name) for name in REQUESTERS):
            return JSONResponse(_missing("requester_id", REQUESTERS), status_code=400)
        if not fields.get("subject") or not fields.get("description"):
            return JSONResponse(_missing("description", ("description",)), status_code=400)
        ticket_id = next(self._ids)
        self.tickets[ticket_id] = fields | {
            "id": ticket_id,
            "created_at": self.clock().isoformat(),
            "notes": [],
        }
        return JSONResponse(self.tickets[ticket_id], status_code=201)

    async def note(self, request: Request) -> Response:
        """``POST /api/v2/tickets/{id}/notes``."""
        ticket = self.tickets.get(int(request.path_params["ticket_id"]))
        if ticket is None:
            return Response(status_code=404)
        fields = await _body(request)
        note = {"id": next(self._notes), "body": fields.get("body")}
        note["private"] = fields.get("private")
        ticket["notes"].append(note)
        return JSONResponse(note, status_code=201)


def _missing(field: str, names: tuple[str, ...]) -> dict[str, Any]:
    message = f"Please fill at least 1 of {', '.join(names)} fields"
    error = {"field": field, "message": message, "code": "missing_field"}
    return {"description": "Validation failed", "errors": [error]}


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
