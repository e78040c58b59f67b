"""State-store URLs for tests: a fresh SQLite file, or a fresh PostgreSQL database.

PostgreSQL tests need 127.0.0.1:5432 (trust auth, database ``test``, as in CI); on a machine
without it they are skipped with that reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    """True when the CI PostgreSQL answers."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return False


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new empty database for one test, dropped afterwards."""
    import psycopg

    if not postgres_available():
        pytest.skip(
            "PostgreSQL is not reachable on 127.0.0.1:5432 (database 'test'); CI provides it"
        )
    name = f"dealbridge_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(folder: Path) -> str:
    """A SQLite state file in ``folder``."""
    return f"sqlite:///{folder / 'state.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with fresh_postgres() as url:
            yield url
