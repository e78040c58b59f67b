"""Conflicts: raised, updated in place and closed by the stages; listed, shown and decided
by people."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.driver_sql import DriverSql
from sync_jobs.store.sql import chunks, jsonable


@dataclass(frozen=True)
class ConflictRecord:
    """A conflict as raised by an engine stage, before it is stored."""

    kind: str
    target: str
    customer_key: str | None
    field: str | None
    details: dict[str, Any]
    scope: str
    """What the conflict is about besides the customer: a deal id for unmatched/ambiguous."""

    @property
    def identity(self) -> str:
        """Stable identity: raised once, updated while it lasts, closed when it goes away."""
        return "|".join(
            (self.kind, self.target, self.customer_key or "-", self.field or "-", self.scope)
        )


async def raise_conflicts(
    conn: AsyncConnection, found: Sequence[ConflictRecord], now: datetime
) -> list[tuple[int, str]]:
    """Insert new conflicts, refresh open ones, reopen ones that came back.

    Returns (id, phase) for each conflict that is new or reopened ("opened") or whose details
    changed ("updated"): exactly the ones people must hear about again.
    """
    changed: list[tuple[int, str]] = []
    c = t.conflict.c
    for item in found:
        details = jsonable(item.details)
        digest = hashlib.sha256(json.dumps(details, sort_keys=True).encode()).hexdigest()
        row = (
            await conn.execute(
                sa.select(c.id, c.status, c.details_hash, c.version, c.resolution).where(
                    c.identity == item.identity
                )
            )
        ).first()
        if row is None:
            result = await conn.execute(
                sa.insert(t.conflict)
                .values(
                    identity=item.identity,
                    kind=item.kind,
                    target=item.target,
                    customer_key=item.customer_key,
                    field=item.field,
                    details=details,
                    details_hash=digest,
                    version=1,
                    status="open",
                    first_seen=now,
                    last_seen=now,
                )
                .returning(c.id)
            )
            changed.append((int(result.scalar_one()), "opened"))
            continue
        reopened = row.status != "open"
        values: dict[str, Any] = {"last_seen": now, "details": details, "details_hash": digest}
        if reopened:
            if row.resolution:
                values["details"] = details | {"previous_resolution": row.resolution}
            values |= {"status": "open", "first_seen": now, "resolution": None}
        if reopened or row.details_hash != digest:
            values["version"] = int(row.version) + 1
            changed.append((int(row.id), "opened" if reopened else "updated"))
        await conn.execute(sa.update(t.conflict).where(c.id == row.id).values(values))
    return changed


async def close_missing(
    conn: AsyncConnection,
    target: str,
    scope_keys: Sequence[str],
    kinds: Sequence[str],
    still_open: Sequence[str],
    now: datetime,
    *,
    by_customer: bool = True,
) -> list[int]:
    """Close open conflicts of these customers (or deals) that this pass no longer found.

    Returns the ids closed, so their closing alerts can be queued in the same transaction.
    """
    if not scope_keys:
        return []
    c = t.conflict.c
    query = sa.update(t.conflict).where(
        c.target == target, c.status == "open", c.kind.in_(list(kinds))
    )
    if still_open:
        query = query.where(c.identity.not_in(list(still_open)))
    if by_customer:
        scopes = [c.customer_key.in_(list(part)) for part in chunks(list(scope_keys), 200)]
    else:  # deal-scoped identities are exact: kind|target|-|-|job/deal
        identities = [f"{k}|{target}|-|-|{s}" for k in kinds for s in scope_keys]
        ids = await _ids_of(conn, identities)  # most pages close none: no update at all
        scopes = [c.id.in_(list(part)) for part in chunks(ids)]
    closed: list[int] = []
    for scoped in scopes:
        result = await conn.execute(
            query.where(scoped).values(status="superseded", last_seen=now).returning(c.id)
        )
        closed += [int(r[0]) for r in result]
    return closed


async def _ids_of(conn: AsyncConnection, identities: Sequence[str]) -> list[int]:
    """Conflict ids by identity, asked alone: beside a status condition SQLite's planner
    (without statistics) would rather read every open conflict than use the unique index.
    Every chunk in one trip to the driver (:mod:`sync_jobs.store.hop`): a match pass's page
    asks about three identities for each of its 500 deals."""
    sql = DriverSql(conn.dialect)
    head = f"SELECT id FROM {sql.table(t.conflict)} WHERE "  # noqa: S608
    statements = [
        hop.Statement(head + sql.among("identity", len(part)), sql.values(part), fetch=True)
        for part in chunks(identities)
    ]
    return [int(row[0]) for outcome in await hop.run(conn, statements) for row in outcome.rows]


async def open_conflicts(
    conn: AsyncConnection, kind: str | None = None, status: str | None = "open"
) -> list[sa.Row[Any]]:
    """Conflicts for the CLI and status, newest first."""
    query = sa.select(t.conflict).order_by(t.conflict.c.last_seen.desc(), t.conflict.c.id.desc())
    if status is not None:
        query = query.where(t.conflict.c.status == status)
    if kind is not None:
        query = query.where(t.conflict.c.kind == kind)
    return list(await conn.execute(query))


async def mark_applied(conn: AsyncConnection, ids: Sequence[int], now: datetime) -> list[int]:
    """Stamp resolutions the first time a run applies them; return the ids newly applied."""
    if not ids:  # most batches apply none: no statement
        return []
    fresh = []
    for row in await conn.execute(
        sa.select(t.conflict.c.id, t.conflict.c.resolution).where(t.conflict.c.id.in_(list(ids)))
    ):
        resolution = dict(row.resolution or {})
        if resolution.get("applied_at"):
            continue
        resolution["applied_at"] = now.isoformat()
        await conn.execute(
            sa.update(t.conflict).where(t.conflict.c.id == row.id).values(resolution=resolution)
        )
        fresh.append(int(row.id))
    return fresh


async def conflict(conn: AsyncConnection, conflict_id: int) -> sa.Row[Any] | None:
    """One conflict by id."""
    return (await conn.execute(sa.select(t.conflict).where(t.conflict.c.id == conflict_id))).first()


async def open_counts(conn: AsyncConnection) -> dict[str, int]:
    """Open conflicts by kind."""
    rows = await conn.execute(
        sa.select(t.conflict.c.kind, sa.func.count())
        .where(t.conflict.c.status == "open")
        .group_by(t.conflict.c.kind)
    )
    return {r[0]: int(r[1]) for r in rows}


async def open_count_of_job(conn: AsyncConnection, job: str) -> int:
    """Open conflicts that concern a job: on customers its deals reach, or on its deals."""
    customers = sa.select(t.deal.c.customer_key).where(t.deal.c.job == job)
    count = await conn.execute(
        sa.select(sa.func.count())
        .select_from(t.conflict)
        .where(
            t.conflict.c.status == "open",
            sa.or_(
                t.conflict.c.customer_key.in_(customers),
                t.conflict.c.identity.like(f"%|{job}/%"),
            ),
        )
    )
    return int(count.scalar() or 0)


async def oldest_open_conflict(conn: AsyncConnection, kind: str, customer_key: str) -> int | None:
    """The id of the first open conflict of ``kind`` on a customer, if there is one."""
    found = await conn.execute(
        sa.select(t.conflict.c.id)
        .where(
            t.conflict.c.kind == kind,
            t.conflict.c.customer_key == customer_key,
            t.conflict.c.status == "open",
        )
        .order_by(t.conflict.c.id)
    )
    value = found.scalar()
    return None if value is None else int(value)


async def open_conflicts_in_order(conn: AsyncConnection) -> list[sa.Row[Any]]:
    """Every open conflict, oldest first."""
    return list(
        await conn.execute(
            sa.select(t.conflict).where(t.conflict.c.status == "open").order_by(t.conflict.c.id)
        )
    )


async def record_decision(
    conn: AsyncConnection, conflict_id: int, decision: dict[str, Any], now: datetime
) -> None:
    """A person decided a conflict: it is resolved, the decision kept for the next runs."""
    await conn.execute(
        sa.update(t.conflict)
        .where(t.conflict.c.id == conflict_id)
        .values(status="resolved", resolution=decision, last_seen=now)
    )
