"""index for the per-run expiry query

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 23:55:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each run asks for live terms that expired; without an index that reads every deal.
    op.create_index("ix_deal_expiry", "deal", ["target", "live", "valid_until"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deal_expiry", table_name="deal")
