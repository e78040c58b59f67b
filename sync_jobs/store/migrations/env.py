"""Alembic environment: runs dealbridge's migrations on SQLite (batch mode) or PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from sync_jobs.store.tables import metadata

MIGRATION_LOCK = 7_340_001  # transaction-scoped advisory lock key: one replica migrates at a time


def run_migrations_online() -> None:
    """Run migrations in one transaction, serialised across replicas on PostgreSQL."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        is_sqlite = connection.dialect.name == "sqlite"
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=is_sqlite,
            compare_type=True,
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK}
                )
            context.run_migrations()
    engine.dispose()


run_migrations_online()
