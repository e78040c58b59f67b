"""Cursors, the identity index, and deal rows: what stage 1 reads and writes.

The store knows records only as the desk reported them and the keys the caller says they are
found by: which keys a record carries (normalisation, matching) is the domain's business
(:mod:`sync_jobs.domain.matching`), so callers pass each record with its keys and build their
:class:`~sync_jobs.domain.matching.IdentityIndex` from :func:`index_hits`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.store import tables as t
from sync_jobs.store.sql import chunks, insert_ignore, records_in, upsert

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


IndexKey = tuple[str, str]
"""(match type, normalised value), as :func:`sync_jobs.domain.matching.identity_keys` says."""


IndexedRecord = tuple[CustomerRecord, Sequence[IndexKey]]
"""A desk record and the keys it is found by (none once it is deleted)."""


class IndexHit(NamedTuple):
    """One stored claim: the record ``kind:record_id`` carries ``(match, value)``."""

    match: str
    value: str
    kind: str
    record_id: str


async def index_records(
    conn: AsyncConnection, target: str, indexed: Sequence[IndexedRecord], now: datetime
) -> list[RecordRef]:
    """Replace the identity keys of the given records (deleted records leave the index).

    Returns the records that lost a key they were indexed under (or were deleted): deals
    matched through such a key must be checked before their next write. Safe to run
    concurrently for the same records (the daemon's replicas may do so).
    """
    lost: list[RecordRef] = []
    for part in chunks(indexed):
        lost += await _lost_keys(conn, target, part)
        await conn.execute(
            sa.delete(t.identity_key).where(
                t.identity_key.c.target == target,
                records_in(t.identity_key, [i[0].ref for i in part]),
            )
        )
        gone = [i[0].ref for i in part if i[0].deleted]
        if gone:
            await conn.execute(
                sa.delete(t.identity).where(
                    t.identity.c.target == target, records_in(t.identity, gone)
                )
            )
        live = [i for i in part if not i[0].deleted]
        rows = [
            {
                "target": target,
                "kind": record.ref.kind,
                "record_id": record.ref.id,
                "name": record.name,
                "keys": [list(k) for k in keys],
                "updated_at": now,
            }
            for record, keys in live
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
                "kind": record.ref.kind,
                "record_id": record.ref.id,
            }
            for record, keys in live
            for m, v in keys
        ]
        await insert_ignore(
            conn, t.identity_key, keys, ["target", "match", "value", "kind", "record_id"]
        )
    return lost


async def _lost_keys(
    conn: AsyncConnection, target: str, indexed: Sequence[IndexedRecord]
) -> list[RecordRef]:
    """Records whose stored keys include one they no longer carry (by the identity key)."""
    rows = await conn.execute(
        sa.select(t.identity.c.kind, t.identity.c.record_id, t.identity.c["keys"]).where(
            t.identity.c.target == target, records_in(t.identity, [i[0].ref for i in indexed])
        )
    )
    before = {(r.kind, r.record_id): {(m, v) for m, v in r._mapping["keys"] or ()} for r in rows}
    lost = []
    for record, keys in indexed:
        old = before.get((record.ref.kind, record.ref.id))
        now_keys = set() if record.deleted else set(keys)
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


async def index_hits(
    conn: AsyncConnection, target: str, keys: Iterable[IndexKey]
) -> list[IndexHit]:
    """The part of one target's identity index that ``keys`` name (one query per match type
    and chunk; the primary key serves the lookup)."""
    hits: list[IndexHit] = []
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
            hits += [IndexHit(match, row.value, row.kind, row.record_id) for row in rows]
    return hits


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


async def cursor_times(conn: AsyncConnection) -> dict[str, datetime]:
    """When each job's source cursor last moved (the metrics' lag gauge)."""
    rows = await conn.execute(sa.select(t.source_cursor.c.job, t.source_cursor.c.updated_at))
    return {r.job: r.updated_at for r in rows}


async def cursor_moved_at(conn: AsyncConnection, job: str) -> datetime | None:
    """When one job's source cursor last moved (None if it never did)."""
    query = sa.select(t.source_cursor.c.updated_at).where(t.source_cursor.c.job == job)
    when: datetime | None = (await conn.execute(query)).scalar()
    return when


async def record_key_named(conn: AsyncConnection, target: str, name: str) -> str | None:
    """The customer key (``kind:id``) of the indexed record called ``name``, if any."""
    row = (
        await conn.execute(
            sa.select(t.identity.c.kind, t.identity.c.record_id).where(
                t.identity.c.target == target, t.identity.c.name == name
            )
        )
    ).first()
    return None if row is None else f"{row.kind}:{row.record_id}"


async def is_indexed(conn: AsyncConnection, target: str, kind: str, record_id: str) -> bool:
    """Whether the identity index holds this desk record."""
    row = (
        await conn.execute(
            sa.select(t.identity.c.record_id).where(
                t.identity.c.target == target,
                t.identity.c.kind == kind,
                t.identity.c.record_id == record_id,
            )
        )
    ).first()
    return row is not None


async def link_by_hand(
    conn: AsyncConnection, job: str, deal_id: str, kind: str, record_id: str, now: datetime
) -> None:
    """A person linked this deal to a desk record: later runs keep the link (``manual``)."""
    await conn.execute(
        sa.update(t.deal)
        .where(t.deal.c.job == job, t.deal.c.deal_id == deal_id)
        .values(
            customer_key=f"{kind}:{record_id}",
            match_status="matched",
            updated_at=now,
            match_detail={
                "status": "matched",
                "record_kind": kind,
                "record_id": record_id,
                "method": "manual",
            },
        )
    )


async def deals_with_id(conn: AsyncConnection, deal_id: str) -> list[sa.Row[Any]]:
    """Every stored deal of this id (one per job that reads it)."""
    return list(await conn.execute(sa.select(t.deal).where(t.deal.c.deal_id == deal_id)))


async def failing_deal_count(conn: AsyncConnection, job: str) -> int:
    """Deals of a job whose newest version could not be mapped."""
    count = await conn.execute(
        sa.select(sa.func.count())
        .select_from(t.deal)
        .where(t.deal.c.job == job, t.deal.c.error.is_not(None))
    )
    return int(count.scalar() or 0)


async def still_failing_deals(
    conn: AsyncConnection, job: str, before: datetime, limit: int
) -> tuple[list[sa.Row[Any]], int]:
    """Up to ``limit`` deals of a job that failed mapping before ``before`` and were not
    mapped since (their ``deal_id`` and ``error``), and how many more there are."""
    failing = (
        t.deal.c.job == job,
        t.deal.c.error.is_not(None),
        t.deal.c.updated_at < before,
    )
    deals = list(
        await conn.execute(
            # Unordered: ordering by deal id would make SQLite walk the job's whole book
            # in key order instead of the few failing deals (ix_deal_failing).
            sa.select(t.deal.c.deal_id, t.deal.c.error).where(*failing).limit(limit)
        )
    )
    more = 0
    if len(deals) == limit:
        count = sa.select(sa.func.count()).select_from(t.deal).where(*failing)
        more = int((await conn.execute(count)).scalar() or 0) - limit
    return deals, more
