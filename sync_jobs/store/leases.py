"""Leases with fencing tokens: one replica runs a job at a time, and a stale one cannot commit.

A lease row per name (``job:<name>``, ``daemon``) holds the holder, an epoch and an expiry. A
replica takes or renews it with one conditional UPDATE; the epoch rises only when the lease
changes hands, so it is a fencing token: every stage-1 commit first checks that this replica
still holds the lease at the epoch it was granted (:func:`fence`), and a paused replica whose
lease expired and was taken over fails that check instead of writing. On PostgreSQL expiry is
judged by the database clock (replicas' clocks may disagree); on SQLite, one process, by ours.
No session advisory locks: they break behind PgBouncer and vanish silently with a connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store import tables as t
from sync_jobs.store.db import write_tx
from sync_jobs.store.sql import insert_ignore

L = t.lease.c


class LeaseLost(RuntimeError):
    """This replica no longer holds the lease; it must stop without committing."""


@dataclass(frozen=True)
class Grant:
    """A held lease: its name, our identity and the fencing token."""

    name: str
    holder: str
    epoch: int


def _now(conn: AsyncConnection, now: datetime) -> Any:
    return sa.func.now() if conn.dialect.name == "postgresql" else sa.literal(now, t.UTCDateTime)


def _expiry(conn: AsyncConnection, now: datetime, ttl: timedelta) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.func.now() + ttl
    return sa.literal(now + ttl, t.UTCDateTime)


async def acquire(
    engine: AsyncEngine,
    name: str,
    holder: str,
    ttl: timedelta,
    now: datetime,
    config_hash: str | None = None,
) -> Grant | None:
    """Take (or renew) the lease; None when another live holder has it."""
    async with write_tx(engine) as conn:
        await insert_ignore(
            conn,
            t.lease,
            [
                {
                    "name": name,
                    "holder": None,
                    "epoch": 0,
                    "expires_at": datetime(1970, 1, 1, tzinfo=UTC),
                }
            ],
            ["name"],
        )
        clock = _now(conn, now)
        mine_and_live = sa.and_(L.holder == holder, L.expires_at > clock)
        result = await conn.execute(
            sa.update(t.lease)
            .where(L.name == name, sa.or_(L.expires_at <= clock, L.holder == holder))
            .values(
                epoch=sa.case((mine_and_live, L.epoch), else_=L.epoch + 1),
                holder=holder,
                expires_at=_expiry(conn, now, ttl),
                config_hash=config_hash,
            )
            .returning(L.epoch)
        )
        epoch = result.scalar()
    return None if epoch is None else Grant(name, holder, int(epoch))


async def renew(engine: AsyncEngine, grant: Grant, ttl: timedelta, now: datetime) -> None:
    """Extend a held lease; raise LeaseLost if it was taken over meanwhile."""
    async with write_tx(engine) as conn:
        clock = _now(conn, now)
        result = await conn.execute(
            sa.update(t.lease)
            .where(
                L.name == grant.name,
                L.holder == grant.holder,
                L.epoch == grant.epoch,
                L.expires_at > clock,
            )
            .values(expires_at=_expiry(conn, now, ttl))
        )
        if not result.rowcount:
            raise LeaseLost(f"lease {grant.name} was lost (epoch {grant.epoch}); stopping")


async def fence(conn: AsyncConnection, grant: Grant, now: datetime) -> None:
    """Inside a commit: refuse to proceed unless the lease is still ours at our epoch."""
    clock = _now(conn, now)
    held = (
        await conn.execute(
            sa.select(L.epoch).where(
                L.name == grant.name,
                L.holder == grant.holder,
                L.epoch == grant.epoch,
                L.expires_at > clock,
            )
        )
    ).first()
    if held is None:
        raise LeaseLost(
            f"lease {grant.name} epoch {grant.epoch} is no longer ours; this commit is refused"
        )


async def release(engine: AsyncEngine, grant: Grant, now: datetime) -> None:
    """Give the lease up early (clean shutdown) so another replica need not wait for expiry."""
    async with write_tx(engine) as conn:
        await conn.execute(
            sa.update(t.lease)
            .where(L.name == grant.name, L.holder == grant.holder, L.epoch == grant.epoch)
            .values(expires_at=_now(conn, now))
        )


async def holder_of(engine: AsyncEngine, name: str) -> tuple[str | None, datetime | None]:
    """Who holds a lease and until when (for messages and status)."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(L.holder, L.expires_at).where(L.name == name))).first()
    return (row.holder, row.expires_at) if row else (None, None)
