"""the match pass pages through a job's undecided deals by id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The match pass reads a job's pending/unmatched/ambiguous deals a page at a time, in
    # deal id order from where the last page ended: this index is that order, so each page
    # is a range search (a million pending deals after a backfill's read, read in 2,000
    # pages, must not sort them all 2,000 times). It starts with (target, match_status), so
    # it serves every query the index it replaces served.
    op.create_index(
        "ix_deal_match_queue", "deal", ["target", "match_status", "job", "deal_id"], unique=False
    )
    op.drop_index("ix_deal_target_status", table_name="deal")


def downgrade() -> None:
    op.create_index("ix_deal_target_status", "deal", ["target", "match_status"], unique=False)
    op.drop_index("ix_deal_match_queue", table_name="deal")
