"""deal.lookup_at: when a deal's customer was last looked up at the desk

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sync_jobs.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for every existing deal: those still unmatched are looked up once after the upgrade.
    op.add_column("deal", sa.Column("lookup_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deal") as batch:
        batch.drop_column("lookup_at")
