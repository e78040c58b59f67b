"""``jsonable``: a value as a JSON column holds it, exactly what a round trip through the
standard encoder (``default=str``) and decoder gives, whichever way it is made."""

from __future__ import annotations

import json
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_jobs.store.sql import jsonable


def round_trip(value: Any) -> Any:
    """The reference: what ``jsonable`` did for every value before its fast paths."""
    return json.loads(json.dumps(value, default=str))


ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30))])
VALUES = (
    st.decimals(allow_nan=False)
    | st.decimals()  # NaN and infinities too: str() prints them as the encoder does
    | st.dates()
    | st.datetimes(timezones=ZONES)
    | st.text()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.none()
    | st.booleans()
    | st.lists(st.decimals(allow_nan=False) | st.dates() | st.text(), max_size=3)
)


@given(VALUES)
def test_a_value_is_held_as_the_encoders_round_trip_holds_it(value: Any) -> None:
    assert jsonable(value) == round_trip(value)
