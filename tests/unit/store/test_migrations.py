"""The Alembic migrations build exactly the schema the code declares (no drift), on SQLite and
on PostgreSQL, and the newest one can be undone and redone."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from sync_jobs.store import tables
from sync_jobs.store.db import MIGRATIONS, is_sqlite, migrate, sync_url
from tests.stores import store_url

__all__ = ["store_url"]

SQLITE_STORAGE_ONLY = {"0010"}
"""Revisions that change only how SQLite stores tables (``WITHOUT ROWID``): nothing on
PostgreSQL, and nothing ``compare_metadata`` sees (:func:`clustered` does)."""


def drift(url: str) -> list[object]:
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        found = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    engine.dispose()
    return list(found)


def clustered(url: str) -> set[str]:
    """The tables SQLite keeps WITHOUT ROWID (none on PostgreSQL)."""
    if not is_sqlite(url):
        return set()
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        found = {str(name) for name, text in rows if text and "WITHOUT ROWID" in str(text).upper()}
    engine.dispose()
    return found


def declared_clustered(url: str) -> set[str]:
    if not is_sqlite(url):
        return set()
    return {
        name
        for name, table in tables.metadata.tables.items()
        if table.dialect_options["sqlite"]["with_rowid"] is False
    }


def head_revision(url: str) -> str:
    engine = sa.create_engine(sync_url(url))
    with engine.connect() as conn:
        found = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    assert found is not None
    return found


def test_a_migrated_database_matches_the_declared_tables(store_url: str) -> None:
    migrate(store_url)
    assert drift(store_url) == [], "add a migration under sync_jobs/store/migrations/versions"
    assert clustered(store_url) == declared_clustered(store_url)


def test_the_clustered_tables_are_the_small_ones_written_per_deal() -> None:
    found = {
        n for n, t in tables.metadata.tables.items() if t.kwargs.get("sqlite_with_rowid") is False
    }
    assert found == {"field_base", "note_state", "identity", "identity_key"}


def test_the_newest_migration_downgrades_and_upgrades_again(store_url: str) -> None:
    migrate(store_url)
    newest = head_revision(store_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(store_url))
    command.downgrade(config, "-1")
    changed = drift(store_url) != [] or clustered(store_url) != declared_clustered(store_url)
    if is_sqlite(store_url) or newest not in SQLITE_STORAGE_ONLY:
        assert changed, "the downgrade removed something"
    else:
        assert not changed, "a SQLite storage revision changes nothing on PostgreSQL"
    command.upgrade(config, "head")
    assert drift(store_url) == []
    assert clustered(store_url) == declared_clustered(store_url)


def test_rows_stay_through_the_sqlite_storage_change_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url))
    command.upgrade(config, "0009")
    rows = {
        "field_base": "('z', 'organization:1', 'f', '\"v\"', '2026-12-07 00:00:00.000000', 'r')",
        "note_state": "('z', 'organization:1', 'abc', 2, '2026-12-07 00:00:00.000000')",
        "identity": "('z', 'organization', '1', 'Ünïcode', '[]', '2026-12-07 00:00:00.000000')",
        "identity_key": "('z', 'domain', 'a.example', 'organization', '1')",
    }
    engine = sa.create_engine(sync_url(url))

    def dump() -> dict[str, list[tuple[object, ...]]]:
        with engine.connect() as conn:
            return {
                name: [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {name}")]
                for name in rows
            }

    with engine.begin() as conn:
        for name, values in rows.items():
            conn.exec_driver_sql(f"INSERT INTO {name} VALUES {values}")
    before = dump()
    command.upgrade(config, "0010")
    assert clustered(url) == set(rows)
    assert dump() == before
    with engine.connect() as conn:  # the key index came back with the table
        indexes = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master")}
    assert "ix_identity_key_record" in indexes
    command.downgrade(config, "0009")
    assert clustered(url) == set()
    assert dump() == before
    engine.dispose()
