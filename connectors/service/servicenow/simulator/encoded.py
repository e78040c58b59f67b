"""Encoded queries (``sysparm_query``) as an instance evaluates them (FACTS.md 4.3).

``^`` joins conditions with AND, ``^OR`` joins a condition to the one before it with OR (OR
binds tighter than AND), ``^NQ`` starts a new query OR'ed with the ones before, and
``ORDERBY<col>`` / ``ORDERBYDESC<col>`` anywhere in the string order the result. Operators:
``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (strings lexically: date-times in the
``YYYY-MM-DD HH:MM:SS`` form compare correctly that way; numbers as numbers), ``IN`` /
``NOT IN``, ``LIKE`` / ``NOT LIKE`` (contains), ``STARTSWITH``, ``ENDSWITH``, ``ISEMPTY``,
``ISNOTEMPTY``. Column names, operators and values are case-sensitive.

**A condition naming a column the table does not have is dropped silently** and the rest of
the query runs (the default without ``glide.invalid_query.returns_no_rows``): a typo returns
more rows, not fewer.
"""

from __future__ import annotations

import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

Row = Mapping[str, Any]
_OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "STARTSWITH",
    "ENDSWITH",
    "NOT LIKE",
    "NOT IN",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
_COLUMN = re.compile(r"^[a-z_][a-z0-9_.]*")


@dataclass(frozen=True)
class Condition:
    """One ``<col><op><value>`` term."""

    column: str
    operator: str
    value: str

    def holds(self, row: Row) -> bool:  # noqa: PLR0911 - one answer per operator
        """Whether ``row`` satisfies the term."""
        raw = row.get(self.column)
        actual = "" if raw is None else str(raw)
        op, value = self.operator, self.value
        if op == "ISEMPTY":
            return actual == ""
        if op == "ISNOTEMPTY":
            return actual != ""
        if op in ("IN", "NOT IN"):
            inside = actual in value.split(",")
            return inside if op == "IN" else not inside
        if op in ("LIKE", "NOT LIKE"):
            return (value in actual) == (op == "LIKE")
        if op == "STARTSWITH":
            return actual.startswith(value)
        if op == "ENDSWITH":
            return actual.endswith(value)
        return _compare(actual, op, value)


@dataclass(frozen=True)
class Query:
    """Queries OR'ed by ``^NQ``, each a list of AND'ed groups of OR'ed conditions."""

    alternatives: tuple[tuple[tuple[Condition, ...], ...], ...]
    order: tuple[tuple[str, bool], ...]
    """(column, descending) pairs."""

    def matches(self, row: Row) -> bool:
        """Whether ``row`` satisfies the query (an empty query matches everything)."""
        if not self.alternatives:
            return True
        return any(
            all(any(c.holds(row) for c in group) for group in alternative)
            for alternative in self.alternatives
        )


def parse(text: str, columns: Container[str]) -> Query:
    """Parse ``text``; conditions on columns not in ``columns`` are dropped (silently)."""
    order: list[tuple[str, bool]] = []
    alternatives = []
    for part in text.split("^NQ") if text else []:
        groups: list[list[Condition]] = []
        for piece in part.split("^"):
            joins_previous = piece.startswith("OR") and groups and not piece.startswith("ORDERBY")
            term = piece[2:] if joins_previous else piece
            if term.startswith("ORDERBYDESC"):
                _ordered(order, term.removeprefix("ORDERBYDESC"), columns, descending=True)
                continue
            if term.startswith("ORDERBY"):
                _ordered(order, term.removeprefix("ORDERBY"), columns, descending=False)
                continue
            condition = _condition(term)
            if condition is None or condition.column.split(".")[0] not in columns:
                continue  # an invalid part of a query is ignored
            if joins_previous:
                groups[-1].append(condition)
            else:
                groups.append([condition])
        if groups:
            alternatives.append(tuple(tuple(g) for g in groups))
    return Query(alternatives=tuple(alternatives), order=tuple(order))


def ordered(rows: list[Row], query: Query) -> list[Row]:
    """``rows`` in the query's order (stable: later keys first, then earlier ones)."""
    result = list(rows)
    for column, descending in reversed(query.order):
        result.sort(key=partial(_sort_key, column), reverse=descending)
    return result


def _ordered(
    order: list[tuple[str, bool]], column: str, columns: Container[str], *, descending: bool
) -> None:
    if column in columns:
        order.append((column, descending))


def _condition(term: str) -> Condition | None:
    match = _COLUMN.match(term)
    if match is None:
        return None
    column, rest = match.group(0), term[match.end() :]
    for operator in _OPERATORS:
        if rest.startswith(operator):
            return Condition(column, operator, rest[len(operator) :])
    return None


def _number(text: str) -> Decimal | None:
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        return None


def _compare(actual: str, op: str, value: str) -> bool:
    left: Any = actual
    right: Any = value
    a, b = _number(actual), _number(value)
    if a is not None and b is not None:
        left, right = a, b
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


def _sort_key(column: str, row: Row) -> tuple[int, Any]:
    return _sortable(row.get(column))


def _sortable(value: Any) -> tuple[int, Any]:
    text = "" if value is None else str(value)
    number = _number(text)
    return (0, number) if number is not None else (1, text)
