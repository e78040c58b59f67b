"""The subset of SOQL a deal connector sends, parsed and evaluated against in-memory records.

Grammar (SOQL and SOSL Reference, https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/
soql_sosl/; keywords are case-insensitive)::

    query     := SELECT item (, item)* FROM name [WHERE cond] [ORDER BY key (, key)*]
                 [LIMIT n] [OFFSET n]
    item      := path | ( SELECT path (, path)* FROM childRelationship [WHERE cond]
                          [ORDER BY ...] [LIMIT n] )
    path      := name (. name)*                   parent fields by dot notation
    cond      := and (OR and)*;  and := not (AND not)*;  not := NOT not | ( cond ) | predicate
    predicate := path op literal | path [NOT] IN ( literal, ... ) | path LIKE 'pattern'
    literal   := dateTime | date | number | 'string' | TRUE | FALSE | NULL
    key       := path [ASC | DESC] [NULLS FIRST | NULLS LAST]

Facts modelled (each with its source):

* dateTime literals are unquoted ``YYYY-MM-DDThh:mm:ss`` with ``Z`` or ``+hh:mm``/``-hh:mm``; date
  literals ``YYYY-MM-DD`` (SOQL reference, "Date Formats and Date Literals in WHERE",
  https://developer.salesforce.com/docs/platform/salesforce-soql-sosl/guide/
  sforce-api-calls-soql-select-dateformats.md). Fractional seconds are also accepted, as in the
  REST guide's dateTime format (intro_valid_date_formats.htm); whether SOQL itself takes them is
  not confirmed. A quoted date or a date where a dateTime is compared is refused.
* Relationship queries: child-to-parent by dot notation, parent-to-child by a subquery on the
  child relationship name (SOQL reference, "Relationship Queries", shared/vendor-apis/
  sales-apis.md section 1).
* ``ORDER BY`` defaults to ascending with nulls first (SOQL reference, ORDER BY) [not re-checked].
* String ``=`` is case-insensitive in SOQL (SOQL reference, comparison operators) [not re-checked].
* Unknown columns answer ``INVALID_FIELD``, an unknown object or child relationship
  ``INVALID_TYPE``, anything unparsable ``MALFORMED_QUERY`` (REST guide, resources-query.md: "If the
  SOQL query string is invalid, a MALFORMED_QUERY response is returned"; error codes as in
  shared/vendor-apis/fixtures/salesforce/query_error_response.json).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

Value = Any
"""A field value as the fake stores it: str, float, int, bool, date, datetime or None."""


class SoqlError(Exception):
    """A query Salesforce would refuse; ``code`` is the errorCode of the 400 answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\dT]))
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)

TokenKind = Literal["datetime", "date", "number", "string", "op", "punct", "name"]


@dataclass(frozen=True)
class Token:
    kind: TokenKind
    text: str
    position: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "name" and self.text.upper() in words


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: {text[position:][:20]!r}")
        kind = match.lastgroup
        if kind != "ws":
            tokens.append(Token(kind, match.group(), position))  # type: ignore[arg-type]
        position = match.end()
    return tokens


# --- syntax tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lit:
    kind: Literal["datetime", "date", "number", "string", "bool", "null"]
    value: Value


@dataclass(frozen=True)
class Compare:
    path: str
    op: str
    literal: Lit


@dataclass(frozen=True)
class InList:
    path: str
    literals: tuple[Lit, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: str
    pattern: str


@dataclass(frozen=True)
class Not:
    operand: Condition


@dataclass(frozen=True)
class BoolOp:
    op: Literal["AND", "OR"]
    operands: tuple[Condition, ...]


Condition = Compare | InList | Like | Not | BoolOp


@dataclass(frozen=True)
class OrderKey:
    path: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """One parsed SELECT; ``subqueries`` maps a child relationship to its own Query."""

    fields: tuple[str, ...]
    source: str
    where: Condition | None = None
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    offset: int = 0
    subqueries: tuple[Query, ...] = ()
    items: tuple[str, ...] = field(default=())
    """SELECT items in request order: a field path, or ``(child)`` for a subquery."""


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.index += 1
        return token

    def expect_keyword(self, *words: str) -> Token:
        token = self.take()
        if not token.keyword(*words):
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token: '{token.text}' (expected {words[0]})"
            )
        return token

    def expect_punct(self, text: str) -> None:
        token = self.take()
        if token.kind != "punct" or token.text != text:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")

    def at_keyword(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.keyword(*words)

    def at_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == text

    def query(self, *, nested: bool = False) -> Query:
        self.expect_keyword("SELECT")
        fields, items, subqueries = self.select_list(nested=nested)
        self.expect_keyword("FROM")
        source = self.take()
        if source.kind != "name":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{source.text}'")
        where = None
        if self.at_keyword("WHERE"):
            self.take()
            where = self.condition()
        order_by = self.order_by()
        limit = self.clause_number("LIMIT")
        offset = self.clause_number("OFFSET") or 0
        if not nested and self.peek() is not None:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{self.take().text}'")
        return Query(
            fields=tuple(fields),
            source=source.text,
            where=where,
            order_by=order_by,
            limit=limit,
            offset=offset,
            subqueries=tuple(subqueries),
            items=tuple(items),
        )

    def select_list(self, *, nested: bool) -> tuple[list[str], list[str], list[Query]]:
        fields: list[str] = []
        items: list[str] = []
        subqueries: list[Query] = []
        while True:
            if self.at_punct("("):
                if nested:
                    raise SoqlError("MALFORMED_QUERY", "nested subqueries are not supported here")
                self.take()
                sub = self.query(nested=True)
                self.expect_punct(")")
                subqueries.append(sub)
                items.append(f"({sub.source})")
            else:
                name = self.take()
                if name.kind != "name" or name.keyword("FROM"):
                    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{name.text}'")
                fields.append(name.text)
                items.append(name.text)
            if not self.at_punct(","):
                return fields, items, subqueries
            self.take()

    def order_by(self) -> tuple[OrderKey, ...]:
        if not self.at_keyword("ORDER"):
            return ()
        self.take()
        self.expect_keyword("BY")
        keys = [self.order_key()]
        while self.at_punct(","):
            self.take()
            keys.append(self.order_key())
        return tuple(keys)

    def clause_number(self, keyword: str) -> int | None:
        if not self.at_keyword(keyword):
            return None
        self.take()
        return self.integer()

    def integer(self) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")
        return int(token.text)

    def order_key(self) -> OrderKey:
        path = self.take()
        if path.kind != "name":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{path.text}'")
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.take().keyword("DESC")
        nulls_last = descending  # SOQL: nulls first ascending; DESC reverses the default
        if self.at_keyword("NULLS"):
            self.take()
            nulls_last = self.expect_keyword("FIRST", "LAST").keyword("LAST")
        return OrderKey(path.text, descending, nulls_last)

    def condition(self) -> Condition:
        operands = [self.conjunction()]
        while self.at_keyword("OR"):
            self.take()
            operands.append(self.conjunction())
        return operands[0] if len(operands) == 1 else BoolOp("OR", tuple(operands))

    def conjunction(self) -> Condition:
        operands = [self.negation()]
        while self.at_keyword("AND"):
            self.take()
            operands.append(self.negation())
        return operands[0] if len(operands) == 1 else BoolOp("AND", tuple(operands))

    def negation(self) -> Condition:
        if self.at_keyword("NOT"):
            self.take()
            return Not(self.negation())
        if self.at_punct("("):
            self.take()
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        path = self.take()
        if path.kind != "name":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{path.text}'")
        if self.at_keyword("NOT", "IN"):
            negated = self.take().keyword("NOT")
            if negated:
                self.expect_keyword("IN")
            self.expect_punct("(")
            literals = [self.literal()]
            while self.at_punct(","):
                self.take()
                literals.append(self.literal())
            self.expect_punct(")")
            return InList(path.text, tuple(literals), negated)
        if self.at_keyword("LIKE"):
            self.take()
            pattern = self.literal()
            if pattern.kind != "string":
                raise SoqlError("MALFORMED_QUERY", "LIKE needs a quoted pattern")
            return Like(path.text, pattern.value)
        op = self.take()
        if op.kind != "op":
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{op.text}'")
        return Compare(path.text, "!=" if op.text == "<>" else op.text, self.literal())

    def literal(self) -> Lit:
        token = self.take()
        if token.kind == "datetime":
            text = token.text.replace("Z", "+00:00")
            return Lit("datetime", datetime.fromisoformat(text).astimezone(UTC))
        if token.kind == "date":
            return Lit("date", date.fromisoformat(token.text))
        if token.kind == "number":
            number = float(token.text)
            return Lit("number", int(number) if number.is_integer() else number)
        if token.kind == "string":
            return Lit("string", re.sub(r"\\(.)", r"\1", token.text[1:-1]))
        if token.keyword("TRUE", "FALSE"):
            return Lit("bool", token.keyword("TRUE"))
        if token.keyword("NULL"):
            return Lit("null", None)
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{token.text}'")


def parse(text: str) -> Query:
    """Parse one SOQL statement or raise SoqlError(MALFORMED_QUERY)."""
    tokens = tokenize(text)
    if not tokens:
        raise SoqlError("MALFORMED_QUERY", "empty query")
    return _Parser(tokens).query()


# --- evaluation -------------------------------------------------------------------------------

Resolve = Callable[[str], tuple[str, Value]]
"""Given a field path, the field's SOAP type name and the record's value for it."""

_DATETIME_TYPES = {"datetime"}
_DATE_TYPES = {"date"}
_NUMBER_TYPES = {"double", "currency", "percent", "int", "long"}


def _coerce(field_type: str, literal: Lit, path: str) -> Value:
    if literal.kind == "null":
        return None
    if field_type in _DATETIME_TYPES:
        if literal.kind != "datetime":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{path}' must be of type dateTime and "
                "should not be enclosed in quotes",
            )
        return literal.value
    if field_type in _DATE_TYPES:
        if literal.kind != "date":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{path}' must be of type date and should "
                "not be enclosed in quotes",
            )
        return literal.value
    if field_type in _NUMBER_TYPES:
        if literal.kind != "number":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{path}' must be a number",
            )
        return literal.value
    if field_type == "boolean":
        if literal.kind != "bool":
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{path}' must be of type boolean and "
                "should not be enclosed in quotes",
            )
        return literal.value
    if literal.kind != "string":
        raise SoqlError(
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{path}' must be a quoted string",
        )
    return literal.value


def _fold(value: Value) -> Value:
    return value.casefold() if isinstance(value, str) else value


def _compare(op: str, left: Value, right: Value) -> bool:
    if op == "=":
        return bool(_fold(left) == _fold(right))
    if op == "!=":
        return bool(_fold(left) != _fold(right))
    if left is None or right is None:
        return False
    checks: Mapping[str, Callable[[Value, Value], bool]] = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    return checks[op](left, right)


def _like(value: Value, pattern: str) -> bool:
    if not isinstance(value, str):
        return False
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def check_literals(condition: Condition | None, type_of: Callable[[str], str]) -> None:
    """Refuse a literal of the wrong type for its field, as Salesforce does before running."""
    if condition is None:
        return
    if isinstance(condition, BoolOp):
        for operand in condition.operands:
            check_literals(operand, type_of)
    elif isinstance(condition, Not):
        check_literals(condition.operand, type_of)
    elif isinstance(condition, Compare):
        _coerce(type_of(condition.path), condition.literal, condition.path)
    elif isinstance(condition, InList):
        for literal in condition.literals:
            _coerce(type_of(condition.path), literal, condition.path)


def matches(condition: Condition | None, resolve: Resolve) -> bool:
    """Whether a record (seen through ``resolve``) satisfies the WHERE condition."""
    if condition is None:
        return True
    if isinstance(condition, BoolOp):
        results = (matches(operand, resolve) for operand in condition.operands)
        return all(results) if condition.op == "AND" else any(results)
    if isinstance(condition, Not):
        return not matches(condition.operand, resolve)
    field_type, value = resolve(condition.path)
    if isinstance(condition, Like):
        return _like(value, condition.pattern)
    if isinstance(condition, InList):
        wanted = {_fold(_coerce(field_type, lit, condition.path)) for lit in condition.literals}
        inside = _fold(value) in wanted
        return not inside if condition.negated else inside
    return _compare(condition.op, value, _coerce(field_type, condition.literal, condition.path))


def sort_key(keys: tuple[OrderKey, ...], resolve: Resolve) -> tuple[Any, ...]:
    """A sort key honouring ASC/DESC and NULLS FIRST/LAST for each ORDER BY key."""
    parts: list[Any] = []
    for key in keys:
        _type, value = resolve(key.path)
        null_rank = (1 if key.nulls_last else 0) if value is None else (0 if key.nulls_last else 1)
        parts.append((null_rank, _Reversed(_fold(value)) if key.descending else _fold(value)))
    return tuple(parts)


class _Reversed:
    """Inverts comparisons so one ascending sort handles DESC keys."""

    def __init__(self, value: Value) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        if self.value is None or other.value is None:
            return False
        return bool(self.value > other.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and bool(self.value == other.value)

    def __hash__(self) -> int:
        return hash(self.value)
