"""Values read through the driver decode to what SQLAlchemy's column types make of them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import bound
from sync_jobs.store.decode import _json_from_stored, decoder

SQLITE = sqlite.dialect()
MOMENTS = st.datetimes(
    min_value=datetime(1970, 1, 2),  # noqa: DTZ001 - hypothesis' bounds are naive
    max_value=datetime(2999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
) | st.datetimes(timezones=st.just(timezone(timedelta(hours=-5))))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


def sqlalchemy_reads(column: sa.Column[Any], stored: Any) -> Any:
    process = column.type.dialect_impl(SQLITE).result_processor(SQLITE, None)
    return stored if process is None else process(stored)


@given(MOMENTS)
def test_a_stored_datetime_reads_as_sqlalchemy_reads_it(moment: datetime) -> None:
    column = t.deal.c.modified_at
    stored = bound(column, SQLITE, moment)
    [read] = decoder(SQLITE, [column])((stored,))
    assert read == sqlalchemy_reads(column, stored) == moment
    assert read.tzinfo is UTC


@given(JSON_VALUES)
def test_stored_json_reads_as_sqlalchemy_reads_it(value: Any) -> None:
    column = t.deal.c.match_detail
    stored = bound(column, SQLITE, value)
    if type(value) is int:
        stored = value  # the column's numeric affinity keeps a number as a number
    [read] = decoder(SQLITE, [column])((stored,))
    assert read == sqlalchemy_reads(column, stored) == value


def reference_json_from_stored(value: Any) -> Any:
    """``decode._json_from_stored`` before it called the scanner directly (the oracle)."""
    if value == "null":
        return None
    return json.loads(value) if type(value) is str else value


def read_or_error(read: Callable[[Any], Any], stored: Any) -> Any:
    try:
        return ("value", read(stored))
    except ValueError as exc:  # json's JSONDecodeError, with its message and position
        return ("error", type(exc), str(exc))


STORED_JSON = st.one_of(
    JSON_VALUES.map(json.dumps),
    JSON_VALUES.map(lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":"))),
    JSON_VALUES.map(lambda v: json.dumps(v, indent=1)),
    st.builds(
        lambda head, v, tail: head + json.dumps(v) + tail,
        st.sampled_from(["", " ", "\n", "\ufeff", "x"]),
        JSON_VALUES,
        st.sampled_from(["", " ", "\n", "x", "}", ", 1", "\ud800"]),
    ),
    st.sampled_from(['"\\ud800"', "NaN", "-Infinity", "1e999", "[1,]", '{"a":}', "nul", "0x"]),
    st.text(max_size=20),
    st.integers() | st.floats(allow_nan=False) | st.none(),
)


@settings(max_examples=500)
@given(STORED_JSON)
def test_a_stored_json_text_reads_as_json_loads_reads_it(stored: Any) -> None:
    expected = read_or_error(reference_json_from_stored, stored)
    assert read_or_error(_json_from_stored, stored) == expected
