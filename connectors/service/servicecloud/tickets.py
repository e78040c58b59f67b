"""Alerts as Service Cloud cases: a Case per alert, its text as internal CaseComments.

* Open (FACTS.md 8.1, 8.2, 5.5): a ``Case`` with ``Subject`` (255 characters), ``Priority``
  (info Low, warning Medium, critical High, where the org's picklist has them), ``Origin`` (the
  configured ``case_origin``), ``OwnerId`` (``DeskTicket.group``: a queue or user id) and, for
  a follow-up of a closed case, ``ParentId``; then the body as a ``CaseComment`` with
  ``IsPublished = false`` (internal: agents see it, a customer portal does not). Fields the
  org's Case describe lacks are left out.
  With ``case_key_field`` (an External ID text field on Case) the case is **upserted** by the
  alert's key (``PATCH /composite/sobjects/Case/{field}``): a create retried after a lost answer
  finds the case the first attempt made instead of opening a second one, and a case that
  already has a comment is not commented again. Without it the case is created with
  ``POST /sobjects/Case``, which is sent again only when it never reached Salesforce.
* Follow-up: ``CaseComment`` on the case; a case that is gone (deleted) gets a new case, a
  closed one (``IsClosed``, where the org's Case describe has it) a new case whose ``ParentId``
  is the closed one. One ``SELECT Id, IsClosed FROM Case`` per follow-up tells which.
* ``CommentBody`` holds 4,000 bytes (FACTS.md 8.2): a longer body is cut at a character
  boundary and says so. CaseComments are append-only, which suits alerts; the deal note is
  never kept in one.
"""

from __future__ import annotations

import hashlib
import re

from connectors.base import DeskTicket
from connectors.errors import PermanentError
from connectors.record_values import objects
from connectors.service.servicecloud.catalog import DescribedPart
from connectors.service.servicecloud.errors import save_error
from connectors.service.servicecloud.payloads import literal
from connectors.service.servicecloud.queries import select

PRIORITY = {"info": "Low", "warning": "Medium", "critical": "High"}
COMMENT_BYTES = 4_000
SUBJECT_CHARS = 255
CUT = "\n[... cut to fit Salesforce's comment limit; the full alert is in dealbridge alerts list]"
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


class CaseTickets(DescribedPart):
    """The ``TicketDesk`` capability of the Service Cloud target."""

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """A new case (a follow-up of ``follows``) with ``ticket.body`` as its internal comment."""
        values = await self._case_values(ticket, follows)
        key_field = self._config.case_key_field
        if key_field is None:
            answer = await self._api.create("Case", values)
            case_id = _id_of(answer, "create Case")
        else:
            record = {"attributes": {"type": "Case"}, key_field: _case_key(ticket, follows)}
            [answer] = await self._api.upsert_collection("Case", key_field, [record | values])
            error = save_error(answer)
            if error is not None:
                raise PermanentError(
                    f"Salesforce refused the alert case: {error.message} ({error.code})",
                    who_acts="admin",
                    operation="upsert Case",
                    vendor_code=error.code,
                )
            case_id = _id_of(answer, "upsert Case")
            if answer.get("created") is False and await self._has_comment(case_id):
                return case_id  # an earlier attempt opened it and wrote the comment
        await self._comment(case_id, ticket)
        return case_id

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """An internal comment on ``ticket_id``, or a new case when it is gone or closed."""
        if not _RECORD_ID.match(ticket_id):
            return await self.open_ticket(ticket)
        schema = await self._describes.get("Case")
        columns = schema.present(["Id", "IsClosed"])
        soql = select("Case", columns, f"Id = {literal(ticket_id)}")
        # Only a case the answer names is found: a row that is not an object names none (the
        # note then goes on a new case rather than failing the alert)
        rows = objects(await self._api.query_rows(soql, "find alert case"))
        if not rows:
            return await self.open_ticket(ticket)
        if rows[0].get("IsClosed") is True:
            return await self.open_ticket(ticket, follows=ticket_id)
        await self._comment(ticket_id, ticket)
        return ticket_id

    async def _case_values(self, ticket: DeskTicket, follows: str | None) -> dict[str, object]:
        schema = await self._describes.get("Case")
        wanted: dict[str, object | None] = {
            "Subject": ticket.subject[:SUBJECT_CHARS],
            "Priority": PRIORITY[ticket.severity],
            "Origin": self._config.case_origin,
            "ParentId": follows,
            "OwnerId": ticket.group,
        }
        values: dict[str, object] = {}
        for name, value in wanted.items():
            column = schema.get(name)
            if value is None or column is None:
                continue
            if column.has_choices and value not in column.choices:
                continue  # the org renamed the value: the case still opens
            values[column.name] = value
        return values

    async def _comment(self, case_id: str, ticket: DeskTicket) -> None:
        body = {"ParentId": case_id, "CommentBody": fit_bytes(ticket.body), "IsPublished": False}
        answer = await self._api.create("CaseComment", body)
        _id_of(answer, "create CaseComment")

    async def _has_comment(self, case_id: str) -> bool:
        soql = select("CaseComment", ["Id"], f"ParentId = {literal(case_id)}") + " LIMIT 1"
        # only an object is a comment found: the alert's comment is written when in doubt
        return bool(objects(await self._api.query_rows(soql, "find alert comment")))


def fit_bytes(text: str, limit: int = COMMENT_BYTES) -> str:
    """``text`` within ``limit`` UTF-8 bytes, cut at a character boundary with a marker."""
    if len(text.encode("utf-8")) <= limit:
        return text
    room = limit - len(CUT.encode("utf-8"))
    kept = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return kept + CUT


def _case_key(ticket: DeskTicket, follows: str | None) -> str:
    """The alert's key, or for a follow-up case a key of its own (the closed case keeps the
    first): the same alert following the same closed case is still one case."""
    if follows is None:
        return ticket.key[:64]
    return hashlib.sha256(f"{ticket.key}|{follows}".encode()).hexdigest()[:40]


def _id_of(answer: object, operation: str) -> str:
    record_id = answer.get("id") if isinstance(answer, dict) else None
    if not isinstance(record_id, str) or not record_id:
        raise PermanentError(
            f"Salesforce answered without a record id: {str(answer)[:200]}",
            operation=operation,
        )
    return record_id
