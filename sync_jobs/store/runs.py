"""Run history: each job run's start, outcome, counts and errors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t


async def start_run(
    conn: AsyncConnection, run_id: str, job: str, now: datetime, replica: str | None = None
) -> None:
    """Record that a run began (so a crashed run is visible as never finished)."""
    await conn.execute(
        sa.insert(t.sync_run).values(
            id=run_id,
            job=job,
            replica=replica,
            started_at=now,
            status="running",
            counts={},
            errors=[],
            notices=[],
        )
    )


async def finish_run(
    conn: AsyncConnection,
    run_id: str,
    status: str,
    counts: dict[str, int],
    errors: Sequence[str],
    notices: Sequence[str],
    now: datetime,
) -> None:
    """Record a run's outcome, counts and (bounded) error list."""
    await conn.execute(
        sa.update(t.sync_run)
        .where(t.sync_run.c.id == run_id)
        .values(
            finished_at=now,
            status=status,
            counts=counts,
            errors=list(errors)[:200],
            notices=list(notices),
        )
    )


async def mark_died(conn: AsyncConnection, replica: str, message: str, now: datetime) -> int:
    """Close the runs a dead replica left ``running`` (status ``died``), saying so."""
    result = await conn.execute(
        sa.update(t.sync_run)
        .where(t.sync_run.c.replica == replica, t.sync_run.c.status == "running")
        .values(finished_at=now, status="died", errors=[message])
    )
    return int(result.rowcount or 0)


async def previous_status(conn: AsyncConnection, job: str) -> str | None:
    """Status of the job's run before the newest one (to notice a recovery)."""
    rows = await conn.execute(
        sa.select(t.sync_run.c.status)
        .where(t.sync_run.c.job == job, t.sync_run.c.finished_at.is_not(None))
        .order_by(t.sync_run.c.started_at.desc())
        .limit(2)
    )
    statuses = [r.status for r in rows]
    return statuses[1] if len(statuses) > 1 else None


async def recent_runs(conn: AsyncConnection, job: str, limit: int = 5) -> list[sa.Row[Any]]:
    """A job's newest runs, newest first."""
    return list(
        await conn.execute(
            sa.select(t.sync_run)
            .where(t.sync_run.c.job == job)
            .order_by(t.sync_run.c.started_at.desc())
            .limit(limit)
        )
    )


async def last_success(conn: AsyncConnection, job: str) -> datetime | None:
    """When the job's newest successful run finished."""
    return (  # type: ignore[no-any-return]
        await conn.execute(
            sa.select(sa.func.max(t.sync_run.c.finished_at)).where(
                t.sync_run.c.job == job, t.sync_run.c.status == "ok"
            )
        )
    ).scalar()
