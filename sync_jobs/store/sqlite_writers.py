"""SQLite writers of several processes take turns on a lock file beside the database.

SQLite admits one writer at a time. A ``BEGIN IMMEDIATE`` that finds the file locked sleeps
in SQLite's busy handler (1, 2, 5, ... up to 100 ms a try) and tries again, so between two
processes (``engine.workers``) nothing queues the writers: the process that has just
committed takes the lock again within microseconds while the other sleeps, and one process
does most of the writing. Within a process writers queue on an asyncio lock
(``db.write_tx``); across processes every write transaction first takes an exclusive
``flock`` on ``<database>-writers``. A writer that finds it held waits in the kernel (in a
thread: the event loop runs on) and is woken the moment the holder lets go.

``db.write_tx`` takes the asyncio lock first and this one second, so at most one coroutine
of an engine waits here and no holder of this lock ever waits for the asyncio one. An
``flock`` belongs to its open file, so closing the file lets go: on every way out of the
transaction, and by the kernel when a process dies holding it.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from sqlalchemy.exc import OperationalError

if sys.platform != "win32":
    import fcntl

SUFFIX = "-writers"
"""The lock file's name is the database's and this (as SQLite's own ``-wal`` and ``-shm``)."""


def lock_file(database: str | None) -> Path | None:
    """The lock file beside a SQLite database file; ``None`` for an in-memory database (one
    process only) or a ``file:`` URI (SQLite's name, not a path), and on Windows (no
    ``flock``: writers meet in SQLite's busy handler)."""
    if sys.platform == "win32":
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database + SUFFIX)


@asynccontextmanager
async def turn(path: Path, patience: float) -> AsyncIterator[None]:
    """This process's turn to write: the exclusive lock on ``path`` for the block.

    Waits at most ``patience`` seconds, then fails as SQLite's busy timeout does ("database is
    locked"); a waiter that is cancelled or times out leaves the lock to no one."""
    # flock needs only a readable file: a command run by another user of the database's
    # group (the daemon's files are usually theirs too) can take its turn
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o640)
    if not _taken_at_once(fd):
        await _wait_for(fd, path, patience)  # on failure the fd is closed for us
    try:
        yield
    finally:
        os.close(fd)


def _taken_at_once(fd: int) -> bool:
    """The lock if no other process holds it (one process writing alone never waits for a
    thread)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except BaseException:
        os.close(fd)
        raise
    return True


async def _wait_for(fd: int, path: Path, patience: float) -> None:
    loop = asyncio.get_running_loop()
    waiting = loop.run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
    try:
        await asyncio.wait_for(asyncio.shield(waiting), patience)
    except BaseException as exc:
        # The thread cannot be called back: it takes the lock when the holder lets go, and
        # closing the file then gives it up at once.
        waiting.add_done_callback(partial(_close_when_done, fd))
        if isinstance(exc, TimeoutError):
            raise OperationalError(
                f"flock {path}", None, sqlite3.OperationalError("database is locked")
            ) from exc
        raise


def _close_when_done(fd: int, waited: asyncio.Future[None]) -> None:
    if not waited.cancelled():
        waited.exception()  # retrieved: an abandoned wait's failure is not news
    os.close(fd)
