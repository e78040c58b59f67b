"""Rows written through the driver's executemany are stored exactly as SQLAlchemy's own
executemany stores them: same text for datetimes, dates and JSON (JSON ``null`` for None),
same defaults, same upsert and skip-on-conflict behaviour, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store import audit
from sync_jobs.store import tables as t
from sync_jobs.store.audit import AuditEntry
from sync_jobs.store.bulk import insert_rows
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.sql import jsonable
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, 30, 1, 250, tzinfo=UTC)
BERLIN = timezone(timedelta(hours=1))


def deal_row(deal_id: str, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "job": "west",
        "deal_id": deal_id,
        "target": "zd",
        "territory": "West",
        "customer_key": "organization:1",
        "match_status": "matched",
        "match_detail": {"status": "matched", "candidates": [], "key": "ä-1"},
        "lookup_at": None,
        "terms": {"name": "Deal", "amount": "10.50", "nested": {"list": [1, 2.5, None]}},
        "violations": None,
        "payload_hash": "h1",
        "live": True,
        "valid_until": date(2099, 12, 31),
        "error": None,
        "modified_at": NOW.astimezone(BERLIN),  # stored as UTC either way
        "updated_at": NOW,
    }
    return row | changes


async def raw(conn: AsyncConnection, table: sa.Table, order: str) -> list[tuple[Any, ...]]:
    """Every stored value as the database holds it (JSON as its text on PostgreSQL)."""
    names = ", ".join(
        f"{c.name}::text"
        if isinstance(c.type, sa.JSON) and conn.dialect.name != "sqlite"
        # psycopg hands timestamps back as datetimes, SQLite as the stored text
        else conn.dialect.identifier_preparer.quote(c.name)
        for c in table.columns
    )
    result = await conn.exec_driver_sql(f"SELECT {names} FROM {table.name} ORDER BY {order}")
    return [tuple(r) for r in result]


async def test_deal_rows_are_stored_as_sqlalchemy_stores_them(engine: AsyncEngine) -> None:
    # The reference path leaves the defaulted columns out too: both fill deleted and attempts.
    rows = [deal_row("sa"), deal_row("sa-2", lookup_at=NOW, violations=["over 20%"])]
    ours = [deal_row("ours"), deal_row("ours-2", lookup_at=NOW, violations=["over 20%"])]
    async with write_tx(engine) as conn:
        await conn.execute(sa.insert(t.deal), rows)
        await insert_rows(conn, t.deal, ours)
    async with read_tx(engine) as conn:
        stored = await raw(conn, t.deal, "deal_id")
    by_id = {row[1]: row for row in stored}
    assert by_id["ours"][2:] == by_id["sa"][2:]
    assert by_id["ours-2"][2:] == by_id["sa-2"][2:]
    assert "deleted" not in ours[0], "defaults filled, as SQLAlchemy fills them"


async def test_none_in_a_json_column_is_json_null_as_before(engine: AsyncEngine) -> None:
    rows = [deal_row("sa", violations=None)]
    ours = [deal_row("ours", violations=None)]
    async with write_tx(engine) as conn:
        await conn.execute(sa.insert(t.deal), rows)
        await insert_rows(conn, t.deal, ours)
    async with read_tx(engine) as conn:
        stored = {row[1]: row[2:] for row in await raw(conn, t.deal, "deal_id")}
        nulls = await conn.scalar(
            sa.select(sa.func.count()).select_from(t.deal).where(t.deal.c.violations.is_(None))
        )
    assert stored["ours"] == stored["sa"]
    assert nulls == 0, "JSON null, not SQL NULL"


async def test_audit_record_stores_what_sqlalchemy_reads_back_as_the_changes(
    engine: AsyncEngine,
) -> None:
    entries = [
        AuditEntry("organization:1", "notes", None, "net30", "conflict 7 resolved: take ours"),
        AuditEntry("organization:2", "discount", Decimal("10.5"), {"a": [1, None]}, "deal D2"),
        AuditEntry("organization:2", "terms", date(2026, 1, 2), 'ä"<', "deal D2"),
    ]
    rows = [
        {
            "run_id": None,
            "at": NOW,
            "actor": "person:ana",
            "target": "zd",
            "customer_key": key,
            "changes": [
                {
                    "field": e.field,
                    "old": jsonable(e.old),
                    "new": jsonable(e.new),
                    "reason": e.reason,
                }
                for e in entries
                if e.customer_key == key
            ],
        }
        for key in ("organization:1", "organization:2")
    ]
    async with write_tx(engine) as conn:
        await conn.execute(sa.insert(t.audit), rows)
        await audit.record(conn, "zd", None, "person:ana", entries, NOW)
        await audit.record(conn, "zd", None, "person:ana", [], NOW)  # nothing to append
    async with read_tx(engine) as conn:
        stored = [row[1:] for row in await conn.execute(sa.select(t.audit).order_by(t.audit.c.id))]
    assert len(stored) == 4, "one row a customer"
    assert stored[2:] == stored[:2]


async def test_upsert_updates_only_the_named_columns(engine: AsyncEngine) -> None:
    base = {"target": "zd", "customer_key": "organization:1", "field": "terms", "run_id": "r1"}
    later = NOW + timedelta(minutes=5)
    async with write_tx(engine) as conn:
        await insert_rows(
            conn, t.field_base, [base | {"value": "net30", "written_at": NOW}], keys=(), update=None
        )
        await insert_rows(
            conn,
            t.field_base,
            [base | {"value": {"days": 45}, "written_at": later, "run_id": "r2"}],
            keys=["target", "customer_key", "field"],
            update=["value", "written_at"],
        )
    async with read_tx(engine) as conn:
        row = (await conn.execute(sa.select(t.field_base))).one()
    assert (row.value, row.written_at, row.run_id) == ({"days": 45}, later, "r1")


async def test_skipping_on_a_partial_unique_index_keeps_one_waiting_item(
    engine: AsyncEngine,
) -> None:
    item = {
        "target": "zd",
        "customer_key": "organization:1",
        "status": "pending",
        "attempts": 0,
        "not_before": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    pending = sa.text("status = 'pending'")
    async with write_tx(engine) as conn:
        for _ in range(2):
            await insert_rows(
                conn,
                t.customer_work,
                [item, item | {"customer_key": "organization:2"}],
                keys=["target", "customer_key"],
                update=(),
                where=pending,
            )
        # a customer being worked on may be queued again: the index covers waiting items only
        await conn.execute(sa.update(t.customer_work).values(status="doing"))
        await insert_rows(
            conn, t.customer_work, [item], keys=["target", "customer_key"], update=(), where=pending
        )
    async with read_tx(engine) as conn:
        rows = list(await conn.execute(sa.select(t.customer_work.c.customer_key)))
    assert sorted(r.customer_key for r in rows) == [
        "organization:1",
        "organization:1",
        "organization:2",
    ]


async def test_stored_datetimes_compare_with_sqlalchemy_bound_ones(engine: AsyncEngine) -> None:
    item = {
        "target": "zd",
        "customer_key": "organization:1",
        "status": "pending",
        "attempts": 0,
        "not_before": NOW.astimezone(BERLIN),
        "created_at": NOW,
        "updated_at": NOW,
    }
    async with write_tx(engine) as conn:
        await insert_rows(conn, t.customer_work, [item])
    w = t.customer_work.c
    async with read_tx(engine) as conn:
        due = await conn.scalar(sa.select(sa.func.count()).where(w.not_before <= NOW))
        early = await conn.scalar(
            sa.select(sa.func.count()).where(w.not_before <= NOW - timedelta(microseconds=1))
        )
    assert (due, early) == (1, 0)


async def test_a_naive_datetime_is_refused_naming_the_column(engine: AsyncEngine) -> None:
    row = {"target": "zd", "customer_key": "c", "field": "f", "value": 1, "run_id": None}
    async with write_tx(engine) as conn:
        with pytest.raises(ValueError, match="written_at"):
            await insert_rows(conn, t.field_base, [row | {"written_at": NOW.replace(tzinfo=None)}])


async def test_no_rows_write_nothing(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await insert_rows(conn, t.audit, [])
        assert await conn.scalar(sa.select(sa.func.count()).select_from(t.audit)) == 0
