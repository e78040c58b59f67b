"""A batch's C3 rows given column by column go to the driver exactly as the same rows given one
dict per row do (statement text and every prepared value, on SQLite and PostgreSQL): field bases
and note states, whatever the values (hostile text, numbers, dates, nested JSON)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from sync_jobs.store import tables as t
from sync_jobs.store.bases import base_columns, note_columns, note_hash
from sync_jobs.store.bulk import Same, prepared_columns, prepared_insert

DIALECTS: list[Dialect] = [sqlite.dialect(), postgresql.psycopg.dialect()]  # type: ignore[no-untyped-call]
NOW = datetime(2026, 12, 6, 18, 30, 1, 250, tzinfo=UTC)

TEXT = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "net30", "\u202e%05\u202c", "<b>x</b>", "=== end dealbridge ===", "ä"]),
)
SCALAR = st.one_of(
    st.none(),
    TEXT,
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.dates(),
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
JSON_VALUE = st.recursive(
    st.one_of(st.none(), TEXT, st.booleans(), st.integers(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
"""What a desk reports a field holds (a field base's value)."""
KEY = st.sampled_from(["organization:1", "organization:2", "user:ä"])
FIELD = st.sampled_from(["notes", "organization_fields.special_discount", "custom.x"])
MOMENT = st.sampled_from([NOW, NOW.astimezone(timezone(timedelta(hours=-5)))])


@settings(max_examples=150, deadline=None)
@given(
    bases=st.lists(st.tuples(KEY, FIELD, JSON_VALUE), min_size=1, max_size=6),
    run_id=st.none() | st.just("run-1"),
    now=MOMENT,
)
@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_field_bases_by_column_are_the_rows_by_dict(
    dialect: Dialect, bases: list[tuple[str, str, Any]], run_id: str | None, now: datetime
) -> None:
    rows = [
        {"target": "zd", "written_at": now, "run_id": run_id, "customer_key": k, "field": f}
        | {"value": v}
        for k, f, v in bases
    ]
    keys, update = ["target", "customer_key", "field"], ["written_at", "run_id", "value"]
    columns = base_columns("zd", bases, now, run_id)
    assert prepared_columns(
        dialect, t.field_base, columns, keys=keys, update=update
    ) == prepared_insert(dialect, t.field_base, rows, keys=keys, update=update)


@settings(max_examples=100, deadline=None)
@given(notes=st.lists(st.tuples(KEY, TEXT, st.integers(0, 50)), min_size=1, max_size=6))
@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_note_states_by_column_are_the_rows_by_dict(
    dialect: Dialect, notes: list[tuple[str, str, int]]
) -> None:
    rows = [
        {
            "target": "zd",
            "customer_key": key,
            "content_hash": note_hash(text),
            "deals": deals,
            "written_at": NOW,
        }
        for key, text, deals in notes
    ]
    keys, update = ["target", "customer_key"], ["content_hash", "deals", "written_at"]
    columns = note_columns("zd", notes, NOW)
    assert prepared_columns(
        dialect, t.note_state, columns, keys=keys, update=update
    ) == prepared_insert(dialect, t.note_state, rows, keys=keys, update=update)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
def test_a_column_of_one_value_is_that_value_in_every_row_converted_once(dialect: Dialect) -> None:
    columns: dict[str, Any] = {
        "run_id": Same("r"),
        "at": Same(NOW),
        "actor": Same("job:west"),
        "target": Same("zd"),
        "customer_key": ["a", "b"],
        "changes": [
            [{"field": "f", "old": None}],
            [{"field": "g", "new": date(2026, 12, 6).isoformat()}],
        ],
    }
    _, prepared = prepared_columns(dialect, t.audit, columns)
    assert [row[:4] for row in prepared] == [prepared[0][:4]] * 2
    assert prepared[0][1] is prepared[1][1], "the moment is converted once"
