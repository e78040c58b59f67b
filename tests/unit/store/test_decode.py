"""Values read through the driver decode to what SQLAlchemy's column types make of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import bound
from sync_jobs.store.decode import decoder

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
