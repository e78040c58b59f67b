"""Small pieces of OData v4 query text, built so that an admin's condition cannot escape them.

* GUIDs are unquoted in ``$filter`` (``accountid eq 7c3a...``) and date-times are unquoted
  ISO 8601 in UTC (FACTS.md §5.1; the GUID form as widely used against the Web API [3p]).
* A batch of ids is one ``key eq a or key eq b ...`` filter (FACTS.md §6.8): the ``In``
  function is not confirmed for the Web API, ``or`` is plain OData.
* ``Prefer`` values combine with commas in one header (FACTS.md §1.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from connectors.conditions import balanced, condition_problem
from connectors.errors import PermanentError

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OR = re.compile(r"\sor\s", re.IGNORECASE)

TRACK_CHANGES = "odata.track-changes"


class QueryBuildError(PermanentError):
    """The admin's select condition cannot be sent as it is."""

    who_acts = "admin"


def prefer(*, page_size: int, track_changes: bool = False) -> dict[str, str]:
    """The ``Prefer`` header for a read: page size, and change tracking when asked."""
    values = [f"odata.maxpagesize={page_size}"]
    if track_changes:
        values.insert(0, TRACK_CHANGES)
    return {"Prefer": ",".join(values)}


def datetime_literal(moment: datetime) -> str:
    """``2026-11-23T14:05:00Z``: UTC, whole seconds (``modifiedon`` has no fractions, §5.2)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ids_filter(key: str, ids: Sequence[str]) -> str:
    """``key eq <id1> or key eq <id2> ...``; refuses anything that is not a GUID."""
    bad = [i for i in ids if not GUID.match(i)]
    if bad:
        raise PermanentError(
            f"Dataverse sent ids that are not GUIDs: {', '.join(map(repr, bad[:3]))}",
            operation="build query",
        )
    return " or ".join(f"{key} eq {i.lower()}" for i in ids)


def combine(*conditions: str | None) -> str | None:
    """AND of the non-empty conditions (None when there are none); a condition holding an
    ``or`` is put in parentheses, the others are left bare to keep the filter plain."""
    parts = [c for c in conditions if c]
    if len(parts) <= 1:
        return parts[0] if parts else None
    return " and ".join(f"({c})" if _OR.search(c) else c for c in parts)


def expand(navigation: str, columns: Iterable[str] | None) -> str:
    """``parentaccountid($select=name,websiteurl)``, or every column when ``columns`` is None."""
    if columns is None:
        return navigation
    return f"{navigation}($select={','.join(columns)})"


def check_condition(condition: str) -> str:
    """The admin's ``$filter`` condition, stripped; refused if it could break out of its
    parentheses (unbalanced brackets or an unterminated 'string') or repeats ``$filter=``."""
    text = condition.strip()
    if not text:
        raise QueryBuildError("the select condition is empty", operation="build query")
    if text.lower().startswith(("$filter", "filter=", "?")):
        raise QueryBuildError(
            f"select {condition!r} should be only the condition, e.g. 'statecode eq 1', without "
            "$filter=",
            operation="build query",
        )
    if not balanced(text):
        raise QueryBuildError(
            f"select {condition!r} has unbalanced parentheses or an unterminated 'string'",
            operation="build query",
        )
    return text


SELECT_LANGUAGE = "an OData $filter condition over opportunity columns (without $filter=)"
SELECT_EXAMPLE = 'select: "statecode eq 1 and new_hasspecialterms eq true"'


def select_problem(condition: str) -> str | None:
    """What is wrong with a mapping's select as a ``$filter`` condition (None: nothing seen
    before Dataverse checks column names and operators)."""
    return condition_problem(
        condition,
        language=SELECT_LANGUAGE,
        refused_prefixes=("$filter", "filter=", "?"),
        example="'statecode eq 1'",
    )
