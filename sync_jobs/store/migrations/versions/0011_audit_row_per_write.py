"""audit: one row per customer written, its fields' changes in a JSON list

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

PAGE = 5000
"""Old rows read at a time (by id), so a long trail is not held in memory at once."""

_WRITE = ("run_id", "at", "actor", "target", "customer_key")
"""The columns a write's rows share: the rows of one write are next to each other by id."""
_OLD = ("field", "old_value", "new_value", "reason")
"""The columns of one field's change, which go into ``changes``."""

old = sa.table(
    "audit",
    sa.column("id", sa.Integer),
    *(sa.column(name) for name in _WRITE),  # compared and copied as read: no type needed
    sa.column("field", sa.String),
    sa.column("old_value", sa.JSON),
    sa.column("new_value", sa.JSON),
    sa.column("reason", sa.Text),
    sa.column("changes", sa.JSON),
)


def _pages(conn: sa.Connection, columns: list[Any]) -> Iterator[list[Any]]:
    last = 0
    while True:
        query = sa.select(*columns).where(old.c.id > last).order_by(old.c.id).limit(PAGE)
        rows = list(conn.execute(query))
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _fold(conn: sa.Connection) -> None:
    """Each run of rows of one write (same run, moment, actor, target and customer, next to
    each other by id) becomes its first row, holding every row's change in id order."""
    group: list[Any] = []

    def flush(updates: list[dict[str, Any]], deletes: list[int]) -> None:
        if group:
            changes = [
                {"field": r.field, "old": r.old_value, "new": r.new_value, "reason": r.reason}
                for r in group
            ]
            updates.append({"first": group[0].id, "changes": changes})
            deletes += [r.id for r in group[1:]]

    columns = [old.c.id, *(old.c[n] for n in _WRITE), *(old.c[n] for n in _OLD)]
    for rows in _pages(conn, columns):
        updates: list[dict[str, Any]] = []
        deletes: list[int] = []
        for row in rows:
            if group and tuple(row[1:6]) != tuple(group[0][1:6]):  # another write
                flush(updates, deletes)
                group = []
            group.append(row)
        _apply(conn, updates, deletes)
    updates, deletes = [], []
    flush(updates, deletes)
    _apply(conn, updates, deletes)


def _apply(conn: sa.Connection, updates: list[dict[str, Any]], deletes: list[int]) -> None:
    if updates:
        statement = (
            old.update()
            .where(old.c.id == sa.bindparam("first"))
            .values(changes=sa.bindparam("changes"))
        )
        conn.execute(statement, updates)
    for start in range(0, len(deletes), 500):
        conn.execute(old.delete().where(old.c.id.in_(deletes[start : start + 500])))


def upgrade() -> None:
    # A C3 wrote one audit row per field (four a deal, the most of any table): a write's
    # fields now go in one row, and readers show them one line a field as before.
    op.add_column("audit", sa.Column("changes", sa.JSON, nullable=True))
    _fold(op.get_bind())
    with op.batch_alter_table("audit") as batch:
        for name in _OLD:
            batch.drop_column(name)
        batch.alter_column("changes", existing_type=sa.JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.add_column(sa.Column("field", sa.String(300), nullable=True))
        batch.add_column(sa.Column("old_value", sa.JSON, nullable=True))
        batch.add_column(sa.Column("new_value", sa.JSON, nullable=True))
        batch.add_column(sa.Column("reason", sa.Text, nullable=True))
        batch.alter_column("changes", existing_type=sa.JSON, nullable=True)
    conn = op.get_bind()
    # Every change becomes a row again, numbered afresh in the order written (ids are not
    # referenced anywhere; keeping the order keeps the console's newest-first trail).
    lines = [
        {
            **{n: row[n] for n in _WRITE},
            "field": change["field"],
            "old_value": change["old"],
            "new_value": change["new"],
            "reason": change["reason"],
        }
        for rows in _pages(conn, [old.c.id, *(old.c[n] for n in _WRITE), old.c.changes])
        for row in (r._mapping for r in rows)
        for change in row["changes"]
    ]
    conn.execute(old.delete())
    for number, line in enumerate(lines, 1):
        line["id"] = number
    for start in range(0, len(lines), PAGE):
        conn.execute(old.insert(), lines[start : start + PAGE])
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('audit', 'id'), "
                "COALESCE((SELECT MAX(id) FROM audit), 0) + 1, false)"
            )
        )
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("changes")
        batch.alter_column("field", existing_type=sa.String(300), nullable=False)
        batch.alter_column("reason", existing_type=sa.Text, nullable=False)
