"""Deal rows: each deal's latest terms, its match, and whether it is live, failing or gone."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import hop
from sync_jobs.store import tables as t
from sync_jobs.store.bulk import prepared_update
from sync_jobs.store.decode import decoder
from sync_jobs.store.driver_sql import DriverSql
from sync_jobs.store.sql import chunks, upsert


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


@dataclass(frozen=True)
class KnownDeal:
    """What stage 1 needs to know about a deal it has seen before."""

    payload_hash: str
    customer_key: str | None
    match_method: str | None


_STATE_COLUMNS = [
    t.deal.c.deal_id,
    t.deal.c.payload_hash,
    t.deal.c.customer_key,
    t.deal.c.match_detail,
]


async def deal_states(conn: AsyncConnection, job: str, ids: Sequence[str]) -> dict[str, KnownDeal]:
    """Already-stored deals by id, to skip unchanged re-reads and keep manual links (every
    chunk of ids in one trip to the driver: :mod:`sync_jobs.store.hop`)."""
    sql = DriverSql(conn.dialect)
    text = (
        f"SELECT {sql.names(_STATE_COLUMNS)} FROM {sql.table(t.deal)} "  # noqa: S608
        f"WHERE job = {sql.mark} AND "
    )
    statements = [
        hop.Statement(text + sql.among("deal_id", len(part)), [job, *sql.values(part)], fetch=True)
        for part in chunks(ids)
    ]
    decode = decoder(conn.dialect, _STATE_COLUMNS)
    found: dict[str, KnownDeal] = {}
    for outcome in await hop.run(conn, statements):
        for row in outcome.rows:
            deal_id, payload_hash, customer_key, detail = decode(row)
            method = (detail or {}).get("method")
            found[deal_id] = KnownDeal(payload_hash, customer_key, method)
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
    "account_key",
]


async def save_deals(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert deal rows (their full latest state)."""
    await upsert(conn, t.deal, rows, ["job", "deal_id"], DEAL_UPDATE)


async def save_matches(
    conn: AsyncConnection, job: str, matches: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Record what the match pass decided for these deals (``deal_id`` with the new
    ``customer_key``, ``match_status``, ``match_detail`` and ``lookup_at``): only those
    columns, in one executemany through the driver, as their terms were stored when they
    were read (``match_detail`` may come as its text made already,
    :class:`~sync_jobs.store.encoded.JsonText` or ``EncodedJson``, written as it is)."""
    if not matches:
        return
    rows = [
        {
            "customer_key": m["customer_key"],
            "match_status": m["match_status"],
            "match_detail": m["match_detail"],
            "lookup_at": m["lookup_at"],
            "updated_at": now,
            "job": job,
            "deal_id": m["deal_id"],
        }
        for m in matches
    ]
    sql, prepared = prepared_update(conn.dialect, t.deal, rows, keys=("job", "deal_id"))
    await hop.run(conn, [hop.Statement(sql, prepared, many=True)])


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


UNDECIDED = ("unmatched", "ambiguous", "pending")
"""Match statuses the match pass tries again, in the order it pages through them: a deal it
moves from ``pending`` to ``unmatched`` is not read a second time in the same pass."""


@dataclass(frozen=True)
class PageEnd:
    """Where a page of the match pass ended: the next page starts after it."""

    account_key: str
    deal_id: str


@dataclass(frozen=True, slots=True)
class Undecided:
    """What the match pass needs of a waiting deal. Its terms come as their stored JSON
    text: the pass reads only the account of most deals, and the whole terms of the few
    whose match changes into a conflict."""

    deal_id: str
    account_key: str
    customer_key: str | None
    match_status: str
    lookup_at: datetime | None
    violations: list[str] | None
    terms_text: str


_UNDECIDED_COLUMNS = [
    t.deal.c.deal_id,
    t.deal.c.account_key,
    t.deal.c.customer_key,
    t.deal.c.match_status,
    t.deal.c.lookup_at,
    t.deal.c.violations,
]


async def undecided_page(
    conn: AsyncConnection,
    job: str,
    target: str,
    status: str,
    after: PageEnd | None,
    limit: int,
) -> list[Undecided]:
    """About ``limit`` deals of a job with this match status and terms to match (what the
    match pass needs of them), in account then deal id order after ``after`` (keyset paging:
    each page is a range search of ``ix_deal_match_account``, however many deals wait).

    A page never ends inside an account (up to ``limit`` more of its deals are added): its
    deals land on one customer, which is then decided on one page and can be written as soon
    as that page commits. Deals stored without an account key (before migration 0009, or
    by a backfill bound by the CPU: ``sync_jobs.run.pass_order``) page by id alone.

    Read through the driver (:mod:`sync_jobs.store.hop`), the terms as text: SQLAlchemy's
    JSON type decoded every deal's whole terms into dicts, a third of the pass's reading."""
    sql = DriverSql(conn.dialect)
    head = _undecided_select(sql)
    params: list[Any] = [target, status, job]
    if after is not None:
        head += f" AND (account_key, deal_id) > ({sql.mark}, {sql.mark})"
        params += [after.account_key, after.deal_id]
    page = await _undecided(conn, head, params, limit)
    if len(page) < limit or not page[-1].account_key:
        return page
    last = page[-1]
    rest = _undecided_select(sql) + f" AND account_key = {sql.mark} AND deal_id > {sql.mark}"
    return page + await _undecided(
        conn, rest, [target, status, job, last.account_key, last.deal_id], limit
    )


def _undecided_select(sql: DriverSql) -> str:
    terms = '"terms"' if sql.sqlite else 'CAST("terms" AS TEXT)'
    return (
        f"SELECT {sql.names(_UNDECIDED_COLUMNS)}, {terms} FROM {sql.table(t.deal)} "  # noqa: S608
        f"WHERE target = {sql.mark} AND match_status = {sql.mark} AND job = {sql.mark} "
        "AND NOT deleted AND terms IS NOT NULL"
    )


async def _undecided(
    conn: AsyncConnection, head: str, params: list[Any], limit: int
) -> list[Undecided]:
    sql = DriverSql(conn.dialect)
    text = f"{head} ORDER BY account_key, deal_id LIMIT {sql.mark}"
    (outcome,) = await hop.run(conn, [hop.Statement(text, [*params, limit], fetch=True)])
    decode = decoder(conn.dialect, _UNDECIDED_COLUMNS)
    page = []
    for row in outcome.rows:
        deal_id, account_key, customer_key, status, lookup_at, violations = decode(row[:-1])
        page.append(
            Undecided(deal_id, account_key, customer_key, status, lookup_at, violations, row[-1])
        )
    return page


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


Later = Mapping[str, tuple[int, Callable[[Any], Any] | None]]
"""Columns decoded when first read: name -> (index in the driver row, its decoder)."""


class StoredDeal:
    """A stored deal row whose ``terms``, and the columns stage 2 seldom reads, are decoded
    only when read.

    Stage 2 takes most deals' terms already validated from the terms cache, or validates the
    JSON text (``terms_text``) in one step: decoding every row's terms into dicts first was
    a tenth of loading a batch. Every other column is an attribute, as on the row: those in
    ``columns`` at once, those in ``later`` (read from ``row``) on first access: timestamps
    and flags only a moved deal's rewrite reads (``_mapping``) were a third of decoding."""

    def __init__(
        self, columns: Mapping[Any, Any], later: Later | None = None, row: Sequence[Any] = ()
    ) -> None:
        self.__dict__.update(columns)  # plain attributes: read several times a deal
        if later:
            self.__dict__["_later"] = (later, row)

    def __getattr__(self, name: str) -> Any:
        """A column of ``later``, decoded on its first read (only called for a name that is
        not an attribute yet)."""
        later, row = self.__dict__.get("_later", ({}, ()))
        found = later.get(name)
        if found is None:
            raise AttributeError(name)
        index, decode = found
        value = row[index]
        if value is not None and decode is not None:
            value = decode(value)
        self.__dict__[name] = value
        return value

    @property
    def terms(self) -> Any:
        """The terms as SQLAlchemy's JSON column would hand them back."""
        found = self.__dict__.get("_terms", _UNREAD)
        if found is _UNREAD:
            found = self.__dict__["_terms"] = json.loads(self.terms_text)
        return found

    @property
    def _mapping(self) -> dict[str, Any]:
        """The row's columns (``terms`` decoded), as ``sa.Row._mapping`` gives them."""
        later, _ = self.__dict__.get("_later", ({}, ()))
        for name in later:
            getattr(self, name)
        hidden = ("terms_text", "_terms", "_later")
        values = {k: v for k, v in self.__dict__.items() if k not in hidden}
        return values | {"terms": self.terms}

    # Every column of the deal table but ``terms`` is set from the row; those read by name:
    job: str
    deal_id: str
    customer_key: str | None
    payload_hash: str
    modified_at: datetime
    terms_text: str
    """The terms column as stored (JSON text)."""


_UNREAD = object()


async def unlink(
    conn: AsyncConnection, target: str, customer_keys: Sequence[str], now: datetime
) -> None:
    """The desk records are gone: their deals are matched again next run (the records leave
    the identity index through :func:`sync_jobs.store.identity.forget`)."""
    for part in chunks(customer_keys):
        await conn.execute(
            sa.update(t.deal)
            .where(
                t.deal.c.target == target,
                t.deal.c.customer_key.in_(part),
            )
            .values(customer_key=None, match_status="pending", lookup_at=None, updated_at=now)
        )


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
