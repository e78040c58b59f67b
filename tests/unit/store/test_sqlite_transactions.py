"""SQLite transactions as the store opens and ends them: BEGIN goes to aiosqlite's thread in
one call, and a connection is rolled back on its way back to the pool only when it still
holds a transaction, so a commit costs no second trip, yet nothing left open leaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import db, hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import bound
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


@pytest.fixture
async def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    await migrate_async(url)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_MS", 50)  # a held lock fails fast here
    eng = make_engine(url)
    yield eng
    await eng.dispose()


def insert_cursor(engine: AsyncEngine, job: str) -> hop.Statement:
    at = bound(t.source_cursor.c.updated_at, engine.dialect, NOW)
    sql = "INSERT INTO source_cursor (job, cursor, updated_at) VALUES (?, 'c', ?)"
    return hop.Statement(sql, [job, at])


async def jobs(engine: AsyncEngine) -> list[str]:
    async with read_tx(engine) as conn:
        return [r.job for r in await conn.execute(sa.select(t.source_cursor.c.job))]


async def test_a_committed_transaction_is_kept(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await hop.run(conn, [insert_cursor(engine, "west")])
    assert await jobs(engine) == ["west"]


async def test_a_transaction_left_open_is_rolled_back_when_its_connection_returns(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as conn:
        # Behind SQLAlchemy's back, as a driver-level caller might: BEGIN IMMEDIATE, a write,
        # and the connection handed back without COMMIT.
        begin = hop.Statement("BEGIN IMMEDIATE")
        await hop.run(conn, [begin, insert_cursor(engine, "west")])
    async with write_tx(engine) as conn:  # the write lock was released: this does not wait
        await hop.run(conn, [insert_cursor(engine, "east")])
    assert await jobs(engine) == ["east"], "the uncommitted write is gone"


async def test_a_store_whose_write_lock_is_held_raises_sqlalchemys_error(
    engine: AsyncEngine,
) -> None:
    other = make_engine(str(engine.url).replace("+aiosqlite", ""))

    async def begin_immediate() -> None:
        async with other.connect() as conn:
            await conn.execution_options(immediate=True)
            await conn.begin()

    try:
        async with write_tx(engine):
            with pytest.raises(sa.exc.OperationalError, match="locked"):
                await begin_immediate()
    finally:
        await other.dispose()


async def test_a_store_connection_checkpoints_its_log_every_n_pages(engine: AsyncEngine) -> None:
    """SQLite's default of 1,000 pages checkpointed a backfill every few batches (db.py)."""
    async with read_tx(engine) as conn:
        pages = (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar_one()
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
    assert (pages, mode) == (db.WAL_CHECKPOINT_PAGES, "wal")
