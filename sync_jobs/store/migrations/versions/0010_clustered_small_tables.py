"""SQLite: field_base, note_state, identity and identity_key kept in their primary keys

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("field_base", "note_state", "identity", "identity_key")
"""Tables with a composite text primary key and small rows, several written a deal."""


def _rebuild(with_rowid: bool) -> None:
    # SQLite cannot change a table's storage in place: batch mode copies it into a new table
    # (rows, then its indexes). A rowid table with a composite primary key is two B-trees (the
    # rows, and the key's index); WITHOUT ROWID keeps the rows in the key's B-tree, so each
    # row written is one insert, not two (tables.CLUSTERED). PostgreSQL has no such choice.
    if op.get_bind().dialect.name != "sqlite":
        return
    for name in TABLES:
        with op.batch_alter_table(
            name, recreate="always", table_kwargs={"sqlite_with_rowid": with_rowid}
        ):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
