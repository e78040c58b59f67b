"""Read-only views of shared state for metrics and status (every replica sees the same)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.run.context import utcnow
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx


async def store_gauges(
    store: AsyncEngine, jobs: list[str]
) -> tuple[dict[str, int], dict[str, int], dict[str, int], list[tuple[str, float]]]:
    """(open conflicts by kind, outbox by status, queue by status, cursor lag by job)."""
    async with read_tx(store) as conn:
        conflicts = {
            r[0]: int(r[1])
            for r in await conn.execute(
                sa.select(t.conflict.c.kind, sa.func.count())
                .where(t.conflict.c.status == "open")
                .group_by(t.conflict.c.kind)
            )
        }
        outbox = {
            r[0]: int(r[1])
            for r in await conn.execute(
                sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status)
            )
        }
        queue = {
            r[0]: int(r[1])
            for r in await conn.execute(
                sa.select(t.customer_work.c.status, sa.func.count()).group_by(
                    t.customer_work.c.status
                )
            )
        }
        cursors = {
            r.job: r.updated_at
            for r in await conn.execute(
                sa.select(t.source_cursor.c.job, t.source_cursor.c.updated_at)
            )
        }
    now = utcnow()
    lags = [(job, (now - cursors[job]).total_seconds()) for job in jobs if job in cursors]
    return conflicts, outbox, queue, lags
