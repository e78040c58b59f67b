"""Read-only queries behind the console's pages, each bounded by an index and a LIMIT so a
page costs the same with a hundred deals or a hundred thousand (bench/console_pages.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import audit
from sync_jobs.store import tables as t
from sync_jobs.store.audit import AuditLine

RUNS_CHARTED = 50
PAGE_ROWS = 200


async def recent_runs(conn: AsyncConnection, job: str, limit: int = RUNS_CHARTED) -> list[Any]:
    """A job's newest runs first (ix_sync_run_job)."""
    r = t.sync_run
    query = sa.select(r).where(r.c.job == job).order_by(r.c.started_at.desc()).limit(limit)
    return list(await conn.execute(query))


async def cursor_times(conn: AsyncConnection) -> dict[str, Any]:
    """When each job's source cursor last moved (its freshness)."""
    c = t.source_cursor.c
    return {row.job: row.updated_at for row in await conn.execute(sa.select(c.job, c.updated_at))}


async def failing_deals(conn: AsyncConnection, job: str) -> int:
    """Deals of a job that fail to map (the partial index ix_deal_failing holds only those)."""
    d = t.deal
    found = await conn.scalar(
        sa.select(sa.func.count()).select_from(d).where(d.c.job == job, d.c.error.is_not(None))
    )
    return int(found or 0)


async def work_by_target(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    """(target, status) -> customers in the write queue (``dead``: quarantined)."""
    w = t.customer_work
    rows = await conn.execute(
        sa.select(w.c.target, w.c.status, sa.func.count()).group_by(w.c.target, w.c.status)
    )
    return {(row[0], row[1]): int(row[2]) for row in rows}


async def open_conflicts_by_target(conn: AsyncConnection) -> dict[str, int]:
    """Open conflicts per target (ix_conflict_status)."""
    c = t.conflict
    rows = await conn.execute(
        sa.select(c.c.target, sa.func.count()).where(c.c.status == "open").group_by(c.c.target)
    )
    return {row[0]: int(row[1]) for row in rows}


async def outbox_by_status(conn: AsyncConnection) -> dict[str, int]:
    """Alerts in the outbox per status (pending, sent, dead)."""
    o = t.outbox
    rows = await conn.execute(sa.select(o.c.status, sa.func.count()).group_by(o.c.status))
    return {row[0]: int(row[1]) for row in rows}


def _of_jobs(jobs: Sequence[str]) -> sa.ColumnElement[bool]:
    """A conflict belongs to these jobs when it is about one of their deals, or about a
    customer one of their deals is linked to (found through ix_deal_target_customer)."""
    c, d = t.conflict, t.deal
    linked = (
        sa.select(d.c.deal_id)
        .where(
            d.c.target == c.c.target,
            d.c.customer_key == c.c.customer_key,
            d.c.job.in_(list(jobs)),
        )
        .exists()
    )
    about_deal = sa.or_(sa.false(), *(c.c.identity.like(f"%|{job}/%") for job in jobs))
    return sa.or_(about_deal, linked)


async def open_conflicts_per_job(conn: AsyncConnection) -> dict[str, int]:
    """Open conflicts per job: those about a customer one of the job's deals is linked to (one
    join through ix_deal_target_customer), plus those about one of its deals (their identity
    ends in ``|job/deal``; few, and read whole)."""
    c, d = t.conflict, t.deal
    by_customer = await conn.execute(
        sa.select(d.c.job, sa.func.count(sa.distinct(c.c.id)))
        .select_from(
            c.join(d, sa.and_(d.c.target == c.c.target, d.c.customer_key == c.c.customer_key))
        )
        .where(c.c.status == "open")
        .group_by(d.c.job)
    )
    found = {row[0]: int(row[1]) for row in by_customer}
    about_deals = await conn.execute(
        sa.select(c.c.identity).where(c.c.status == "open", c.c.customer_key.is_(None))
    )
    for (identity,) in about_deals:
        job = str(identity).rsplit("|", 1)[-1].partition("/")[0]
        found[job] = found.get(job, 0) + 1
    return found


async def conflicts_page(
    conn: AsyncConnection,
    *,
    status: str | None,
    kind: str | None,
    territory_jobs: Sequence[str] | None,
    limit: int = PAGE_ROWS,
) -> list[Any]:
    """Conflicts newest first, filtered; ``territory_jobs``: the jobs of one territory."""
    c = t.conflict
    query = sa.select(c).order_by(c.c.last_seen.desc(), c.c.id.desc()).limit(limit)
    if status:
        query = query.where(c.c.status == status)
    if kind:
        query = query.where(c.c.kind == kind)
    if territory_jobs is not None:
        query = query.where(_of_jobs(territory_jobs))
    return list(await conn.execute(query))


async def conflict(conn: AsyncConnection, conflict_id: int) -> Any:
    """One conflict row, or None."""
    c = t.conflict
    return (await conn.execute(sa.select(c).where(c.c.id == conflict_id))).first()


async def conflict_kinds(conn: AsyncConnection) -> list[str]:
    """Kinds of conflict the store holds (for the filter)."""
    c = t.conflict
    return [row[0] for row in await conn.execute(sa.select(c.c.kind).distinct())]


async def deals_of_customer(conn: AsyncConnection, target: str, customer_key: str) -> list[Any]:
    """Every deal linked to one customer, live or not (ix_deal_target_customer)."""
    d = t.deal
    query = (
        sa.select(d)
        .where(d.c.target == target, d.c.customer_key == customer_key)
        .order_by(d.c.job, d.c.deal_id)
        .limit(PAGE_ROWS)
    )
    return list(await conn.execute(query))


async def deal_rows(conn: AsyncConnection, deal_id: str) -> list[Any]:
    """A deal by id in every job (the primary key's second column: a few rows at most)."""
    d = t.deal
    return list(await conn.execute(sa.select(d).where(d.c.deal_id == deal_id).limit(20)))


async def owned_fields(conn: AsyncConnection, target: str, customer_key: str) -> list[Any]:
    """The fields dealbridge wrote on a customer and the value it wrote."""
    b = t.field_base
    query = (
        sa.select(b)
        .where(b.c.target == target, b.c.customer_key == customer_key)
        .order_by(b.c.field)
    )
    return list(await conn.execute(query))


async def customer_audit(conn: AsyncConnection, target: str, customer_key: str) -> list[AuditLine]:
    """A customer's audit trail, one line a field change, newest first (ix_audit_customer):
    the newest rows, each row's changes last made first, up to a page of lines."""
    a = t.audit
    query = (
        sa.select(a)
        .where(a.c.target == target, a.c.customer_key == customer_key)
        .order_by(a.c.id.desc())
        .limit(PAGE_ROWS)  # a row holds one line at least
    )
    rows = await conn.execute(query)
    return [line for row in rows for line in reversed(audit.unfold([row]))][:PAGE_ROWS]


async def customer_conflicts(conn: AsyncConnection, target: str, customer_key: str) -> list[Any]:
    """A customer's conflicts, newest first (ix_conflict_customer)."""
    c = t.conflict
    query = (
        sa.select(c)
        .where(c.c.target == target, c.c.customer_key == customer_key)
        .order_by(c.c.id.desc())
        .limit(PAGE_ROWS)
    )
    return list(await conn.execute(query))


async def identity_of(conn: AsyncConnection, target: str, customer_key: str) -> Any:
    """The desk record behind a customer key (kind:id), as the identity index knows it."""
    i = t.identity
    kind, _, record_id = customer_key.partition(":")
    query = sa.select(i).where(i.c.target == target, i.c.kind == kind, i.c.record_id == record_id)
    return (await conn.execute(query)).first()


async def find_customers(conn: AsyncConnection, text: str, limit: int = 50) -> list[Any]:
    """Desk records whose name holds ``text``, or that carry it as an external id / key."""
    i, k = t.identity, t.identity_key
    by_key = sa.select(k.c.target, k.c.kind, k.c.record_id).where(k.c.value == text)
    keyed = list(await conn.execute(by_key.limit(limit)))
    pattern = f"%{text.lower()}%"
    named = list(
        await conn.execute(
            sa.select(i.c.target, i.c.kind, i.c.record_id)
            .where(sa.func.lower(i.c.name).like(pattern))
            .limit(limit)
        )
    )
    refs = list(dict.fromkeys((r.target, r.kind, r.record_id) for r in keyed + named))[:limit]
    if not refs:
        return []
    found = []
    for target, kind, record_id in refs:
        row = (
            await conn.execute(
                sa.select(i).where(
                    i.c.target == target, i.c.kind == kind, i.c.record_id == record_id
                )
            )
        ).first()
        if row is not None:
            found.append(row)
    return found


async def outbox_page(
    conn: AsyncConnection, status: str | None, limit: int = PAGE_ROWS
) -> list[Any]:
    """The alert outbox newest first (one status, when given)."""
    o = t.outbox
    query = sa.select(o).order_by(o.c.id.desc()).limit(limit)
    if status:
        query = query.where(o.c.status == status)
    return list(await conn.execute(query))


async def run(conn: AsyncConnection, run_id: str) -> Any:
    """One run row, or None."""
    r = t.sync_run
    return (await conn.execute(sa.select(r).where(r.c.id == run_id))).first()
