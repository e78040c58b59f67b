"""HubSpot search semantics over the simulated store: filter groups, operators, sorts.

Filter groups are ORed, filters within a group ANDed (search guide). Values are compared by
the property's type: numbers as numbers, date-times as epoch ms (the value may be epoch ms or
ISO), everything else as case-insensitive text. A multi-checkbox value (``"a;b"``) equals any of
its options. Unknown operators and over-limit requests are the caller's 400.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from connectors.sales.hubspot.simulator.store import CrmObject, CrmStore

Value = float | str | None
DATE_TYPES = frozenset({"datetime", "date"})
LASTMOD = "hs_lastmodifieddate"
NEVER = (10**18, -(10**18))


class SearchRejected(ValueError):
    """The request breaks a documented search rule (HTTP 400, VALIDATION_ERROR)."""


def convert(raw: Any, prop_type: str) -> Value:
    """A property or filter value in the form it is compared in."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if prop_type == "number" or (prop_type in DATE_TYPES and text.lstrip("-").isdigit()):
        try:
            return float(text)
        except ValueError:
            return text.lower()
    if prop_type in DATE_TYPES:
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text.lower()
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return float(int(moment.timestamp() * 1000))
    return text.lower()


def _compare(op: str) -> Callable[[Value, Value], bool]:
    def check(left: Value, right: Value) -> bool:
        if left is None or right is None or type(left) is not type(right):
            return False
        if op == "LT":
            return left < right  # type: ignore[operator]
        if op == "LTE":
            return left <= right  # type: ignore[operator]
        if op == "GT":
            return left > right  # type: ignore[operator]
        return left >= right  # type: ignore[operator]

    return check


ORDERING = {op: _compare(op) for op in ("LT", "LTE", "GT", "GTE")}


def matches(obj: CrmObject, flt: dict[str, Any], types: dict[str, str]) -> bool:
    """True when one object passes one filter."""
    name, op = str(flt.get("propertyName")), str(flt.get("operator"))
    prop_type = types.get(name, "string")
    raw = obj.properties.get(name)
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    left = convert(raw, prop_type)
    if op in ORDERING:
        return ORDERING[op](left, convert(flt.get("value"), prop_type))
    if op == "BETWEEN":
        low, high = convert(flt.get("value"), prop_type), convert(flt.get("highValue"), prop_type)
        return ORDERING["GTE"](left, low) and ORDERING["LTE"](left, high)
    return _membership(op, raw, left, flt, prop_type)


def _membership(op: str, raw: Any, left: Value, flt: dict[str, Any], prop_type: str) -> bool:
    options = {o.strip().lower() for o in str(raw or "").split(";")} if raw else set()
    if op in ("EQ", "NEQ"):
        right = convert(flt.get("value"), prop_type)
        equal = left == right or (isinstance(right, str) and right in options)
        return equal if op == "EQ" else not equal
    if op in ("IN", "NOT_IN"):
        values = [convert(v, prop_type) for v in flt.get("values") or []]
        inside = left in values or any(isinstance(v, str) and v in options for v in values)
        return inside if op == "IN" else not inside
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        token = str(flt.get("value") or "").strip("*").lower()
        found = bool(token) and token in str(raw or "").lower()
        return found if op == "CONTAINS_TOKEN" else not found
    raise SearchRejected(f"Unknown operator {op!r}")


def time_bounds(filters: list[dict[str, Any]]) -> tuple[int, int]:
    """The [low, high] ms range that the group's ``hs_lastmodifieddate`` filters allow."""
    low, high = -NEVER[0], NEVER[0]
    for flt in filters:
        if flt.get("propertyName") != LASTMOD:
            continue
        value = convert(flt.get("value"), "datetime")
        if not isinstance(value, float):
            continue
        op, ms = flt.get("operator"), int(value)
        if op in ("GTE", "EQ", "BETWEEN", "GT"):
            low = max(low, ms + 1 if op == "GT" else ms)
        if op in ("LTE", "EQ", "LT"):
            high = min(high, ms - 1 if op == "LT" else ms)
        if op == "BETWEEN":
            top = convert(flt.get("highValue"), "datetime")
            high = min(high, int(top)) if isinstance(top, float) else high
    return low, high


def run_group(store: CrmStore, filters: list[dict[str, Any]], types: dict[str, str]) -> list[str]:
    """Deal ids passing every filter of one group, in index order."""
    low, high = time_bounds(filters)
    ids = store.deals_between(low, high)
    rest = [f for f in filters if f.get("propertyName") != LASTMOD]
    if not rest:
        return ids
    deals = store.objects["deals"]
    return [i for i in ids if all(matches(deals[i], f, types) for f in rest)]


def sort_ids(store: CrmStore, ids: list[str], sorts: list[Any], types: dict[str, str]) -> list[str]:
    """Order results by the first sort (object or ``"-name"`` string form); ties keep order."""
    if not sorts:
        return sorted(ids, key=int)
    first = sorts[0]
    if isinstance(first, str):
        name, descending = first.lstrip("-"), first.startswith("-")
    else:
        name = str(first.get("propertyName"))
        descending = str(first.get("direction", "ASCENDING")).upper() == "DESCENDING"
    deals = store.objects["deals"]
    if name == LASTMOD:
        ordered = sorted(ids, key=lambda i: (deals[i].modified_ms(), -int(i)))
    elif name == "hs_object_id":
        ordered = sorted(ids, key=int)
    else:
        prop_type = types.get(name, "string")
        ordered = sorted(
            ids, key=lambda i: _sortable(convert(deals[i].properties.get(name), prop_type))
        )
    return ordered[::-1] if descending else ordered


def _sortable(value: Value) -> tuple[int, float, str]:
    if value is None:
        return (1, 0.0, "")
    if isinstance(value, float):
        return (0, value, "")
    return (0, 0.0, value)
