"""A COQL subset, parsed and run against the simulated org (FACTS.md §4).

``select <columns> from <module> where <criteria> [order by <col> [asc|desc], ...]
[limit <n> [offset <m>]]``. What Zoho documents is enforced: a WHERE clause is required
(SYNTAX_ERROR, §4.3); more than two criteria on one bracket level are ambiguous and refused
("use them as (A and (B and C))", limitations page); at most 50 columns, 25 criteria, 10 ORDER
BY fields (duplicates: DUPLICATE_DATA), 15 select-clause joins, LIMIT 2,000 and OFFSET + LIMIT
100,000 (LIMIT_EXCEEDED, §4.2); an unknown column is INVALID_QUERY "column given seems to be
invalid" (§4.6). Without ORDER BY rows come by id ascending (§4.4). A selected lookup is
``{"id"}``; ``lookup.field`` reads through it (§4.5). Comparators: = != < <= > >= between, in,
not in (50 values), like, is (not) null (§4.7).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.sales.zoho.simulator.org import Org, Record
from connectors.sales.zoho.simulator.render import USER_FIELDS, coql_value, stored, traverse

MAX_COLUMNS = 50
MAX_CRITERIA = 25
MAX_ORDER = 10
MAX_JOINS = 15
MAX_LIMIT = 2000
MAX_ROWS = 100_000
MAX_IN = 50
DEFAULT_LIMIT = 200
UNSELECTABLE = frozenset({"profileimage", "imageupload"})
NOT_IN_CRITERIA = frozenset({"textarea"})

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op>!=|<>|>=|<=|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_$][A-Za-z0-9_$.]*))"
)


class CoqlError(Exception):
    """A query Zoho refuses: code, message, details, HTTP status."""

    def __init__(
        self, code: str, message: str, details: dict[str, Any] | None = None, status: int = 400
    ) -> None:
        self.code = code
        self.message = message
        self.details = details or {}
        self.status = status
        super().__init__(message)


def _syntax(message: str = "The query does not contain either proper criteria, base table, "
            "or the where clause") -> CoqlError:  # fmt: skip
    return CoqlError("SYNTAX_ERROR", message)


@dataclass
class Query:
    """A parsed select."""

    columns: list[str]
    module: str
    where: Criterion | None
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    offset: int = 0


Criterion = Callable[["Row"], bool]


@dataclass(frozen=True)
class Row:
    """A record while a query runs: the org, its module and the record."""

    org: Org
    module: str
    record: Record

    def value(self, column: str) -> Any:
        if "." in column:
            lookup, _, name = column.partition(".")
            return traverse(self.org, self.module, self.record, lookup, name)
        return stored(self.record, column)


class _Parser:
    def __init__(self, org: Org, text: str) -> None:
        self.org = org
        self.tokens = _tokens(text)
        self.pos = 0
        self.module = ""
        self.criteria = 0

    def peek(self, offset: int = 0) -> str | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _syntax()
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        for offset, word in enumerate(words):
            token = self.peek(offset)
            if token is None or token.lower() != word:
                return False
        self.pos += len(words)
        return True

    def expect(self, *words: str) -> None:
        if not self.keyword(*words):
            raise _syntax(f"expected {' '.join(words).upper()} near {self.peek()!r}")

    def parse(self) -> Query:
        self.expect("select")
        columns = self.column_list()
        self.expect("from")
        self.module = self.take()
        if self.module not in self.org.fields:
            raise CoqlError("INVALID_QUERY", "invalid module given", {"module": self.module})
        for column in columns:
            self.check_column(column, selecting=True)
        if not self.keyword("where"):
            raise _syntax()
        where = self.condition()
        order = self.order_by() if self.keyword("order", "by") else []
        limit, offset = DEFAULT_LIMIT, 0
        if self.keyword("limit"):
            limit = self.integer()
            if self.keyword("offset"):
                offset = self.integer()
            elif self.peek() == ",":  # limit <offset>, <limit>
                self.take()
                limit, offset = self.integer(), limit
        if self.peek() == ";":
            self.take()
        if self.peek() is not None:
            raise _syntax(f"unexpected {self.peek()!r} after the query")
        query = Query(columns, self.module, where, order, limit, offset)
        _check_limits(query, self.criteria)
        return query

    def column_list(self) -> list[str]:
        columns = [self.take()]
        while self.peek() == ",":
            self.take()
            columns.append(self.take())
        if any(c == "*" or not re.match(r"^[A-Za-z_$]", c) for c in columns):
            raise _syntax("select needs field API names")
        return columns

    def check_column(self, column: str, *, selecting: bool) -> str:
        """The data type of a column; unknown columns are INVALID_QUERY."""
        if column == "id":
            return "bigint"
        head, _, tail = column.partition(".")
        definition = self.org.field(self.module, head)
        kind = definition["data_type"] if definition else None
        if tail and kind in ("lookup", "ownerlookup"):
            target = self.org.lookup_module(self.module, head) or ""
            if target == "users" and tail in USER_FIELDS:
                return "text"
            related = self.org.field(target, tail)
            if related is not None and "." not in tail:
                return str(related["data_type"])
        elif not tail and kind is not None and not (selecting and kind in UNSELECTABLE):
            return str(kind)
        raise CoqlError(
            "INVALID_QUERY", "column given seems to be invalid", {"column_name": column}
        )

    def condition(self) -> Criterion:
        first = self.unit()
        if (self.peek() or "").lower() not in ("and", "or"):
            return first
        joiner = self.take().lower()
        second = self.unit()
        if (self.peek() or "").lower() in ("and", "or"):
            raise _syntax(
                "more than two criteria need brackets: use (A and (B and C)) or ((A and B) and C)"
            )
        if joiner == "and":
            return lambda row: first(row) and second(row)
        return lambda row: first(row) or second(row)

    def unit(self) -> Criterion:
        if self.peek() == "(":
            self.take()
            inner = self.condition()
            if self.take() != ")":
                raise _syntax("unbalanced brackets")
            return inner
        return self.predicate()

    def predicate(self) -> Criterion:
        column = self.take()
        kind = self.check_column(column, selecting=False)
        if kind in NOT_IN_CRITERIA:
            raise CoqlError(
                "INVALID_QUERY",
                "multi-line fields cannot be used in criteria",
                {"column_name": column},
            )
        self.criteria += 1
        if self.keyword("is", "not", "null"):
            return lambda row: row.value(column) is not None
        if self.keyword("is", "null"):
            return lambda row: row.value(column) is None
        negate = self.keyword("not")
        if self.keyword("in"):
            values = self.literal_list(kind, column)
            if len(values) > MAX_IN:
                raise CoqlError("LIMIT_EXCEEDED", "in accepts at most 50 values")
            return lambda row: (_comparable(row.value(column), kind) in values) != negate
        if self.keyword("between"):
            low = self.literal(kind, column)
            self.expect("and")
            high = self.literal(kind, column)
            return lambda row: _between(_comparable(row.value(column), kind), low, high) != negate
        if self.keyword("like"):
            pattern = self.literal("text", column)
            return lambda row: _like(row.value(column), str(pattern)) != negate
        if negate:
            raise _syntax("NOT must be followed by IN, BETWEEN or LIKE")
        op = self.take()
        if op not in _OPERATORS:
            raise CoqlError("INVALID_QUERY", f"invalid operator {op!r}", {"column_name": column})
        literal = self.literal(kind, column)
        compare = _OPERATORS[op]
        return lambda row: _compare(compare, _comparable(row.value(column), kind), literal)

    def literal_list(self, kind: str, column: str) -> list[Any]:
        if self.take() != "(":
            raise _syntax("IN needs a bracketed list")
        values = [self.literal(kind, column)]
        while self.peek() == ",":
            self.take()
            values.append(self.literal(kind, column))
        if self.take() != ")":
            raise _syntax("unbalanced brackets")
        return values

    def literal(self, kind: str, column: str) -> Any:
        token = self.take()
        text = token[1:-1].replace("\\'", "'") if token.startswith("'") else token
        if text.lower() == "null":
            return None
        try:
            return _comparable(text, kind, strict=True)
        except (ValueError, TypeError):
            raise CoqlError(
                "INVALID_QUERY",
                f"invalid value {text!r} for a {kind} field",
                {"column_name": column},
            ) from None

    def order_by(self) -> list[tuple[str, bool]]:
        order = []
        while True:
            column = self.take()
            self.check_column(column, selecting=False)
            ascending = not self.keyword("desc")
            if ascending:
                self.keyword("asc")
            order.append((column, ascending))
            if self.peek() != ",":
                return order
            self.take()

    def integer(self) -> int:
        token = self.take()
        if not token.isdigit():
            raise _syntax(f"expected a number, got {token!r}")
        return int(token)


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        if text[pos] == ";":
            tokens.append(";")
            pos += 1
            continue
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise _syntax(f"cannot read the query near {text[pos : pos + 20]!r}")
        tokens.append(match.group().strip())
        pos = match.end()
    return [t for t in tokens if t]


def _check_limits(query: Query, criteria: int) -> None:
    joins = {c.split(".")[0] for c in query.columns if "." in c}
    problems = [
        (len(query.columns) > MAX_COLUMNS, "more than 50 columns in the select"),
        (criteria > MAX_CRITERIA, "more than 25 criteria in the where clause"),
        (len(query.order) > MAX_ORDER, "more than 10 fields in order by"),
        (len(joins) > MAX_JOINS, "more than 15 joins in the select"),
        (query.limit > MAX_LIMIT or query.limit < 1, "limit must be between 1 and 2000"),
        (query.offset + query.limit > MAX_ROWS, "Max records limit exceeded"),
    ]
    for failed, message in problems:
        if failed:
            raise CoqlError("LIMIT_EXCEEDED", message)
    names = [c for c, _ in query.order]
    if len(names) != len(set(names)):
        raise CoqlError("DUPLICATE_DATA", "duplicate fields in order by")


def _comparable(value: Any, kind: str, *, strict: bool = False) -> Any:
    """A value in the form comparisons use for its field type."""
    if value is None:
        return None
    convert = _CONVERTERS.get(kind)
    if convert is not None:
        return convert(value, strict)
    if isinstance(value, dict):  # a lookup compares by id
        return str(value.get("id"))
    return str(value)


def _as_datetime(value: Any, _strict: bool) -> datetime:
    if isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError("a datetime needs its offset")
    return moment


def _as_number(value: Any, _strict: bool) -> float:
    return float(value)


def _as_bool(value: Any, strict: bool) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if strict and text not in ("true", "false"):
        raise ValueError("not a boolean")
    return text == "true"


_CONVERTERS: dict[str, Callable[[Any, bool], Any]] = {
    "datetime": _as_datetime,
    "integer": _as_number,
    "double": _as_number,
    "currency": _as_number,
    "bigint": _as_number,
    "boolean": _as_bool,
}


def _compare(op: Callable[[Any, Any], bool], left: Any, right: Any) -> bool:
    if left is None or right is None:
        return False
    try:
        return op(left, right)
    except TypeError:
        return False


def _between(value: Any, low: Any, high: Any) -> bool:
    return (
        value is not None
        and _compare(lambda a, b: a >= b, value, low)
        and _compare(lambda a, b: a <= b, value, high)
    )


def _like(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    regex = "^" + re.escape(pattern).replace("%", ".*") + "$"
    return re.match(regex, str(value), re.IGNORECASE) is not None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def parse(org: Org, text: str) -> Query:
    """Parse and check a select against the org's fields."""
    return _Parser(org, text).parse()


def run(org: Org, query: Query) -> tuple[list[dict[str, Any]], bool]:
    """The rows of one call and whether more follow."""
    rows = [Row(org, query.module, r) for r in org.live(query.module)]
    matched = [row for row in rows if query.where is None or query.where(row)]
    order = query.order or [("id", True)]
    for column, ascending in reversed(order):
        matched.sort(key=functools.partial(_sort_key, column=column), reverse=not ascending)
    window = matched[query.offset : query.offset + query.limit]
    more = len(matched) > query.offset + query.limit
    return [_project(org, query, row) for row in window], more


def _sort_key(row: Row, *, column: str) -> tuple[int, Any]:
    value = row.value(column)
    if value is None:
        return (0, 0)
    if column == "id":
        return (1, int(value))
    if isinstance(value, bool | int | float | datetime):
        return (1, value)
    return (1, str(value).lower())


def _project(org: Org, query: Query, row: Row) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in query.columns:
        if "." in column:
            lookup, _, name = column.partition(".")
            out[column] = traverse(org, query.module, row.record, lookup, name)
        else:
            out[column] = coql_value(org, query.module, column, row.record)
    out["id"] = row.record.id
    return out


def credits_for(limit: int) -> int:
    """COQL credits by LIMIT: 1 up to 200, 2 up to 1,000, 3 up to 2,000 (§4.4)."""
    return 1 if limit <= 200 else 2 if limit <= 1000 else 3
