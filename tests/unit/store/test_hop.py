"""Statements run together through the driver: in order, in the caller's transaction, stopping
at a statement that did not affect the rows it had to, with the database's errors raised as
SQLAlchemy raises them; on SQLite, all of them in one trip to aiosqlite's thread."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiosqlite
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import bound
from sync_jobs.store.db import StoreError, read_tx, write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


def cursor_rows(engine: AsyncEngine, jobs: list[str]) -> hop.Statement:
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    sql = f"INSERT INTO source_cursor (job, cursor, updated_at) VALUES ({mark}, 'c', {mark})"
    at = bound(t.source_cursor.c.updated_at, engine.dialect, NOW)
    return hop.Statement(sql, [(job, at) for job in jobs], many=True)


def jobs_select() -> hop.Statement:
    return hop.Statement("SELECT job FROM source_cursor ORDER BY job", fetch=True)


async def test_statements_run_in_order_in_the_callers_transaction(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        outcomes = await hop.run(conn, [cursor_rows(engine, ["a", "b"]), jobs_select()])
        seen = [r.job for r in await conn.execute(sa.select(t.source_cursor.c.job))]
    assert [o.count for o in outcomes] == [2, 2]
    assert outcomes[1].rows == [("a",), ("b",)]
    assert sorted(seen) == ["a", "b"], "SQLAlchemy's statements see them: one transaction"


async def test_a_statement_short_of_its_expected_rows_stops_the_rest(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await hop.run(conn, [cursor_rows(engine, ["a"])])
    mark = "?" if engine.dialect.name == "sqlite" else "%s"
    delete = hop.Statement(f"DELETE FROM source_cursor WHERE job = {mark}", ["a"], expect=2)
    async with write_tx(engine) as conn:
        outcomes = await hop.run(conn, [delete, cursor_rows(engine, ["z"])])
    assert [o.count for o in outcomes] == [1], "the insert after it did not run"
    async with read_tx(engine) as conn:
        assert (await hop.run(conn, [jobs_select()]))[0].rows == []


async def test_database_errors_are_raised_as_sqlalchemy_raises_them(engine: AsyncEngine) -> None:
    with pytest.raises(sa.exc.IntegrityError) as raised:
        async with write_tx(engine) as conn:
            await hop.run(conn, [cursor_rows(engine, ["a", "a"])])
    assert isinstance(raised.value, StoreError)
    assert "INSERT INTO source_cursor" in str(raised.value)
    async with read_tx(engine) as conn:
        assert (await hop.run(conn, [jobs_select()]))[0].rows == [], "rolled back"


async def test_on_sqlite_every_statement_goes_in_one_trip_to_its_thread(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("psycopg has no thread to hop to")
    trips: list[Any] = []
    queue: Any = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(fn)
        return await queue(self, fn, *args, **kwargs)

    async with write_tx(engine) as conn:
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        statements = [cursor_rows(engine, ["a", "b"]), jobs_select(), cursor_rows(engine, ["c"])]
        outcomes = await hop.run(conn, [*statements, jobs_select()])
        monkeypatch.undo()
    assert len(trips) == 1
    assert outcomes[-1].rows == [("a",), ("b",), ("c",)]
