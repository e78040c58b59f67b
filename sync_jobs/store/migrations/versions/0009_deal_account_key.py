"""deal.account_key: the match pass pages through undecided deals by account

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Deals of one account land on one customer: the match pass reads them on one page, so
    # stage 2 may write a customer as soon as that page commits (issue 19). Empty for deals
    # stored before: they page by id, as before, and a customer they share with a deal on
    # another page is queued again (written with both).
    op.add_column(
        "deal", sa.Column("account_key", sa.String(64), nullable=False, server_default="")
    )
    # Every query ix_deal_match_queue served starts with (target, match_status, job): this
    # one serves them too, in the match pass's order.
    op.create_index(
        "ix_deal_match_account",
        "deal",
        ["target", "match_status", "job", "account_key", "deal_id"],
        unique=False,
    )
    op.drop_index("ix_deal_match_queue", table_name="deal")


def downgrade() -> None:
    op.create_index(
        "ix_deal_match_queue", "deal", ["target", "match_status", "job", "deal_id"], unique=False
    )
    op.drop_index("ix_deal_match_account", table_name="deal")
    with op.batch_alter_table("deal") as batch:
        batch.drop_column("account_key")
