"""A datetime column's value goes to SQLite as it always did: the converter below is the old
one (every value converted to UTC, made naive, then written), for any datetime, aware in
any zone (UTC itself, ``timezone.utc`` by another name, other offsets), naive, or of a
datetime subclass, and for what is no datetime at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sync_jobs.store.bulk import _moment


def reference_convert(name: str, value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"column {name} given {type(value).__name__} {value!r}, not a datetime")
    if value.tzinfo is None:
        raise ValueError(f"naive datetime given to the state store for {name}; use UTC-aware")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


class Moment(datetime):
    """A datetime subclass (as test clocks make them)."""


ZONES = (
    st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=-1, minutes=-30)), None])
    | st.timezones()
)
MOMENTS = st.datetimes(timezones=ZONES) | st.datetimes(timezones=ZONES).map(
    lambda value: Moment.fromisoformat(value.isoformat())
)


def _outcome(name: str, value: Any, convert: Any) -> Any:
    try:
        return convert(value)
    except (TypeError, ValueError) as exc:
        return (type(exc), str(exc))


@given(values=st.lists(MOMENTS | st.none() | st.dates(), max_size=5))
@example(values=[datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)])
@example(values=[datetime(2026, 12, 6, 9, 8, 39, 0, tzinfo=UTC)])
def test_a_datetime_is_written_as_the_old_converter_wrote_it(values: list[Any]) -> None:
    convert = _moment("modified_at", sqlite=True)
    for value in [*values, *values]:  # each again: the last value is remembered
        ours = _outcome("modified_at", value, convert)
        assert ours == _outcome("modified_at", value, lambda v: reference_convert("modified_at", v))
        assert type(ours) is type(_outcome("x", value, lambda v: reference_convert("x", v)))


def test_utc_is_written_without_its_offset() -> None:
    """Else the property could hold with both writing the offset."""
    convert = _moment("at", sqlite=True)
    assert convert(datetime(2026, 12, 6, 9, 8, 39, tzinfo=UTC)) == "2026-12-06 09:08:39.000000"
    with pytest.raises(TypeError):
        convert(date(2026, 12, 6))
