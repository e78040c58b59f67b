"""The per-field decision and the write form of a value, rewritten for speed (each value put
in comparable form once; text first): they must decide and convert exactly as the plain
versions below (as they were written before) over arbitrary values of every shape."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.policy import FieldDecision, _settle, absent, decide
from sync_jobs.domain.values import comparable, same_value, to_target

POLICIES = ("source_wins", "target_wins", "manual", "newest_wins")
AGENT_EDIT = "agent changed the field since dealbridge wrote it"


def reference_decide(
    *,
    base: Any,
    target: Any,
    source: Any,
    policy: str,
    source_time: datetime | None = None,
    target_time: datetime | None = None,
) -> FieldDecision:
    has_base = base is not absent()
    if same_value(target, source):
        return FieldDecision("none", target, adopt_base=True)
    if not has_base:
        if comparable(target) is None:
            return FieldDecision("write", source)
        return _settle(
            policy, target, source, "pre-existing value on the record", source_time, target_time
        )
    if same_value(target, base):
        return FieldDecision("write", source)
    if same_value(source, base):
        held = policy == "manual"
        return FieldDecision("hold" if held else "keep", target, AGENT_EDIT if held else None)
    return _settle(policy, target, source, AGENT_EDIT, source_time, target_time)


def reference_to_target(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or None
    return value


# A few values that compare equal in different shapes, so every row of the table is reached.
SMALL = st.sampled_from(["10", "10.0", " 10 ", "15", "", "x", "2026-01-01", "2026-01-01T00:00:00Z"])
values = st.one_of(
    st.none(),
    SMALL,
    st.text(max_size=8),
    st.integers(-3, 20),
    st.sampled_from([10.0, 15.5, 1e-7]),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-5, max_value=20),
    st.booleans(),
    st.dates(min_value=date(2025, 12, 30), max_value=date(2026, 1, 2)),
    st.just([]),
    st.lists(st.sampled_from(["a", "b"]), max_size=2).map(tuple),
)
times = st.one_of(st.none(), st.sampled_from([datetime(2026, 1, d, tzinfo=UTC) for d in (1, 2)]))


@settings(max_examples=1500)
@given(
    base=st.one_of(st.just(absent()), values),
    target=values,
    source=values,
    policy=st.sampled_from(POLICIES),
    source_time=times,
    target_time=times,
)
def test_decide_decides_as_the_plain_table(
    base: Any,
    target: Any,
    source: Any,
    policy: str,
    source_time: datetime | None,
    target_time: datetime | None,
) -> None:
    given_ = {
        "base": base,
        "target": target,
        "source": source,
        "policy": policy,
        "source_time": source_time,
        "target_time": target_time,
    }
    assert decide(**given_) == reference_decide(**given_)


@given(values)
def test_to_target_converts_as_before(value: Any) -> None:
    converted = to_target(value)
    expected = reference_to_target(value)
    assert converted == expected
    assert type(converted) is type(expected)
