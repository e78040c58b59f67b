"""A stage-2 batch's state: what planning reads, and what commit point C3 writes, each in one
trip to the driver (:mod:`sync_jobs.store.hop`).

Planning a batch of customers needs their deals, the merge bases, the records' names, the
resolved conflicts on them and the decisions on their out-of-policy deals; C3 marks their work
done (fenced by the claim token), records the new bases, note states and audit rows, and
closes the plan conflicts no longer found. Through SQLAlchemy Core that was about a dozen
statements, each compiled and sent on its own; here the statement texts are written once per
dialect (SQLite's ``IN (?, ...)``, PostgreSQL's ``= ANY(%s)``) and every statement of a read
or of a commit goes in one hop. The rows read come back as SQLAlchemy would return them
(:mod:`sync_jobs.store.decode`); the rows written are prepared as :mod:`sync_jobs.store.bulk`
prepares them. Each lookup names the batch's customers (or records, or ids), so an index
on them serves it (``tests/unit/store/test_lookup_plans.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.audit import AuditEntry, audit_columns
from sync_jobs.store.bases import Base, base_columns, note_columns
from sync_jobs.store.bulk import Same, bound, prepared_columns
from sync_jobs.store.deals import Later, StoredDeal
from sync_jobs.store.decode import NamedDecode, decoder, named_decoder, processor
from sync_jobs.store.driver_sql import DriverSql
from sync_jobs.store.sql import chunks
from sync_jobs.store.work import WorkItem

_DEAL_COLUMNS = [c for c in t.deal.columns if c.name != "terms"]
_DEAL_LATER = ("lookup_at", "live", "valid_until", "deleted", "updated_at")
"""Deal columns planning never reads: decoded only when read, which is when a moved deal's
row is written back (:class:`~sync_jobs.store.deals.StoredDeal`)."""
_BASE_COLUMNS = [t.field_base.c.customer_key, t.field_base.c.field, t.field_base.c.value]
_NAME_COLUMNS = [t.identity.c.kind, t.identity.c.record_id, t.identity.c.name]
_RESOLVED_COLUMNS = [
    t.conflict.c.id,
    t.conflict.c.kind,
    t.conflict.c.customer_key,
    t.conflict.c.field,
    t.conflict.c.resolution,
]
_DECISION_COLUMNS = [t.conflict.c.identity, t.conflict.c.status, t.conflict.c.resolution]


@dataclass(frozen=True)
class ResolvedConflict:
    """A resolved conflict on one of the batch's customers (the planner applies it)."""

    id: int
    kind: str
    customer_key: str | None
    field: str | None
    resolution: Any


@dataclass(frozen=True)
class BatchState:
    """What planning a batch of customers reads from the store."""

    deals: list[StoredDeal]
    """Every stored deal with terms, not deleted, attached to the customers (all jobs)."""
    bases: dict[str, dict[str, Any]]
    """What dealbridge last wrote, by customer and field (the three-way compare's base)."""
    names: dict[str, str]
    """The records' display names from the identity index, by customer key."""
    resolved: list[ResolvedConflict]
    decisions: dict[str, dict[str, Any]]
    """Decisions on the deals' out-of-policy conflicts, by ``job/deal``."""


def _deals_statement(sql: DriverSql, target: str, keys: Sequence[str]) -> hop.Statement:
    terms = '"terms"' if sql.sqlite else 'CAST("terms" AS TEXT)'
    text = (
        f"SELECT {sql.names(_DEAL_COLUMNS)}, {terms} FROM {sql.table(t.deal)} "  # noqa: S608
        f"WHERE target = {sql.mark} AND {sql.among('customer_key', len(keys))} "
        "AND terms IS NOT NULL AND NOT deleted"
    )
    return hop.Statement(text, [target, *sql.values(keys)], fetch=True)


def _decisions_statement(sql: DriverSql, target: str, keys: Sequence[str]) -> hop.Statement:
    """The out-of-policy conflicts of the deals :func:`_deals_statement` reads, by identity
    (``out_of_policy|target|-|-|job/deal``). Their status is filtered after the read: beside
    it, SQLite's planner (without statistics) would rather read every conflict of that
    status than use the identity index."""
    prefix = sql.mark if sql.sqlite else f"{sql.mark}::text"
    text = (
        f"SELECT {sql.names(_DECISION_COLUMNS)} FROM {sql.table(t.conflict)} "  # noqa: S608
        f"WHERE identity IN (SELECT {prefix} || job || '/' || deal_id FROM {sql.table(t.deal)} "
        f"WHERE target = {sql.mark} AND {sql.among('customer_key', len(keys))} "
        "AND terms IS NOT NULL AND NOT deleted)"
    )
    params = [f"out_of_policy|{target}|-|-|", target, *sql.values(keys)]
    return hop.Statement(text, params, fetch=True)


def _by_customer(
    sql: DriverSql,
    table: sa.Table,
    columns: Sequence[sa.Column[Any]],
    target: str,
    keys: Sequence[str],
) -> hop.Statement:
    text = (
        f"SELECT {sql.names(columns)} FROM {sql.table(table)} "  # noqa: S608
        f"WHERE target = {sql.mark} AND {sql.among('customer_key', len(keys))}"
    )
    return hop.Statement(text, [target, *sql.values(keys)], fetch=True)


def _names_statements(sql: DriverSql, target: str, keys: Sequence[str]) -> list[hop.Statement]:
    """Records by kind and id (``kind:id`` keys, as ``RecordRef.from_key`` splits them)."""
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, _, record_id in (k.partition(":") for k in keys):
        by_kind[kind].append(record_id)
    statements = []
    for kind, ids in by_kind.items():
        text = (
            f"SELECT {sql.names(_NAME_COLUMNS)} FROM {sql.table(t.identity)} "  # noqa: S608
            f"WHERE target = {sql.mark} AND kind = {sql.mark} "
            f"AND {sql.among('record_id', len(ids))}"
        )
        statements.append(hop.Statement(text, [target, kind, *sql.values(ids)], fetch=True))
    return statements


async def load(conn: AsyncConnection, target: str, keys: Sequence[str]) -> BatchState:
    """Everything planning these customers reads, in one hop (per 500 customers)."""
    dialect = conn.dialect
    sql = DriverSql(dialect)
    state = BatchState([], defaultdict(dict), {}, [], {})
    for part in chunks(list(keys)):
        resolved = _by_customer(sql, t.conflict, _RESOLVED_COLUMNS, target, part)
        resolved = hop.Statement(
            resolved.sql + f" AND status = {sql.mark}", [*resolved.params, "resolved"], fetch=True
        )
        names = _names_statements(sql, target, part)
        outcomes = await hop.run(
            conn,
            [
                _deals_statement(sql, target, part),
                _by_customer(sql, t.field_base, _BASE_COLUMNS, target, part),
                resolved,
                _decisions_statement(sql, target, part),
                *names,
            ],
        )
        _take(dialect, state, outcomes)
    return state


@dataclass(frozen=True)
class _DealReader:
    """How a deal row of :func:`_deals_statement` becomes a :class:`StoredDeal` on a dialect:
    the columns planning reads decoded at once, the rest (:data:`_DEAL_LATER`) when read."""

    pick: Callable[[Sequence[Any]], tuple[Any, ...]]
    """The row's values of the columns decoded at once."""
    decode: NamedDecode
    """Those values by column name, as SQLAlchemy would give them."""
    later: Later


_READERS: dict[str, _DealReader] = {}


def _deal_reader(dialect: Dialect) -> _DealReader:
    found = _READERS.get(dialect.name)
    if found is None:
        now = [i for i, c in enumerate(_DEAL_COLUMNS) if c.name not in _DEAL_LATER]
        columns = [_DEAL_COLUMNS[i] for i in now]
        found = _READERS[dialect.name] = _DealReader(
            pick=itemgetter(*now),
            decode=named_decoder(dialect, columns),
            later={
                c.name: (i, processor(c, dialect))
                for i, c in enumerate(_DEAL_COLUMNS)
                if c.name in _DEAL_LATER
            },
        )
    return found


def _take(dialect: Dialect, state: BatchState, outcomes: Sequence[hop.Outcome]) -> None:
    deals, bases, resolved, decisions, *names = outcomes
    reader = _deal_reader(dialect)
    pick, by_name, later = reader.pick, reader.decode, reader.later
    for row in deals.rows:
        values = by_name(pick(row))
        values["terms_text"] = row[-1]
        state.deals.append(StoredDeal(values, later, row))
    decode = decoder(dialect, _BASE_COLUMNS)
    for row in bases.rows:
        key, name, value = decode(row)
        state.bases[key][name] = value
    decode = decoder(dialect, _RESOLVED_COLUMNS)
    state.resolved.extend(ResolvedConflict(*decode(row)) for row in resolved.rows)
    decode = decoder(dialect, _DECISION_COLUMNS)
    for row in decisions.rows:
        identity, status, resolution = decode(row)
        if status == "resolved" and resolution:
            state.decisions[identity.rsplit("|", 1)[1]] = resolution
    for outcome in names:
        state.names.update((f"{kind}:{rid}", name or "") for kind, rid, name in outcome.rows)


@dataclass
class Commit:
    """What C3 records for a batch (each list may be empty)."""

    done: Sequence[WorkItem]
    """Claimed items to mark done, all under one claim token."""
    bases: list[Base] = field(default_factory=list)
    """(customer, field, value): the values the target now holds for fields we own."""
    drops: list[tuple[str, str]] = field(default_factory=list)
    """(customer, field) bases to forget."""
    notes: list[tuple[str, str, int]] = field(default_factory=list)
    """(customer, note text, live deals) for each note written."""
    audit: list[AuditEntry] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    """Customers planned: their open conflicts of ``kinds`` not in ``still_open`` close."""
    kinds: Sequence[str] = ()
    still_open: Sequence[str] = ()


@dataclass(frozen=True)
class Recorded:
    """What :func:`record` did."""

    fenced: bool
    """False: a claim was taken over, so nothing was recorded (roll the transaction back)."""
    closed: list[int]
    """Ids of the conflicts closed (their closing alerts are due)."""


async def record(
    conn: AsyncConnection,
    target: str,
    commit: Commit,
    *,
    now: datetime,
    run_id: str | None,
    actor: str,
) -> Recorded:
    """Record a batch's C3 in one hop: the work items first, fenced by their claim token (if
    any was taken over, nothing after it runs and ``fenced`` is False), then bases, note
    states and audit rows, then the conflicts closed."""
    dialect = conn.dialect
    sql = DriverSql(dialect)
    statements: list[hop.Statement] = []
    if commit.done:
        statements.append(_finish(sql, commit.done))
    if commit.bases:
        columns = base_columns(target, commit.bases, now, run_id)
        statements.append(_upsert(dialect, t.field_base, columns, ["customer_key", "field"]))
    if commit.notes:
        columns = note_columns(target, commit.notes, now)
        statements.append(_upsert(dialect, t.note_state, columns, ["customer_key"]))
    if commit.drops:
        text = (
            f"DELETE FROM {sql.table(t.field_base)} WHERE target = {sql.mark} "  # noqa: S608
            f"AND customer_key = {sql.mark} AND field = {sql.mark}"
        )
        params = [(target, key, name) for key, name in commit.drops]
        statements.append(hop.Statement(text, params, many=True))
    if commit.audit:
        columns = audit_columns(target, run_id, actor, commit.audit, now)
        text, values = prepared_columns(dialect, t.audit, columns)
        statements.append(hop.Statement(text, values, many=True))
    closing = len(statements)
    statements += _close(sql, dialect, target, commit, now)
    outcomes = await hop.run(conn, statements)
    if len(outcomes) < len(statements):
        return Recorded(fenced=False, closed=[])
    closed = [int(row[0]) for outcome in outcomes[closing:] for row in outcome.rows]
    return Recorded(fenced=True, closed=closed)


def _upsert(
    dialect: Dialect, table: sa.Table, columns: dict[str, Sequence[Any] | Same], keys: list[str]
) -> hop.Statement:
    """Insert the rows, or update every column but the target and ``keys`` of a row there."""
    update = [c for c in columns if c not in ("target", *keys)]
    text, values = prepared_columns(dialect, table, columns, keys=["target", *keys], update=update)
    return hop.Statement(text, values, many=True)


def _finish(sql: DriverSql, done: Sequence[WorkItem]) -> hop.Statement:
    """Delete the items done, fenced: one whose claim was taken over is not touched."""
    text = (
        f"DELETE FROM {sql.table(t.customer_work)} "  # noqa: S608
        f"WHERE {sql.among('id', len(done), 'integer')} AND claim_token = {sql.mark} "
        "AND status = 'doing'"
    )
    ids = [i.id for i in done]
    return hop.Statement(text, [*sql.values(ids), done[0].token], expect=len(done))


def _close(
    sql: DriverSql, dialect: Dialect, target: str, commit: Commit, now: datetime
) -> list[hop.Statement]:
    """Close the open conflicts of ``kinds`` on the settled customers that were not found."""
    if not commit.settled:
        return []
    seen = bound(t.conflict.c.last_seen, dialect, now)
    kinds, still_open = list(commit.kinds), list(commit.still_open)
    head = (
        f"UPDATE {sql.table(t.conflict)} SET status = 'superseded', "  # noqa: S608
        f"last_seen = {sql.mark} WHERE target = {sql.mark} AND status = 'open' "
        f"AND {sql.among('kind', len(kinds))}"
    )
    if still_open:
        if sql.sqlite:
            head += f" AND identity NOT IN ({', '.join('?' * len(still_open))})"
        else:
            head += f" AND NOT (identity = ANY({sql.mark}::text[]))"
    statements = []
    for part in chunks(commit.settled, 200):
        text = f"{head} AND {sql.among('customer_key', len(part))} RETURNING id"
        params = [
            seen,
            target,
            *sql.values(kinds),
            *(sql.values(still_open) if still_open else ()),
            *sql.values(part),
        ]
        statements.append(hop.Statement(text, params, fetch=True))
    return statements
