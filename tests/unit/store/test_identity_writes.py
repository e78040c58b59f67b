"""The identity index's record and key rows, given to the driver column by column, are the
statements the rows built one dict each gave (the reference below is the old ``_writes``,
kept as written): the same statement texts and every prepared value, on SQLite and
PostgreSQL, for any records (hostile names, keys past the column's 320 characters, any
code point, lone surrogates, records with no keys at all)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import prepared_insert
from sync_jobs.store.identity import IndexedRecord, _writes, keys_text

DIALECTS: list[Dialect] = [sqlite.dialect(), postgresql.psycopg.dialect()]  # type: ignore[no-untyped-call]
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
"""Any code point: control characters, bidi marks, lone surrogates."""


def reference_writes(
    dialect: Dialect, target: str, live: Sequence[IndexedRecord], now: datetime
) -> list[hop.Statement]:
    if not live:
        return []
    rows = [
        {
            "target": target,
            "kind": record.ref.kind,
            "record_id": record.ref.id,
            "name": record.name,
            "keys": keys_text(keys),
            "updated_at": now,
        }
        for record, keys in live
    ]
    text, values = prepared_insert(
        dialect,
        t.identity,
        rows,
        keys=["target", "kind", "record_id"],
        update=["name", "keys", "updated_at"],
    )
    statements = [hop.Statement(text, values, many=True)]
    keys = [
        {
            "target": target,
            "match": m,
            "value": v[:320],
            "kind": record.ref.kind,
            "record_id": record.ref.id,
        }
        for record, keys in live
        for m, v in keys
    ]
    if keys:
        text, values = prepared_insert(
            dialect,
            t.identity_key,
            keys,
            keys=["target", "match", "value", "kind", "record_id"],
            update=(),
        )
        statements.append(hop.Statement(text, values, many=True))
    return statements


records = st.builds(
    CustomerRecord,
    ref=st.builds(RecordRef, kind=st.sampled_from(["organization", "user"]), id=ANY_TEXT),
    name=ANY_TEXT,
)
index_keys = st.lists(
    st.tuples(
        st.sampled_from(["external_id", "email", "domain"]),
        ANY_TEXT | st.text(min_size=318, max_size=330),
    ),
    max_size=3,
)
moments = st.sampled_from(
    [
        datetime(2026, 12, 6, 18, 30, 1, 250, tzinfo=UTC),
        datetime(2026, 12, 6, 18, 30, tzinfo=timezone(timedelta(hours=2))),
    ]
)


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@settings(max_examples=300, deadline=None)
@given(live=st.lists(st.tuples(records, index_keys), max_size=5), target=ANY_TEXT, now=moments)
def test_identity_rows_by_column_are_the_rows_by_dict(
    dialect: Dialect, live: list[IndexedRecord], target: str, now: datetime
) -> None:
    assert _writes(dialect, target, live, now) == reference_writes(dialect, target, live, now)


def test_a_record_writes_its_row_and_one_row_a_key() -> None:
    """Else the property could hold with both writing nothing."""
    record = CustomerRecord(ref=RecordRef(kind="organization", id="7"), name="Acme")
    now = datetime(2026, 12, 6, tzinfo=UTC)
    first, second = _writes(DIALECTS[0], "zendesk", [(record, [("domain", "a.example")])], now)
    assert first.params == [
        (
            "zendesk",
            "organization",
            "7",
            "Acme",
            '[["domain", "a.example"]]',
            "2026-12-06 00:00:00.000000",
        )
    ]
    assert second.params == [("zendesk", "domain", "a.example", "organization", "7")]
