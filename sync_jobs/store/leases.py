"""Leases with fencing tokens: one replica runs a job at a time, and a stale one cannot commit.

A lease row per name (``job:<name>``, ``daemon``) holds the holder, an epoch and an expiry. A
replica takes or renews it with one conditional UPDATE; the epoch rises only when the lease
changes hands, so it is a fencing token: every stage-1 commit first checks that this replica
still holds the lease at the epoch it was granted (:func:`fence`), and a paused replica whose
lease expired and was taken over fails that check instead of writing. On PostgreSQL expiry is
judged by the database clock (replicas' clocks may disagree); on SQLite, one process, by ours.
No session advisory locks: they break behind PgBouncer and vanish silently with a connection.

The row also names the holder's process (host, pid, start time; see :mod:`liveness`). A
replica on the same host that finds that process gone takes the lease over at once instead of
waiting for it to lapse; a holder on another host is trusted until its lease lapses. Whoever
takes a lease over from a holder that did not give it back is told who that was (to say so,
and to release what the dead holder had claimed, in the same transaction).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sync_jobs.store import tables as t
from sync_jobs.store.db import write_tx
from sync_jobs.store.liveness import ProcessId, is_alive, this_process
from sync_jobs.store.sql import insert_ignore

L = t.lease.c


class LeaseLost(RuntimeError):
    """This replica no longer holds the lease; it must stop without committing."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lease, as far as the row says."""

    holder: str
    host: str | None
    pid: int | None
    until: datetime
    last_seen: datetime | None
    """Its last heartbeat (when it took or last renewed the lease)."""

    def describe(self) -> str:
        """``pid 4242 on host-a`` (or the holder id, for rows written before pids were kept)."""
        if self.pid is None:
            return self.holder
        return f"pid {self.pid} on {self.host}"


@dataclass(frozen=True)
class Takeover:
    """The previous holder of a lease just taken over, and how we knew it was gone."""

    previous: Holder
    died: bool
    """True: its process is gone (same host). False: it stopped renewing and the lease lapsed."""

    def describe(self, what: str = "run") -> str:
        """What an operator reads: who it was, when it was last seen, and that we take over."""
        seen = self.previous.last_seen or self.previous.until
        when = f"{seen:%Y-%m-%d %H:%M:%S} UTC"
        if self.died:
            return (
                f"previous {what} ({self.previous.describe()}) died at or after {when} "
                "(its last heartbeat); taking over"
            )
        return (
            f"previous {what} ({self.previous.describe()}) stopped renewing its lease at "
            f"{when}; taking over"
        )


@dataclass(frozen=True)
class Grant:
    """A held lease: its name, our identity and the fencing token."""

    name: str
    holder: str
    epoch: int
    took_over: Takeover | None = None
    """Set when this grant took the lease from a holder that never gave it back."""


OnTakeover = Callable[[AsyncConnection, Takeover], Awaitable[None]]
"""Runs inside the transaction that takes a lease over (release the old holder's claims)."""


def _now(conn: AsyncConnection, now: datetime) -> Any:
    return sa.func.now() if conn.dialect.name == "postgresql" else sa.literal(now, t.UTCDateTime)


def _expiry(conn: AsyncConnection, now: datetime, ttl: timedelta) -> Any:
    if conn.dialect.name == "postgresql":
        return sa.func.now() + ttl
    return sa.literal(now + ttl, t.UTCDateTime)


def _holder(row: Any) -> Holder:
    return Holder(row.holder, row.host, row.pid, row.expires_at, row.renewed_at)


def _died(row: Any) -> bool:
    """True when the row's holder process is known to be gone (only on our own host)."""
    if row.holder is None or row.pid is None or row.host_key is None:
        return False
    process = ProcessId(row.host or "", row.host_key, int(row.pid), row.pid_started)
    return is_alive(process) is False


async def acquire(  # noqa: PLR0913 - the lease, who takes it, and the takeover hook
    engine: AsyncEngine,
    name: str,
    holder: str,
    ttl: timedelta,
    now: datetime,
    config_hash: str | None = None,
    *,
    process: ProcessId | None = None,
    on_takeover: OnTakeover | None = None,
) -> Grant | None:
    """Take (or renew) the lease; None when another live holder has it.

    A holder on this host whose process is gone is taken over at once; one on another host
    only once its lease lapsed. ``on_takeover`` runs in the same transaction whenever the
    lease is taken from a holder that did not release it."""
    me = process or this_process()
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
        seen = (await conn.execute(sa.select(t.lease).where(L.name == name))).one()
        dead = seen.holder not in (None, holder) and _died(seen)
        clock = _now(conn, now)
        free = sa.or_(L.expires_at <= clock, L.holder == holder, L.holder.is_(None))
        if dead:  # only if nobody else took it since we looked
            free = sa.or_(free, sa.and_(L.holder == seen.holder, L.epoch == seen.epoch))
        mine_and_live = sa.and_(L.holder == holder, L.expires_at > clock)
        result = await conn.execute(
            sa.update(t.lease)
            .where(L.name == name, free)
            .values(
                epoch=sa.case((mine_and_live, L.epoch), else_=L.epoch + 1),
                holder=holder,
                expires_at=_expiry(conn, now, ttl),
                config_hash=config_hash,
                host=me.host,
                host_key=me.host_key,
                pid=me.pid,
                pid_started=me.started,
                renewed_at=clock,
            )
            .returning(L.epoch)
        )
        epoch = result.scalar()
        if epoch is None:
            return None
        takeover = None
        if seen.holder not in (None, holder):
            takeover = Takeover(_holder(seen), died=dead)
            if on_takeover is not None:
                await on_takeover(conn, takeover)
    return Grant(name, holder, int(epoch), takeover)


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
            .values(expires_at=_expiry(conn, now, ttl), renewed_at=clock)
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
    """Give the lease up early (clean shutdown) so another replica need not wait for expiry.

    The holder is cleared too: whoever takes the lease next was not "taking over"."""
    async with write_tx(engine) as conn:
        await conn.execute(
            sa.update(t.lease)
            .where(L.name == grant.name, L.holder == grant.holder, L.epoch == grant.epoch)
            .values(expires_at=_now(conn, now), holder=None)
        )


async def holder_of(engine: AsyncEngine, name: str) -> Holder | None:
    """Who holds a lease and until when (for messages and status); None when nobody does."""
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(t.lease).where(L.name == name))).first()
    return _holder(row) if row is not None and row.holder is not None else None


async def dead_holders(engine: AsyncEngine, except_holder: str) -> list[Holder]:
    """Holders of live-looking leases whose process on this host is gone (not yet taken over).

    A run asks before it starts, so that what a dead run of another job had claimed does not
    wait for that job's next run (or the claim timeout)."""
    async with engine.connect() as conn:
        rows = list(
            await conn.execute(
                sa.select(t.lease).where(
                    L.holder.is_not(None),
                    L.holder != except_holder,
                    L.host_key == this_process().host_key,
                )
            )
        )
    return [_holder(r) for r in rows if _died(r)]
