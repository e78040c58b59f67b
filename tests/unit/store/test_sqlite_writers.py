"""SQLite writers of several processes (``engine.workers``) take turns: a process that has
just committed does not take the write lock again and again while another process's writer
waits; the lock on the file beside the database is let go on every way out of a transaction
(an error, a cancelled or timed-out wait) and is never needed for an in-memory store."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import multiprocessing
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from sync_jobs.app import event_loop
from sync_jobs.store import sqlite_writers
from sync_jobs.store.db import make_engine, write_tx
from tests.stores import sqlite_url
from tests.unit.store.turn_taking import TURNS, write_turns

TRANSACTIONS = 40
HOLD = 0.003
"""Each transaction's work with the lock held (a batch's commit takes milliseconds)."""


def turns_taken(folder: Path, writers: int) -> list[str]:
    """Race ``writers`` processes, each writing ``TRANSACTIONS`` times; the writers in the
    order they committed."""
    database = folder / "state.db"
    with sqlite3.connect(database) as db:
        db.execute(TURNS)
    mp = multiprocessing.get_context("spawn")
    start = mp.Barrier(writers)
    names = [f"p{n}" for n in range(writers)]
    processes = [
        mp.Process(target=write_turns, args=(sqlite_url(folder), name, TRANSACTIONS, HOLD, start))
        for name in names
    ]
    for process in processes:
        process.start()
    try:
        for process in processes:
            process.join(120)
        codes = [process.exitcode for process in processes]
        assert codes == [0] * writers, f"a writer failed (exit codes {codes}; see its stderr)"
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()  # never left behind when the test fails
    with sqlite3.connect(database) as db:
        return [writer for (writer,) in db.execute("SELECT writer FROM turns ORDER BY id")]


def handoffs(order: list[str]) -> int:
    """How often the next commit was another writer's."""
    return sum(a != b for a, b in itertools.pairwise(order))


def test_two_processes_writing_at_once_take_turns(tmp_path: Path) -> None:
    order = turns_taken(tmp_path, writers=2)

    assert len(order) == 2 * TRANSACTIONS, "every transaction committed"
    # SQLite's busy handler alone lets the writer that has just committed go on for dozens
    # of transactions while the other sleeps (up to 100 ms a try): the lock changed hands
    # 2-5 times in 80 transactions. Queued, a writer waits for a turn or two of the other's.
    assert handoffs(order) >= TRANSACTIONS // 2, order


@contextmanager
def held_elsewhere(database: Path) -> Iterator[int]:
    """The writers' lock on ``database``, held as another process would hold it."""
    fd = os.open(sqlite_writers.lock_file(str(database)) or "", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def free(database: Path) -> bool:
    """Nobody holds the writers' lock on ``database``."""
    fd = os.open(sqlite_writers.lock_file(str(database)) or "", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True


async def insert(engine: sa.ext.asyncio.AsyncEngine, writer: str) -> None:
    async with write_tx(engine) as conn:
        await conn.execute(sa.text("INSERT INTO turns (writer) VALUES (:w)"), {"w": writer})


async def fail_inside_a_transaction(
    engine: sa.ext.asyncio.AsyncEngine, database: Path, held: list[bool]
) -> None:
    async with write_tx(engine) as conn:
        await conn.execute(sa.text("INSERT INTO turns (writer) VALUES ('x')"))
        held.append(not free(database))
        raise RuntimeError("the batch failed")


@pytest.fixture(params=event_loop.CHOICES)
def database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A state file with the turns table; the test's loop is each one a process may run."""
    monkeypatch.setenv(event_loop.ENV, request.param)
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as db:
        db.execute(TURNS)
    return path


def test_a_writer_waits_for_another_process_and_then_writes(database: Path) -> None:
    async def go() -> list[str]:
        engine = make_engine(f"sqlite:///{database}")
        try:
            with held_elsewhere(database) as fd:
                writers = [asyncio.create_task(insert(engine, f"w{n}")) for n in range(5)]
                await asyncio.sleep(0.2)
                assert not any(w.done() for w in writers), "they wait while it is held"
                fcntl.flock(fd, fcntl.LOCK_UN)
                await asyncio.wait_for(asyncio.gather(*writers), 30)
        finally:
            await engine.dispose()
        with sqlite3.connect(database) as db:
            return [w for (w,) in db.execute("SELECT writer FROM turns ORDER BY id")]

    assert sorted(event_loop.run(go())) == [f"w{n}" for n in range(5)]
    assert free(database)


def test_a_failed_transaction_lets_the_lock_go(database: Path) -> None:
    async def go() -> None:
        engine = make_engine(f"sqlite:///{database}")
        try:
            held: list[bool] = []
            with pytest.raises(RuntimeError, match="the batch failed"):
                await fail_inside_a_transaction(engine, database, held)
            assert held == [True], "premise: the transaction held the lock"
            assert free(database)
            await insert(engine, "after")
        finally:
            await engine.dispose()

    event_loop.run(go())
    with sqlite3.connect(database) as db:
        assert [w for (w,) in db.execute("SELECT writer FROM turns")] == ["after"]


def test_a_cancelled_wait_leaves_the_lock_to_no_one(database: Path) -> None:
    async def go() -> None:
        engine = make_engine(f"sqlite:///{database}")
        try:
            with held_elsewhere(database):
                waiting = asyncio.create_task(insert(engine, "cancelled"))
                await asyncio.sleep(0.2)
                waiting.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await waiting
            await asyncio.sleep(0.2)  # the abandoned wait takes the lock and lets it go
            assert free(database)
            await asyncio.wait_for(insert(engine, "next"), 30)
        finally:
            await engine.dispose()

    event_loop.run(go())
    with sqlite3.connect(database) as db:
        assert [w for (w,) in db.execute("SELECT writer FROM turns")] == ["next"]


def test_a_wait_longer_than_the_busy_timeout_fails_as_sqlite_would(
    database: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sync_jobs.store.db.BUSY_TIMEOUT_MS", 300)

    async def go() -> None:
        engine = make_engine(f"sqlite:///{database}")
        try:
            with (
                held_elsewhere(database),
                pytest.raises(OperationalError, match="database is locked"),
            ):
                await insert(engine, "too late")
            await asyncio.sleep(0.2)
            assert free(database)
        finally:
            await engine.dispose()

    event_loop.run(go())


def test_an_in_memory_store_needs_no_lock_file() -> None:
    assert sqlite_writers.lock_file(None) is None
    assert sqlite_writers.lock_file(":memory:") is None
    assert sqlite_writers.lock_file("/var/lib/dealbridge/state.db") == Path(
        "/var/lib/dealbridge/state.db-writers"
    )
