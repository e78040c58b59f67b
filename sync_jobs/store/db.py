"""Opening the state store: URL handling, SQLite settings, migrations, and write transactions.

SQLite (the single-instance default) runs in WAL mode with ``synchronous=NORMAL`` (durable
across process crashes), a checkpoint every :data:`WAL_CHECKPOINT_PAGES` pages of log, a busy
timeout, and ``BEGIN IMMEDIATE`` for write transactions so a read-then-write never fails with
SQLITE_BUSY_SNAPSHOT. The Python 3.11 sqlite3 driver issues no BEGIN of its own, so we take
over transaction control (SQLAlchemy's documented recipe). PostgreSQL runs at READ COMMITTED
through psycopg 3. Both get the same Alembic migrations.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeAlias

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState, StaticPool
from sqlalchemy.util import await_only

from sync_jobs.store import sqlite_writers
from sync_jobs.store.tables import lease, metadata

MIGRATIONS = Path(__file__).parent / "migrations"

# The names the rest of the code types the store by, so that only this package imports
# SQLAlchemy: a run or a command holds a Store, passes a Connection (one open transaction) to
# repository functions, and catches StoreError when the database itself fails.
Store: TypeAlias = AsyncEngine
Connection: TypeAlias = AsyncConnection
StoreError: TypeAlias = SQLAlchemyError
UNREACHABLE: tuple[type[Exception], ...] = (OSError, OperationalError, InterfaceError)
"""What a store that is not (yet) reachable raises: worth retrying at start-up."""
BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_PAGES = 10_000
"""Pages of write-ahead log (4 KiB each, so about 40 MB) before a commit copies them into the
database. At SQLite's default, 1,000, 70 of the 415 commits of a 10,000-deal backfill took 5
to 130 ms in the database's thread: each checkpoint copies the log's pages again (the same
index pages over and over) and, at ``synchronous=NORMAL``, syncs both files. At 10,000 pages
the commits' CPU fell by about a third (about 10 us a deal) and their wall time from 2.3 to
0.7 s a run (19 commits over 5 ms). The cost: the ``-wal`` file grows to about 40 MB
and stays that size (SQLite reuses it), and a process that dies replays up to that much log
when the store is next opened."""


def _split(url: str) -> tuple[str, str]:
    """(backend, rest) for sqlite:///x and postgresql[+psycopg]://x URLs."""
    if url.startswith("sqlite:///"):
        return "sqlite", url.removeprefix("sqlite:///")
    return "postgresql", url.split("://", 1)[1]


def sync_url(url: str) -> str:
    """The URL for synchronous tooling (migrations)."""
    backend, rest = _split(url)
    return f"sqlite:///{rest}" if backend == "sqlite" else f"postgresql+psycopg://{rest}"


def async_url(url: str) -> str:
    """The URL for the async engine the daemon and CLI use."""
    backend, rest = _split(url)
    return f"sqlite+aiosqlite:///{rest}" if backend == "sqlite" else f"postgresql+psycopg://{rest}"


def is_sqlite(url: str) -> bool:
    """True when the store is a SQLite file."""
    return _split(url)[0] == "sqlite"


WAL_SWITCH_TRIES = 5
"""Tries of ``PRAGMA journal_mode=WAL`` on a connection's first use (see :func:`_into_wal`)."""
WAL_SWITCH_PAUSE = 0.02
"""Seconds before the second try, growing with each (0.2 s in all at most): the other
process's switch is a few milliseconds."""


def _sqlite_setup(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")  # first: the rest may wait
        _into_wal(cursor)
        for pragma in (
            "synchronous=NORMAL",
            f"wal_autocheckpoint={WAL_CHECKPOINT_PAGES}",
            "foreign_keys=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _into_wal(cursor: Any) -> None:
    """Put the database file in WAL mode (a no-op once it is).

    Two processes opening a new file at once (a run's worker helpers, a CLI command beside
    the daemon's first start) both read it in its old journal mode and both ask for the
    exclusive lock that the switch needs: SQLite refuses one of them at once with "database
    is locked", without waiting (two readers waiting for each other would never end). The
    refused one's read lock is gone with its statement, so asked again, after a pause that
    lets the other's switch end, it finds the file in WAL mode already. (The pause blocks the
    event loop: it happens only in this race, on a new file's first connections.)"""
    for attempt in range(1, WAL_SWITCH_TRIES + 1):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_SWITCH_TRIES:
                raise
            time.sleep(WAL_SWITCH_PAUSE * attempt)


def _sqlite_begin(conn: sa.Connection) -> None:
    """BEGIN as one call in aiosqlite's thread: as a statement through SQLAlchemy it took
    three trips there (cursor, execute, close) and the statement machinery, every
    transaction."""
    immediate = conn.get_execution_options().get("immediate", False)
    sql = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    driver: Any = conn.connection.driver_connection
    try:
        await_only(driver._execute(driver._conn.execute, sql))
    except sqlite3.Error as exc:  # as SQLAlchemy would raise it (a busy store: OperationalError)
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc


def _sqlite_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
    """A connection back in the pool is rolled back only when a transaction is open: after a
    commit (nearly always) the rollback was one more trip to aiosqlite's thread for nothing.
    (SQLAlchemy's documented custom reset: ``pool_reset_on_return=None`` and this event.)"""
    if state.terminate_only:
        return
    driver: Any = dbapi_connection.driver_connection
    if driver is None or driver._connection is None or driver.in_transaction:
        dbapi_connection.rollback()


def _sqlite_events(engine: AsyncEngine) -> None:
    sa.event.listen(engine.sync_engine, "connect", _sqlite_setup)
    sa.event.listen(engine.sync_engine, "begin", _sqlite_begin)
    sa.event.listen(engine.sync_engine, "reset", _sqlite_reset)


def make_engine(url: str) -> AsyncEngine:
    """Create the async engine with the backend's settings applied to every connection."""
    if is_sqlite(url):
        path = Path(_split(url)[1])
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            async_url(url), connect_args={"timeout": 30}, pool_reset_on_return=None
        )
        _sqlite_events(engine)
        return engine
    return create_async_engine(
        async_url(url),
        isolation_level="READ COMMITTED",
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
    )


async def memory_engine() -> AsyncEngine:
    """A private in-memory SQLite store with the current schema (unit tests, tools).

    The tables come from ``tables.metadata``, which a test keeps equal to the migrations. It
    is one connection, so its transactions run one at a time (as a single worker's do)."""
    engine = create_async_engine(
        "sqlite+aiosqlite://", poolclass=StaticPool, pool_reset_on_return=None
    )
    _sqlite_events(engine)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return engine


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent; safe to call at every start)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url))
    if is_sqlite(url):
        Path(_split(url)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(cfg, "head")


async def migrate_async(url: str) -> None:
    """:func:`migrate` without blocking the event loop."""
    await asyncio.to_thread(migrate, url)


_WRITERS: weakref.WeakKeyDictionary[AsyncEngine, tuple[asyncio.AbstractEventLoop, asyncio.Lock]]
_WRITERS = weakref.WeakKeyDictionary()


def _writer_lock(engine: AsyncEngine) -> asyncio.Lock:
    """One writer at a time per SQLite engine and event loop.

    SQLite admits one writer; a second BEGIN IMMEDIATE spins in SQLite's busy handler, which
    sleeps up to 100 ms a try. Stage 1 and the stage-2 workers of one process write
    concurrently, so they queue here instead, in order and without sleeping."""
    loop = asyncio.get_running_loop()
    held = _WRITERS.get(engine)
    if held is None or held[0] is not loop:
        held = (loop, asyncio.Lock())
        _WRITERS[engine] = held
    return held[1]


@asynccontextmanager
async def write_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One write transaction (BEGIN IMMEDIATE on SQLite); commits on success, else rolls back."""
    if engine.dialect.name == "sqlite":
        async with _writer_lock(engine), _other_processes(engine), _transaction(engine) as conn:
            yield conn
    else:
        async with _transaction(engine) as conn:
            yield conn


def _other_processes(engine: AsyncEngine) -> AbstractAsyncContextManager[None]:
    """Writers of other processes on the same file queue beside this one (``sqlite_writers``:
    SQLite's busy handler does not queue them)."""
    path = sqlite_writers.lock_file(engine.url.database)
    if path is None:
        return nullcontext()
    return sqlite_writers.turn(path, BUSY_TIMEOUT_MS / 1000)


@asynccontextmanager
async def _transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as raw:
        conn = await raw.execution_options(immediate=True)
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read-only transaction."""
    async with engine.connect() as conn, conn.begin():
        yield conn


async def reachable(engine: AsyncEngine) -> bool:
    """Whether the store answers a query on its schema (readiness probes)."""
    try:
        async with read_tx(engine) as conn:
            await conn.execute(sa.select(sa.func.count()).select_from(lease))
    except (OSError, SQLAlchemyError):
        return False
    return True
