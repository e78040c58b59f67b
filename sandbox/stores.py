"""Throwaway state stores: a SQLite file in a folder, or a new PostgreSQL database that is
dropped afterwards. The tests (``tests/stores.py``) and the benchmarks (``bench.workers``)
take their stores from here.

PostgreSQL is the one CI provides: 127.0.0.1:5432, trust auth, database ``test``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
"""Where throwaway databases are created from (and dropped)."""

StoreKind = Literal["sqlite", "postgresql"]


def postgres_available() -> bool:
    """True when the CI PostgreSQL answers."""
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, connect_timeout=2):
            return True
    except Exception:  # noqa: BLE001 - any failure means "not available here"
        return False


def sqlite_url(folder: Path) -> str:
    """A SQLite state file in ``folder``."""
    return f"sqlite:///{folder / 'state.db'}"


@contextmanager
def throwaway_postgres(prefix: str = "dealbridge") -> Iterator[str]:
    """A new empty PostgreSQL database named ``prefix`` and a random suffix; dropped when
    the block ends (its connections forced closed: a killed run may leave some behind)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def throwaway_store(kind: StoreKind, folder: Path, prefix: str = "dealbridge") -> Iterator[str]:
    """A fresh state store's URL: a SQLite file in ``folder``, or a throwaway PostgreSQL
    database."""
    if kind == "sqlite":
        yield sqlite_url(folder)
    else:
        with throwaway_postgres(prefix) as url:
            yield url
