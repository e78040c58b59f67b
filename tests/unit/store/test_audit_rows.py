"""The audit trail keeps one row per customer written, and reads back as one line a field: the
same lines, in the same order, with the same values as the one-row-a-field table held, for any
batch (hostile text, unicode, None, nested values, many fields), on SQLite and PostgreSQL; and
migration 0011 folds existing rows into that shape, and back, losing nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import audit, console_views
from sync_jobs.store import tables as t
from sync_jobs.store.audit import AuditEntry, audit_columns, unfold
from sync_jobs.store.bulk import Same, json_text, prepared_columns
from sync_jobs.store.db import MIGRATIONS, read_tx, sync_url, write_tx
from sync_jobs.store.sql import jsonable
from tests.stores import store_url
from tests.unit.store.test_c3_columns import KEY, MOMENT, TEXT, VALUE

__all__ = ["store_url"]

NOW = datetime(2026, 12, 7, 3, 0, 1, 250, tzinfo=UTC)
HOSTILE = st.one_of(
    TEXT,
    st.sampled_from(['"}]', "\\", "'; DROP TABLE audit; --", "\x00\x01", "🙂", "\u2028"]),
)
FIELD = st.one_of(st.sampled_from(["notes", "organization_fields.special_discount"]), HOSTILE)
ENTRIES = st.lists(
    st.builds(AuditEntry, KEY, FIELD, VALUE, VALUE, HOSTILE), min_size=1, max_size=40
)
"""A batch's entries: customers' runs of fields (a key may come back later: another row)."""


def by_field_table(name: str, metadata: sa.MetaData) -> sa.Table:
    """The audit table as it was before 0011 (the reference: one row a field)."""
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("at", t.UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("customer_key", sa.String(300), nullable=False),
        sa.Column("field", sa.String(300), nullable=False),
        sa.Column("old_value", sa.JSON, nullable=True),
        sa.Column("new_value", sa.JSON, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )


by_field = sa.MetaData()
OLD = by_field_table("audit_by_field", by_field)
"""The reference table, beside the new one."""
OLD_AUDIT = by_field_table("audit", sa.MetaData())
"""The audit table itself before 0011 (the migration tests)."""


def old_rows(entries: list[AuditEntry], run_id: str | None, now: datetime) -> list[dict[str, Any]]:
    """The rows the one-row-a-field code wrote for ``entries``."""
    return [
        {
            "run_id": run_id,
            "at": now,
            "actor": "job:west",
            "target": "zd",
            "customer_key": e.customer_key,
            "field": e.field,
            "old_value": jsonable(e.old),
            "new_value": jsonable(e.new),
            "reason": e.reason,
        }
        for e in entries
    ]


LINE = ("run_id", "at", "actor", "target", "customer_key", "field", "old_value", "new_value")


def line(row: Any) -> tuple[Any, ...]:
    return (*(getattr(row, n) for n in LINE), row.reason)


def runs(entries: list[AuditEntry]) -> int:
    """How many runs of one customer's entries ``entries`` has."""
    return 1 + sum(a.customer_key != b.customer_key for a, b in pairwise(entries))


@settings(max_examples=300, deadline=None)
@given(entries=ENTRIES, run_id=st.none() | st.just("run-1"), now=MOMENT)
def test_a_batchs_rows_decode_to_the_per_field_rows(
    entries: list[AuditEntry], run_id: str | None, now: datetime
) -> None:
    columns = audit_columns("zd", run_id, "job:west", entries, now)
    keys, changes = columns["customer_key"], columns["changes"]
    assert not isinstance(keys, Same)
    assert not isinstance(changes, Same)
    assert len(keys) == len(changes) == runs(entries), "one row per run of a customer's entries"
    rows = [
        SimpleNamespace(
            id=n,
            run_id=run_id,
            at=now,
            actor="job:west",
            target="zd",
            customer_key=key,
            changes=json.loads(text),
        )
        for n, (key, text) in enumerate(zip(keys, changes, strict=True))
    ]
    # The old columns' values as SQLAlchemy's JSON type reads them back: json.loads of the
    # text they were written as.
    want = [
        {
            **row,
            "old_value": json.loads(json_text(row["old_value"])),
            "new_value": json.loads(json_text(row["new_value"])),
        }
        for row in old_rows(entries, run_id, now)
    ]
    assert [line(r) for r in unfold(rows)] == [(*(r[n] for n in LINE), r["reason"]) for r in want]


@pytest.fixture
def store(store_url: str) -> Iterator[sa.Engine]:
    """The store's tables beside the old one-row-a-field table."""
    engine = sa.create_engine(sync_url(store_url))
    t.metadata.create_all(engine, tables=[t.audit])
    by_field.create_all(engine)
    yield engine
    engine.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(entries=ENTRIES, run_id=st.none() | st.just("run-1"))
def test_the_stored_rows_read_back_as_the_old_table_read_back(
    store: sa.Engine, entries: list[AuditEntry], run_id: str | None
) -> None:
    if store.dialect.name == "postgresql":  # its text columns refuse NUL: the old table did
        assume(not any("\x00" in e.field + e.reason for e in entries))
    with store.begin() as conn:
        conn.execute(OLD.delete())
        conn.execute(t.audit.delete())
        conn.execute(sa.insert(OLD), old_rows(entries, run_id, NOW))
        columns = audit_columns("zd", run_id, "job:west", entries, NOW)
        conn.exec_driver_sql(*prepared_columns(conn.dialect, t.audit, columns))
    with store.connect() as conn:
        want = [line(r) for r in conn.execute(sa.select(OLD).order_by(OLD.c.id))]
        got = unfold(conn.execute(sa.select(t.audit).order_by(t.audit.c.id)))
    assert [line(r) for r in got] == want


def alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url))
    return config


WRITES: list[tuple[str | None, str, str, list[tuple[str, Any, Any, str]]]] = [
    # (run, actor, customer, [(field, old, new, reason)]) in the order they were written
    ("r1", "job:west", "organization:1", [("notes", None, "Deal 1", "note"), ("d", 10, 15, "D1")]),
    ("r1", "job:west", "organization:2", [("d", None, {"a": [1, None]}, "ä \"'<>")]),
    (None, "person:ana", "organization:1", [("d", None, {"take": "ours"}, "conflict 3")]),
    ("r2", "job:west", "organization:1", [("notes", "Deal 1", "", "note"), ("x", "1.5", None, "")]),
    ("r2", "job:east", "organization:1", [("notes", "", "🙂\u2028", "note")]),
]


def lines(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The trail as readers see it, one line a field in the order written, without ids."""
    with engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("audit")}
        if "changes" in columns:
            rows: list[Any] = unfold(conn.execute(sa.select(t.audit).order_by(t.audit.c.id)))
        else:
            rows = list(conn.execute(sa.select(OLD_AUDIT).order_by(OLD_AUDIT.c.id)))
    return [line(r) for r in rows]


def test_0011_folds_each_writes_rows_into_one_and_back(store_url: str) -> None:
    config = alembic(store_url)
    command.upgrade(config, "0010")
    engine = sa.create_engine(sync_url(store_url))
    with engine.begin() as conn:
        for run_id, actor, key, changes in WRITES:
            conn.execute(
                sa.insert(OLD_AUDIT),
                [
                    {
                        "run_id": run_id,
                        "at": NOW,
                        "actor": actor,
                        "target": "zd",
                        "customer_key": key,
                        "field": field,
                        "old_value": before,
                        "new_value": after,
                        "reason": reason,
                    }
                    for field, before, after, reason in changes
                ],
            )
    before = lines(engine)
    assert len(before) == 7

    command.upgrade(config, "0011")
    with engine.connect() as conn:
        count = conn.scalar(sa.select(sa.func.count()).select_from(t.audit))
    assert count == len(WRITES), "one row a write"
    assert lines(engine) == before

    with engine.begin() as conn:  # a row written after the migration gets a new id
        conn.execute(
            sa.insert(t.audit),
            {
                "run_id": "r3",
                "at": NOW,
                "actor": "job:west",
                "target": "zd",
                "customer_key": "organization:9",
                "changes": [{"field": "d", "old": 1, "new": 2, "reason": "D9"}],
            },
        )
    after = [*before, ("r3", NOW, "job:west", "zd", "organization:9", "d", 1, 2, "D9")]
    assert lines(engine) == after

    command.downgrade(config, "0010")
    assert lines(engine) == after, "every change a row again, in the order written"
    with engine.begin() as conn:  # and the id sequence goes on after the renumbered rows
        conn.execute(
            sa.insert(OLD_AUDIT),
            {
                "run_id": "r4",
                "at": NOW,
                "actor": "job:west",
                "target": "zd",
                "customer_key": "organization:9",
                "field": "d",
                "old_value": 2,
                "new_value": 3,
                "reason": "D9",
            },
        )
    assert lines(engine)[-1][-1] == "D9"
    assert len(lines(engine)) == len(after) + 1
    command.upgrade(config, "head")
    assert len(lines(engine)) == len(after) + 1
    engine.dispose()


@pytest.mark.anyio
async def test_the_console_shows_a_customers_trail_newest_change_first_a_page_at_most(
    engine: AsyncEngine,
) -> None:
    later = NOW + timedelta(minutes=1)
    async with write_tx(engine) as conn:
        first = [AuditEntry("organization:1", f, None, n, "D1") for n, f in enumerate("abc")]
        await audit.record(conn, "zd", "r1", "job:west", first, NOW)
        other = [AuditEntry("organization:2", "a", None, 9, "D2")]
        await audit.record(conn, "zd", "r1", "job:west", other, NOW)
        second = [AuditEntry("organization:1", f, n, n + 1, "D1") for n, f in enumerate("ab")]
        await audit.record(conn, "zd", "r2", "job:west", second, later)
    async with read_tx(engine) as conn:
        trail = await console_views.customer_audit(conn, "zd", "organization:1")
    # As the one-row-a-field table read newest id first: the last field written first.
    assert [(a.at, a.field, a.old_value, a.new_value) for a in trail] == [
        (later, "b", 1, 2),
        (later, "a", 0, 1),
        (NOW, "c", None, 2),
        (NOW, "b", None, 1),
        (NOW, "a", None, 0),
    ]
    many = [AuditEntry("organization:3", f"f{n}", None, n, "D3") for n in range(150)]
    async with write_tx(engine) as conn:
        await audit.record(conn, "zd", "r1", "job:west", many, NOW)
        await audit.record(conn, "zd", "r2", "job:west", many, later)
    async with read_tx(engine) as conn:
        trail = await console_views.customer_audit(conn, "zd", "organization:3")
    assert len(trail) == console_views.PAGE_ROWS
    assert [a.field for a in trail] == [f"f{n}" for n in range(149, -1, -1)] + [
        f"f{n}" for n in range(149, 99, -1)
    ]
