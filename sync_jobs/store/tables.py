"""Every table dealbridge keeps, identical on SQLite and PostgreSQL.

The schema follows the two-stage flow: stage 1 writes ``deal`` rows, ``customer_work`` items
and the ``source_cursor`` in one transaction; stage 2 claims work, writes the target, then
records ``field_base``, ``note_state``, ``conflict`` and ``audit`` rows and marks work done.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both backends (SQLite would otherwise hand back naive ones)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; use UTC-aware values")
        return value.astimezone(UTC)

    def process_result_value(
        self,
        value: Any,
        dialect: Dialect,  # noqa: ARG002 - SQLAlchemy's signature
    ) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

CLUSTERED: dict[str, Any] = {"sqlite_with_rowid": False}
"""SQLite keeps these tables' rows in their primary key's B-tree (``WITHOUT ROWID``, migration
0010). A table with a composite primary key is otherwise two B-trees, the rows by rowid and
the key's index, and every row written (several a deal: its field bases, note state, identity
row and keys) is written into both. Only for small rows keyed by text, as SQLite's
documentation advises; PostgreSQL ignores it."""

source_cursor = sa.Table(
    "source_cursor",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

target_cursor = sa.Table(
    "target_cursor",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("cursor", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

deal = sa.Table(
    "deal",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("deal_id", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("territory", sa.String(200), nullable=False),
    sa.Column("customer_key", sa.String(300), nullable=True),
    sa.Column("match_status", sa.String(20), nullable=False),
    sa.Column("match_detail", sa.JSON, nullable=True),
    # When the deal's customer was last looked up at the desk (NULL: never, or since its link
    # was dropped): deals still unmatched are looked up once, then left to the index refresh.
    sa.Column("lookup_at", UTCDateTime, nullable=True),
    sa.Column("terms", sa.JSON, nullable=True),
    sa.Column("violations", sa.JSON, nullable=True),
    sa.Column("payload_hash", sa.String(64), nullable=False),
    sa.Column("live", sa.Boolean, nullable=False),
    sa.Column("valid_until", sa.Date, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("modified_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # A digest of the identity key the deal's account is matched by first (empty: stored
    # before migration 0009, or no terms): deals of one account land on one customer.
    sa.Column("account_key", sa.String(64), nullable=False, default="", server_default=""),
)
# The match pass pages through a job's undecided deals by account, then id (migration 0009):
# a page holds every deal of its accounts, so their customers can be written once it commits.
sa.Index(
    "ix_deal_match_account",
    deal.c.target,
    deal.c.match_status,
    deal.c.job,
    deal.c.account_key,
    deal.c.deal_id,
)
# Stage 2 loads a batch's deals by customer; target first, so the planner never prefers the
# expiry index (which would read every deal of the target for each batch).
sa.Index("ix_deal_target_customer", deal.c.target, deal.c.customer_key)
# Every run asks which live terms expired since: without this, a scan of the whole book.
sa.Index("ix_deal_expiry", deal.c.target, deal.c.live, deal.c.valid_until)
# Every run lists its job's deals that still fail to map: the few, not the whole book.
sa.Index(
    "ix_deal_failing",
    deal.c.job,
    sqlite_where=deal.c.error.is_not(None),
    postgresql_where=deal.c.error.is_not(None),
)

identity = sa.Table(
    "identity",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(50), primary_key=True),
    sa.Column("record_id", sa.String(100), primary_key=True),
    sa.Column("name", sa.Text, nullable=True),
    sa.Column("keys", sa.JSON, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    **CLUSTERED,
)

identity_key = sa.Table(
    "identity_key",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("match", sa.String(20), primary_key=True),
    sa.Column("value", sa.String(320), primary_key=True),
    sa.Column("kind", sa.String(50), primary_key=True),
    sa.Column("record_id", sa.String(100), primary_key=True),
    **CLUSTERED,
)
# Re-indexing a record replaces its keys: found by record, not by key value.
sa.Index(
    "ix_identity_key_record", identity_key.c.target, identity_key.c.kind, identity_key.c.record_id
)

customer_work = sa.Table(
    "customer_work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("customer_key", sa.String(300), nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("not_before", UTCDateTime, nullable=False),
    sa.Column("claim_token", sa.String(64), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("claimed_by", sa.String(200), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)
# At most one waiting item per customer (repeated changes coalesce), as procrastinate does.
sa.Index(
    "uq_customer_work_pending",
    customer_work.c.target,
    customer_work.c.customer_key,
    unique=True,
    sqlite_where=customer_work.c.status == "pending",
    postgresql_where=customer_work.c.status == "pending",
)
sa.Index(
    "ix_customer_work_claim",
    customer_work.c.target,
    customer_work.c.status,
    customer_work.c.not_before,
)
# A dead holder's claims are released at takeover: found among the few items in hand.
sa.Index(
    "ix_customer_work_claimed_by",
    customer_work.c.claimed_by,
    sqlite_where=customer_work.c.status == "doing",
    postgresql_where=customer_work.c.status == "doing",
)

field_base = sa.Table(
    "field_base",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("customer_key", sa.String(300), primary_key=True),
    sa.Column("field", sa.String(300), primary_key=True),
    sa.Column("value", sa.JSON, nullable=True),
    sa.Column("written_at", UTCDateTime, nullable=False),
    sa.Column("run_id", sa.String(64), nullable=True),
    **CLUSTERED,
)

note_state = sa.Table(
    "note_state",
    metadata,
    sa.Column("target", sa.String(200), primary_key=True),
    sa.Column("customer_key", sa.String(300), primary_key=True),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("deals", sa.Integer, nullable=False),
    sa.Column("written_at", UTCDateTime, nullable=False),
    **CLUSTERED,
)

conflict = sa.Table(
    "conflict",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("identity", sa.String(600), nullable=False, unique=True),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("customer_key", sa.String(300), nullable=True),
    sa.Column("field", sa.String(300), nullable=True),
    sa.Column("details", sa.JSON, nullable=False),
    sa.Column("details_hash", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("status", sa.String(12), nullable=False),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("resolution", sa.JSON, nullable=True),
)
sa.Index("ix_conflict_status", conflict.c.status, conflict.c.kind)
# Status last: with it, the planner prefers this to ix_conflict_status (a desk's history of
# resolved conflicts grows without bound; a batch's customers do not).
sa.Index("ix_conflict_customer", conflict.c.target, conflict.c.customer_key, conflict.c.status)

sync_run = sa.Table(
    "sync_run",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("replica", sa.String(200), nullable=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sa.Column("errors", sa.JSON, nullable=False),
    sa.Column("notices", sa.JSON, nullable=False),
)
sa.Index("ix_sync_run_job", sync_run.c.job, sync_run.c.started_at)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.String(64), nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("customer_key", sa.String(300), nullable=False),
    sa.Column("changes", sa.JSON, nullable=False),
)
"""One row per customer written (or decision recorded): ``changes`` lists each field's
change in the order made, ``{"field", "old", "new", "reason"}`` (:mod:`sync_jobs.store.audit`
reads them back one line a field). One row, not one a field: a C3 wrote four a deal."""
sa.Index("ix_audit_customer", audit.c.target, audit.c.customer_key)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("alert_key", sa.String(600), nullable=False),
    sa.Column("thread", sa.String(600), nullable=False),
    sa.Column("channel", sa.String(200), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("claim_token", sa.String(64), nullable=True),
    sa.Column("claimed_at", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("reference", sa.String(300), nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("alert_key", "channel", name="uq_outbox_alert_channel"),
)
sa.Index("ix_outbox_due", outbox.c.status, outbox.c.next_attempt_at)
sa.Index("ix_outbox_thread", outbox.c.thread, outbox.c.channel)

lease = sa.Table(
    "lease",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=True),
    sa.Column("epoch", sa.Integer, nullable=False, default=0),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("config_hash", sa.String(64), nullable=True),
    # The holder's process, so one on the same host can tell at once that it died.
    sa.Column("host", sa.String(200), nullable=True),
    sa.Column("host_key", sa.String(200), nullable=True),
    sa.Column("pid", sa.Integer, nullable=True),
    sa.Column("pid_started", sa.String(40), nullable=True),
    sa.Column("renewed_at", UTCDateTime, nullable=True),
)

budget_hold = sa.Table(
    "budget_hold",
    metadata,
    # A connector whose vendor budget for a long period (a day) is spent: no job that uses
    # it runs before ``until``. ``since`` marks the episode (one alert for all of it).
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("until", UTCDateTime, nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)

field_catalog = sa.Table(
    "field_catalog",
    metadata,
    # The last field catalog fetched from a target (by ``validate`` or a run), so that
    # ``validate --offline`` and the daemon's reload can check write fields without a request.
    sa.Column("connector", sa.String(200), primary_key=True),
    sa.Column("identity", sa.String(64), nullable=False),
    sa.Column("fields", sa.JSON, nullable=False),
    sa.Column("fetched_at", UTCDateTime, nullable=False),
)

# The web console (sync_jobs/app/web): its people, their failed sign-ins, what they changed,
# and the key that signs their session cookies (kept here so every replica shares it).
console_user = sa.Table(
    "console_user",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Sessions signed before this moment are void (set when the password changes).
    sa.Column("sessions_after", UTCDateTime, nullable=False),
)

console_login_failure = sa.Table(
    "console_login_failure",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("address", sa.String(100), nullable=False),
)
# Throttling counts the recent failures of one account, and of one address.
sa.Index(
    "ix_console_login_failure_account", console_login_failure.c.account, console_login_failure.c.at
)
sa.Index(
    "ix_console_login_failure_address", console_login_failure.c.address, console_login_failure.c.at
)

console_audit = sa.Table(
    "console_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("subject", sa.String(600), nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),
)
sa.Index("ix_console_audit_at", console_audit.c.at)

console_secret = sa.Table(
    "console_secret",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
