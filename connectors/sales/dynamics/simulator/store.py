"""Rows, row versions and the deletion log: what change tracking and paging read from.

Every write takes the next value of one environment-wide version counter (the ``versionnumber``
rowversion behind ``@odata.etag`` ``W/"<version>"``, FACTS.md §4.5, §5.2) and sets
``modifiedon`` to the clock in whole seconds (FACTS.md §5.2), unless the caller back-dates it as
a data import can (FACTS.md §5.3). Deletions are logged with their version so that a delta can
list them (FACTS.md §6.5-6.6).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.sales.dynamics.simulator.schema import TableDef, all_tables

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Wall-clock time in UTC."""
    return datetime.now(UTC)


@dataclass
class Row:
    """One stored row: values by column logical name (lookups hold the target id)."""

    values: dict[str, Any]
    version: int


@dataclass
class Deletion:
    """A deleted row, as change tracking remembers it."""

    row_id: str
    version: int


@dataclass
class Environment:
    """One Dataverse environment's data."""

    clock: Clock = utc_now
    tables: dict[str, TableDef] = field(default_factory=all_tables)
    rows: dict[str, dict[str, Row]] = field(default_factory=dict)
    deletions: dict[str, list[Deletion]] = field(default_factory=dict)
    version: int = 1000

    def now(self) -> datetime:
        """The clock, in whole seconds (``modifiedon`` resolution)."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def table(self, logical: str) -> TableDef:
        """A table definition by logical name (KeyError if unknown)."""
        return self.tables[logical]

    def by_set(self, entity_set: str) -> TableDef | None:
        """The table behind an entity set name (``opportunities``)."""
        return next((t for t in self.tables.values() if t.entity_set == entity_set), None)

    def rows_of(self, logical: str) -> dict[str, Row]:
        """The live rows of a table, by id."""
        return self.rows.setdefault(logical, {})

    def insert(
        self, logical: str, values: Mapping[str, Any], *, modifiedon: datetime | None = None
    ) -> str:
        """Create a row; returns its id (a GUID unless the values name one)."""
        table = self.table(logical)
        self._check(table, values)
        row_id = str(values.get(table.key) or uuid.uuid4()).lower()
        stamp = self._stamp(modifiedon)
        data = dict.fromkeys(table.columns) | dict(values)
        data.update({table.key: row_id, "createdon": stamp, "modifiedon": stamp})
        self.version += 1
        data["versionnumber"] = self.version
        self.rows_of(logical)[row_id] = Row(values=data, version=self.version)
        return row_id

    def update(
        self,
        logical: str,
        row_id: str,
        values: Mapping[str, Any],
        *,
        modifiedon: datetime | None = None,
    ) -> None:
        """Change columns of a row; its version and ``modifiedon`` move."""
        table = self.table(logical)
        self._check(table, values)
        row = self.rows_of(logical)[row_id.lower()]
        self.version += 1
        row.values.update(values)
        row.values["modifiedon"] = self._stamp(modifiedon)
        row.values["versionnumber"] = self.version
        row.version = self.version

    def delete(self, logical: str, row_id: str) -> None:
        """Remove a row and log the deletion for change tracking."""
        self.rows_of(logical).pop(row_id.lower())
        self.version += 1
        self.deletions.setdefault(logical, []).append(Deletion(row_id.lower(), self.version))

    def get(self, logical: str, row_id: str | None) -> Row | None:
        """A live row by id (None when missing or deleted)."""
        if not row_id:
            return None
        return self.rows_of(logical).get(row_id.lower())

    def _stamp(self, given: datetime | None) -> datetime:
        moment = given if given is not None else self.now()
        return moment.astimezone(UTC).replace(microsecond=0)

    @staticmethod
    def _check(table: TableDef, values: Mapping[str, Any]) -> None:
        unknown = [name for name in values if name not in table.columns]
        if unknown:
            raise KeyError(f"{table.logical} has no column(s) {', '.join(unknown)}")
