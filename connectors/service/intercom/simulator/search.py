"""The contact search query language (FACTS.md §5.3), compiled to a predicate over contacts.

Modelled:

* a query is one filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value:
  [...]}``; groups nest at most 2 levels deep and hold at most 15 items each;
* a group holds only filters or only groups (the description's ``oneOf``, §10.4);
* operators per type: strings ``= != IN NIN ~ !~ ^ $``; integers and floats also ``< > <= >=``;
  booleans ``= != IN NIN``; **dates only ``= < >``**, matched by calendar day in the
  workspace's time zone: the value is truncated to its day, ``=`` is that whole day, ``>``
  starts at the next midnight, ``<`` ends at that day's midnight;
* fields: the contact's identity and time fields and ``custom_attributes.<name>`` typed by the
  data attributes catalog; an unknown field or an operator its type does not take is a 400.

Email comparisons ignore case (addresses are case-insensitive); other strings compare exactly,
``~`` and ``!~`` ignore case.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

Contact = Mapping[str, Any]
Predicate = Callable[[Contact], bool]

MAX_DEPTH = 2
MAX_ITEMS = 15
DATE_FIELDS = frozenset(
    {"created_at", "updated_at", "signed_up_at", "last_seen_at", "last_contacted_at",
     "last_replied_at", "last_email_opened_at", "last_email_clicked_at"}
)  # fmt: skip
STRING_FIELDS = frozenset(
    {"id", "external_id", "email", "email_domain", "role", "name", "phone", "avatar"}
)
OPERATORS = {
    "string": frozenset({"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}),
    "integer": frozenset({"=", "!=", "IN", "NIN", "<", ">", "<=", ">="}),
    "float": frozenset({"=", "!=", "IN", "NIN", "<", ">", "<=", ">="}),
    "boolean": frozenset({"=", "!=", "IN", "NIN"}),
    "date": frozenset({"=", "<", ">"}),
}


class QueryError(ValueError):
    """A query Intercom refuses (400)."""


def compile_query(query: Any, custom_types: Mapping[str, str], zone: tzinfo) -> Predicate:
    """The predicate ``query`` describes, or :class:`QueryError` saying what is wrong."""
    return _compile(query, custom_types, zone, depth=0)


def _compile(query: Any, custom_types: Mapping[str, str], zone: tzinfo, depth: int) -> Predicate:
    if not isinstance(query, dict):
        raise QueryError("query must be an object")
    if query.get("operator") in ("AND", "OR") and "field" not in query:
        return _group(query, custom_types, zone, depth + 1)
    return _filter(query, custom_types, zone)


def _group(
    query: dict[str, Any], custom_types: Mapping[str, str], zone: tzinfo, depth: int
) -> Predicate:
    if depth > MAX_DEPTH:
        raise QueryError(f"queries may nest at most {MAX_DEPTH} levels of AND/OR groups")
    items = query.get("value")
    if not isinstance(items, list) or not items:
        raise QueryError("an AND/OR group needs a list of filters")
    if len(items) > MAX_ITEMS:
        raise QueryError(f"an AND/OR group may hold at most {MAX_ITEMS} filters, not {len(items)}")
    groups = [isinstance(i, dict) and "field" not in i for i in items]
    if any(groups) and not all(groups):
        raise QueryError("a group holds either filters or groups, not both")
    parts = [_compile(item, custom_types, zone, depth) for item in items]
    if query["operator"] == "AND":
        return lambda contact: all(p(contact) for p in parts)
    return lambda contact: any(p(contact) for p in parts)


def _filter(query: dict[str, Any], custom_types: Mapping[str, str], zone: tzinfo) -> Predicate:
    field, operator, value = query.get("field"), query.get("operator"), query.get("value")
    if not isinstance(field, str):
        raise QueryError("a filter needs a field")
    kind = _type_of(field, custom_types)
    if operator not in OPERATORS[kind]:
        raise QueryError(f"operator {operator!r} is not supported for {kind} field {field!r}")
    read = _reader(field)
    if kind == "date":
        return _date_filter(read, str(operator), value, zone)
    if operator in ("IN", "NIN"):
        if not isinstance(value, list):
            raise QueryError(f"{operator} takes a list of values")
        wanted = {_norm(field, v) for v in value}
        inside = operator == "IN"
        return lambda contact: (_norm(field, read(contact)) in wanted) == inside
    return _compare(field, read, str(operator), value)


def _type_of(field: str, custom_types: Mapping[str, str]) -> str:
    if field in DATE_FIELDS:
        return "date"
    if field in STRING_FIELDS:
        return "string"
    if field == "owner_id":
        return "integer"
    if field.startswith("custom_attributes."):
        found = custom_types.get(field.removeprefix("custom_attributes."))
        if found is not None:
            return found
    raise QueryError(f"{field!r} is not a searchable contact field")


def _reader(field: str) -> Callable[[Contact], Any]:
    if field.startswith("custom_attributes."):
        name = field.removeprefix("custom_attributes.")
        return lambda contact: (contact.get("custom_attributes") or {}).get(name)
    return lambda contact: contact.get(field)


def _norm(field: str, value: Any) -> Any:
    if field == "email" and isinstance(value, str):
        return value.lower()
    return value


def _compare(field: str, read: Callable[[Contact], Any], operator: str, value: Any) -> Predicate:
    wanted = _norm(field, value)
    if operator in ("~", "!~", "^", "$"):
        text = str(value).lower()
        tests: dict[str, Callable[[str], bool]] = {
            "~": lambda have: text in have,
            "!~": lambda have: text not in have,
            "^": lambda have: have.startswith(text),
            "$": lambda have: have.endswith(text),
        }
        test = tests[operator]
        return lambda contact: test(str(read(contact) or "").lower())
    if operator == "=":
        return lambda contact: _norm(field, read(contact)) == wanted
    if operator == "!=":
        return lambda contact: _norm(field, read(contact)) != wanted
    order: dict[str, Callable[[float, float], bool]] = {
        "<": lambda a, b: a < b,
        ">": lambda a, b: a > b,
        "<=": lambda a, b: a <= b,
        ">=": lambda a, b: a >= b,
    }
    bound = _number(value, field)
    compare = order[operator]
    return lambda contact: (have := read(contact)) is not None and compare(float(have), bound)


def _date_filter(
    read: Callable[[Contact], Any], operator: str, value: Any, zone: tzinfo
) -> Predicate:
    start = day_start(int(_number(value, "date")), zone)
    end = next_day_start(start, zone)

    def keep(contact: Contact) -> bool:
        moment = read(contact)
        if not isinstance(moment, int):
            return False
        if operator == "=":
            return start <= moment < end
        return moment >= end if operator == ">" else moment < start

    return keep


def day_start(moment: int, zone: tzinfo) -> int:
    """Unix time of the midnight (in ``zone``) that starts the day holding ``moment``."""
    local = datetime.fromtimestamp(moment, zone)
    return int(datetime.combine(local.date(), time(0), tzinfo=zone).timestamp())


def next_day_start(start: int, zone: tzinfo) -> int:
    """Unix time of the next midnight in ``zone`` after the midnight ``start``."""
    local = datetime.fromtimestamp(start, zone)
    return int(datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone).timestamp())


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise QueryError(f"{field!r} takes a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise QueryError(f"{value!r} is not a valid value for {field!r}") from None
