"""Stage 2's records: merge bases, note hashes, conflicts, the audit trail and run history."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.sql import chunks, pairs_in, upsert


async def load_bases(
    conn: AsyncConnection, target: str, keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """What we last wrote, per customer and field (the merge base of the three-way compare)."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for part in chunks(keys):
        rows = await conn.execute(
            sa.select(t.field_base).where(
                t.field_base.c.target == target, t.field_base.c.customer_key.in_(part)
            )
        )
        for row in rows:
            found[row.customer_key][row.field] = row.value
    return found


@dataclass(frozen=True)
class Written:
    """What dealbridge last wrote to one record: field bases and the note's hash."""

    bases: dict[str, Any]
    note_hash: str | None


async def written_to(conn: AsyncConnection, target: str, keys: Sequence[str]) -> dict[str, Written]:
    """Of these records, those dealbridge wrote to (a field base or a note), with what it wrote;
    the others are left out."""
    bases = await load_bases(conn, target, keys)
    notes: dict[str, str] = {}
    for part in chunks(keys):
        rows = await conn.execute(
            sa.select(t.note_state.c.customer_key, t.note_state.c.content_hash).where(
                t.note_state.c.target == target, t.note_state.c.customer_key.in_(part)
            )
        )
        notes.update({row.customer_key: row.content_hash for row in rows})
    return {
        key: Written(bases.get(key, {}), notes.get(key))
        for key in dict.fromkeys(keys)
        if key in bases or key in notes
    }


def note_hash(text: str) -> str:
    """The hash ``note_state`` keeps of a note as written."""
    return hashlib.sha256(text.encode()).hexdigest()


async def save_bases(
    conn: AsyncConnection, target: str, rows: Sequence[dict[str, Any]], now: datetime, run_id: str
) -> None:
    """Record the values the target now holds for fields we own ({customer_key, field,
    value} rows, any number of customers)."""
    full = [{"target": target, "written_at": now, "run_id": run_id, **row} for row in rows]
    await upsert(
        conn,
        t.field_base,
        full,
        ["target", "customer_key", "field"],
        ["value", "written_at", "run_id"],
    )


async def drop_bases(conn: AsyncConnection, target: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Forget (customer, field) pairs we no longer own."""
    for part in chunks(list(pairs)):
        await conn.execute(
            sa.delete(t.field_base).where(
                t.field_base.c.target == target,
                pairs_in(t.field_base.c.customer_key, t.field_base.c.field, part),
            )
        )


async def save_note_states(
    conn: AsyncConnection, target: str, notes: Sequence[tuple[str, str, int]], now: datetime
) -> None:
    """Remember each note we wrote (hash only): (customer, note text, live deals)."""
    rows = [
        {
            "target": target,
            "customer_key": key,
            "content_hash": note_hash(text),
            "deals": deals,
            "written_at": now,
        }
        for key, text, deals in notes
    ]
    await upsert(
        conn,
        t.note_state,
        rows,
        ["target", "customer_key"],
        ["content_hash", "deals", "written_at"],
    )


@dataclass(frozen=True)
class AuditEntry:
    """One field written: who (the job or person), what, old and new value, and why."""

    customer_key: str
    field: str
    old: Any
    new: Any
    reason: str


async def audit(
    conn: AsyncConnection,
    target: str,
    run_id: str | None,
    actor: str,
    entries: Sequence[AuditEntry],
    now: datetime,
) -> None:
    """Append audit rows (never updated, never deleted by the engine)."""
    rows = [
        {
            "run_id": run_id,
            "at": now,
            "actor": actor,
            "target": target,
            "customer_key": e.customer_key,
            "field": e.field,
            "old_value": _jsonable(e.old),
            "new_value": _jsonable(e.new),
            "reason": e.reason,
        }
        for e in entries
    ]
    for part in chunks(rows):
        await conn.execute(sa.insert(t.audit), list(part))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


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
        details = _jsonable(item.details)
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
    closed: list[int] = []
    for part in chunks(list(scope_keys), 200):
        if by_customer:
            scoped = query.where(c.customer_key.in_(list(part)))
        else:  # deal-scoped identities are exact: kind|target|-|-|job/deal
            identities = [f"{k}|{target}|-|-|{s}" for k in kinds for s in part]
            ids = await _ids_of(conn, identities)
            if not ids:
                continue
            scoped = query.where(c.id.in_(ids))
        result = await conn.execute(
            scoped.values(status="superseded", last_seen=now).returning(c.id)
        )
        closed += [int(r[0]) for r in result]
    return closed


async def _ids_of(conn: AsyncConnection, identities: Sequence[str]) -> list[int]:
    """Conflict ids by identity, asked alone: beside a status condition SQLite's planner
    (without statistics) would rather read every open conflict than use the unique index."""
    rows = await conn.execute(
        sa.select(t.conflict.c.id).where(t.conflict.c.identity.in_(identities))
    )
    return [int(r.id) for r in rows]


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


async def resolved_conflicts(
    conn: AsyncConnection, target: str, keys: Sequence[str]
) -> list[sa.Row[Any]]:
    """Resolved conflicts on these customers, whose decisions the planner applies."""
    rows: list[sa.Row[Any]] = []
    for part in chunks(keys):
        result = await conn.execute(
            sa.select(t.conflict).where(
                t.conflict.c.target == target,
                t.conflict.c.customer_key.in_(part),
                t.conflict.c.status == "resolved",
            )
        )
        rows.extend(result)
    return rows


async def deal_decisions(
    conn: AsyncConnection, target: str, scopes: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Decisions on out-of-policy deals (``job/deal`` -> resolution), for stage 2."""
    identities = {f"out_of_policy|{target}|-|-|{s}": s for s in scopes}
    found: dict[str, dict[str, Any]] = {}
    for part in chunks(list(identities)):
        rows = await conn.execute(
            sa.select(t.conflict.c.identity, t.conflict.c.resolution).where(
                t.conflict.c.identity.in_(part), t.conflict.c.status == "resolved"
            )
        )
        for row in rows:
            if row.resolution:
                found[identities[row.identity]] = row.resolution
    return found


async def mark_applied(conn: AsyncConnection, ids: Sequence[int], now: datetime) -> list[int]:
    """Stamp resolutions the first time a run applies them; return the ids newly applied."""
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
