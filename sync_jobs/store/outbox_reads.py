"""Read-only views of the alert outbox for status, metrics and ``alerts outbox``.

(The outbox's writes live with the alerts package's delivery; these are the reads the
application shell shows.)"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t


async def counts_by_status(conn: AsyncConnection) -> dict[str, int]:
    """Alerts by delivery status."""
    rows = await conn.execute(
        sa.select(t.outbox.c.status, sa.func.count()).group_by(t.outbox.c.status)
    )
    return {r[0]: int(r[1]) for r in rows}


async def newest(
    conn: AsyncConnection, status: str | None = None, limit: int = 200
) -> list[sa.Row[Any]]:
    """The newest alerts (of one status, if given), newest first."""
    query = sa.select(t.outbox).order_by(t.outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(t.outbox.c.status == status)
    return list(await conn.execute(query))
