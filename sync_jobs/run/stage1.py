"""Stage 1: refresh the identity index, pull changed deals, map and match them, commit (C1).

Every page commits its deals, the customers they touch (as coalesced work items), the
unmatched/ambiguous conflicts and the page's cursor in ONE local transaction, so a crash loses
at most the page in flight, which the overlap re-reads. Unchanged re-reads (same terms
fingerprint) cost nothing. A deal that fails mapping keeps its last good terms and is reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import (
    Cursor,
    CustomerPage,
    CustomerRecord,
    DealQuery,
    RecordRef,
    SourceDeal,
)
from sync_jobs.alerts.outbox import notify
from sync_jobs.domain.durations import parse_duration
from sync_jobs.domain.guardrails import violations
from sync_jobs.domain.mapping import MappingFailed
from sync_jobs.domain.matching import IdentityIndex, IndexKey, identity_keys, wanted_keys
from sync_jobs.domain.model import DealTerms, MatchResult
from sync_jobs.run import lookups
from sync_jobs.run.context import JobRun, RunInterrupted
from sync_jobs.run.desk_edits import DeskEdits
from sync_jobs.store import repo, work
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.records import ConflictRecord, close_missing, raise_conflicts

log = structlog.get_logger("dealbridge.stage1")

DEAL_KINDS = ("unmatched", "ambiguous", "out_of_policy")
REPORTED = ("unmatched", "ambiguous")
"""Match outcomes raised as conflicts (``pending`` waits, silently, for its lookup)."""


async def refresh_index(run: JobRun) -> IdentityIndex:
    """Bring the target's stored identity index up to date (incrementally), and queue the
    records an agent changed since dealbridge wrote them (:mod:`sync_jobs.run.desk_edits`).

    Returns what a dry run saw but did not store (empty otherwise); pages of deals look up
    the stored index with this laid over it."""
    store, name = run.engine.store, run.target_name
    async with read_tx(store) as conn:
        raw = await repo.get_cursor(conn, t.target_cursor, name)
        age = await repo.cursor_age(conn, t.target_cursor, name, run.engine.clock())
    fresh = age is not None and age < parse_duration(run.engine.config.engine.index_refresh_every)
    since = Cursor(value=raw) if raw else None
    pending: list[CustomerRecord] = []
    edits = DeskEdits(run)  # agent edits of what we wrote are queued for stage 2 (desk_edits)
    # Several jobs share one target: the index is refreshed at most once per interval, so the
    # desk's export budget (Zendesk: 10 a minute) is not spent once per job; a desk doorbell
    # that did not name its records asks for it now.
    skip = fresh and not edits.refresh_now and not run.state.dry_run
    pages = _no_pages() if skip else run.target.customers(since)
    async for page in pages:
        run.state.counts["index_records"] += len(page.records)
        run.state.progress["export_pages"] += 1
        run.report_progress("index")
        if run.state.dry_run:
            pending += page.records  # a dry run changes nothing, so index in memory only
            continue
        async with write_tx(store) as conn:
            now = run.engine.clock()
            await lookups.index_records(run, conn, page.records, now)
            await edits.page(conn, page.records, now)
            await repo.set_cursor(conn, t.target_cursor, name, page.checkpoint.value, now)
        run.check_lease()
    await edits.finish()
    unsaved = IdentityIndex()
    for record in pending:
        unsaved.add(record.ref.kind, record.ref.id, [] if record.deleted else identity_keys(record))
    return unsaved


async def _no_pages() -> AsyncIterator[CustomerPage]:
    return
    yield  # an empty async generator


async def reads_everything(run: JobRun, *, full: bool) -> bool:
    """Whether this run reads the whole book: the job's first run, or one asked to (--full)."""
    if full:
        return True
    async with read_tx(run.engine.store) as conn:
        return await repo.get_cursor(conn, t.source_cursor, run.job) is None


async def pull(run: JobRun, unsaved: IdentityIndex, *, full: bool = False) -> set[str]:
    """Read changed deals page by page; return the customers touched (dry runs only: a real
    run queues them page by page, and keeping them all would grow with the book)."""
    store = run.engine.store
    async with read_tx(store) as conn:
        raw = None if full else await repo.get_cursor(conn, t.source_cursor, run.job)
    touched = await rematch(run, unsaved)
    query = DealQuery(fields=run.mapping.source_paths(), select=run.mapping.spec.select, full=full)
    since = Cursor(value=raw) if raw else None
    async for page in run.source.changed_deals(query, since):
        changed = await _commit_page(run, unsaved, page.deals, page.checkpoint.value)
        if run.state.dry_run:
            touched |= changed
        run.engine.checkpoint("after_stage1_commit")
        if run.engine.stopping.is_set():
            raise RunInterrupted("shutting down after committing this page")
        run.check_lease()
    touched |= await _expire(run)
    _collect_source_problems(run)
    return touched


def _collect_source_problems(run: JobRun) -> None:
    """Sources that read files report bad rows and files after a read (which sheet, row)."""
    problems = getattr(run.source, "problems", None)
    if callable(problems):
        for problem in problems():
            run.state.record_error(f"{run.job}: {problem}")


@dataclass
class _Page:
    """What one page of deals changes locally, committed together at C1."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Deals whose new version could not be mapped: they keep their last good terms."""
    touched: set[str] = field(default_factory=set)
    found: list[ConflictRecord] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)
    """Deal scopes whose unmatched/ambiguous/out_of_policy conflicts are re-decided here."""


async def _commit_page(
    run: JobRun, unsaved: IdentityIndex, deals: Sequence[SourceDeal], checkpoint: str
) -> set[str]:
    store, job = run.engine.store, run.job
    mapped = [(deal, _map(run, deal)) for deal in deals]
    wanted: set[IndexKey] = set()
    for _deal_read, terms in mapped:
        if isinstance(terms, DealTerms):
            wanted |= wanted_keys(terms.account, run.mapping.spec.identity)
    async with read_tx(store) as conn:
        known = await repo.deal_states(conn, job, [d.id for d in deals])
        index = (await repo.index_for(conn, run.target_name, wanted)).overlaid(unsaved)
    to_match = [
        terms
        for deal, terms in mapped
        if isinstance(terms, DealTerms) and _needs_matching(terms, known.get(deal.id))
    ]
    spec = run.mapping.spec
    settled = await lookups.settle(
        run, index, [t.account for t in to_match], rules=spec.identity, kind=spec.record
    )
    await lookups.keep_found(run, unsaved, settled.found)
    undecided = {to_match[i].deal.id for i in settled.undecided}
    page = _Page()
    for deal, terms in mapped:
        run.state.counts["deals_read"] += 1
        _deal(run, index, deal, terms, known.get(deal.id), page, deal.id in undecided)
    run.state.progress["deals_mapped"] += sum(
        isinstance(terms, DealTerms) for _deal_read, terms in mapped
    )
    run.report_progress("read")
    if run.state.dry_run:
        run.state.counts["deals_changed"] += len(page.rows)
        for row in page.rows:
            run.state.overlay[(job, row["deal_id"])] = row
        for deal_id in page.deleted:
            run.state.overlay[(job, deal_id)] = {"deleted": True}
        return page.touched
    async with write_tx(store) as conn:
        await run.fence(conn)
        now = run.engine.clock()
        for row in page.rows:
            row["updated_at"] = now
        await repo.save_deals(conn, page.rows)
        await repo.mark_deleted(conn, job, page.deleted, now)
        await repo.mark_failed(conn, job, page.failed, now)
        await work.enqueue(conn, run.target_name, page.touched, now)
        await _settle_deal_conflicts(run, conn, page)
        await repo.set_cursor(conn, t.source_cursor, job, checkpoint, now)
    run.queued.notify()
    run.state.counts["deals_changed"] += len(page.rows)
    return page.touched


def _map(run: JobRun, deal: SourceDeal) -> DealTerms | MappingFailed | None:
    """A deal's terms, why they could not be mapped, or None for a deleted deal."""
    if deal.deleted:
        return None
    try:
        return run.mapping.apply(deal)
    except MappingFailed as exc:
        return exc


def _needs_matching(terms: DealTerms, known: repo.KnownDeal | None) -> bool:
    """New or changed terms are matched (and looked up) again, unless a person linked them."""
    if known is None:
        return True
    return known.payload_hash != terms.fingerprint() and known.match_method != "manual"


def _deal(
    run: JobRun,
    index: IdentityIndex,
    deal: SourceDeal,
    terms: DealTerms | MappingFailed | None,
    known: repo.KnownDeal | None,
    page: _Page,
    undecided: bool,
) -> None:
    old_key = known.customer_key if known else None
    if terms is None:
        if known is not None:
            run.state.counts["deals_deleted"] += 1
            page.deleted.append(deal.id)
            page.touched |= {old_key} if old_key else set()
        return
    if isinstance(terms, MappingFailed):
        exc = terms
        run.state.record_error(f"{run.job} {exc}")
        log.warning("deal_mapping_failed", job=run.job, deal=deal.id, error=str(exc))
        if known is not None:
            page.failed[deal.id] = str(exc)  # keep the last good terms; report the error
        else:
            row = _base_row(run, deal.id, deal, _raw_hash(deal), None)
            page.rows.append(row | {"error": str(exc), "match_status": "pending"})
        return
    digest = terms.fingerprint()
    if known is not None and known.payload_hash == digest:
        run.state.counts["deals_unchanged"] += 1
        return
    match = _match(run, index, terms, known, undecided)
    # Only terms that would reach agents are policed: lost or open deals never show.
    rails = (
        violations(terms, run.mapping.spec.guardrails, run.engine.today()) if terms.active else []
    )
    page.settled.append(f"{run.job}/{deal.id}")
    if match.status in REPORTED:
        page.found.append(match_conflict(run, terms, match))
    if rails:
        page.found.append(_policy_conflict(run, terms, rails, match))
    row = _base_row(run, deal.id, deal, digest, match.customer_key)
    looked = None if undecided else run.engine.clock()
    page.rows.append(
        row | _terms_columns(run, terms, match) | {"violations": rails or None, "lookup_at": looked}
    )
    page.touched |= {k for k in (old_key, match.customer_key) if k}


def _match(
    run: JobRun,
    index: IdentityIndex,
    terms: DealTerms,
    known: repo.KnownDeal | None,
    undecided: bool,
) -> MatchResult:
    """Match by identity, except a deal a person linked by hand keeps that link, and a deal
    whose lookups the run's budget deferred stays pending (never called unmatched unasked)."""
    if known is not None and known.match_method == "manual" and known.customer_key:
        ref = RecordRef.from_key(known.customer_key)
        result = MatchResult(
            status="matched", record_kind=ref.kind, record_id=ref.id, method="manual"
        )
    elif undecided:
        result = MatchResult(status="pending")
    else:
        result = index.match(terms.account, run.mapping.spec.identity, run.mapping.spec.record)
    _count_match(run, result)
    return result


def _policy_conflict(
    run: JobRun, terms: DealTerms, rails: list[str], match: MatchResult
) -> ConflictRecord:
    return ConflictRecord(
        kind="out_of_policy",
        target=run.target_name,
        customer_key=None,
        field=None,
        scope=f"{run.job}/{terms.deal.id}",
        details={
            "deal": terms.deal.id,
            "job": run.job,
            "territory": terms.deal.territory,
            "deal_name": terms.name,
            "account": terms.account.name,
            "violations": rails,
            "customer_key": match.customer_key,
            "fingerprint": terms.fingerprint(),
            "owner": terms.owner_email,
            "url": terms.deal.url,
        },
    )


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
        "lookup_at": None,
        "valid_until": None,
        "terms": None,
        "violations": None,
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


def match_conflict(
    run: JobRun, terms: DealTerms, match: MatchResult, why: dict[str, Any] | None = None
) -> ConflictRecord:
    """An unmatched or ambiguous deal, to be resolved by a person (of any job of the target)."""
    account = terms.account
    return ConflictRecord(
        kind=match.status,
        target=run.target_name,
        customer_key=None,
        field=None,
        scope=f"{terms.deal.job}/{terms.deal.id}",
        details=(why or {})
        | {
            "deal": terms.deal.id,
            "job": terms.deal.job,
            "territory": terms.deal.territory,
            "deal_name": terms.name,
            "account": account.name,
            "identity": account.model_dump(mode="json", exclude={"name", "phone"}),
            "candidates": list(match.candidates),
            "owner": terms.owner_email,
            "url": terms.deal.url,
        },
    )


async def _settle_deal_conflicts(run: JobRun, conn: AsyncConnection, page: _Page) -> None:
    await settle_deal_conflicts(run, conn, page.found, page.settled)


async def settle_deal_conflicts(
    run: JobRun,
    conn: AsyncConnection,
    found: list[ConflictRecord],
    settled: list[str],
    *,
    kinds: tuple[str, ...] = DEAL_KINDS,
) -> None:
    """Raise (or update) deal conflicts and close those (of ``kinds``) of ``settled`` deals
    not found again."""
    now = run.engine.clock()
    changed = await raise_conflicts(conn, found, now)
    run.state.counts["conflicts_raised"] += len(changed)
    closed = await close_missing(
        conn,
        run.target_name,
        settled,
        kinds,
        [c.identity for c in found],
        now,
        by_customer=False,
    )
    await notify(conn, run.engine.config.alerts, now, changed=changed, closed=closed)


async def rematch(run: JobRun, unsaved: IdentityIndex) -> set[str]:
    """Try deals that found no single record last time against the refreshed index; those
    never looked up at the desk (from before lookups, or whose record vanished or whose lookup
    was deferred) are looked up first."""
    spec = run.mapping.spec
    async with read_tx(run.engine.store) as conn:
        waiting = [
            (row, DealTerms.model_validate(row.terms))
            for row in await repo.unmatched_deals(conn, run.job, run.target_name)
        ]
        wanted = set().union(*(wanted_keys(terms.account, spec.identity) for _, terms in waiting))
        index = (await repo.index_for(conn, run.target_name, wanted)).overlaid(unsaved)
    unasked = [i for i, (row, _) in enumerate(waiting) if row.lookup_at is None]
    settled = await lookups.settle(
        run, index, [waiting[i][1].account for i in unasked], rules=spec.identity, kind=spec.record
    )
    await lookups.keep_found(run, unsaved, settled.found)
    deferred = {unasked[i] for i in settled.undecided}
    asked = set(unasked) - deferred
    now = run.engine.clock()
    page = _Page()
    for position, (row, terms) in enumerate(waiting):
        if position in deferred:
            continue  # its lookup waits for the next run's budget; nothing is reported
        result = index.match(terms.account, spec.identity, spec.record)
        looked = now if position in asked else row.lookup_at
        if result.status == row.match_status and looked == row.lookup_at:
            continue  # still unmatched (or still ambiguous): its open conflict stands
        if result.status != row.match_status:
            page.settled.append(f"{run.job}/{row.deal_id}")
            if result.status in REPORTED:
                page.found.append(match_conflict(run, terms, result))
            if row.violations:
                page.found.append(_policy_conflict(run, terms, row.violations, result))
        page.rows.append(
            dict(row._mapping)
            | _terms_columns(run, terms, result)
            | {"customer_key": result.customer_key, "lookup_at": looked}
        )
        if result.customer_key:
            page.touched.add(result.customer_key)
            run.state.counts["deals_rematched"] += 1
    if page.rows and not run.state.dry_run:
        async with write_tx(run.engine.store) as conn:
            for data in page.rows:
                data["updated_at"] = now
            await repo.save_deals(conn, page.rows)
            await work.enqueue(conn, run.target_name, page.touched, now)
            await _settle_deal_conflicts(run, conn, page)
        run.queued.notify()
    return page.touched


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
