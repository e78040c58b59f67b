"""The CRM search request of the HubSpot fake: validation, filters, the sort, the pages.

Sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md):

* Body ``{filterGroups: [{filters: [{propertyName, operator, value | highValue | values}]}],
  sorts, properties, limit, after}``; groups are ORed, filters in a group ANDed; operators EQ, NEQ,
  LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY (sales-apis.md s.2, spec
  ``CRM/Search``; the CONTAINS_TOKEN family is not modelled).
* At most 5 filterGroups, 10 filters per group, 25 in all (sales-apis.md s.2: changelog
  "expanded filtering", Aug 2024); ``limit`` at most 200 (activepieces PR #10160 quoting
  developers.hubspot.com/docs/api-reference/search/guide#limitations).
* At most 10,000 results per query: asking for ``after`` >= 10,000 answers HTTP 400
  (same PR; HubSpot/hubspot-api-nodejs issue #132). The body of that 400 is not documented; the
  standard Error shape with category VALIDATION_ERROR is used.
* ``after`` is an offset into the live result list (the fixtures' ``"after": "2"`` and the cap
  being on ``after``); the query is evaluated again for every page, so a record that changes while
  a client pages moves within the list [inferred, not stated by HubSpot].
* One sorting rule is honoured ("only one sorting rule can be applied to any search", as
  remembered from the search guide; not re-checked); records with equal sort values come in no
  particular order (nothing in the docs promises one), modelled as a fixed pseudo-random order.
* Properties not listed in ``properties`` are not returned; without ``properties`` deals return
  ``dealname, amount, closedate, pipeline, dealstage`` (sales-apis.md s.2); ``createdate``,
  ``hs_lastmodifieddate`` and ``hs_object_id`` always come back (fixtures
  tests/fixtures/hubspot/search_deals_page*.json). All values are strings or null.
* An unknown property in a filter answers 400 VALIDATION_ERROR ("Property 'x' does not exist",
  tests/fixtures/hubspot/error_400_validation.json).
* Date-time properties compare as instants; a filter value may be epoch milliseconds or ISO 8601
  (sales-apis.md s.2 uses epoch ms; ISO acceptance is assumed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 10, 25
MAX_LIMIT, RESULT_CAP = 200, 10_000
DEFAULT_DEAL_PROPERTIES = ("dealname", "amount", "closedate", "pipeline", "dealstage")
ALWAYS_RETURNED = ("createdate", "hs_lastmodifieddate", "hs_object_id")


class SearchRefused(Exception):
    """A search HubSpot answers with HTTP 400; ``message`` and ``code`` go into the Error body."""

    def __init__(self, message: str, code: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Indexed:
    """One object as the search index holds it."""

    id: str
    properties: Mapping[str, str | None]
    created_at: str
    updated_at: str
    _parsed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def value(self, name: str, kind: str) -> Any:
        """The property as filters and sorts compare it (None when empty); parsed once."""
        if name not in self._parsed:
            raw = self.properties.get(name)
            self._parsed[name] = None if raw in (None, "") else _comparable(kind, str(raw))
        return self._parsed[name]


PropertyTypes = Mapping[str, str]
"""Property name to HubSpot type (string, number, datetime, date, enumeration, bool)."""


def hs_time(value: datetime) -> str:
    """HubSpot's form of an instant: ISO 8601, milliseconds, ``Z``."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def _instant(text: str) -> float:
    if text.lstrip("-").isdigit():
        return float(text)
    if len(text) == 10:
        midnight = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        return midnight.timestamp() * 1000
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


@lru_cache(maxsize=1 << 16)
def _comparable(kind: str, text: str) -> Any:
    if kind == "number":
        return float(text)
    if kind in {"datetime", "date"}:
        return _instant(text)
    return text.casefold()


_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": lambda a, b: bool(a == b),
    "NEQ": lambda a, b: bool(a != b),
    "LT": lambda a, b: bool(a < b),
    "LTE": lambda a, b: bool(a <= b),
    "GT": lambda a, b: bool(a > b),
    "GTE": lambda a, b: bool(a >= b),
}

Predicate = Callable[[Indexed], bool]


def _compile_filter(  # noqa: PLR0911 - one branch per operator
    rule: Mapping[str, Any], types: PropertyTypes
) -> Predicate:
    """One filter as a test on an indexed object; the filter's own values are parsed once."""
    name = str(rule.get("propertyName", ""))
    operator = str(rule.get("operator", "EQ"))
    kind = types[name]

    def value_of(item: Indexed) -> Any:
        return item.value(name, kind)

    if operator == "HAS_PROPERTY":
        return lambda item: value_of(item) is not None
    if operator == "NOT_HAS_PROPERTY":
        return lambda item: value_of(item) is None
    if operator in {"IN", "NOT_IN"}:
        wanted = {_comparable(kind, str(v)) for v in rule.get("values", [])}
        if operator == "IN":
            return lambda item: value_of(item) in wanted
        return lambda item: value_of(item) not in wanted
    if operator == "BETWEEN":
        low = _comparable(kind, str(rule.get("value")))
        high = _comparable(kind, str(rule.get("highValue")))
        return lambda item: (v := value_of(item)) is not None and bool(low <= v <= high)
    if operator not in _COMPARISONS:
        raise SearchRefused(f"Unsupported operator '{operator}'")
    compare = _COMPARISONS[operator]
    target = _comparable(kind, str(rule.get("value")))
    if operator == "NEQ":
        return lambda item: (v := value_of(item)) is None or compare(v, target)
    return lambda item: (v := value_of(item)) is not None and compare(v, target)


def _check_request(body: Mapping[str, Any], types: PropertyTypes) -> None:
    groups = body.get("filterGroups") or []
    if len(groups) > MAX_GROUPS:
        raise SearchRefused(f"Too many filter groups; at most {MAX_GROUPS} are allowed")
    total = 0
    for group in groups:
        filters = group.get("filters") or []
        total += len(filters)
        if len(filters) > MAX_FILTERS_PER_GROUP or total > MAX_FILTERS:
            raise SearchRefused("Too many filters in the request")
        for rule in filters:
            name = str(rule.get("propertyName", ""))
            if name not in types:
                raise SearchRefused(f"Property '{name}' does not exist")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or not 0 < limit <= MAX_LIMIT:
        raise SearchRefused(f"limit must be between 1 and {MAX_LIMIT}")


@lru_cache(maxsize=1 << 16)
def _tie_order(salt: str, object_id: str) -> str:
    return hashlib.sha256(f"{salt}:{object_id}".encode()).hexdigest()


def search(
    body: Mapping[str, Any],
    index: Sequence[Indexed],
    types: PropertyTypes,
    *,
    salt: str,
    result_cap: int = RESULT_CAP,
    defaults: Sequence[str] = DEFAULT_DEAL_PROPERTIES,
) -> dict[str, Any]:
    """Answer one search request over ``index`` (what is searchable right now).

    ``result_cap`` is HubSpot's 10,000; tests may scale it down together with the connector's
    ``search_result_cap`` to exercise the cap without ten thousand records per call.
    """
    _check_request(body, types)
    after_text = str(body.get("after") or "0")
    if not after_text.isdigit():
        raise SearchRefused("after must be a numeric offset")
    after = int(after_text)
    if after >= result_cap:
        raise SearchRefused(
            f"The search API returns at most {result_cap} results; paging past them is refused"
        )
    groups = [
        [_compile_filter(rule, types) for rule in group.get("filters", [])]
        for group in body.get("filterGroups") or []
    ]
    found = [item for item in index if not groups or any(all(f(item) for f in g) for g in groups)]
    found.sort(key=lambda item: _tie_order(salt, item.id))
    sorts = body.get("sorts") or []
    if sorts:
        # A stable sort keeps the pseudo-random order among equal values.
        found.sort(key=_sort_key(sorts[0], types), reverse=_descending(sorts[0]))
    limit = int(body.get("limit", 10))
    page = found[after : after + limit]
    wanted = list(body.get("properties") or defaults)
    answer: dict[str, Any] = {
        "total": len(found),
        "results": [_render(item, [w for w in wanted if w in types]) for item in page],
    }
    if after + limit < len(found):
        answer["paging"] = {
            "next": {"after": str(after + limit), "link": f"?after={after + limit}"}
        }
    return answer


def _descending(rule: Any) -> bool:
    if isinstance(rule, str):
        return rule.startswith("-")
    return str(rule.get("direction", "ASCENDING")).upper() == "DESCENDING"


def _sort_key(rule: Any, types: PropertyTypes) -> Callable[[Indexed], tuple[int, Any]]:
    name = rule.lstrip("-") if isinstance(rule, str) else str(rule.get("propertyName", ""))
    if name not in types:
        raise SearchRefused(f"Property '{name}' does not exist")
    kind = types[name]

    def key(item: Indexed) -> tuple[int, Any]:
        value = item.value(name, kind)
        return (1, 0) if value is None else (0, value)

    return key


def _render(item: Indexed, wanted: Sequence[str]) -> dict[str, Any]:
    names = [*wanted, *(n for n in ALWAYS_RETURNED if n not in wanted)]
    return {
        "id": item.id,
        "properties": {name: item.properties.get(name) for name in names},
        "createdAt": item.created_at,
        "updatedAt": item.updated_at,
        "archived": False,
    }
