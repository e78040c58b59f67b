"""A guardrail's "missing" test asks a decimal, date, bool or int value no comparison (none of
them equals ``""`` or ``()``): the violations are what the plain test
(``value in (None, "", ())``) found, for any term's value (custom terms hold anything)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.guardrails import Guardrail, _check, violations
from sync_jobs.domain.model import DealRef, DealTerms


def reference(terms: DealTerms, rails: dict[str, Guardrail], today: date) -> list[str]:
    """``violations`` before the missing test asked the value's class first."""
    found = []
    for name, rail in sorted(rails.items()):
        value = terms.value(name)
        if value in (None, "", ()):
            if rail.required:
                found.append(f"{name} is required but missing")
            continue
        found += _check(name, value, rail, today)
    return found


class _Odd:
    """A value equal to everything (a custom term may hold any value)."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


ANY_VALUE = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.just(""),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.dates(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=2), max_size=2).map(tuple),
    st.just(()),
    st.lists(st.integers(), max_size=2),
    st.just(_Odd()),
)
RAILS = st.builds(
    Guardrail,
    max=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
    min=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
    allowed=st.none() | st.lists(st.text(max_size=2), max_size=2).map(tuple),
    max_days=st.none() | st.integers(0, 1000),
    required=st.booleans(),
)
NAMES = st.sampled_from(
    ["discount_percent", "amount", "approved_by", "valid_until", "free_services", "custom.x"]
)


@settings(max_examples=500, deadline=None)
@given(
    rails=st.dictionaries(NAMES, RAILS, max_size=4),
    discount=st.none() | st.decimals(min_value=0, max_value=100),
    approved=st.none() | st.text(max_size=3),
    until=st.none() | st.dates(),
    services=st.lists(st.text(max_size=2), max_size=2).map(tuple),
    custom=ANY_VALUE,
    today=st.dates(),
)
def test_violations_are_the_plain_tests(
    rails: dict[str, Guardrail],
    discount: Decimal | None,
    approved: str | None,
    until: date | None,
    services: tuple[str, ...],
    custom: Any,
    today: date,
) -> None:
    terms = DealTerms(
        deal=DealRef(system="s", source="c", job="j", id="1", territory="t"),
        discount_percent=discount,
        approved_by=approved,
        valid_until=until,
        free_services=services,
        custom={"x": custom},
        modified_at=datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert violations(terms, rails, today) == reference(terms, rails, today)
