"""The field catalog: every column of a customer table, from ``sys_dictionary`` and ``sys_choice``.

* ``sys_db_object`` names each table's parent (``super_class``), so the columns a table
  inherits are found under its ancestors [3p: public ServiceNow clients walk
  ``sys_db_object?sysparm_query=name=<table>&sysparm_fields=name,super_class.name``; FACTS.md
  6.1 for why: a column lives in the dictionary under the table that defines it, e.g. a
  contact's ``email`` under ``sys_user``].
* ``sys_dictionary`` rows (``name`` = table, ``element`` = column, ``column_label``,
  ``internal_type``, ``max_length``, ``read_only``, ``active``, ``choice``) describe the
  columns (FACTS.md 6.1); a row without ``element`` is the table itself. The nearest table in
  the chain wins when a column appears twice.
* ``sys_choice`` rows (``name``, ``element``, ``value``, ``inactive``) are the choice lists
  (FACTS.md 6.5); the nearest table with rows for a column defines its list. The API does not
  enforce them, nor ``max_length`` (6.4, 6.5): :mod:`values` checks both before writing.

``choice`` on a dictionary row says how the list is offered (doc Dictionary "Choice": list menu
with or without "-- None --", or a suggestion field); a suggestion field takes free text, so
its list is not enforced. Stored codes: ``0`` none, ``1`` with None, ``2`` suggestion, ``3``
without None [unverified: form labels are documented, stored values are not].
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FieldInfo
from connectors.desk import labelled, merged_by_name

SYSTEM_COLUMNS = frozenset(
    {"sys_id", "sys_updated_on", "sys_updated_by", "sys_created_on", "sys_created_by"}
    | {"sys_mod_count"}
)
"""Columns every record has (FACTS.md 2.5): known without asking the dictionary."""

UNWRITABLE_TYPES = frozenset(
    {"collection", "journal", "journal_input", "journal_list", "sys_class_name", "password2"}
)
"""Types an update cannot set in place: the table row itself, append-only journals (FACTS.md
11), the class column, encrypted passwords."""

SUGGESTION = "2"

DICTIONARY_FIELDS = (
    "name",
    "element",
    "column_label",
    "internal_type",
    "max_length",
    "read_only",
    "active",
    "choice",
)
CHOICE_FIELDS = ("name", "element", "value", "inactive")


@dataclass(frozen=True)
class Column:
    """One column of a table as the dictionary describes it."""

    name: str
    table: str
    """The table that defines it (the customer table or one of its ancestors)."""
    label: str = ""
    internal_type: str = "string"
    max_length: int | None = None
    read_only: bool = False
    active: bool = True
    choice_mode: str = ""
    choices: tuple[str, ...] = ()

    @property
    def writable(self) -> bool:
        """Whether dealbridge may write it (system, journal and read-only columns are not)."""
        return (
            not self.name.startswith("sys_")
            and self.internal_type not in UNWRITABLE_TYPES
            and not self.read_only
        )

    @property
    def enforces_choices(self) -> bool:
        """A list menu with values: anything else is an invalid choice."""
        return bool(self.choices) and self.choice_mode != SUGGESTION

    @property
    def custom(self) -> bool:
        """Added by the customer: ``u_`` (global) or ``x_<scope>_`` (scoped app), FACTS.md 6.2."""
        return self.name.startswith(("u_", "x_"))


@dataclass(frozen=True)
class TableSchema:
    """A table, its ancestors (nearest first) and every column it has."""

    table: str
    chain: tuple[str, ...]
    columns: Mapping[str, Column] = field(default_factory=dict)

    def has(self, column: str) -> bool:
        """Whether ``column`` exists on the table: the only names queries may be built from."""
        return column in SYSTEM_COLUMNS or column in self.columns

    def column(self, name: str) -> Column | None:
        """The column's definition (None for system columns and unknown names)."""
        return self.columns.get(name)


def build_schema(
    table: str,
    chain: Iterable[str],
    dictionary: Iterable[Mapping[str, Any]],
    choices: Iterable[Mapping[str, Any]],
) -> TableSchema:
    """The schema of ``table`` from dictionary and choice rows of its whole chain."""
    order = (table, *(t for t in chain if t != table))
    rank = {name: index for index, name in enumerate(order)}
    nearest: dict[str, Mapping[str, Any]] = {}
    for row in dictionary:
        owner, element = text(row.get("name")), text(row.get("element"))
        if not element or owner not in rank:
            continue  # a table's own row, or another table's column
        held = nearest.get(element)
        if held is None or rank[owner] < rank[text(held.get("name"))]:
            nearest[element] = row
    lists = _choice_lists(choices, rank)
    columns = {
        element: _column(element, row, lists.get(element, ())) for element, row in nearest.items()
    }
    return TableSchema(table=table, chain=order, columns=columns)


def _choice_lists(
    rows: Iterable[Mapping[str, Any]], rank: Mapping[str, int]
) -> dict[str, tuple[str, ...]]:
    by_owner: dict[str, dict[str, list[str]]] = {}
    for row in rows:
        owner, element, value = text(row.get("name")), text(row.get("element")), row.get("value")
        if owner not in rank or not element or value is None or flag(row.get("inactive")):
            continue
        values = by_owner.setdefault(element, {}).setdefault(owner, [])
        if str(value) not in values:
            values.append(str(value))
    return {
        element: tuple(owners[min(owners, key=rank.__getitem__)])
        for element, owners in by_owner.items()
    }


def _column(element: str, row: Mapping[str, Any], choices: tuple[str, ...]) -> Column:
    return Column(
        name=element,
        table=text(row.get("name")),
        label=text(row.get("column_label")) or element,
        internal_type=text(row.get("internal_type")) or "string",
        max_length=_length(row.get("max_length")),
        read_only=flag(row.get("read_only")),
        active=not _false(row.get("active")),
        choice_mode=text(row.get("choice")),
        choices=choices,
    )


def field_infos(schemas: Mapping[str, TableSchema]) -> list[FieldInfo]:
    """Writable columns of every configured kind, one entry per column name; the label says
    which kinds (tables) have it, so a mapping for any of them validates."""
    columns = (
        (kind, column.name, column)
        for kind, schema in schemas.items()
        for column in schema.columns.values()
        if column.writable and column.active
    )
    return [
        FieldInfo(
            path=column.name,
            type=column.internal_type,
            label=labelled(column.label, kinds),
            custom=column.custom,
            writable=True,
            choices=column.choices if column.enforces_choices else (),
            max_length=column.max_length,
        )
        for column, kinds in merged_by_name(columns)
    ]


def text(value: Any) -> str:
    """A dictionary value as text (reference fields may come as ``{"value": ...}``)."""
    if isinstance(value, Mapping):
        value = value.get("value")
    return "" if value is None else str(value).strip()


def flag(value: Any) -> bool:
    """ServiceNow booleans arrive as the strings ``"true"``/``"false"`` (FACTS.md 2.1)."""
    return text(value).lower() in ("true", "1")


def _false(value: Any) -> bool:
    return text(value).lower() in ("false", "0")


def _length(value: Any) -> int | None:
    try:
        length = int(float(text(value)))
    except ValueError:
        return None
    return length if length > 0 else None
