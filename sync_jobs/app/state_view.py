"""Read-only views of shared state for metrics and status (every replica sees the same)."""

from __future__ import annotations

from sync_jobs.run.context import utcnow
from sync_jobs.store import conflicts, cursors, outbox, work
from sync_jobs.store.db import Store, read_tx


async def store_gauges(
    store: Store, jobs: list[str]
) -> tuple[dict[str, int], dict[str, int], dict[str, int], list[tuple[str, float]]]:
    """(open conflicts by kind, outbox by status, queue by status, cursor lag by job)."""
    async with read_tx(store) as conn:
        by_kind = await conflicts.open_counts(conn)
        alerts = await outbox.counts_by_status(conn)
        queue = await work.counts_by_status(conn)
        moved = await cursors.cursor_times(conn)
    now = utcnow()
    lags = [(job, (now - moved[job]).total_seconds()) for job in jobs if job in moved]
    return by_kind, alerts, queue, lags
