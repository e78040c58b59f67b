"""Feed cursors: where each job's source feed and each target's identity feed resume."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.sql import upsert

Feed = Literal["source", "target"]


"""Whose cursor: a job's source feed (keyed by job) or a target's index feed (by target)."""


def _cursor_table(feed: Feed) -> tuple[sa.Table, sa.Column[Any]]:
    table = t.source_cursor if feed == "source" else t.target_cursor
    return table, table.c.job if feed == "source" else table.c.target


async def get_cursor(conn: AsyncConnection, feed: Feed, key: str) -> str | None:
    """A stored cursor (a job's source feed, or a target's identity feed)."""
    table, column = _cursor_table(feed)
    row = (await conn.execute(sa.select(table.c.cursor).where(column == key))).first()
    return None if row is None else str(row.cursor)


async def cursor_age(conn: AsyncConnection, feed: Feed, key: str, now: datetime) -> float | None:
    """Seconds since a cursor last moved (None if it never did)."""
    table, column = _cursor_table(feed)
    when = (await conn.execute(sa.select(table.c.updated_at).where(column == key))).scalar()
    return None if when is None else (now - when).total_seconds()


async def set_cursor(
    conn: AsyncConnection, feed: Feed, key: str, value: str, now: datetime
) -> None:
    """Store a cursor in the same transaction as the data it covers."""
    table, column = _cursor_table(feed)
    await upsert(
        conn,
        table,
        [{column.name: key, "cursor": value, "updated_at": now}],
        [column.name],
        ["cursor", "updated_at"],
    )


async def cursor_times(conn: AsyncConnection) -> dict[str, datetime]:
    """When each job's source cursor last moved (the metrics' lag gauge)."""
    rows = await conn.execute(sa.select(t.source_cursor.c.job, t.source_cursor.c.updated_at))
    return {r.job: r.updated_at for r in rows}


async def cursor_moved_at(conn: AsyncConnection, job: str) -> datetime | None:
    """When one job's source cursor last moved (None if it never did)."""
    query = sa.select(t.source_cursor.c.updated_at).where(t.source_cursor.c.job == job)
    when: datetime | None = (await conn.execute(query)).scalar()
    return when
