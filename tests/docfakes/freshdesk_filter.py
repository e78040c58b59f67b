"""The filter ("search") query language of ``/api/v2/search/{companies|contacts}``, small.

``query="..."`` in double quotes, at most 512 characters [PFD]; conditions ``field:value``,
``field:>value`` and ``field:<value`` joined with AND/OR and parentheses [PFD docstring
example: "(company_field:integer OR company_field:'string') AND company_field:boolean"];
``:>``/``:<`` on dates mean on-or-after / on-or-before, dates as ``'YYYY-MM-DD'`` [FLT].
The searchable standard fields listed here are [unverified]; custom fields are searchable by
name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.docfakes.freshdesk_account import MAX_QUERY_CHARS, Kind, day

_TOKEN = re.compile(r"\s*(\(|\)|:>|:<|:|'[^']*'|-?\d+(?:\.\d+)?|[A-Za-z_][A-Za-z0-9_]*)")
STANDARD_FIELDS: dict[Kind, set[str]] = {
    "company": {"domain", "created_at", "updated_at"},
    "contact": {"email", "company_id", "created_at", "updated_at", "active"},
}
Predicate = Callable[[dict[str, Any]], bool]


class QueryError(ValueError):
    """Answered as a 400 validation error on ``query``."""


def parse(raw: str, kind: Kind, custom_names: set[str]) -> Predicate:
    if len(raw) > MAX_QUERY_CHARS + 2:
        raise QueryError(f"query is longer than {MAX_QUERY_CHARS} characters")
    if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
        raise QueryError("query must be enclosed in double quotes")
    tokens = _tokens(raw[1:-1])
    parser = _Parser(tokens, STANDARD_FIELDS[kind] | custom_names)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise QueryError(f"unexpected {tokens[parser.position]!r}")
    return predicate


def _tokens(text: str) -> list[str]:
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(f"cannot read the query at {text[position:]!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str], fields: set[str]) -> None:
        self.tokens, self.fields, self.position = tokens, fields, 0

    def _next(self) -> str:
        if self.position >= len(self.tokens):
            raise QueryError("the query ends too early")
        self.position += 1
        return self.tokens[self.position - 1]

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expression(self) -> Predicate:
        parts = [self._conjunction()]
        while self._peek() == "OR":
            self._next()
            parts.append(self._conjunction())
        return lambda record: any(p(record) for p in parts)

    def _conjunction(self) -> Predicate:
        parts = [self._atom()]
        while self._peek() == "AND":
            self._next()
            parts.append(self._atom())
        return lambda record: all(p(record) for p in parts)

    def _atom(self) -> Predicate:
        token = self._next()
        if token == "(":
            inner = self.expression()
            if self._next() != ")":
                raise QueryError("a parenthesis is not closed")
            return inner
        if token not in self.fields:
            raise QueryError(f"{token} is not a searchable field")
        operator, literal = self._next(), _literal(self._next())
        if operator not in (":", ":>", ":<"):
            raise QueryError(f"{operator!r} is not an operator")
        return _condition(token, operator, literal)


def _literal(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1]
    if token in ("true", "false"):
        return token == "true"
    if token == "null":
        return None
    try:
        return float(token) if "." in token else int(token)
    except ValueError:
        raise QueryError(f"{token!r} is not a value") from None


def _condition(name: str, operator: str, value: Any) -> Predicate:
    def actual(record: dict[str, Any]) -> Any:
        if name in ("created_at", "updated_at"):
            return day(record[name])
        if name in record:
            return record[name]
        return record.get("custom_fields", {}).get(name)

    if name == "domain":
        return lambda record: str(value).lower() in [d.lower() for d in record.get("domains", [])]
    if name == "email":
        return lambda record: value in [record.get("email"), *record.get("other_emails", [])]
    if operator == ":":
        return lambda record: actual(record) == value

    def compare(record: dict[str, Any]) -> bool:
        seen = actual(record)
        if seen is None or value is None:
            return False
        return bool(seen >= value) if operator == ":>" else bool(seen <= value)

    return compare
