"""A ``$filter`` parser and evaluator for the subset of OData v4 a sync client sends.

Comparisons ``eq ne gt ge lt le``, ``and``/``or``/``not`` with parentheses, the functions
``contains``/``startswith``/``endswith``; literals ``null``, ``true``/``false``, numbers,
``'text'`` (a quote doubled inside), unquoted GUIDs and unquoted ISO 8601 date-times or dates
(FACTS.md §5.1). Comparisons with ``null`` follow SQL-free OData: ``x eq null`` is true for an
empty column and every ordering comparison with null is false.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*')
    | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})
    | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_][A-Za-z0-9_./]*)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
COMPARISONS = frozenset({"eq", "ne", "gt", "ge", "lt", "le"})
FUNCTIONS = frozenset({"contains", "startswith", "endswith"})

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class FilterError(ValueError):
    """The filter cannot be parsed, or names an unknown property (``.name`` is set then)."""

    def __init__(self, message: str, name: str | None = None) -> None:
        self.name = name
        super().__init__(message)


@dataclass(frozen=True)
class Token:
    """One lexical token: its kind and text."""

    kind: str
    text: str


def tokenize(text: str) -> list[Token]:
    """Split a filter into tokens; anything unrecognised is a syntax error."""
    tokens, position = [], 0
    text = text.rstrip()
    while position < len(text):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"Syntax error at position {position} in '{text}'.")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Token], known: Callable[[str], bool]) -> None:
        self.tokens = tokens
        self.at = 0
        self.known = known

    def parse(self) -> Predicate:
        predicate = self._or()
        if self.at != len(self.tokens):
            raise FilterError(f"Syntax error: unexpected '{self.tokens[self.at].text}'.")
        return predicate

    def _peek(self) -> Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self) -> Token:
        token = self._peek()
        if token is None:
            raise FilterError("Syntax error: the filter ends too early.")
        self.at += 1
        return token

    def _keyword(self, word: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "name" and token.text == word:
            self.at += 1
            return True
        return False

    def _expect(self, text: str) -> None:
        token = self._take()
        if token.text != text:
            raise FilterError(f"Syntax error: expected '{text}', found '{token.text}'.")

    def _or(self) -> Predicate:
        left = self._and()
        while self._keyword("or"):
            right = self._and()
            left = _either(left, right)
        return left

    def _and(self) -> Predicate:
        left = self._not()
        while self._keyword("and"):
            right = self._not()
            left = _both(left, right)
        return left

    def _not(self) -> Predicate:
        if self._keyword("not"):
            inner = self._not()
            return lambda row: not inner(row)
        return self._primary()

    def _primary(self) -> Predicate:
        token = self._peek()
        if token is not None and token.text == "(":
            self.at += 1
            inner = self._or()
            self._expect(")")
            return inner
        if token is not None and token.kind == "name" and token.text in FUNCTIONS:
            return self._function()
        left = self._operand()
        operator = self._take()
        if operator.kind != "name" or operator.text not in COMPARISONS:
            raise FilterError(f"Syntax error: '{operator.text}' is not a comparison operator.")
        right = self._operand()
        return _compare(operator.text, left, right)

    def _function(self) -> Predicate:
        name = self._take().text
        self._expect("(")
        subject = self._operand()
        self._expect(",")
        needle = self._operand()
        self._expect(")")

        def test(row: Row) -> bool:
            value, text = subject(row), needle(row)
            if not isinstance(value, str) or not isinstance(text, str):
                return False
            value, text = value.lower(), text.lower()
            if name == "contains":
                return text in value
            return value.startswith(text) if name == "startswith" else value.endswith(text)

        return test

    def _operand(self) -> Callable[[Row], Any]:
        token = self._take()
        value = _literal(token)
        if value is not _NOT_LITERAL:
            return lambda _row: value
        if token.kind != "name":
            raise FilterError(f"Syntax error at '{token.text}'.")
        name = token.text
        if not self.known(name):
            raise FilterError(f"Could not find a property named '{name}'", name=name)
        return lambda row: row.get(name)


_NOT_LITERAL = object()


_LITERALS: dict[str, Callable[[str], Any]] = {
    "string": lambda text: text[1:-1].replace("''", "'"),
    "guid": str.lower,
    "datetime": lambda text: datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC),
    "date": date.fromisoformat,
    "number": lambda text: float(text) if "." in text else int(text),
}
_WORDS: dict[str, Any] = {"null": None, "true": True, "false": False}


def _literal(token: Token) -> Any:
    if token.kind in _LITERALS:
        return _LITERALS[token.kind](token.text)
    if token.kind == "name" and token.text in _WORDS:
        return _WORDS[token.text]
    return _NOT_LITERAL


def _either(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) or right(row)


def _both(left: Predicate, right: Predicate) -> Predicate:
    return lambda row: left(row) and right(row)


_ORDERINGS: dict[str, Callable[[Any, Any], Any]] = {
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


def _compare(op: str, left: Callable[[Row], Any], right: Callable[[Row], Any]) -> Predicate:
    def test(row: Row) -> bool:
        a, b = _comparable(left(row)), _comparable(right(row))
        if op in ("eq", "ne"):
            return bool(a == b) == (op == "eq")
        if a is None or b is None:
            return False
        try:
            return bool(_ORDERINGS[op](a, b))
        except TypeError:
            return False

    return test


def _comparable(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()  # Dataverse compares text and GUIDs without regard to case
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def compile_filter(text: str, known: Callable[[str], bool]) -> Predicate:
    """A predicate over rows keyed by field name; raises FilterError when invalid."""
    return _Parser(tokenize(text), known).parse()
