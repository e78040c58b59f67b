"""State-store URLs for tests: a fresh SQLite file, or a fresh PostgreSQL database.

PostgreSQL tests need 127.0.0.1:5432 (trust auth, database ``test``, as in CI); on a machine
without it they are skipped with that reason. The stores themselves are the sandbox's
(``sandbox.stores``), which the benchmarks use too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox.stores import postgres_available, sqlite_url, throwaway_postgres

__all__ = ["fresh_postgres", "postgres_available", "sqlite_url", "store_url"]


@contextmanager
def fresh_postgres() -> Iterator[str]:
    """A new empty database for one test, dropped afterwards (the test is skipped where
    PostgreSQL is not reachable)."""
    if not postgres_available():
        pytest.skip(
            "PostgreSQL is not reachable on 127.0.0.1:5432 (database 'test'); CI provides it"
        )
    with throwaway_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        with fresh_postgres() as url:
            yield url
