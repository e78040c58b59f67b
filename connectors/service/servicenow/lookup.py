"""Direct lookups for identity-index misses, straight from the tables (no search index).

The Table API reads the records themselves, so a record created a second ago is found
(FACTS.md 5.2: many values in one call with ``IN``). Per kind and key type, ``ids_per_query``
values a call:

* external id: ``<column>IN<v1>,<V1>,<v2>,...`` on the kind's customer-number column;
* email (contacts, consumers): ``emailIN...``;
* domain (accounts): ``<website>LIKE<domain>^OR...`` (LIKE: contains), kept only when the
  website's host is the domain.

The engine hands over values in lower case, and encoded-query values are case-sensitive (4.3),
so each value is asked as given and upper-cased (``acct0000003`` and ``ACCT0000003``); a value
stored in mixed case is found by the identity feed instead, which compares without case. A
value holding ``^`` or a line break cannot be put into a query and is not asked; keys a kind
cannot carry (an email on an account) cost nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from connectors.base import CustomerRecord, IdentityKey
from connectors.desk import of_kinds, wanted_keys
from connectors.record_values import RecordProblem
from connectors.service.servicenow.catalog import TableSchema
from connectors.service.servicenow.dictionary import CatalogPart
from connectors.service.servicenow.payloads import (
    TABLES,
    IdentityColumns,
    host_of,
    identity_columns,
    reader,
)
from connectors.service.servicenow.query import any_of, contains_any, safe

log = structlog.get_logger("dealbridge.servicenow")

DOMAINS_PER_QUERY = 20
"""LIKE conditions are OR-ed one by one; fewer of them keep the URL short."""


class Lookup(CatalogPart):
    """Answers ``ServiceNowTarget.lookup``."""

    desk = "ServiceNow"
    id_field = "sys_id"

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Live records carrying any of ``keys`` (each record once)."""
        configured = self._config.record_kinds
        wanted = wanted_keys(keys, of_kinds(configured, safe))
        for key in dict.fromkeys(keys):
            if key.kind in configured and not safe(key.value):
                log.warning("servicenow_lookup_unaskable", kind=key.kind, match=key.match)
        if not wanted:
            return []
        kinds = sorted({kind for kind, _ in wanted})
        schemas = await self._catalog.schemas([TABLES[k] for k in kinds])
        found: dict[str, CustomerRecord] = {}
        for (kind, match), values in sorted(wanted.items()):
            schema = schemas[TABLES[kind]]
            columns = identity_columns(kind, self._config, schema)
            rows = await self._rows(schema, columns, match, values)
            read = reader(kind, schema, columns)
            for record in self._read_into(rows, read, kind, problems):
                if _carries(record, match, values):
                    found[record.ref.key] = record
        return list(found.values())

    async def _rows(
        self, schema: TableSchema, columns: IdentityColumns, match: str, values: list[str]
    ) -> list[Any]:
        """The rows the instance answered, as sent (the reader reports those that are not
        objects)."""
        column = {"external_id": columns.external_id, "email": columns.email}.get(match)
        if match == "domain":
            column = columns.domain
        if column is None:
            return []  # this kind's records cannot carry such a key
        size = DOMAINS_PER_QUERY if match == "domain" else self._config.ids_per_query
        rows: list[Any] = []
        for start in range(0, len(values), size):
            part = values[start : start + size]
            variants = [v for value in part for v in dict.fromkeys((value, value.upper()))]
            if match == "domain":
                condition = contains_any(schema, column, variants)
            else:
                condition = any_of(schema, column, variants)
            if condition is None:
                continue
            rows += await self._api.list_all(
                schema.table,
                {"sysparm_query": condition, "sysparm_limit": self._config.page_size},
                operation=f"lookup {schema.table}",
            )
        return rows


def _carries(record: CustomerRecord, match: str, values: list[str]) -> bool:
    asked = {v.lower() for v in values}
    if match == "external_id":
        return record.external_id is not None and record.external_id.lower() in asked
    if match == "email":
        return any(e in asked for e in record.emails)
    return any(host_of(d) in asked for d in record.domains)
