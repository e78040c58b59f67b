"""The Alembic migrations build exactly the schema the code declares (no drift)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sync_jobs.store import tables
from sync_jobs.store.db import migrate


def test_a_migrated_database_matches_the_declared_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    migrate(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        drift = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    engine.dispose()
    assert drift == [], "add a migration under sync_jobs/store/migrations/versions"
