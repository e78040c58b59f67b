"""Query options (``$select``, ``$filter``, ``$orderby``, ``$expand``, ``$top``) and row JSON.

* ``$select`` names columns as rows show them (lookups as ``_<name>_value``); the key is always
  returned; without ``$select`` every column comes back (FACTS.md §3.1). Companion and
  unreadable columns cannot be named.
* ``$expand`` follows single-valued navigation properties, at most 15, with only ``$select``
  inside (FACTS.md §3.3); the expanded row carries its key, ``null`` when the lookup is empty.
* ``$skip`` is refused (FACTS.md §4.3).
* Values: date-times ``2026-11-20T09:00:00Z`` (whole seconds, §5.2), date-only columns
  ``2026-11-20``, choices as numbers, a multi-select as ``"1,3"``; every row has
  ``@odata.etag`` ``W/"<version>"`` (§4.5). With ``odata.include-annotations`` choices and
  lookups gain ``@OData.Community.Display.V1.FormattedValue`` siblings (§3.5).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.sales.dynamics.simulator.errors import ODATA_QUERY, ODataError, unknown_property
from connectors.sales.dynamics.simulator.filters import FilterError, Predicate, compile_filter
from connectors.sales.dynamics.simulator.schema import MULTI, ColumnDef, TableDef
from connectors.sales.dynamics.simulator.store import Environment, Row

MAX_EXPANDS = 15
FORMATTED = "@OData.Community.Display.V1.FormattedValue"
KNOWN_OPTIONS = frozenset(
    {
        "$select",
        "$filter",
        "$orderby",
        "$expand",
        "$top",
        "$skip",
        "$skiptoken",
        "$deltatoken",
        "$count",
        "$apply",
    }
)


@dataclass(frozen=True)
class Query:
    """A parsed read of one entity set."""

    table: TableDef
    select: tuple[str, ...] | None
    predicate: Predicate | None
    order: tuple[tuple[str, bool], ...]
    """(field, descending) pairs; the key is appended so the order is total (FACTS.md §4.4)."""
    expand: dict[str, tuple[str, ...] | None]
    top: int | None
    given: frozenset[str]


def parse_query(params: Mapping[str, str], table: TableDef, env: Environment) -> Query:
    """Validate and parse the query options of a collection read."""
    given = frozenset(k for k in params if k.startswith("$"))
    if "$skip" in given:
        raise ODataError(400, "The query parameter $skip is not supported", ODATA_QUERY)
    unknown = sorted(given - KNOWN_OPTIONS)
    if unknown:
        raise ODataError(400, f"The query parameter {unknown[0]} is not supported", ODATA_QUERY)
    select = _select(params.get("$select"), table)
    predicate = None
    if params.get("$filter"):
        try:
            predicate = compile_filter(params["$filter"], lambda n: table.by_field(n) is not None)
        except FilterError as exc:
            if exc.name is not None:
                raise unknown_property(exc.name, table.logical) from None
            raise ODataError(400, str(exc), ODATA_QUERY) from None
    return Query(
        table=table,
        select=select,
        predicate=predicate,
        order=_order(params.get("$orderby"), table),
        expand=_expand(params.get("$expand"), table, env),
        top=_top(params.get("$top")),
        given=given,
    )


def _select(raw: str | None, table: TableDef) -> tuple[str, ...] | None:
    if raw is None or not raw.strip():
        return None
    names = tuple(n.strip() for n in raw.split(",") if n.strip())
    for name in names:
        if table.by_field(name) is None:
            raise unknown_property(name, table.logical)
    return names


def _order(raw: str | None, table: TableDef) -> tuple[tuple[str, bool], ...]:
    order: list[tuple[str, bool]] = []
    for part in (raw or "").split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(400, f"Syntax error in $orderby at '{part.strip()}'.", ODATA_QUERY)
        if table.by_field(words[0]) is None:
            raise unknown_property(words[0], table.logical)
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    if not any(name == table.key for name, _ in order):
        order.append((table.key, False))
    return tuple(order)


def _expand(
    raw: str | None, table: TableDef, env: Environment
) -> dict[str, tuple[str, ...] | None]:
    found: dict[str, tuple[str, ...] | None] = {}
    for item in _split_top_level(raw or ""):
        name, _, inner = item.partition("(")
        name = name.strip()
        if name not in table.navigations:
            raise unknown_property(name, table.logical)
        target = env.table(table.columns[table.navigations[name]].target or "")
        columns: tuple[str, ...] | None = None
        if inner:
            options = inner.removesuffix(")")
            for option in options.split(";"):
                key, _, value = option.partition("=")
                if key.strip() != "$select":
                    raise ODataError(
                        400,
                        f"Query option '{key.strip()}' is not allowed on a single-valued "
                        "navigation property.",
                        ODATA_QUERY,
                    )
                columns = _select(value, target)
        found[name] = columns
    if len(found) > MAX_EXPANDS:
        raise ODataError(400, f"Number of $expand exceeds the limit of {MAX_EXPANDS}.", ODATA_QUERY)
    return found


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def _top(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ODataError(400, f"Invalid $top value '{raw}'.", ODATA_QUERY) from None
    return max(0, value)


def filter_view(row: Row, table: TableDef) -> dict[str, Any]:
    """A row keyed by field name, with Python values, for filters and ordering."""
    view: dict[str, Any] = {}
    for column in table.columns.values():
        value = row.values.get(column.name)
        if column.type_name == MULTI and value is not None:
            value = ",".join(str(v) for v in value)
        view[column.field] = value
    return view


def sort_key(row: Row, query: Query) -> tuple[Any, ...]:
    """The row's position in the query's order (nulls first, as SQL Server sorts them)."""
    view = filter_view(row, query.table)
    parts: list[Any] = []
    for name, descending in query.order:
        value = view.get(name)
        if isinstance(value, str):
            value = value.lower()
        key = (value is not None, value if value is not None else 0)
        parts.append(Descending(key) if descending else key)
    return tuple(parts)


class Descending:
    """Reverses the order of one sort key."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: Descending) -> bool:
        return bool(other.key < self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Descending) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)


def render(
    row: Row,
    table: TableDef,
    select: tuple[str, ...] | None,
    env: Environment,
    *,
    expand: Mapping[str, tuple[str, ...] | None] | None = None,
    annotate: bool = False,
) -> dict[str, Any]:
    """The JSON of one row as the Web API returns it."""
    body: dict[str, Any] = {"@odata.etag": f'W/"{row.version}"'}
    wanted = set(select) if select is not None else None
    for column in table.columns.values():
        if not column.selectable or (wanted is not None and column.field not in wanted):
            continue
        value = row.values.get(column.name)
        body[column.field] = json_value(column, value)
        if annotate and value is not None:
            text = formatted(column, value, env)
            if text is not None:
                body[f"{column.field}{FORMATTED}"] = text
    body[table.key] = row.values[table.key]
    for name, columns in (expand or {}).items():
        lookup = table.columns[table.navigations[name]]
        target = env.table(lookup.target or "")
        related = env.get(target.logical, row.values.get(lookup.name))
        body[name] = None if related is None else render(related, target, columns, env)
    return body


def json_value(column: ColumnDef, value: Any) -> Any:
    """A stored value in its JSON form."""
    if value is None:
        return None
    if column.type_name == MULTI:
        return ",".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def formatted(column: ColumnDef, value: Any, env: Environment) -> str | None:
    """The FormattedValue annotation text of a choice or lookup value (None for others)."""
    if column.options is not None:
        values = value if isinstance(value, tuple | list) else (value,)
        labels = [column.options.label(int(v)) for v in values]
        return "; ".join(label for label in labels if label) or None
    if column.target is not None and column.target in env.tables:
        target = env.table(column.target)
        related = env.get(target.logical, str(value))
        return None if related is None else str(related.values.get(target.primary_name) or "")
    return None
