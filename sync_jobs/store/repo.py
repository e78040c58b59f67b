"""Stage 1's reads and writes: cursors, the identity index, and deal rows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.matching import IdentityIndex, IndexKey, identity_keys
from sync_jobs.store import tables as t
from sync_jobs.store.sql import chunks, insert_ignore, records_in, upsert


async def get_cursor(conn: AsyncConnection, table: sa.Table, key: str) -> str | None:
    """A stored cursor (``source_cursor`` by job, ``target_cursor`` by target)."""
    column = table.c.job if table is t.source_cursor else table.c.target
    row = (await conn.execute(sa.select(table.c.cursor).where(column == key))).first()
    return None if row is None else str(row.cursor)


async def cursor_age(
    conn: AsyncConnection, table: sa.Table, key: str, now: datetime
) -> float | None:
    """Seconds since a cursor last moved (None if it never did)."""
    column = table.c.job if table is t.source_cursor else table.c.target
    when = (await conn.execute(sa.select(table.c.updated_at).where(column == key))).scalar()
    return None if when is None else (now - when).total_seconds()


async def set_cursor(
    conn: AsyncConnection, table: sa.Table, key: str, value: str, now: datetime
) -> None:
    """Store a cursor in the same transaction as the data it covers."""
    name = "job" if table is t.source_cursor else "target"
    await upsert(
        conn,
        table,
        [{name: key, "cursor": value, "updated_at": now}],
        [name],
        ["cursor", "updated_at"],
    )


async def index_records(
    conn: AsyncConnection, target: str, records: Sequence[CustomerRecord], now: datetime
) -> list[RecordRef]:
    """Replace the identity keys of the given records (deleted records leave the index).

    Returns the records that lost a key they were indexed under (or were deleted): deals
    matched through such a key must be checked before their next write. Safe to run
    concurrently for the same records (the daemon's replicas may do so).
    """
    lost: list[RecordRef] = []
    for part in chunks(records):
        lost += await _lost_keys(conn, target, part)
        await conn.execute(
            sa.delete(t.identity_key).where(
                t.identity_key.c.target == target, records_in(t.identity_key, [r.ref for r in part])
            )
        )
        gone = [r.ref for r in part if r.deleted]
        if gone:
            await conn.execute(
                sa.delete(t.identity).where(
                    t.identity.c.target == target, records_in(t.identity, gone)
                )
            )
        live = [r for r in part if not r.deleted]
        rows = [
            {
                "target": target,
                "kind": r.ref.kind,
                "record_id": r.ref.id,
                "name": r.name,
                "keys": [list(k) for k in identity_keys(r)],
                "updated_at": now,
            }
            for r in live
        ]
        # Upserts, not delete-then-insert: replicas running different jobs of one target may
        # refresh the same records at the same moment.
        await upsert(
            conn, t.identity, rows, ["target", "kind", "record_id"], ["name", "keys", "updated_at"]
        )
        keys = [
            {
                "target": target,
                "match": m,
                "value": v[:320],
                "kind": r.ref.kind,
                "record_id": r.ref.id,
            }
            for r in live
            for m, v in identity_keys(r)
        ]
        await insert_ignore(
            conn, t.identity_key, keys, ["target", "match", "value", "kind", "record_id"]
        )
    return lost


async def _lost_keys(
    conn: AsyncConnection, target: str, records: Sequence[CustomerRecord]
) -> list[RecordRef]:
    """Records whose stored keys include one they no longer carry (by the identity key)."""
    rows = await conn.execute(
        sa.select(t.identity.c.kind, t.identity.c.record_id, t.identity.c["keys"]).where(
            t.identity.c.target == target, records_in(t.identity, [r.ref for r in records])
        )
    )
    before = {(r.kind, r.record_id): {(m, v) for m, v in r._mapping["keys"] or ()} for r in rows}
    lost = []
    for record in records:
        old = before.get((record.ref.kind, record.ref.id))
        now_keys = set() if record.deleted else set(identity_keys(record))
        if old and old - now_keys:
            lost.append(record.ref)
    return lost


async def linked_customers(
    conn: AsyncConnection, target: str, customer_keys: Sequence[str]
) -> list[str]:
    """Those of these customers that live deals are linked to."""
    found: list[str] = []
    for part in chunks(customer_keys):
        rows = await conn.execute(
            sa.select(t.deal.c.customer_key)
            .distinct()
            .where(
                t.deal.c.target == target,
                t.deal.c.customer_key.in_(part),
                t.deal.c.deleted.is_(False),
            )
        )
        found += [r.customer_key for r in rows]
    return found


async def index_for(conn: AsyncConnection, target: str, keys: Iterable[IndexKey]) -> IdentityIndex:
    """The part of one target's identity index that ``keys`` name (one query per match type
    and chunk; the primary key serves the lookup)."""
    index = IdentityIndex()
    by_match: dict[str, list[str]] = defaultdict(list)
    for match, value in keys:
        by_match[match].append(value)
    k = t.identity_key.c
    for match, values in by_match.items():
        for part in chunks(values):
            rows = await conn.execute(
                sa.select(k.value, k.kind, k.record_id).where(
                    k.target == target, k.match == match, k.value.in_(part)
                )
            )
            for row in rows:
                index.add(row.kind, row.record_id, [(match, row.value)])
    return index


async def record_names(conn: AsyncConnection, target: str, keys: Iterable[str]) -> dict[str, str]:
    """Display names of records by customer key (``kind:id``), for output and alerts."""
    wanted = [RecordRef.from_key(k) for k in keys]
    names: dict[str, str] = {}
    for part in chunks(wanted):
        rows = await conn.execute(
            sa.select(t.identity.c.kind, t.identity.c.record_id, t.identity.c.name).where(
                t.identity.c.target == target, records_in(t.identity, part)
            )
        )
        names.update((f"{r.kind}:{r.record_id}", r.name or "") for r in rows)
    return names


@dataclass(frozen=True)
class KnownDeal:
    """What stage 1 needs to know about a deal it has seen before."""

    payload_hash: str
    customer_key: str | None
    match_method: str | None


async def deal_states(conn: AsyncConnection, job: str, ids: Sequence[str]) -> dict[str, KnownDeal]:
    """Already-stored deals by id, to skip unchanged re-reads and keep manual links."""
    found: dict[str, KnownDeal] = {}
    for part in chunks(ids):
        rows = await conn.execute(
            sa.select(
                t.deal.c.deal_id,
                t.deal.c.payload_hash,
                t.deal.c.customer_key,
                t.deal.c.match_detail,
            ).where(t.deal.c.job == job, t.deal.c.deal_id.in_(part))
        )
        for r in rows:
            method = (r.match_detail or {}).get("method")
            found[r.deal_id] = KnownDeal(r.payload_hash, r.customer_key, method)
    return found


async def mark_failed(
    conn: AsyncConnection, job: str, errors: dict[str, str], now: datetime
) -> None:
    """Record why a deal's newest version could not be mapped (its last good terms stay)."""
    for deal_id, error in errors.items():
        await conn.execute(
            sa.update(t.deal)
            .where(
                t.deal.c.job == job,
                t.deal.c.deal_id == deal_id,
            )
            .values(error=error[:4000], attempts=t.deal.c.attempts + 1, updated_at=now)
        )


DEAL_UPDATE = [
    "target",
    "territory",
    "customer_key",
    "match_status",
    "match_detail",
    "lookup_at",
    "terms",
    "violations",
    "payload_hash",
    "live",
    "valid_until",
    "deleted",
    "error",
    "attempts",
    "modified_at",
    "updated_at",
]


async def save_deals(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert deal rows (their full latest state)."""
    await upsert(conn, t.deal, rows, ["job", "deal_id"], DEAL_UPDATE)


async def mark_deleted(
    conn: AsyncConnection, job: str, deal_ids: Sequence[str], now: datetime
) -> None:
    """Deals deleted (or archived) at the source leave every note; their rows stay for audit."""
    for part in chunks(deal_ids):
        await conn.execute(
            sa.update(t.deal)
            .where(
                t.deal.c.job == job,
                t.deal.c.deal_id.in_(part),
            )
            .values(deleted=True, live=False, updated_at=now)
        )


async def unmatched_deals(conn: AsyncConnection, job: str, target: str) -> list[sa.Row[Any]]:
    """Deals of a job that found no single record last time (re-tried after index refresh)."""
    rows = await conn.execute(
        sa.select(t.deal).where(
            t.deal.c.target == target,  # the (target, status) index: not every deal of the job
            t.deal.c.job == job,
            t.deal.c.match_status.in_(["unmatched", "ambiguous", "pending"]),
            t.deal.c.deleted.is_(False),
            t.deal.c.terms.is_not(None),
        )
    )
    return list(rows)


async def expiring_customers(conn: AsyncConnection, target: str, today: Any) -> list[str]:
    """Customers with deals marked live whose terms have now expired (they must drop out)."""
    rows = await conn.execute(
        sa.select(t.deal.c.customer_key)
        .distinct()
        .where(
            t.deal.c.target == target,
            t.deal.c.live.is_(True),
            t.deal.c.valid_until < today,
            t.deal.c.customer_key.is_not(None),
        )
    )
    return [r.customer_key for r in rows]


async def mark_expired(conn: AsyncConnection, target: str, today: Any) -> None:
    """Record that expired deals are no longer live (after their customers were enqueued)."""
    await conn.execute(
        sa.update(t.deal)
        .where(
            t.deal.c.target == target,
            t.deal.c.live.is_(True),
            t.deal.c.valid_until < today,
        )
        .values(live=False)
    )


async def deals_of(
    conn: AsyncConnection, target: str, customer_keys: Sequence[str]
) -> list[sa.Row[Any]]:
    """Every stored deal (all jobs, all territories) attached to these customers."""
    rows: list[sa.Row[Any]] = []
    for part in chunks(customer_keys):
        result = await conn.execute(
            sa.select(t.deal).where(
                t.deal.c.target == target,
                t.deal.c.customer_key.in_(part),
                t.deal.c.terms.is_not(None),
                t.deal.c.deleted.is_(False),
            )
        )
        rows.extend(result)
    return rows


async def unlink(
    conn: AsyncConnection, target: str, customer_keys: Sequence[str], now: datetime
) -> None:
    """The desk record is gone: it leaves the identity index (some desks never report
    deletions in their listings) and its deals are matched again next run."""
    gone = [RecordRef.from_key(k) for k in customer_keys]
    for part in chunks(gone):
        for table in (t.identity, t.identity_key):
            await conn.execute(
                sa.delete(table).where(table.c.target == target, records_in(table, part))
            )
    for part in chunks(customer_keys):
        await conn.execute(
            sa.update(t.deal)
            .where(
                t.deal.c.target == target,
                t.deal.c.customer_key.in_(part),
            )
            .values(customer_key=None, match_status="pending", lookup_at=None, updated_at=now)
        )
