"""lease holders' processes, claims by holder, vendor budget holds, failing deals index

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_jobs.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A holder on the same host that died is taken over at once, not after its lease lapses.
    with op.batch_alter_table("lease") as batch:
        batch.add_column(sa.Column("host", sa.String(200), nullable=True))
        batch.add_column(sa.Column("host_key", sa.String(200), nullable=True))
        batch.add_column(sa.Column("pid", sa.Integer, nullable=True))
        batch.add_column(sa.Column("pid_started", sa.String(40), nullable=True))
        batch.add_column(sa.Column("renewed_at", UTCDateTime, nullable=True))
    # ... and its claims are released at takeover, not after the claim timeout.
    with op.batch_alter_table("customer_work") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(200), nullable=True))
    op.create_index(
        "ix_customer_work_claimed_by",
        "customer_work",
        ["claimed_by"],
        unique=False,
        sqlite_where=sa.text("status = 'doing'"),
        postgresql_where=sa.text("status = 'doing'"),
    )
    # Every run lists its job's deals that still fail to map (a few, in a book of millions).
    op.create_index(
        "ix_deal_failing",
        "deal",
        ["job"],
        unique=False,
        sqlite_where=sa.text("error IS NOT NULL"),
        postgresql_where=sa.text("error IS NOT NULL"),
    )
    op.create_table(
        "budget_hold",
        sa.Column("connector", sa.String(200), primary_key=True),
        sa.Column("until", UTCDateTime, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("budget_hold")
    op.drop_index("ix_deal_failing", table_name="deal")
    op.drop_index("ix_customer_work_claimed_by", table_name="customer_work")
    with op.batch_alter_table("customer_work") as batch:
        batch.drop_column("claimed_by")
    with op.batch_alter_table("lease") as batch:
        for column in ("renewed_at", "pid_started", "pid", "host_key", "host"):
            batch.drop_column(column)
