"""The stage-2 queue: one pending item per customer, claimed in batches, fenced by a token.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (so replicas never wait on each other)
and ``BEGIN IMMEDIATE`` on SQLite. An item is skipped while another item of the same customer
is being worked on, so one customer is never written by two workers. A claim that outlives
``claim_timeout`` (its worker died) goes back to the queue; so, at once, do the claims of a
holder whose lease is taken over (:func:`release_claims_of`).

Failed items wait with exponential back-off (``not_before``): the daemon's automatic retries.
An operator's explicit run makes them due at once (:func:`retry_now`).
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import bound
from sync_jobs.store.db import write_tx
from sync_jobs.store.sql import insert_ignore

W = t.customer_work


@dataclass(frozen=True)
class WorkItem:
    """A claimed customer: its queue row, target, key, attempts so far and the fencing token."""

    id: int
    target: str
    customer_key: str
    attempts: int
    token: str


async def enqueue(conn: AsyncConnection, target: str, keys: Iterable[str], now: datetime) -> int:
    """Queue customers for stage 2; a customer already waiting is not queued twice."""
    rows = [
        {
            "target": target,
            "customer_key": k,
            "status": "pending",
            "attempts": 0,
            "not_before": now,
            "created_at": now,
            "updated_at": now,
        }
        for k in sorted(set(keys))
    ]
    pending = sa.text("status = 'pending'")  # the partial unique index's predicate
    await insert_ignore(conn, W, rows, ["target", "customer_key"], where=pending)
    return len(rows)


async def _give_back(conn: AsyncConnection, rows: Sequence[Any], now: datetime) -> int:
    """Claimed items back to the queue as they were (attempts kept): merged into a waiting
    item of the same customer, or waiting again."""
    if not rows:
        return 0
    await conn.execute(sa.delete(W).where(W.c.id.in_([r.id for r in rows])))
    by_target: dict[str, list[Any]] = {}
    for row in rows:
        by_target.setdefault(row.target, []).append(row)
    for target, items in by_target.items():
        keys = [r.customer_key for r in items]
        await enqueue(conn, target, keys, now)
        tried = [r for r in items if r.attempts]
        for row in tried:  # keep the failure history the claim carried
            await conn.execute(
                sa.update(W)
                .where(
                    W.c.target == target,
                    W.c.customer_key == row.customer_key,
                    W.c.status == "pending",
                    W.c.attempts < row.attempts,
                )
                .values(attempts=row.attempts, last_error=row.last_error)
            )
    return len(rows)


SWEEPS_PER_TIMEOUT = 10
"""How often, per claim timeout, :func:`claim` looks for stale claims: a dead worker's
customers return to the queue between one and 1.1 claim timeouts after it claimed them.
Looking at every claim (a hundred times for 10,000 customers) bought nothing."""

_SWEPT: weakref.WeakKeyDictionary[AsyncEngine, dict[str, datetime]] = weakref.WeakKeyDictionary()
"""When this process last gave back a target's stale claims, per store."""


def _sweep_due(engine: AsyncEngine, target: str, now: datetime, claim_timeout: timedelta) -> bool:
    last = _SWEPT.get(engine, {}).get(target)
    # A clock that went back (a test's, or a corrected host) sweeps at once, as before.
    return last is None or not last <= now < last + claim_timeout / SWEEPS_PER_TIMEOUT


_CLAIMED = (W.c.id, W.c.target, W.c.customer_key, W.c.attempts, W.c.last_error)


async def requeue_stale(
    conn: AsyncConnection, target: str, now: datetime, claim_timeout: timedelta
) -> None:
    """Give back claims whose worker vanished: merge into a waiting item, or wait again."""
    stale = (
        (W.c.target == target) & (W.c.status == "doing") & (W.c.claimed_at < now - claim_timeout)
    )
    await _give_back(conn, list(await conn.execute(sa.select(*_CLAIMED).where(stale))), now)


async def release_claims_of(conn: AsyncConnection, holder: str, now: datetime) -> int:
    """Give back everything ``holder`` had claimed (it died, or lost its lease): the customers
    are due at once instead of after the claim timeout. Returns how many."""
    claimed = sa.select(*_CLAIMED).where(W.c.status == "doing", W.c.claimed_by == holder)
    return await _give_back(conn, list(await conn.execute(claimed)), now)


async def release(conn: AsyncConnection, items: Sequence[WorkItem], now: datetime) -> None:
    """Give claimed items back untried (no attempt counted): the target could not be asked."""
    if not items:
        return
    rows = await conn.execute(
        sa.select(*_CLAIMED).where(
            W.c.id.in_([i.id for i in items]), W.c.claim_token == items[0].token
        )
    )
    await _give_back(conn, list(rows), now)


async def retry_now(conn: AsyncConnection, target: str, now: datetime) -> int:
    """Make every failed item of ``target`` due now (an operator's explicit run): each is
    tried once in this run; if it fails again its back-off starts over from its attempts."""
    result = await conn.execute(
        sa.update(W)
        .where(W.c.target == target, W.c.status == "pending", W.c.not_before > now)
        .values(not_before=now)
    )
    return int(result.rowcount or 0)


async def claim(
    engine: AsyncEngine,
    target: str,
    limit: int,
    now: datetime,
    claim_timeout: timedelta,
    holder: str | None = None,
) -> list[WorkItem]:
    """Claim up to ``limit`` due customers of one target (commit point C2), the longest due
    first. Ordered as the claim index is (due time, then id), so a claim reads 100 index
    entries, not the whole queue: ordering a backfill's queue of 800,000 by id alone took
    SQLite 190 ms a claim. ``holder`` (the lease holder's id) lets a takeover release them.
    Stale claims are given back first, at most :data:`SWEEPS_PER_TIMEOUT` times a timeout."""
    token = uuid.uuid4().hex
    sweep = _sweep_due(engine, target, now, claim_timeout)
    async with write_tx(engine) as conn:
        if sweep:
            await requeue_stale(conn, target, now, claim_timeout)
        if conn.dialect.name == "sqlite":
            claimed = await _take_sqlite(conn, target, limit, token, now, holder)
        else:
            claimed = await _take(conn, _due(target, limit, now), target, token, now, holder)
    if sweep:  # committed: the next sweep is due a tenth of a timeout from now
        _SWEPT.setdefault(engine, {})[target] = now
    return sorted(claimed, key=lambda w: w.id)


def _due(target: str, limit: int, now: datetime) -> sa.Select[Any]:
    """The ``limit`` longest-due items of ``target`` whose customer nobody is working on."""
    busy = sa.select(W.c.customer_key).where(W.c.target == target, W.c.status == "doing")
    return (
        sa.select(W.c.id)
        .where(
            W.c.target == target,
            W.c.status == "pending",
            W.c.not_before <= now,
            W.c.customer_key.not_in(busy),
        )
        .order_by(W.c.not_before, W.c.id)
        .limit(limit)
    )


_CLAIM_SQLITE = (
    "UPDATE customer_work SET status = 'doing', claim_token = ?, claimed_at = ?, "
    "claimed_by = ?, updated_at = ? "
    "WHERE id IN (SELECT id FROM customer_work WHERE target = ? AND status = 'pending' "
    "AND not_before <= ? AND customer_key NOT IN "
    "(SELECT customer_key FROM customer_work WHERE target = ? AND status = 'doing') "
    "ORDER BY not_before, id LIMIT ?) AND status = 'pending' "
    "RETURNING id, customer_key, attempts"
)
"""What :func:`_due` and :func:`_take` say, as one statement (SQLite: the write lock is
already held, BEGIN IMMEDIATE), its text written once: through SQLAlchemy Core, building and
compiling it cost more than SQLite's work."""


async def _take_sqlite(
    conn: AsyncConnection, target: str, limit: int, token: str, now: datetime, holder: str | None
) -> list[WorkItem]:
    at = bound(W.c.claimed_at, conn.dialect, now)
    params = [token, at, holder, at, target, at, target, limit]
    [outcome] = await hop.run(conn, [hop.Statement(_CLAIM_SQLITE, params, fetch=True)])
    return [WorkItem(i, target, key, attempts, token) for i, key, attempts in outcome.rows]


async def _take(
    conn: AsyncConnection,
    due: sa.Select[Any],
    target: str,
    token: str,
    now: datetime,
    holder: str | None,
) -> list[WorkItem]:
    """Mark the ``due`` items claimed by ``token`` (PostgreSQL)."""
    # Chosen first, then claimed: PostgreSQL does not keep a LIMIT inside the UPDATE's
    # IN (...) with SKIP LOCKED (a test saw it claim the whole queue).
    ids = [r.id for r in await conn.execute(due.with_for_update(skip_locked=True))]
    if not ids:
        return []
    rows = await conn.execute(
        sa.update(W)
        .where(W.c.id.in_(ids), W.c.status == "pending")
        .values(
            status="doing", claim_token=token, claimed_at=now, claimed_by=holder, updated_at=now
        )
        .returning(W.c.id, W.c.customer_key, W.c.attempts)
    )
    return [WorkItem(r.id, target, r.customer_key, r.attempts, token) for r in rows]


async def finish(conn: AsyncConnection, items: Sequence[WorkItem]) -> int:
    """Mark claimed items done, fenced: an item whose claim was taken over is not touched."""
    if not items:
        return 0
    token = items[0].token
    result = await conn.execute(
        sa.delete(W).where(
            W.c.id.in_([i.id for i in items]), W.c.claim_token == token, W.c.status == "doing"
        )
    )
    return int(result.rowcount or 0)


async def fail(
    conn: AsyncConnection, item: WorkItem, error: str, now: datetime, max_attempts: int
) -> bool:
    """Put a failed item back with exponential back-off; park it after ``max_attempts``.

    Returns True when the item was parked (status ``dead``).
    """
    attempts = item.attempts + 1
    dead = attempts >= max_attempts
    delay = timedelta(seconds=min(3600, 30 * 2 ** (attempts - 1)))
    waiting = (
        await conn.execute(
            sa.select(W.c.id).where(
                W.c.target == item.target,  # the pending index: no scan of the whole queue
                W.c.customer_key == item.customer_key,
                W.c.status == "pending",
                W.c.id != item.id,
            )
        )
    ).first()
    if waiting is not None and not dead:
        # A newer change is already queued: fold this attempt into it.
        await conn.execute(
            sa.update(W)
            .where(W.c.id == waiting.id)
            .values(
                attempts=attempts, not_before=now + delay, last_error=error[:2000], updated_at=now
            )
        )
        await conn.execute(sa.delete(W).where(W.c.id == item.id, W.c.claim_token == item.token))
        return False
    await conn.execute(
        sa.update(W)
        .where(W.c.id == item.id, W.c.claim_token == item.token)
        .values(
            status="dead" if dead else "pending",
            attempts=attempts,
            not_before=now + delay,
            last_error=error[:2000],
            claim_token=None,
            claimed_by=None,
            updated_at=now,
        )
    )
    return dead


async def queued_keys(conn: AsyncConnection, target: str) -> list[str]:
    """Customers waiting for stage 2 (for dry runs)."""
    rows = await conn.execute(
        sa.select(W.c.customer_key).where(W.c.target == target, W.c.status == "pending")
    )
    return [r.customer_key for r in rows]


async def pending_count(conn: AsyncConnection, target: str | None = None) -> dict[str, int]:
    """Queue depth by status."""
    query = sa.select(W.c.status, sa.func.count()).group_by(W.c.status)
    if target is not None:
        query = query.where(W.c.target == target)
    return {r[0]: int(r[1]) for r in await conn.execute(query)}


async def failing(
    conn: AsyncConnection,
    target: str | None = None,
    *,
    before: datetime | None = None,
    limit: int | None = None,
) -> list[Any]:
    """Items whose last write failed: waiting to be retried (``pending`` with attempts) or
    parked (``dead``), with the last error and when the next try is due; ``before`` keeps
    those whose last failure is older (a run reports failures it did not see itself)."""
    query = sa.select(W).where(
        sa.or_(W.c.status == "dead", sa.and_(W.c.status == "pending", W.c.attempts > 0))
    )
    if target is not None:
        query = query.where(W.c.target == target)
    if before is not None:
        query = query.where(W.c.updated_at < before)
    return list(await conn.execute(query.order_by(W.c.target, W.c.id).limit(limit)))


async def parked(conn: AsyncConnection) -> list[Any]:
    """Customers parked after repeated failures (``status = dead``), with their last error."""
    return list(await conn.execute(sa.select(W).where(W.c.status == "dead").order_by(W.c.id)))


async def unpark(conn: AsyncConnection, now: datetime, customer_key: str | None = None) -> int:
    """Queue parked customers again (all, or one); a customer already waiting is merged."""
    query = sa.select(W.c.id, W.c.target, W.c.customer_key).where(W.c.status == "dead")
    if customer_key is not None:
        query = query.where(W.c.customer_key == customer_key)
    rows = list(await conn.execute(query))
    if rows:
        await conn.execute(sa.delete(W).where(W.c.id.in_([r.id for r in rows])))
        for row in rows:
            await enqueue(conn, row.target, [row.customer_key], now)
    return len(rows)


async def counts_by_status(conn: AsyncConnection) -> dict[str, int]:
    """Work items by status, every target together (the metrics' queue gauge)."""
    rows = await conn.execute(
        sa.select(t.customer_work.c.status, sa.func.count()).group_by(t.customer_work.c.status)
    )
    return {r[0]: int(r[1]) for r in rows}
