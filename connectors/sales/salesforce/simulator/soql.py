"""A parser for the SOQL subset the connector emits and admins write in ``select`` conditions.

Grammar (keywords case-insensitive)::

    query     := SELECT item ("," item)* FROM name [WHERE expr] [ORDER BY order ("," order)*]
                 [LIMIT n] [OFFSET n]
    item      := path | "(" query ")"                      -- one child-relationship subquery
    expr      := unary (AND unary)* | unary (OR unary)*    -- mixing needs parentheses, as in SOQL
    unary     := NOT unary | "(" expr ")" | path op value | path [NOT] IN "(" values ")"
               | path LIKE 'pattern' | path (INCLUDES | EXCLUDES) "(" values ")"
    value     := 'string' | number | true | false | null | 2026-11-23 | 2026-11-23T14:05:00Z
               | TODAY | YESTERDAY | TOMORROW | LAST_N_DAYS:n | NEXT_N_DAYS:n

Datetime literals are unquoted; a quoted datetime is a string and fails type checking later,
as in Salesforce. Syntax errors raise :class:`SoqlError` with ``MALFORMED_QUERY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<string>'(?:[^'\\]|\\.)*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?::\d+)?)
    | (?P<op><=|>=|!=|<>|=|<|>)
    | (?P<punct>[(),])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}
DATE_KEYWORDS = ("TODAY", "YESTERDAY", "TOMORROW", "LAST_N_DAYS", "NEXT_N_DAYS")
RESERVED = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "INCLUDES",
        "EXCLUDES",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
    }
)


class SoqlError(Exception):
    """A query Salesforce would refuse: ``errorCode`` and message as the REST API sends them."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int

    @property
    def word(self) -> str:
        return self.text.upper() if self.kind == "name" else ""


@dataclass(frozen=True)
class Literal:
    """A value: kind is string, number, boolean, null, date, datetime or dateliteral."""

    kind: str
    value: Any


@dataclass(frozen=True)
class Condition:
    path: str
    op: str
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Logic:
    op: str
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Condition | Logic | Not


@dataclass(frozen=True)
class OrderItem:
    path: str
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query; for a subquery, ``sobject`` is the child relationship name."""

    fields: tuple[str, ...]
    subqueries: tuple[Query, ...]
    sobject: str
    where: Expr | None = None
    order: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


def tokenize(text: str) -> list[Token]:
    """Split SOQL into tokens; an unknown character is a MALFORMED_QUERY."""
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            raise malformed(text, _skip_space(text, pos), text[_skip_space(text, pos)])
        tokens.append(
            Token(match.lastgroup, match.group(match.lastgroup), match.start(match.lastgroup))
        )
        pos = match.end()
    return tokens


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def malformed(text: str, pos: int, found: str) -> SoqlError:
    """Salesforce's syntax error: the query, a caret, row/column and the unexpected token."""
    column = pos + 1
    return SoqlError(
        "MALFORMED_QUERY",
        f"\n{text}\n{' ' * pos}^\nERROR at Row:1:Column:{column}\nunexpected token: {found}",
    )


def parse(text: str) -> Query:
    """Parse one SOQL query (the whole text must be consumed)."""
    parser = _Parser(text)
    query = parser.query()
    parser.expect_end()
    return query


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # -- token helpers ------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> Token | None:
        index = self.i + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise malformed(self.text, len(self.text), "<EOF>")
        self.i += 1
        return token

    def fail(self, token: Token | None) -> SoqlError:
        if token is None:
            return malformed(self.text, len(self.text), "<EOF>")
        return malformed(self.text, token.pos, token.text)

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.word in words

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "punct" and token.text == char

    def expect_word(self, word: str) -> None:
        token = self.peek()
        if token is None or token.word != word:
            raise self.fail(token)
        self.i += 1

    def expect_punct(self, char: str) -> None:
        token = self.peek()
        if token is None or token.text != char:
            raise self.fail(token)
        self.i += 1

    def expect_end(self) -> None:
        if self.peek() is not None:
            raise self.fail(self.peek())

    def name(self) -> str:
        token = self.peek()
        if token is None or token.kind != "name" or token.word in RESERVED or ":" in token.text:
            raise self.fail(token)
        self.i += 1
        return token.text

    def integer(self) -> int:
        token = self.peek()
        if token is None or token.kind != "number" or not token.text.isdigit():
            raise self.fail(token)
        self.i += 1
        return int(token.text)

    # -- grammar ------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect_word("SELECT")
        fields: list[str] = []
        subqueries: list[Query] = []
        while True:
            if self.at_punct("("):
                self.i += 1
                subqueries.append(self.query())
                self.expect_punct(")")
            else:
                fields.append(self.name())
            if not self.at_punct(","):
                break
            self.i += 1
        self.expect_word("FROM")
        sobject = self.name()
        where = self.where() if self.at_word("WHERE") else None
        order = self.order_by() if self.at_word("ORDER") else ()
        limit = self.keyword_int("LIMIT")
        offset = self.keyword_int("OFFSET")
        return Query(tuple(fields), tuple(subqueries), sobject, where, order, limit, offset)

    def keyword_int(self, word: str) -> int | None:
        if not self.at_word(word):
            return None
        self.i += 1
        return self.integer()

    def where(self) -> Expr:
        self.expect_word("WHERE")
        return self.expr()

    def order_by(self) -> tuple[OrderItem, ...]:
        self.expect_word("ORDER")
        self.expect_word("BY")
        items = [self.order_item()]
        while self.at_punct(","):
            self.i += 1
            items.append(self.order_item())
        return tuple(items)

    def order_item(self) -> OrderItem:
        path = self.name()
        descending = False
        if self.at_word("ASC", "DESC"):
            descending = self.take().word == "DESC"
        nulls_last = descending
        if self.at_word("NULLS"):
            self.i += 1
            if not self.at_word("FIRST", "LAST"):
                raise self.fail(self.peek())
            nulls_last = self.take().word == "LAST"
        return OrderItem(path, descending, nulls_last)

    def expr(self) -> Expr:
        items = [self.unary()]
        joiner: str | None = None
        while self.at_word("AND", "OR"):
            token = self.take()
            if joiner is not None and token.word != joiner:
                raise malformed(self.text, token.pos, token.text)  # SOQL needs parentheses
            joiner = token.word
            items.append(self.unary())
        return items[0] if joiner is None else Logic(joiner, tuple(items))

    def unary(self) -> Expr:
        if self.at_word("NOT"):
            self.i += 1
            return Not(self.unary())
        if self.at_punct("("):
            self.i += 1
            inner = self.expr()
            self.expect_punct(")")
            return inner
        return self.condition()

    def condition(self) -> Condition:
        path = self.name()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Condition(path, op, (self.value(),))
        word = token.word
        if word == "NOT":
            self.expect_word("IN")
            return Condition(path, "NOT IN", self.value_list())
        if word in ("IN", "INCLUDES", "EXCLUDES"):
            return Condition(path, word, self.value_list())
        if word == "LIKE":
            return Condition(path, "LIKE", (self.value(),))
        raise self.fail(token)

    def value_list(self) -> tuple[Literal, ...]:
        self.expect_punct("(")
        values = [self.value()]
        while self.at_punct(","):
            self.i += 1
            values.append(self.value())
        self.expect_punct(")")
        return tuple(values)

    def value(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            return Literal("string", unescape(token.text[1:-1]))
        if token.kind == "number":
            number = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number)
        if token.kind == "datetime":
            return Literal("datetime", parse_datetime(token.text))
        if token.kind == "date":
            return Literal("date", date.fromisoformat(token.text))
        if token.kind == "name":
            return self.word_value(token)
        raise self.fail(token)

    def word_value(self, token: Token) -> Literal:
        word, _, count = token.word.partition(":")
        if word in ("TRUE", "FALSE") and not count:
            return Literal("boolean", word == "TRUE")
        if word == "NULL" and not count:
            return Literal("null", None)
        if word in DATE_KEYWORDS and (bool(count) == word.endswith("_DAYS")):
            return Literal("dateliteral", (word, int(count or 0)))
        raise self.fail(token)


def unescape(raw: str) -> str:
    """Undo SOQL string escapes; ``\\%`` and ``\\_`` stay escaped for LIKE patterns."""
    out, i = [], 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def parse_datetime(text: str) -> datetime:
    """A SOQL datetime literal as an aware UTC datetime (``Z``, ``+0000`` or ``+00:00``)."""
    fixed = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(fixed).astimezone(UTC)
