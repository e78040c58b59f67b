"""indexes for the per-batch lookups by customer and by record

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 11:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without these, each batch of 100 customers read every deal, identity key or conflict
    # of the target: a backfill cost grew with the square of the book.
    op.drop_index("ix_deal_customer_key", table_name="deal")
    op.create_index("ix_deal_target_customer", "deal", ["target", "customer_key"], unique=False)
    op.create_index(
        "ix_identity_key_record", "identity_key", ["target", "kind", "record_id"], unique=False
    )
    op.create_index(
        "ix_conflict_customer", "conflict", ["target", "customer_key", "status"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_conflict_customer", table_name="conflict")
    op.drop_index("ix_identity_key_record", table_name="identity_key")
    op.drop_index("ix_deal_target_customer", table_name="deal")
    op.create_index("ix_deal_customer_key", "deal", ["customer_key"], unique=False)
