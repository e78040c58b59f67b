"""Zendesk Support tickets as alerts use them: create (with ``Idempotency-Key``) and comment.

* ``POST /api/v2/tickets`` ``{"ticket": {"subject", "comment": {"body", "public"}, ...}}``
  answers 201 ``{"ticket": {...}}``. A repeated ``Idempotency-Key`` with the same body answers
  the first answer again, even for a ticket deleted since (header ``x-idempotency-lookup:
  hit``); with another body, 400
  ``IdempotentRequestError`` [doc: Tickets API "Idempotency"].
* ``PUT /api/v2/tickets/{id}`` ``{"ticket": {"comment": {...}}}`` adds a comment; a missing
  ticket answers 404 ``RecordNotFound``, a closed one 422 ``RecordInvalid`` "Status: closed
  prevents ticket update" [doc: "Creating and updating tickets"].
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
CLOSED = {
    "error": "RecordInvalid",
    "description": "Record validation errors",
    "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
}


class TicketBook:
    """Tickets by id, their comments, and the idempotency keys seen."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.tickets: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(7001)
        self._keys: dict[str, tuple[str, dict[str, Any]]] = {}
        """Idempotency key -> the request body and the first answer (replayed as it was)."""

    def close(self, ticket_id: int) -> None:
        """What an agent solving and closing the ticket does."""
        self.tickets[ticket_id]["status"] = "closed"

    def delete(self, ticket_id: int) -> None:
        """What an agent deleting the ticket does."""
        del self.tickets[ticket_id]

    async def create(self, request: Request) -> Response:
        """``POST /api/v2/tickets``."""
        raw = await request.body()
        key = request.headers.get("idempotency-key")
        if key is not None and key in self._keys:
            seen, answer = self._keys[key]
            if seen != raw.decode():
                error = {
                    "error": "IdempotentRequestError",
                    "description": "Request parameters do not match the original request",
                }
                return JSONResponse(error, status_code=400)
            headers = {"x-idempotency-lookup": "hit"}
            return JSONResponse(answer, 201, headers=headers)
        fields = _ticket(raw)
        if fields is None or not fields.get("comment"):
            details = {"description": [{"description": "Description: cannot be blank"}]}
            body = {"error": "RecordInvalid", "description": "Record validation errors"}
            return JSONResponse(body | {"details": details}, status_code=422)
        ticket_id = next(self._ids)
        comment = fields.pop("comment")
        self.tickets[ticket_id] = fields | {
            "id": ticket_id,
            "status": "new",
            "created_at": self.clock().isoformat(),
            "comments": [comment],
        }
        if key is not None:
            self._keys[key] = (raw.decode(), {"ticket": dict(self.tickets[ticket_id])})
        return JSONResponse({"ticket": self.tickets[ticket_id]}, status_code=201)

    async def update(self, request: Request) -> Response:
        """``PUT /api/v2/tickets/{id}`` with a comment."""
        ticket = self.tickets.get(int(request.path_params["ticket_id"]))
        if ticket is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        if ticket["status"] == "closed":
            return JSONResponse(CLOSED, status_code=422)
        fields = _ticket(await request.body()) or {}
        if "comment" in fields:
            ticket["comments"].append(fields.pop("comment"))
        ticket.update(fields)
        return JSONResponse({"ticket": ticket})


def _ticket(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return None
    ticket = body.get("ticket") if isinstance(body, dict) else None
    return dict(ticket) if isinstance(ticket, dict) else None
