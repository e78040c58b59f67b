"""Stage 1: refresh the identity index, pull changed deals, map and match them, commit (C1).

Every page commits its deals, the customers they touch (as coalesced work items), the
unmatched/ambiguous conflicts and the page's cursor in ONE local transaction, so a crash loses
at most the page in flight, which the overlap re-reads. Unchanged re-reads (same terms
fingerprint) cost nothing. A deal that fails mapping keeps its last good terms and is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import Cursor, CustomerRecord, DealQuery, SourceDeal
from sync_jobs.context import JobRun
from sync_jobs.mapping import MappingFailed
from sync_jobs.matching import IdentityIndex, identity_keys
from sync_jobs.model import DealTerms, MatchResult
from sync_jobs.store import repo, work
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.records import ConflictRecord, close_missing, raise_conflicts

log = structlog.get_logger("dealbridge.stage1")

MATCH_KINDS = ("unmatched", "ambiguous")


async def refresh_index(run: JobRun) -> IdentityIndex:
    """Bring the target's identity index up to date (incrementally) and load it."""
    store, name = run.engine.store, run.target_name
    async with read_tx(store) as conn:
        raw = await repo.get_cursor(conn, t.target_cursor, name)
    since = Cursor(value=raw) if raw else None
    pending: list[CustomerRecord] = []
    async for page in run.target.customers(since):
        run.state.counts["index_records"] += len(page.records)
        if run.state.dry_run:
            pending += page.records  # a dry run changes nothing, so index in memory only
            continue
        async with write_tx(store) as conn:
            now = run.engine.clock()
            await repo.index_records(conn, name, page.records, now)
            await repo.set_cursor(conn, t.target_cursor, name, page.checkpoint.value, now)
    async with read_tx(store) as conn:
        index = await repo.load_index(conn, name)
    for record in pending:
        if not record.deleted:
            index.add(record.ref.kind, record.ref.id, identity_keys(record))
    return index


async def pull(run: JobRun, index: IdentityIndex, *, full: bool = False) -> set[str]:
    """Read changed deals page by page; return the customers touched (for dry runs)."""
    store = run.engine.store
    async with read_tx(store) as conn:
        raw = None if full else await repo.get_cursor(conn, t.source_cursor, run.job)
    touched = await rematch(run, index)
    query = DealQuery(fields=run.mapping.source_paths(), select=run.mapping.spec.select, full=full)
    since = Cursor(value=raw) if raw else None
    async for page in run.source.changed_deals(query, since):
        touched |= await _commit_page(run, index, page.deals, page.checkpoint.value)
        run.engine.checkpoint("after_stage1_commit")
    touched |= await _expire(run)
    return touched


async def _commit_page(
    run: JobRun, index: IdentityIndex, deals: Sequence[SourceDeal], checkpoint: str
) -> set[str]:
    store, job = run.engine.store, run.job
    async with read_tx(store) as conn:
        known = await repo.deal_states(conn, job, [d.id for d in deals])
    rows: list[dict[str, Any]] = []
    touched: set[str] = set()
    found: list[ConflictRecord] = []
    deleted: list[str] = []
    for deal in deals:
        run.state.counts["deals_read"] += 1
        row, keys = _deal_row(run, index, deal, known.get(deal.id), found, deleted)
        if row is not None:
            rows.append(row)
        touched |= keys
    if run.state.dry_run:
        run.state.counts["deals_changed"] += len(rows)
        for row in rows:
            run.state.overlay[(job, row["deal_id"])] = row
        for deal_id in deleted:
            run.state.overlay[(job, deal_id)] = {"deleted": True}
        return touched
    async with write_tx(store) as conn:
        now = run.engine.clock()
        for row in rows:
            row["updated_at"] = now
        await repo.save_deals(conn, rows)
        await repo.mark_deleted(conn, job, deleted, now)
        await work.enqueue(conn, run.target_name, touched, now)
        await _record_match_conflicts(run, conn, rows, found)
        await repo.set_cursor(conn, t.source_cursor, job, checkpoint, now)
    run.state.counts["deals_changed"] += len(rows)
    return touched


def _deal_row(
    run: JobRun,
    index: IdentityIndex,
    deal: SourceDeal,
    known: tuple[str, str | None] | None,
    found: list[ConflictRecord],
    deleted: list[str],
) -> tuple[dict[str, Any] | None, set[str]]:
    old_key = known[1] if known else None
    if deal.deleted:
        if known is None:
            return None, set()
        run.state.counts["deals_deleted"] += 1
        deleted.append(deal.id)
        return None, {old_key} if old_key else set()
    try:
        terms = run.mapping.apply(deal)
    except MappingFailed as exc:
        run.state.record_error(f"{run.job} {exc}")
        log.warning("deal_mapping_failed", job=run.job, deal=deal.id, error=str(exc))
        if known is not None:
            return None, set()  # keep the last good terms; the error is reported
        row = _base_row(run, deal.id, deal, _raw_hash(deal), None)
        return row | {"error": str(exc), "match_status": "pending", "terms": None}, set()
    digest = terms.fingerprint()
    if known is not None and known[0] == digest:
        run.state.counts["deals_unchanged"] += 1
        return None, set()
    match = index.match(terms.account, run.mapping.spec.identity, run.mapping.spec.record)
    _count_match(run, match)
    if match.status != "matched":
        found.append(_match_conflict(run, terms, match))
    new_key = match.customer_key
    row = _base_row(run, deal.id, deal, digest, new_key) | _terms_columns(run, terms, match)
    return row, {k for k in (old_key, new_key) if k}


def _base_row(
    run: JobRun, deal_id: str, deal: SourceDeal, digest: str, key: str | None
) -> dict[str, Any]:
    return {
        "job": run.job,
        "deal_id": deal_id,
        "target": run.target_name,
        "territory": run.mapping.territory,
        "customer_key": key,
        "payload_hash": digest,
        "modified_at": deal.modified_at,
        "deleted": False,
        "live": False,
        "error": None,
        "attempts": 0,
        "match_status": "matched" if key else "pending",
        "match_detail": None,
        "valid_until": None,
    }


def _terms_columns(run: JobRun, terms: DealTerms, match: MatchResult) -> dict[str, Any]:
    return {
        "terms": terms.model_dump(mode="json"),
        "live": terms.is_live(run.engine.today()),
        "valid_until": terms.valid_until,
        "match_status": match.status,
        "match_detail": match.model_dump(mode="json"),
    }


def _raw_hash(deal: SourceDeal) -> str:
    raw = json.dumps(deal.payload, sort_keys=True, default=str)
    return "raw:" + hashlib.sha256(raw.encode()).hexdigest()[:28]


def _count_match(run: JobRun, match: MatchResult) -> None:
    run.state.counts[f"deals_{match.status}"] += 1


def _match_conflict(run: JobRun, terms: DealTerms, match: MatchResult) -> ConflictRecord:
    account = terms.account
    return ConflictRecord(
        kind=match.status,
        target=run.target_name,
        customer_key=None,
        field=None,
        scope=f"{run.job}/{terms.deal.id}",
        details={
            "deal": terms.deal.id,
            "job": run.job,
            "territory": terms.deal.territory,
            "deal_name": terms.name,
            "account": account.name,
            "identity": account.model_dump(mode="json", exclude={"name", "phone"}),
            "candidates": list(match.candidates),
            "owner": terms.owner_email,
            "url": terms.deal.url,
        },
    )


async def _record_match_conflicts(
    run: JobRun,
    conn: AsyncConnection,
    rows: Sequence[dict[str, Any]],
    found: Sequence[ConflictRecord],
) -> None:
    now = run.engine.clock()
    new = await raise_conflicts(conn, found, now)
    run.state.counts["conflicts_raised"] += len(new)
    scopes = [f"{run.job}/{r['deal_id']}" for r in rows]
    await close_missing(
        conn,
        run.target_name,
        scopes,
        MATCH_KINDS,
        [c.identity for c in found],
        now,
        by_customer=False,
    )


async def rematch(run: JobRun, index: IdentityIndex) -> set[str]:
    """Try deals that found no single record last time against the refreshed index."""
    async with read_tx(run.engine.store) as conn:
        waiting = await repo.unmatched_deals(conn, run.job)
    rows, touched, found = [], set(), []
    for row in waiting:
        terms = DealTerms.model_validate(row.terms)
        spec = run.mapping.spec
        result = index.match(terms.account, spec.identity, spec.record)
        if result.status == row.match_status:
            if result.status != "matched":
                found.append(_match_conflict(run, terms, result))
            continue
        data = dict(row._mapping) | _terms_columns(run, terms, result)
        data["customer_key"] = result.customer_key
        rows.append(data)
        if result.customer_key:
            touched.add(result.customer_key)
            run.state.counts["deals_rematched"] += 1
    if rows and not run.state.dry_run:
        async with write_tx(run.engine.store) as conn:
            now = run.engine.clock()
            for data in rows:
                data["updated_at"] = now
            await repo.save_deals(conn, rows)
            await work.enqueue(conn, run.target_name, touched, now)
            await _record_match_conflicts(run, conn, rows, found)
    return touched


async def _expire(run: JobRun) -> set[str]:
    """Customers whose terms expired since the last run must be re-planned (terms drop out)."""
    today = run.engine.today()
    async with read_tx(run.engine.store) as conn:
        keys = await repo.expiring_customers(conn, run.target_name, today)
    if keys and not run.state.dry_run:
        async with write_tx(run.engine.store) as conn:
            await work.enqueue(conn, run.target_name, keys, run.engine.clock())
            await repo.mark_expired(conn, run.target_name, today)
    run.state.counts["customers_expired"] += len(keys)
    return set(keys)
