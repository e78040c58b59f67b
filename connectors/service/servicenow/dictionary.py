"""Loading the catalog from the instance: table chains, dictionary rows, choice rows.

Calls per load (T = tables asked for and their ancestors, usually 2-4):

* ``GET /api/now/table/sys_db_object?sysparm_query=nameIN<tables>`` with
  ``sysparm_fields=name,sys_id,super_class,super_class.name``: one per level of the hierarchy
  (the dot-walked ``super_class.name`` names the parent, FACTS.md 4.2 "Dot-walking"); table
  chains never change, so they are asked once per connector;
* ``GET /api/now/table/sys_dictionary?sysparm_query=nameIN<T>`` (+ pages of 1,000);
* ``GET /api/now/table/sys_choice?sysparm_query=nameIN<T>^inactive=false`` (+ pages).

Schemas are kept ``catalog_ttl`` seconds: an admin adding a column or a choice is seen within
that time (and by every ``dealbridge validate``, which builds a fresh connector).

The integration user needs read access to ``sys_db_object``, ``sys_dictionary`` and
``sys_choice``; without it no column can be checked, so nothing is written and the admin is
told (never a query or write built from unchecked names).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

from connectors.desk import DeskPart
from connectors.errors import AuthError, PermanentError
from connectors.record_values import objects
from connectors.service.servicenow.catalog import (
    CHOICE_FIELDS,
    DICTIONARY_FIELDS,
    TableSchema,
    build_schema,
    text,
)
from connectors.service.servicenow.client import ServiceNowApi
from connectors.service.servicenow.config import COLUMN_NAME, ServiceNowConfig
from connectors.service.servicenow.paging import SYS_ID

log = structlog.get_logger("dealbridge.servicenow")

PAGE = 1000
MAX_DEPTH = 10
KNOWN_PARENTS = {"customer_contact": "sys_user"}
"""The one parent FACTS.md states (6.1, via service-apis.md section 3): assumed when the
instance will not show ``sys_db_object``."""
"""Deeper hierarchies than this do not exist in ServiceNow; a loop in the answer does."""


class Catalog:
    """Schemas of the tables the connector touches, loaded together and kept a while."""

    def __init__(self, api: ServiceNowApi) -> None:
        self._api = api
        self._parents: dict[str, str | None] = {}
        self._schemas: dict[str, tuple[float, TableSchema]] = {}
        self._lock = asyncio.Lock()
        self.loads = 0
        self.hierarchy_unknown: str | None = None
        """Why table parents were assumed rather than read (None while they are read)."""

    async def schemas(self, tables: Iterable[str]) -> dict[str, TableSchema]:
        """The schema of every table in ``tables`` (loaded together when any is stale)."""
        wanted = list(dict.fromkeys(tables))
        async with self._lock:
            now = self._api.pacing.clock()
            ttl = self._api.config.catalog_ttl
            stale = [t for t in wanted if t not in self._schemas or self._schemas[t][0] <= now]
            if stale:
                for table, schema in (await self._load(stale)).items():
                    self._schemas[table] = (now + ttl, schema)
            return {t: self._schemas[t][1] for t in wanted}

    async def schema(self, table: str) -> TableSchema:
        """One table's schema."""
        return (await self.schemas([table]))[table]

    def forget(self) -> None:
        """Load afresh next time (after the instance said a column is not what we thought)."""
        self._schemas.clear()

    async def _load(self, tables: list[str]) -> dict[str, TableSchema]:
        self.loads += 1
        await self._resolve_parents(tables)
        chains = {t: self._chain(t) for t in tables}
        everything = sorted({name for chain in chains.values() for name in chain})
        listed = ",".join(everything)
        dictionary = await self._api.list_all(
            "sys_dictionary",
            {
                "sysparm_query": f"nameIN{listed}",
                "sysparm_fields": ",".join(DICTIONARY_FIELDS),
                "sysparm_limit": PAGE,
            },
            operation="field catalog",
        )
        choices = await self._api.list_all(
            "sys_choice",
            {
                "sysparm_query": f"nameIN{listed}^inactive=false",
                "sysparm_fields": ",".join(CHOICE_FIELDS),
                "sysparm_limit": PAGE,
            },
            operation="choice lists",
        )
        schemas = {}
        for table, chain in chains.items():
            # the catalog holds no customer records: a row that is not an object describes
            # no column or choice, and is passed over as rows of other tables are
            schema = build_schema(table, chain, objects(dictionary), objects(choices))
            if not schema.columns:
                raise PermanentError(
                    f"sys_dictionary lists no columns for {table}: the table does not exist on "
                    "this instance (is Customer Service Management installed?) or the "
                    "integration user cannot read sys_dictionary; grant it read access to "
                    "sys_db_object, sys_dictionary and sys_choice",
                    who_acts="admin",
                    connector=self._api.http.connector,
                    operation="field catalog",
                )
            schemas[table] = schema
        log.debug("servicenow_catalog_loaded", tables=tables, columns=len(dictionary))
        return schemas

    async def _resolve_parents(self, tables: list[str]) -> None:
        frontier = [t for t in tables if t not in self._parents]
        for _ in range(MAX_DEPTH):
            if not frontier:
                return
            try:
                rows = await self._api.list_all(
                    "sys_db_object",
                    {
                        "sysparm_query": f"nameIN{','.join(frontier)}",
                        "sysparm_fields": "name,sys_id,super_class,super_class.name",
                        "sysparm_limit": PAGE,
                    },
                    operation="table hierarchy",
                )
            except PermanentError as exc:
                if exc.status not in (400, 403, 404) or isinstance(exc, AuthError):
                    raise
                self._assume_parents(frontier, exc)
                return
            parents = await self._parents_of(objects(rows))
            for table in frontier:
                self._parents[table] = parents.get(table)
            frontier = [p for p in set(parents.values()) if p and p not in self._parents]

    def _assume_parents(self, tables: list[str], exc: PermanentError) -> None:
        """``sys_db_object`` is hidden (an ACL) or unknown: fall back to the documented parent,
        so a contact's inherited ``email`` is still found; say so in ``notices()``."""
        pending = list(tables)
        while pending:
            table = pending.pop()
            parent = KNOWN_PARENTS.get(table)
            self._parents[table] = parent
            if parent and parent not in self._parents:
                pending.append(parent)
        self.hierarchy_unknown = (
            f"cannot read sys_db_object (HTTP {exc.status}: {exc.message}): assumed "
            "customer_contact extends sys_user and no other table has a parent; columns a "
            "table inherits from elsewhere are not in the catalog. Grant the integration user "
            "read access to sys_db_object"
        )
        log.warning("servicenow_hierarchy_assumed", error=str(exc))

    async def _parents_of(self, rows: list[dict[str, Any]]) -> dict[str, str | None]:
        """Parent names by table; a parent given only as a sys_id is looked up by it."""
        named: dict[str, str | None] = {}
        by_id: dict[str, str] = {}
        for row in rows:
            table = text(row.get("name"))
            if not table:
                continue
            parent = text(row.get("super_class.name"))
            reference = text(row.get("super_class"))
            if parent and not COLUMN_NAME.fullmatch(parent):
                parent = ""  # not a table name we would put into a query
            named[table] = parent or None
            if not parent and SYS_ID.fullmatch(reference):
                by_id[table] = reference
        if by_id:
            found = await self._api.list_all(
                "sys_db_object",
                {
                    "sysparm_query": f"sys_idIN{','.join(sorted(set(by_id.values())))}",
                    "sysparm_fields": "name,sys_id",
                    "sysparm_limit": PAGE,
                },
                operation="table hierarchy",
            )
            names = {text(r.get("sys_id")): text(r.get("name")) for r in objects(found)}
            for table, reference in by_id.items():
                named[table] = names.get(reference) or None
        return named

    def _chain(self, table: str) -> tuple[str, ...]:
        chain = [table]
        parent = self._parents.get(table)
        while parent and parent not in chain and len(chain) < MAX_DEPTH:
            chain.append(parent)
            parent = self._parents.get(parent)
        return tuple(chain)


class CatalogPart(DeskPart[ServiceNowConfig, ServiceNowApi]):
    """One job of the connector (identity feed, lookup, writer, cases) that reads the tables'
    schemas from the instance's shared :class:`Catalog`."""

    def __init__(self, api: ServiceNowApi, config: ServiceNowConfig, catalog: Catalog) -> None:
        super().__init__(api, config)
        self._catalog = catalog
