"""A store connection puts a new SQLite file in WAL mode even when another process is doing
the same at that moment: SQLite refuses one of two such switches at once ("database is
locked", no busy wait, as it refuses any two readers that both ask to write), and the
refused one, asked again, finds the file switched by the other."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sync_jobs.store.db import WAL_SWITCH_TRIES, _into_wal, _sqlite_setup


class ScriptedCursor:
    """A DBAPI cursor whose journal-mode switch fails with the given errors first."""

    def __init__(self, failures: list[sqlite3.OperationalError]) -> None:
        self.failures = failures
        self.executed: list[str] = []

    def execute(self, sql: str) -> None:
        self.executed.append(sql)
        if sql == "PRAGMA journal_mode=WAL" and self.failures:
            raise self.failures.pop(0)

    def close(self) -> None:
        self.executed.append("closed")


class ScriptedConnection:
    """A DBAPI connection handing out one scripted cursor."""

    def __init__(self, cursor: ScriptedCursor) -> None:
        self._cursor = cursor
        self.isolation_level: str | None = ""

    def cursor(self) -> ScriptedCursor:
        return self._cursor


LOCKED = sqlite3.OperationalError("database is locked")


def test_a_switch_refused_as_locked_is_asked_again_and_goes_through() -> None:
    cursor = ScriptedCursor([LOCKED])

    _into_wal(cursor)

    assert cursor.executed == ["PRAGMA journal_mode=WAL"] * 2


def test_a_switch_still_locked_after_every_try_raises_sqlites_error() -> None:
    cursor = ScriptedCursor([LOCKED] * WAL_SWITCH_TRIES)

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        _into_wal(cursor)
    assert len(cursor.executed) == WAL_SWITCH_TRIES


def test_any_other_error_of_the_switch_is_raised_at_once() -> None:
    cursor = ScriptedCursor([sqlite3.OperationalError("disk I/O error")])

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        _into_wal(cursor)
    assert cursor.executed == ["PRAGMA journal_mode=WAL"]


def test_the_busy_timeout_is_set_before_the_switch_so_a_second_try_waits() -> None:
    cursor = ScriptedCursor([LOCKED])
    connection = ScriptedConnection(cursor)

    _sqlite_setup(connection, None)

    assert cursor.executed[0].startswith("PRAGMA busy_timeout=")
    assert cursor.executed[1:3] == ["PRAGMA journal_mode=WAL"] * 2
    assert cursor.executed[-1] == "closed"
    assert connection.isolation_level is None  # dealbridge sends BEGIN itself


def test_a_real_file_ends_in_wal_mode(tmp_path: Path) -> None:
    database = tmp_path / "state.db"
    with sqlite3.connect(database, isolation_level=None) as connection:
        _into_wal(connection.cursor())
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
