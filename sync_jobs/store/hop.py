"""Several prepared statements in one trip to the database driver.

Through SQLAlchemy Core and aiosqlite, every statement costs its compilation (cache key,
expanding ``IN`` lists), a greenlet switch and four hand-offs to aiosqlite's worker thread
(cursor, execute, fetch, close), each woken by a queue and answered through
``call_soon_threadsafe``: about 0.3 ms of CPU a statement before SQLite does anything. A
stage-2 batch ran about twenty. Here a batch's statements, their text prepared once per
dialect, run in the connection's open transaction as one function in aiosqlite's thread (one
hand-off for all of them), or one after the other on psycopg's connection, which has no
thread to hop to.

Errors come back as SQLAlchemy's (:class:`~sqlalchemy.exc.DBAPIError` and its kinds), as
they would through SQLAlchemy, so callers catching ``StoreError`` still see them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class Statement:
    """One statement in the driver's parameter style (SQLite ``?``, psycopg ``%s``)."""

    sql: str
    params: Sequence[Any] = ()
    many: bool = False
    """``params`` is a sequence of rows: one ``executemany``."""
    fetch: bool = False
    """Return its rows (a ``SELECT``, or ``RETURNING``)."""
    expect: int | None = None
    """Rows it must affect (or return); otherwise the statements after it are not run."""


@dataclass(frozen=True)
class Outcome:
    """What one statement did: its rows (when fetched) and how many rows it affected or
    returned."""

    rows: list[tuple[Any, ...]]
    count: int


async def run(conn: AsyncConnection, statements: Sequence[Statement]) -> list[Outcome]:
    """Run ``statements`` in order in ``conn``'s open transaction.

    Returns one outcome per statement run: fewer than given when a statement's ``expect``
    was not met (that statement's outcome is the last one)."""
    if not statements:
        return []
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        if conn.dialect.name == "sqlite":
            # aiosqlite's own queue, as SQLAlchemy's aiosqlite adapter uses it: the sqlite3
            # connection belongs to that thread.
            found: list[Outcome] = await driver._execute(_run_sqlite, driver._conn, statements)
            return found
        return await _run_psycopg(driver, statements)
    except conn.dialect.loaded_dbapi.Error as exc:
        failed = _failed_statement(exc)
        raise sa.exc.DBAPIError.instance(
            failed.sql if failed else "",
            None,
            exc,
            conn.dialect.loaded_dbapi.Error,
            dialect=conn.dialect,
        ) from exc


def _failed_statement(exc: BaseException) -> Statement | None:
    found = getattr(exc, "dealbridge_statement", None)
    return found if isinstance(found, Statement) else None


def _run_sqlite(db: sqlite3.Connection, statements: Sequence[Statement]) -> list[Outcome]:
    """In aiosqlite's thread: every statement, on the connection's transaction."""
    done: list[Outcome] = []
    for statement in statements:
        try:
            if statement.many:
                cursor = db.executemany(statement.sql, statement.params)
            else:
                cursor = db.execute(statement.sql, statement.params)
            rows = cursor.fetchall() if statement.fetch else []
        except sqlite3.Error as exc:
            exc.dealbridge_statement = statement  # type: ignore[attr-defined]
            raise
        outcome = Outcome(rows, len(rows) if statement.fetch else cursor.rowcount)
        cursor.close()
        done.append(outcome)
        if statement.expect is not None and outcome.count != statement.expect:
            break
    return done


async def _run_psycopg(db: Any, statements: Sequence[Statement]) -> list[Outcome]:
    """On psycopg's async connection: one statement after the other, on its transaction."""
    done: list[Outcome] = []
    async with db.cursor() as cursor:
        for statement in statements:
            try:
                if statement.many:
                    await cursor.executemany(statement.sql, statement.params)
                else:
                    await cursor.execute(statement.sql, statement.params)
                rows = await cursor.fetchall() if statement.fetch else []
            except Exception as exc:
                exc.dealbridge_statement = statement  # type: ignore[attr-defined]
                raise
            outcome = Outcome(rows, len(rows) if statement.fetch else int(cursor.rowcount))
            done.append(outcome)
            if statement.expect is not None and outcome.count != statement.expect:
                break
    return done
