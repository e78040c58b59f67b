"""Kept field catalogs: the last catalog fetched from each target, for offline checks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.sql import upsert


async def keep(
    conn: AsyncConnection,
    connector: str,
    identity: str,
    fields: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Replace the connector's kept catalog by the one just fetched from the desk
    ``identity`` names.

    One upsert: processes writing one desk (worker processes, replicas) fetch its catalog at
    the same moment, and a delete then insert of each lets the second insert collide on
    PostgreSQL (READ COMMITTED: neither delete sees the other's row)."""
    row = {"connector": connector, "identity": identity, "fields": fields, "fetched_at": now}
    await upsert(conn, t.field_catalog, [row], ["connector"], ["identity", "fields", "fetched_at"])


async def kept(conn: AsyncConnection, connector: str) -> sa.Row[Any] | None:
    """The connector's kept catalog (``identity``, ``fields``, ``fetched_at``), if any."""
    return (
        await conn.execute(
            sa.select(t.field_catalog).where(t.field_catalog.c.connector == connector)
        )
    ).first()
