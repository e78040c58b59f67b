"""The alert outbox table: queue, claim, thread references and delivery outcomes, and what
status, metrics and ``alerts outbox`` show of it.

Rows are claimed with a token so that two dispatchers (replicas) never send the same row, and
a claim older than ``claim_timeout`` (a dispatcher that died mid-send) is taken over. Every
outcome is written only by the claim that sent it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.sql import insert_ignore

OUT = t.outbox


@dataclass(frozen=True)
class Queued:
    """One claimed outbox row: an alert for one channel."""

    id: int
    alert_key: str
    thread: str
    channel: str
    payload: Mapping[str, Any]
    attempts: int
    claim_token: str


async def queue(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add pending rows in the caller's transaction; an (alert key, channel) already queued is
    left as it is, which is what makes a repeated alert a no-op."""
    await insert_ignore(conn, OUT, [dict(r) for r in rows], ["alert_key", "channel"])


async def conflicts(conn: AsyncConnection, ids: Sequence[int]) -> list[Any]:
    """The conflict rows whose alerts are being queued (same transaction)."""
    return list(await conn.execute(sa.select(t.conflict).where(t.conflict.c.id.in_(list(ids)))))


async def claim_due(
    store: AsyncEngine, now: datetime, limit: int, claim_timeout: timedelta
) -> list[Queued]:
    """Claim up to ``limit`` rows that are due, or whose claim was abandoned, oldest first."""
    token = uuid.uuid4().hex
    due = (
        sa.select(OUT.c.id)
        .where(
            sa.or_(
                sa.and_(OUT.c.status == "pending", OUT.c.next_attempt_at <= now),
                sa.and_(OUT.c.status == "sending", OUT.c.claimed_at < now - claim_timeout),
            )
        )
        .order_by(OUT.c.id)
        .limit(limit)
    )
    async with write_tx(store) as conn:
        if conn.dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = [r.id for r in await conn.execute(due)]
        if not ids:
            return []
        await conn.execute(
            sa.update(OUT)
            .where(OUT.c.id.in_(ids))
            .values(status="sending", claim_token=token, claimed_at=now)
        )
        rows = await conn.execute(sa.select(OUT).where(OUT.c.id.in_(ids)).order_by(OUT.c.id))
        return [
            Queued(
                id=r.id,
                alert_key=r.alert_key,
                thread=r.thread,
                channel=r.channel,
                payload=r.payload,
                attempts=r.attempts,
                claim_token=token,
            )
            for r in rows
        ]


async def thread_reference(store: AsyncEngine, thread: str, channel: str) -> str | None:
    """The receiver's reference of the thread's latest delivery on ``channel`` (a desk may
    have opened a replacement ticket, so the newest one counts)."""
    async with read_tx(store) as conn:
        found = await conn.execute(
            sa.select(OUT.c.reference)
            .where(
                OUT.c.thread == thread,
                OUT.c.channel == channel,
                OUT.c.status == "sent",
                OUT.c.reference.is_not(None),
            )
            .order_by(OUT.c.id.desc())
            .limit(1)
        )
        reference = found.scalar()
    return None if reference is None else str(reference)


async def mark_sent(store: AsyncEngine, row: Queued, reference: str | None, now: datetime) -> None:
    """Delivered: keep the receiver's reference for the thread's next messages."""
    await _finish(
        store,
        row,
        status="sent",
        sent_at=now,
        reference=reference,
        attempts=row.attempts + 1,
        last_error=None,
    )


async def reschedule(
    store: AsyncEngine, row: Queued, error: str, attempts: int, next_at: datetime
) -> None:
    """Failed for now: try again at ``next_at``."""
    await _finish(
        store, row, status="pending", last_error=error, attempts=attempts, next_attempt_at=next_at
    )


async def park(store: AsyncEngine, row: Queued, error: str, attempts: int | None = None) -> None:
    """Refused for good (or out of attempts): ``dead`` with the reason, until retried by hand."""
    values: dict[str, Any] = {"status": "dead", "last_error": error}
    if attempts is not None:
        values["attempts"] = attempts
    await _finish(store, row, **values)


async def _finish(store: AsyncEngine, row: Queued, **values: Any) -> None:
    async with write_tx(store) as conn:
        await conn.execute(
            sa.update(OUT)
            .where(OUT.c.id == row.id, OUT.c.claim_token == row.claim_token)
            .values(claim_token=None, **values)
        )


async def retry_now(store: AsyncEngine, outbox_id: int, now: datetime) -> bool:
    """Put a parked or failing row back in the queue, due now, with its attempts reset."""
    async with write_tx(store) as conn:
        result = await conn.execute(
            sa.update(OUT)
            .where(OUT.c.id == outbox_id, OUT.c.status != "sent")
            .values(status="pending", next_attempt_at=now, attempts=0, claim_token=None)
        )
        return bool(result.rowcount)


async def counts_by_status(conn: AsyncConnection) -> dict[str, int]:
    """Alerts by delivery status (the metrics' outbox gauge)."""
    rows = await conn.execute(sa.select(OUT.c.status, sa.func.count()).group_by(OUT.c.status))
    return {r[0]: int(r[1]) for r in rows}


async def newest(
    conn: AsyncConnection, status: str | None = None, limit: int = 200
) -> list[sa.Row[Any]]:
    """The newest alerts (of one status, if given), newest first."""
    query = sa.select(OUT).order_by(OUT.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OUT.c.status == status)
    return list(await conn.execute(query))
