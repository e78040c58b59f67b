"""The simulated instance's tables: customer tables, their hierarchy, and the system tables that
describe them (``sys_db_object``, ``sys_dictionary``, ``sys_choice``, ``sys_journal_field``).

Every table, the system ones included, is rows of strings keyed by ``sys_id`` (32 hex
characters) and is served by the same Table API code, so the catalog the connector reads is
the schema the writes are applied with. Behaviours (FACTS.md):

* every value is stored and returned as a string (2.1); ``sys_updated_on`` has one-second
  resolution in UTC (2.3); ``sys_mod_count`` grows by one per saved update (2.5, 7.3);
* a column is described in ``sys_dictionary`` under the table that defines it, so a child's
  inherited columns are rows of its parent (6.1); ``sys_db_object.super_class`` names the parent;
* an update ignores unknown columns and ``sys_`` columns without a word (7.2, 7.4), stores a
  value outside the choice list as it is (6.5), cuts a value over ``max_length`` without an
  error when ``truncate`` is on (6.4, unverified: the pessimistic reading), does not clear a
  choice column with ``""`` (2.4), appends journal columns (``work_notes``) as
  ``sys_journal_field`` rows and leaves them empty on the record (11.1-11.2), and does not save
  (nor count) an update that changes nothing (7.3, unverified);
* rows can be hidden by an "ACL": list queries apply ``sysparm_limit`` first and then drop
  hidden rows (4.2), reads by id answer 404 (5.1).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

STAMP = "%Y-%m-%d %H:%M:%S"
SYSTEM_COLUMNS = (
    "sys_id",
    "sys_created_on",
    "sys_created_by",
    "sys_updated_on",
    "sys_updated_by",
    "sys_mod_count",
)
JOURNAL = "journal_input"


@dataclass(frozen=True)
class ColumnDef:
    """A column as its dictionary row describes it."""

    name: str
    type: str = "string"
    max_length: int | None = None
    label: str = ""
    choices: tuple[str, ...] = ()
    choice_mode: str = ""
    reference: str | None = None
    read_only: bool = False
    active: bool = True


@dataclass
class TableDef:
    """A table, its parent and the columns it defines itself."""

    name: str
    parent: str | None = None
    columns: dict[str, ColumnDef] = field(default_factory=dict)
    number_prefix: str | None = None
    label: str = ""


def utc_now() -> datetime:
    """The simulator's default wall clock."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """UTC, whole seconds: the form ServiceNow stores and returns."""
    return moment.astimezone(UTC).strftime(STAMP)


def new_sys_id() -> str:
    """32 lowercase hex characters."""
    return uuid.uuid4().hex


META_TABLES = (
    TableDef(
        "sys_db_object",
        columns={
            "name": ColumnDef("name", max_length=80),
            "label": ColumnDef("label", max_length=80),
            "super_class": ColumnDef("super_class", "reference", reference="sys_db_object"),
        },
    ),
    TableDef(
        "sys_dictionary",
        columns={
            c: ColumnDef(c)
            for c in (
                "name",
                "element",
                "column_label",
                "internal_type",
                "max_length",
                "read_only",
                "active",
                "choice",
                "reference",
                "mandatory",
            )
        },
    ),
    TableDef(
        "sys_choice",
        columns={
            c: ColumnDef(c)
            for c in ("name", "element", "value", "label", "language", "sequence", "inactive")
        },
    ),
    TableDef(
        "sys_journal_field",
        columns={c: ColumnDef(c) for c in ("name", "element", "element_id", "value")},
    ),
)


class Store:
    """Tables and their rows; ``clock`` is the instance's wall clock."""

    def __init__(self, clock: Callable[[], datetime], *, truncate: bool = True) -> None:
        self.clock = clock
        self.truncate = truncate
        self.tables: dict[str, TableDef] = {}
        self.rows: dict[str, dict[str, dict[str, str]]] = {}
        self.hidden: set[str] = set()
        self._numbers = itertools.count(1001)
        self._object_ids: dict[str, str] = {}
        for table in META_TABLES:  # registered first: describing a table writes their rows
            self.tables[table.name] = table
            self.rows[table.name] = {}
        for table in META_TABLES:
            self._describe(table)

    # -- schema --------------------------------------------------------------------------

    def define(self, table: TableDef) -> None:
        """Add a table; its ``sys_db_object``, ``sys_dictionary`` and ``sys_choice`` rows too."""
        self.tables[table.name] = table
        self.rows.setdefault(table.name, {})
        self._describe(table)

    def add_column(self, table: str, column: ColumnDef) -> None:
        """A column added later (an admin adding a ``u_`` field)."""
        self.tables[table].columns[column.name] = column
        self._describe_column(table, column)

    def chain(self, table: str) -> list[str]:
        """The table and its ancestors, nearest first."""
        found = [table]
        parent = self.tables[table].parent
        while parent is not None and parent not in found:
            found.append(parent)
            parent = self.tables[parent].parent
        return found

    def columns_of(self, table: str) -> dict[str, ColumnDef]:
        """Every column a record of ``table`` has (own, inherited, system)."""
        columns: dict[str, ColumnDef] = {
            name: ColumnDef(name, "integer" if name == "sys_mod_count" else "string", 40)
            for name in SYSTEM_COLUMNS
        }
        for name in reversed(self.chain(table)):
            columns.update(self.tables[name].columns)
        return columns

    def _describe(self, table: TableDef) -> None:
        parent_id = self._object_ids.get(table.parent or "", "")
        row = self._insert_raw(
            "sys_db_object",
            {"name": table.name, "label": table.label or table.name, "super_class": parent_id},
        )
        self._object_ids[table.name] = row["sys_id"]
        for child in self.tables.values():  # a child defined before its parent
            if child.parent == table.name:
                for obj in self.rows["sys_db_object"].values():
                    if obj["name"] == child.name:
                        obj["super_class"] = row["sys_id"]
        self._insert_raw(
            "sys_dictionary",
            {"name": table.name, "element": "", "internal_type": "collection", "active": "true"},
        )
        own = dict(table.columns)
        if table.parent is None:
            own = {n: c for n, c in self.columns_of(table.name).items() if n in SYSTEM_COLUMNS}
            own.update(table.columns)
        for column in own.values():
            self._describe_column(table.name, column)

    def _describe_column(self, table: str, column: ColumnDef) -> None:
        self._insert_raw(
            "sys_dictionary",
            {
                "name": table,
                "element": column.name,
                "column_label": column.label or column.name.replace("_", " ").title(),
                "internal_type": column.type,
                "max_length": str(column.max_length or ""),
                "read_only": _flag(column.read_only or column.name.startswith("sys_")),
                "active": _flag(column.active),
                "choice": column.choice_mode or ("1" if column.choices else "0"),
                "reference": column.reference or "",
                "mandatory": "false",
            },
        )
        for sequence, value in enumerate(column.choices):
            self._insert_raw(
                "sys_choice",
                {
                    "name": table,
                    "element": column.name,
                    "value": value,
                    "label": value,
                    "language": "en",
                    "sequence": str(sequence),
                    "inactive": "false",
                },
            )

    # -- records -------------------------------------------------------------------------

    def insert(
        self, table: str, values: Mapping[str, Any], *, user: str = "admin"
    ) -> dict[str, str]:
        """A new record (as a POST or an agent creates it), with its number if it has one."""
        columns = self.columns_of(table)
        row = dict.fromkeys(columns, "")
        prefix = next(
            (
                self.tables[t].number_prefix
                for t in self.chain(table)
                if self.tables[t].number_prefix
            ),
            None,
        )
        if prefix and "number" in columns:
            row["number"] = f"{prefix}{next(self._numbers):07d}"
        journal = []
        for name, value in values.items():
            column = columns.get(name)
            if column is None or name in SYSTEM_COLUMNS:
                continue
            if column.type == JOURNAL:
                journal.append((name, _text(value)))
                continue
            row[name] = self._fitted(column, _text(value))
        created = self._insert_raw(table, row, user=user, keep_id=values.get("sys_id"))
        for name, value in journal:
            if value:
                self._journal(table, created["sys_id"], name, value, user)
        return created

    def update(
        self, table: str, sys_id: str, values: Mapping[str, Any], *, user: str = "admin"
    ) -> tuple[dict[str, str], bool]:
        """Apply an update as the Table API does; return the row and whether it was saved."""
        row = self.rows[table][sys_id]
        columns = self.columns_of(table)
        changed = False
        for name, value in values.items():
            column = columns.get(name)
            if column is None or name.startswith("sys_"):
                continue  # ignored without a word (FACTS.md 7.2, 7.4)
            text = _text(value)
            if column.type == JOURNAL:
                if text:
                    self._journal(table, sys_id, name, text, user)
                    changed = True
                continue
            if text == "" and column.choices:
                continue  # an empty value does not clear a choice column (2.4)
            text = self._fitted(column, text)
            if row.get(name, "") != text:
                row[name] = text
                changed = True
        if changed:
            row["sys_mod_count"] = str(int(row.get("sys_mod_count") or "0") + 1)
            row["sys_updated_on"] = stamp(self.clock())
            row["sys_updated_by"] = user
        return row, changed

    def delete(self, table: str, sys_id: str) -> None:
        """Remove a record."""
        del self.rows[table][sys_id]

    def get(self, table: str, sys_id: str) -> dict[str, str] | None:
        """A visible record, or None (missing or hidden by an ACL)."""
        row = self.rows.get(table, {}).get(sys_id)
        return None if row is None or sys_id in self.hidden else row

    def all_rows(self, table: str) -> Iterator[dict[str, str]]:
        """Every row, hidden ones included (the ACL applies after the limit)."""
        return iter(self.rows.get(table, {}).values())

    def journal(self, table: str, sys_id: str, element: str) -> list[str]:
        """Journal entries of one record's column, oldest first."""
        return [
            j["value"]
            for j in self.rows["sys_journal_field"].values()
            if j["name"] == table and j["element_id"] == sys_id and j["element"] == element
        ]

    def _fitted(self, column: ColumnDef, text: str) -> str:
        if self.truncate and column.max_length and len(text) > column.max_length:
            return text[: column.max_length]  # cut without an error (6.4, unverified)
        return text

    def _journal(self, table: str, sys_id: str, element: str, value: str, user: str) -> None:
        self._insert_raw(
            "sys_journal_field",
            {"name": table, "element": element, "element_id": sys_id, "value": value},
            user=user,
        )

    def _insert_raw(
        self,
        table: str,
        values: Mapping[str, str],
        *,
        user: str = "system",
        keep_id: Any = None,
    ) -> dict[str, str]:
        now = stamp(self.clock())
        sys_id = str(keep_id) if keep_id else new_sys_id()
        row = dict(values)
        row.update(
            sys_id=sys_id,
            sys_created_on=now,
            sys_created_by=user,
            sys_updated_on=now,
            sys_updated_by=user,
            sys_mod_count="0",
        )
        self.rows.setdefault(table, {})[sys_id] = row
        return row


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flag(value: bool) -> str:
    return "true" if value else "false"
