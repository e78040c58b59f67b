"""The subset of Freshdesk's filter-query language the simulator understands.

``"(field:value OR field:'text') AND date_field:>'2024-05-01'"``: conditions joined by AND/OR
with parentheses; ``:>`` is on-or-after and ``:<`` on-or-before (dates ``YYYY-MM-DD``,
numbers); ``null`` matches empty fields. Field names are case sensitive. Dates compare on the
UTC day, as the documentation describes date inputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

Predicate = Callable[[Mapping[str, Any]], bool]
Accessor = Callable[[Mapping[str, Any]], Any]

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<bool>AND|OR)(?=[\s()]|$)"
    r"|(?P<field>[A-Za-z_][A-Za-z0-9_]*):(?P<op>[<>]?)(?P<value>'[^']*'|[^\s()]+))"
)
DATE_FIELDS = frozenset({"created_at", "updated_at"})


class QueryError(ValueError):
    """The query cannot be parsed or names an unknown field."""


@dataclass(frozen=True)
class Condition:
    """``field:value``, ``field:>value`` or ``field:<value``."""

    field: str
    op: str
    raw: str


def compile_query(query: str, accessors: Mapping[str, Accessor]) -> Predicate:
    """Parse ``query`` (without its surrounding double quotes) into a record predicate."""
    tokens = list(_tokens(query))
    if not tokens:
        raise QueryError("the query is empty")
    predicate, rest = _expression(tokens, accessors)
    if rest:
        raise QueryError(f"unexpected {rest[0]!r} in the query")
    return predicate


def _tokens(query: str) -> Iterator[str | Condition]:
    position = 0
    while position < len(query):
        if not query[position:].strip():
            return
        match = _TOKEN.match(query, position)
        if match is None:
            raise QueryError(f"cannot read the query at {query[position : position + 20]!r}")
        position = match.end()
        if match.group("field"):
            yield Condition(match.group("field"), match.group("op"), match.group("value"))
        else:
            yield match.group("open") or match.group("close") or match.group("bool")


def _expression(
    tokens: list[str | Condition], accessors: Mapping[str, Accessor]
) -> tuple[Predicate, list[str | Condition]]:
    left, rest = _term(tokens, accessors)
    while rest and rest[0] == "OR":
        right, rest = _term(rest[1:], accessors)
        left = _either(left, right)
    return left, rest


def _term(
    tokens: list[str | Condition], accessors: Mapping[str, Accessor]
) -> tuple[Predicate, list[str | Condition]]:
    left, rest = _factor(tokens, accessors)
    while rest and rest[0] == "AND":
        right, rest = _factor(rest[1:], accessors)
        left = _both(left, right)
    return left, rest


def _factor(
    tokens: list[str | Condition], accessors: Mapping[str, Accessor]
) -> tuple[Predicate, list[str | Condition]]:
    if not tokens:
        raise QueryError("the query ends too early")
    head, rest = tokens[0], tokens[1:]
    if head == "(":
        inner, rest = _expression(rest, accessors)
        if not rest or rest[0] != ")":
            raise QueryError("a parenthesis is not closed")
        return inner, rest[1:]
    if isinstance(head, Condition):
        return _condition(head, accessors), rest
    raise QueryError(f"unexpected {head!r} in the query")


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda record: left(record) or right(record)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda record: left(record) and right(record)


def _condition(condition: Condition, accessors: Mapping[str, Accessor]) -> Predicate:
    accessor = accessors.get(condition.field)
    if accessor is None:
        raise QueryError(f"'{condition.field}' is not a field you can filter on")
    wanted = _literal(condition.raw)
    if condition.field in DATE_FIELDS and wanted is not None:
        wanted = _day(wanted)
        return _compare(lambda r: _day(accessor(r)), condition.op, wanted)
    return _compare(accessor, condition.op, wanted)


def _compare(accessor: Accessor, op: str, wanted: Any) -> Predicate:
    def matches(record: Mapping[str, Any]) -> bool:
        values = accessor(record)
        candidates = values if isinstance(values, list) else [values]
        return any(_one(value, op, wanted) for value in candidates) or (
            wanted is None and not candidates
        )

    return matches


def _one(value: Any, op: str, wanted: Any) -> bool:
    if wanted is None:
        return value in (None, "")
    if isinstance(value, str) and isinstance(wanted, str) and not op:
        return value.lower() == wanted.lower()
    try:
        if op == ">":
            return bool(value is not None and value >= wanted)
        if op == "<":
            return bool(value is not None and value <= wanted)
    except TypeError:
        return False
    return bool(value == wanted)


def _literal(raw: str) -> Any:
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1]
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "null":
        return None
    try:
        return float(raw) if "." in raw else int(raw)
    except ValueError:
        return raw


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
        except ValueError:
            raise QueryError(f"{value!r} is not a date (use 'YYYY-MM-DD')") from None
    return None
