"""The admin's ``select`` for HubSpot: native search filters, written as JSON in the mapping.

Accepted forms (HubSpot's own ``Filter`` objects, deals search spec)::

    select: '[{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]'
    select: '{"filters": [...]}'                     # the same, as one filter group
    select: '{"filterGroups": [{"filters": [...]}, {"filters": [...]}]}'   # OR of groups

The connector ANDs its own two time filters into every group, so the limits it checks are
HubSpot's: at most 5 groups, 10 filters per group and 25 filters in all (changelog "expanded
filtering", Aug 2024), counting the connector's own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from connectors.errors import PermanentError

OPERATORS = frozenset(
    {
        "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN",
        "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
    }
)  # fmt: skip
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
OWN_FILTERS = 2
"""The connector's own filters in every group (modified-date range, or instant + id)."""

Group = list[dict[str, Any]]


def parse_select(select: str | None) -> list[Group]:
    """The admin's filter groups (an empty list means no filter); refuse what HubSpot would."""
    if select is None or not select.strip():
        return []
    try:
        data = json.loads(select)
    except ValueError as exc:
        raise _bad(f"is not JSON ({exc})") from None
    groups = _groups(data)
    for group in groups:
        for item in group:
            _check_filter(item)
    _check_limits(groups)
    return groups


def combine(own: Group, groups: list[Group]) -> list[dict[str, Any]]:
    """filterGroups for one request: own filters AND (group 1 OR group 2 ...)."""
    if not groups:
        return [{"filters": list(own)}]
    return [{"filters": [*own, *group]} for group in groups]


def _groups(data: Any) -> list[Group]:
    if isinstance(data, list):
        return [data]
    if isinstance(data, dict) and isinstance(data.get("filters"), list):
        return [data["filters"]]
    if isinstance(data, dict) and isinstance(data.get("filterGroups"), list):
        groups = data["filterGroups"]
        if all(isinstance(g, dict) and isinstance(g.get("filters"), list) for g in groups):
            return [g["filters"] for g in groups]
    raise _bad('must be a list of filters, {"filters": [...]} or {"filterGroups": [...]}')


def _check_filter(item: Any) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("propertyName"), str):
        raise _bad(f"filter {item!r} needs a propertyName")
    operator = item.get("operator")
    if operator not in OPERATORS:
        raise _bad(f"operator {operator!r} is not one of {', '.join(sorted(OPERATORS))}")


def _check_limits(groups: list[Group]) -> None:
    if len(groups) > MAX_GROUPS:
        raise _bad(f"has {len(groups)} filter groups; HubSpot allows {MAX_GROUPS}")
    widest = max(len(g) for g in groups)
    if widest + OWN_FILTERS > MAX_FILTERS_PER_GROUP:
        raise _bad(
            f"a group has {widest} filters; with the connector's {OWN_FILTERS} time filters "
            f"HubSpot allows {MAX_FILTERS_PER_GROUP - OWN_FILTERS}"
        )
    total = sum(len(g) + OWN_FILTERS for g in groups)
    if total > MAX_FILTERS:
        raise _bad(f"needs {total} filters with the time filters; HubSpot allows {MAX_FILTERS}")


def _bad(problem: str) -> PermanentError:
    return PermanentError(
        f"the mapping's select for HubSpot {problem}", who_acts="admin", operation="select"
    )


EXAMPLE = (
    'select: \'{"filters": [{"propertyName": "has_special_terms", '
    '"operator": "EQ", "value": "true"}]}\''
)
_CONDITION = re.compile(
    r"""^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|!=|<>|<=|>=|<|>)\s*('[^']*'|"[^"]*"|\S+)\s*$"""
)
_SOQL_OPERATORS = {
    "=": "EQ",
    "!=": "NEQ",
    "<>": "NEQ",
    "<": "LT",
    "<=": "LTE",
    ">": "GT",
    ">=": "GTE",
}


def select_problem(select: str) -> str | None:
    """What is wrong with a mapping's select as HubSpot filters (None: nothing we can see).

    A condition written the Salesforce way (``has_special_terms = true``) gets its HubSpot
    spelling back, so the admin can paste it."""
    try:
        parse_select(select)
    except PermanentError as exc:
        problem = exc.message.removeprefix("the mapping's select for HubSpot ")
        written = _as_filter(select)
        if written is not None:
            return f"it is a SOQL-style condition, not HubSpot's JSON filters; write {written}"
        return (
            f"it {problem}" if problem.startswith(("is ", "has ", "needs ", "must ")) else problem
        )
    return None


def _as_filter(select: str) -> str | None:
    """``name = value`` as the one-filter JSON group HubSpot takes (None: not that shape)."""
    match = _CONDITION.match(select)
    if match is None or match.group(1).upper() == "WHERE":
        return None
    name, operator, value = match.groups()
    value = value.strip("'\"")
    text = json.dumps(
        {"filters": [{"propertyName": name, "operator": _SOQL_OPERATORS[operator], "value": value}]}
    )
    return f"select: '{text}'"
