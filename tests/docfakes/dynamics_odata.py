"""The slice of OData v4 the Dataverse doc-fake understands: Prefer, $select, $filter, $orderby,
$expand and the paging cookie.

Section numbers (§) point to ``connectors/sales/dynamics/FACTS.md``. The $filter grammar is
deliberately small: comparisons joined by only ``and`` or only ``or``, no parentheses or functions.
Anything else is refused with 501 and a message saying it is this fake's limit, not Dataverse's.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request

from tests.docfakes.crm_common import Refused, b64url_json, from_b64url_json, parse_instant

MAX_PAGE_SIZE = 5000  # §4.1
MAX_EXPANDS = 15  # §3.3
FORMATTED = "OData.Community.Display.V1.FormattedValue"  # §3.5


class NotModelled(Exception):
    """OData the fake does not model (answered 501 so nobody mistakes it for Dataverse)."""


@dataclass
class Preferences:
    """§1.3: the ``Prefer`` header values a reader sends."""

    max_page_size: int | None
    track_changes: bool
    formatted_values: bool

    @classmethod
    def parse(cls, request: Request) -> Preferences:
        text = ",".join(request.headers.getlist("prefer"))
        size = re.search(r"odata\.maxpagesize=(\d+)", text)
        annotations = re.search(r'odata\.include-annotations="([^"]*)"', text)
        wanted = annotations.group(1).split(",") if annotations else []
        return cls(
            max_page_size=min(int(size.group(1)), MAX_PAGE_SIZE) if size else None,  # §4.1 cap
            track_changes="odata.track-changes" in text,
            formatted_values=any(w in ("*", FORMATTED) for w in wanted),
        )

    def applied(self) -> str:
        parts = []
        if self.max_page_size is not None:
            parts.append(f"odata.maxpagesize={self.max_page_size}")
        if self.track_changes:
            parts.append("odata.track-changes")
        if self.formatted_values:
            parts.append(f'odata.include-annotations="{FORMATTED}"')
        return ",".join(parts)


def parse_select(text: str | None, columns: set[str], entity: str) -> list[str] | None:
    """§3.1: ``$select``; an unknown column is a 400 (message unverified)."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",") if name.strip()]
    for name in names:
        if name not in columns:
            raise Refused(
                f"Could not find a property named '{name}' on type "
                f"'Microsoft.Dynamics.CRM.{entity}'."
            )
    return names


def parse_expand(text: str | None) -> dict[str, list[str] | None]:
    """§3.3: ``nav($select=a,b)`` items, at most 15; only ``$select`` inside is modelled."""
    if not text:
        return {}
    items = _split_top_level(text)
    if len(items) > MAX_EXPANDS:
        raise Refused("The number of $expand options exceeds the limit of 15.")
    expands: dict[str, list[str] | None] = {}
    for item in items:
        match = re.fullmatch(r"(\w+)(?:\((.*)\))?", item.strip())
        if match is None:
            raise NotModelled(f"$expand item {item!r}")
        inner = match.group(2)
        select = None
        if inner:
            found = re.fullmatch(r"\$select=([\w,]+)", inner)
            if found is None:
                raise NotModelled(f"$expand options {inner!r} (only $select is modelled)")
            select = found.group(1).split(",")
        expands[match.group(1)] = select
    return expands


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


_COMPARISON = re.compile(r"^\s*([\w]+)\s+(eq|ne|gt|ge|lt|le)\s+(.+?)\s*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_filter(text: str | None, columns: set[str]) -> Callable[[dict[str, Any]], bool]:
    """§5.1: comparisons on columns; date-times unquoted ISO 8601, strings in single quotes."""
    if text is None:
        return lambda _row: True
    if "(" in text or ")" in text:
        raise NotModelled("$filter with parentheses or functions")
    joiners = set(re.findall(r"\s(and|or)\s", text))
    if len(joiners) > 1:
        raise NotModelled("$filter mixing 'and' with 'or'")
    joiner = joiners.pop() if joiners else "and"
    tests = [_comparison(part, columns) for part in re.split(rf"\s{joiner}\s", text)]
    if joiner == "and":
        return lambda row: all(test(row) for test in tests)
    return lambda row: any(test(row) for test in tests)


def _comparison(text: str, columns: set[str]) -> Callable[[dict[str, Any]], bool]:
    match = _COMPARISON.match(text)
    if match is None:
        raise NotModelled(f"$filter term {text!r}")
    name, operator, literal_text = match.groups()
    if name not in columns:
        raise Refused(f"Could not find a property named '{name}'.")
    literal = _literal(literal_text)

    def test(row: dict[str, Any]) -> bool:
        value = row.get(name)
        if operator in ("eq", "ne"):
            return bool(_comparable(value) == _comparable(literal)) == (operator == "eq")
        if value is None or literal is None:
            return False
        left, right = _comparable(value), _comparable(literal)
        return bool(
            {"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[
                operator
            ]
        )

    return test


def _literal(text: str) -> Any:
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text == "null":
        return None
    if text in ("true", "false"):
        return text == "true"
    if _GUID.match(text):
        return text.lower()
    moment = parse_instant(text.replace("Z", "+00:00")) if "T" in text else None
    if moment is not None:
        return moment
    try:
        return float(text)
    except ValueError:
        raise Refused(f"Syntax error: the literal {text!r} is not valid.") from None


def _comparable(value: Any) -> Any:
    if isinstance(value, str) and _GUID.match(value):
        return value.lower()
    return value


@dataclass
class Order:
    """``$orderby`` terms; the primary key is appended so paging is deterministic (§4.4)."""

    terms: list[tuple[str, bool]]  # (column, descending)

    @classmethod
    def parse(cls, text: str | None, columns: set[str], key: str) -> Order:
        terms: list[tuple[str, bool]] = []
        for part in (text or "").split(","):
            words = part.split()
            if not words:
                continue
            if words[0] not in columns or words[1:] not in ([], ["asc"], ["desc"]):
                raise Refused(f"Invalid $orderby term: {part.strip()!r}")
            terms.append((words[0], words[1:] == ["desc"]))
        if key not in [name for name, _ in terms]:
            terms.append((key, False))  # without $orderby Dataverse orders by the key (§4.4)
        return cls(terms)

    def _compare(self, left: dict[str, Any], right: dict[str, Any]) -> int:
        for name, descending in self.terms:
            a, b = _sortable(left.get(name)), _sortable(right.get(name))
            if a != b:
                result = -1 if a < b else 1
                return -result if descending else result
        return 0

    def sort(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return sorted(rows, key=functools.cmp_to_key(self._compare))

    def cookie(self, row: dict[str, Any]) -> str:
        """§4.2: the paging cookie remembers the last row of the page."""
        return b64url_json({name: _cookie_value(row.get(name)) for name, _ in self.terms})

    def after(self, rows: list[dict[str, Any]], cookie: str) -> list[dict[str, Any]]:
        decoded = from_b64url_json(cookie)
        if decoded is None:
            raise Refused("The $skiptoken is not valid.")
        last = {name: _from_cookie(decoded.get(name)) for name, _ in self.terms}
        return [row for row in rows if self._compare(row, last) > 0]


def _sortable(value: Any) -> tuple[int, Any]:
    """Nulls first, then values (date-times compare as instants)."""
    return (0, "") if value is None else (1, value)


def _cookie_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _from_cookie(value: Any) -> Any:
    if isinstance(value, dict) and "t" in value:
        return datetime.fromisoformat(value["t"])
    return value
