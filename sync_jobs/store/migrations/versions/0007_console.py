"""the web console: users, failed sign-ins (throttling), its audit trail, its signing key

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 06:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import sync_jobs.store.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UTC = sync_jobs.store.tables.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "console_user",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("sessions_after", UTC(timezone=True), nullable=False),
    )
    op.create_table(
        "console_login_failure",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("account", sa.String(200), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
    )
    op.create_index(
        "ix_console_login_failure_account", "console_login_failure", ["account", "at"]
    )
    op.create_index(
        "ix_console_login_failure_address", "console_login_failure", ["address", "at"]
    )
    op.create_table(
        "console_audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("subject", sa.String(600), nullable=False),
        sa.Column("detail", sa.JSON, nullable=True),
    )
    op.create_index("ix_console_audit_at", "console_audit", ["at"])
    op.create_table(
        "console_secret",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("console_secret")
    op.drop_index("ix_console_audit_at", "console_audit")
    op.drop_table("console_audit")
    op.drop_index("ix_console_login_failure_address", "console_login_failure")
    op.drop_index("ix_console_login_failure_account", "console_login_failure")
    op.drop_table("console_login_failure")
    op.drop_table("console_user")
