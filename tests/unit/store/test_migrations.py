"""The Alembic migrations build exactly the schema the code declares (no drift), on SQLite and
on PostgreSQL, and the newest one can be undone and redone."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from sync_jobs.store import tables
from sync_jobs.store.db import MIGRATIONS, migrate, sync_url
from tests.stores import store_url

__all__ = ["store_url"]


def drift(url: str) -> list[object]:
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    engine.dispose()
    return list(found)


def test_a_migrated_database_matches_the_declared_tables(store_url: str) -> None:
    migrate(store_url)
    assert drift(store_url) == [], "add a migration under sync_jobs/store/migrations/versions"


def test_the_newest_migration_downgrades_and_upgrades_again(store_url: str) -> None:
    migrate(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(store_url))
    command.downgrade(config, "-1")
    assert drift(store_url) != [], "the downgrade removed something"
    command.upgrade(config, "head")
    assert drift(store_url) == []
