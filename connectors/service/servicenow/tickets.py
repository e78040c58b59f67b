"""Alerts as CSM cases: a case with the alert as a ``work_notes`` entry (``TicketDesk``).

* open: ``POST /api/now/table/sn_customerservice_case`` with ``short_description`` (160
  characters), ``work_notes`` (the alert; internal, agents only), ``account`` when
  ``case_account`` is configured, ``assignment_group`` when the alert names a group, and the
  alert key in ``case_key_field`` (FACTS.md 11.3). Journal entries hold 4,000 characters
  (11.1): a longer alert continues in further entries, one PATCH each.
* de-duplication: ServiceNow has no idempotency key. Before opening, the case whose
  ``case_key_field`` (default ``correlation_id``, a task column public integrations use for
  exactly this) holds the alert key is looked for, so a create retried after a lost answer
  finds the case it opened instead of opening a second. The column is used only if the
  dictionary lists it for the case table or its parents; otherwise creates are not
  de-duplicated and ``notices()`` says so.
* note: ``PATCH /api/now/table/sn_customerservice_case/<sys_id>`` with ``work_notes`` appends
  an entry (journal fields append, 11.1). A case that is gone (404) or refuses the update
  (403: an ACL or business rule, e.g. on closed cases, 10.2) gets a new case, which is returned.

Every column is checked against the dictionary first (FACTS.md 4.2, 7.4: unknown names are
dropped silently).
"""

from __future__ import annotations

from typing import Any

import structlog

from connectors.base import DeskTicket
from connectors.errors import PermanentError, RecordError
from connectors.record_values import objects
from connectors.service.servicenow.catalog import TableSchema
from connectors.service.servicenow.client import ServiceNowApi
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.dictionary import Catalog, CatalogPart
from connectors.service.servicenow.query import safe

log = structlog.get_logger("dealbridge.servicenow")

SHORT_DESCRIPTION = 160
JOURNAL_ENTRY = 4000


class CaseDesk(CatalogPart):
    """Opens cases and adds work notes through the connector's client."""

    def __init__(self, api: ServiceNowApi, config: ServiceNowConfig, catalog: Catalog) -> None:
        super().__init__(api, config, catalog)
        self.dedupe_off: str | None = None
        """Why creates are not de-duplicated (None while they are)."""

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        """Find the case this alert already opened, or open one; return its sys_id."""
        schema = await self._catalog.schema(self._config.case_table)
        key_field = self._key_field(schema, ticket.key)
        if key_field is not None:
            existing = await self._api.list_page(
                schema.table,
                {
                    "sysparm_query": f"{key_field}={ticket.key}",
                    "sysparm_fields": "sys_id",
                    "sysparm_limit": 1,
                },
                operation="find alert case",
            )
            # Only a case the answer names is found: a row that is not an object names none,
            # and the search only de-duplicates (without it a case is opened, as when the
            # instance has no key column), so it is passed over rather than failing the alert.
            found = objects(existing.rows)
            if found and isinstance(found[0].get("sys_id"), str):
                return str(found[0]["sys_id"])
        entries = journal_entries(_body(ticket, follows))
        body = {"short_description": _subject(ticket), "work_notes": entries[0]}
        if key_field is not None:
            body[key_field] = ticket.key
        if self._config.case_account and schema.has("account"):
            body["account"] = self._config.case_account
        if ticket.group and schema.has("assignment_group"):
            body["assignment_group"] = ticket.group
        created = await self._api.create(schema.table, _known(schema, body), "sys_id,number")
        case = str(created.get("sys_id") or "")
        if not case:
            raise PermanentError(
                "ServiceNow created the case without returning its sys_id",
                operation="open alert case",
            )
        for entry in entries[1:]:
            await self._api.patch(schema.table, case, {"work_notes": entry}, "sys_id")
        return case

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        """Append the alert as work notes; a case gone or closed to updates gets a new one."""
        table = self._config.case_table
        try:
            for entry in journal_entries(ticket.body):
                await self._api.patch(table, ticket_id, {"work_notes": entry}, "sys_id")
        except RecordError as exc:
            if exc.status not in (403, 404):
                raise
            log.info("servicenow_case_replaced", case=ticket_id, status=exc.status)
            return await self.open_ticket(ticket, follows=ticket_id)
        return ticket_id

    def _key_field(self, schema: TableSchema, key: str) -> str | None:
        name = self._config.case_key_field
        column = schema.column(name)
        if column is None or not column.writable:
            self.dedupe_off = (
                f"{schema.table} has no writable column {name!r} (sys_dictionary): alert cases "
                "are not de-duplicated, so a create retried after a lost answer may open a "
                "second case; set case_key_field to a text column of the case table"
            )
            return None
        if not safe(key) or (column.max_length is not None and len(key) > column.max_length):
            return None
        self.dedupe_off = None
        return name


def journal_entries(text: str, size: int = JOURNAL_ENTRY) -> list[str]:
    """``text`` in journal entries of at most ``size`` characters, cut at line ends where it
    can be (a line longer than an entry is cut inside)."""
    entries: list[str] = []
    current = ""
    for whole in text.splitlines(keepends=True):
        line = whole
        while len(line) > size:
            if current:
                entries.append(current)
                current = ""
            entries.append(line[:size])
            line = line[size:]
        if len(current) + len(line) > size:
            entries.append(current)
            current = ""
        current += line
    if current or not entries:
        entries.append(current)
    return entries


def _subject(ticket: DeskTicket) -> str:
    text = f"[dealbridge {ticket.severity}] {' '.join(ticket.subject.split())}"
    return text if len(text) <= SHORT_DESCRIPTION else text[: SHORT_DESCRIPTION - 1] + "…"


def _body(ticket: DeskTicket, follows: str | None) -> str:
    if follows is None:
        return ticket.body
    return f"Follows alert case {follows}.\n\n{ticket.body}"


def _known(schema: TableSchema, body: dict[str, Any]) -> dict[str, str]:
    """Only columns the case table has (a dropped column would vanish without a word)."""
    return {k: str(v) for k, v in body.items() if schema.has(k)}
