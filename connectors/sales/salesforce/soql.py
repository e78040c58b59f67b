"""SOQL text built from checked parts: only API names and our own literals are interpolated.

A mapping path becomes a SELECT item: own fields (``Amount``), parent fields by dot notation
(``Account.Website``), and child fields through a relationship subquery
(``OpportunityContactRoles.Contact.Email`` -> ``(SELECT Contact.Email FROM
OpportunityContactRoles)``) [SOQL and SOSL Reference, "Relationship Queries"]. Every path part
must be an API name; anything else is refused before a request is made. The admin's ``select``
condition is the one piece of free text: it is only checked for balanced parentheses and
quotes (so it cannot close the parenthesis it is wrapped in) and ANDed in parentheses.

Datetime literals are unquoted ``YYYY-MM-DDThh:mm:ssZ`` [SOQL reference, "Date Formats and Date
Literals"]; a quoted datetime is a MALFORMED_QUERY.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.conditions import balanced
from connectors.errors import PermanentError
from connectors.salesforce_common.config import API_NAME

ALWAYS_SELECTED = ("Id", "SystemModstamp", "IsDeleted")
"""The identity, cursor and deletion fields every deal query reads."""

ORDER = "ORDER BY SystemModstamp ASC, Id ASC"
"""Oldest first, ties broken by Id, so a (SystemModstamp, Id) checkpoint never skips a record."""


class QueryBuildError(PermanentError):
    """A field path or select condition cannot be turned into SOQL; the mapping needs fixing."""

    who_acts = "admin"


def split_path(path: str) -> list[str]:
    """The API names of a dotted path, or a QueryBuildError saying what is wrong with it."""
    parts = path.strip().split(".")
    bad = [part for part in parts if not API_NAME.match(part)]
    if bad:
        raise QueryBuildError(
            f"field path {path!r} is not a Salesforce field path: every dot-separated part must "
            "be an API name (a letter, then letters, digits or underscores, e.g. "
            "Account.Website or Special_Discount__c)",
            operation="build query",
        )
    return parts


@dataclass(frozen=True)
class SelectList:
    """The fields of one query: plain/parent paths, and per child relationship its paths."""

    fields: tuple[str, ...]
    children: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def render(self) -> str:
        """``Id, Account.Website, (SELECT Contact.Email FROM OpportunityContactRoles)``."""
        items = list(self.fields)
        # Only API names checked by split_path reach this text.
        items += [f"(SELECT {', '.join(p)} FROM {rel})" for rel, p in self.children]  # noqa: S608
        return ", ".join(items)


def select_list(paths: Iterable[str], child_relationships: Sequence[str]) -> SelectList:
    """Group mapping paths into own/parent fields and child subqueries, without duplicates.

    SOQL refuses a field selected twice (``duplicate field selected``), and names are
    case-insensitive, so duplicates are dropped case-insensitively, keeping the first spelling.
    """
    known_children = {name.lower(): name for name in child_relationships}
    fields = _Unique(ALWAYS_SELECTED)
    children: dict[str, _Unique] = {}
    for path in paths:
        parts = split_path(path)
        relationship = known_children.get(parts[0].lower())
        if relationship is None:
            fields.add(".".join(parts))
            continue
        inner = ".".join(parts[1:]) or "Id"
        children.setdefault(relationship, _Unique(())).add(inner)
    return SelectList(
        fields=fields.items(),
        children=tuple((rel, unique.items()) for rel, unique in children.items()),
    )


class _Unique:
    """Insertion-ordered, case-insensitive set of API paths."""

    def __init__(self, initial: Iterable[str]) -> None:
        self._seen: dict[str, str] = {}
        for item in initial:
            self.add(item)

    def add(self, item: str) -> None:
        self._seen.setdefault(item.lower(), item)

    def items(self) -> tuple[str, ...]:
        return tuple(self._seen.values())


def datetime_literal(moment: datetime) -> str:
    """A SOQL datetime literal in UTC, whole seconds rounded down: ``2026-11-23T14:05:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_condition(condition: str) -> str:
    """Return the admin's select condition stripped, or refuse one that could escape its
    parentheses (unbalanced brackets or an unterminated string) or that repeats ``WHERE``."""
    text = condition.strip()
    if not text:
        raise QueryBuildError("the select condition is empty", operation="build query")
    if text.upper().startswith("WHERE "):
        raise QueryBuildError(
            f"select condition {condition!r} starts with WHERE; write only the condition, e.g. "
            "\"StageName = 'Closed Won'\"",
            operation="build query",
        )
    if not balanced(text, backslash_escapes=True):
        raise QueryBuildError(
            f"select condition {condition!r} has unbalanced parentheses or an unterminated "
            "'string'",
            operation="build query",
        )
    return text


def deals_query(
    sobject: str,
    fields: SelectList,
    *,
    since: datetime | None,
    condition: str | None,
) -> str:
    """Deals changed at or after ``since`` that match the admin's condition, oldest first."""
    where = _where(since, f"({check_condition(condition)})" if condition else None)
    return f"SELECT {fields.render()} FROM {sobject}{where} {ORDER}"  # noqa: S608 - checked parts


def departures_query(sobject: str, *, since: datetime | None, condition: str) -> str:
    """Deals changed at or after ``since`` that no longer match the condition (ids only)."""
    where = _where(since, f"(NOT ({check_condition(condition)}))")
    columns = ", ".join(ALWAYS_SELECTED)
    return f"SELECT {columns} FROM {sobject}{where} {ORDER}"  # noqa: S608 - checked parts


def _where(since: datetime | None, condition: str | None) -> str:
    parts = [f"SystemModstamp >= {datetime_literal(since)}"] if since is not None else []
    parts += [condition] if condition else []
    return f" WHERE {' AND '.join(parts)}" if parts else ""


def select_problem(condition: str) -> str | None:
    """What is wrong with a mapping's select as a SOQL condition (None: nothing we can see).

    Only the shape is checked here; field names are checked by the org when the query runs."""
    if condition.lstrip().startswith(("{", "[")):
        return "it looks like HubSpot's JSON filters; Salesforce takes a SOQL condition"
    try:
        check_condition(condition)
    except QueryBuildError as exc:
        return "it " + exc.message.removeprefix(f"select condition {condition!r} ").removeprefix(
            "the select condition "
        )
    return None
