"""A writer process for the tests of SQLite writers across processes (``sqlite_writers``).

Spawned processes import their target by name, so it lives in a module of its own, not in a
test module."""

from __future__ import annotations

import asyncio
from multiprocessing.synchronize import Barrier

import sqlalchemy as sa

from sync_jobs.app import event_loop
from sync_jobs.store.db import make_engine, write_tx

TURNS = "CREATE TABLE turns (id INTEGER PRIMARY KEY AUTOINCREMENT, writer TEXT NOT NULL)"
"""Each write transaction adds a row: the ids are the order in which the writers committed."""
START_WITHIN = 60.0
"""Seconds a writer waits for the others to be ready (a broken barrier then fails it)."""


def write_turns(url: str, writer: str, transactions: int, hold: float, start: Barrier) -> None:
    """``transactions`` write transactions one after the other, each holding the write lock
    for ``hold`` seconds (as a batch's commit does its work), as fast as they go; begins when
    every writer is ready."""
    event_loop.run(_write(url, writer, transactions, hold, start))  # as a dealbridge process


async def _write(url: str, writer: str, transactions: int, hold: float, start: Barrier) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect():
            pass  # connected (the pragmas run) before the race starts
        # A writer that died before the start must not leave this one waiting for ever.
        await asyncio.to_thread(start.wait, START_WITHIN)
        for _ in range(transactions):
            async with write_tx(engine) as conn:
                await conn.execute(sa.text("INSERT INTO turns (writer) VALUES (:w)"), {"w": writer})
                await asyncio.sleep(hold)
    finally:
        await engine.dispose()
