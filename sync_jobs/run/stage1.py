"""Stage 1: refresh the identity index, pull changed deals, map and match them, commit (C1).

Every page commits its deals, the customers they touch (as coalesced work items), the
unmatched/ambiguous conflicts and the page's cursor in ONE local transaction, so a crash loses
at most the page in flight, which the overlap re-reads. Unchanged re-reads (same terms
fingerprint) cost nothing. A deal that fails mapping keeps its last good terms and is reported.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from connectors.base import (
    Cursor,
    CustomerPage,
    CustomerRecord,
    DealQuery,
    RecordRef,
    SalesSource,
    ServiceTarget,
    SourceDeal,
)
from connectors.waits import also_listening
from sync_jobs.domain.guardrails import violations
from sync_jobs.domain.mapping import Mapping, MappingFailed
from sync_jobs.domain.matching import (
    IdentityIndex,
    IndexKey,
    identity_keys,
    wanted_keys,
)
from sync_jobs.domain.model import AccountIdentity, DealTerms, MatchResult
from sync_jobs.run import lookups
from sync_jobs.run.context import RunInterrupted, RunState
from sync_jobs.run.control import Clock, RunControl, first_of, today
from sync_jobs.run.deal_conflicts import REPORTED, DealConflicts
from sync_jobs.run.desk_edits import DeskEdits
from sync_jobs.run.pass_order import PassOrder
from sync_jobs.run.spreading import Spreader, Spreading
from sync_jobs.run.terms_cache import TERMS
from sync_jobs.store import cursors, deals, identity, work
from sync_jobs.store.conflicts import ConflictRecord
from sync_jobs.store.db import Connection, Store, read_tx, write_tx
from sync_jobs.store.encoded import EncodedJson, JsonText, model_json, model_text

log = structlog.get_logger("dealbridge.stage1")
A = TypeVar("A")
B = TypeVar("B")
MATCH_PAGE = 500
"""Deals the match pass decides per transaction: memory stays flat however many wait."""
PENDING = MatchResult(status="pending")
_PENDING_DETAIL = EncodedJson(
    PENDING.model_dump(mode="json"), json.dumps(PENDING.model_dump(mode="json"))
)
"""The match column of every deal stored pending: one object (read-only, as every row's
columns are), with the text the store's encoder made of it per row before."""


@dataclass(frozen=True)
class Stage1:
    """What stage 1 of one job needs, and nothing else."""

    job: str
    mapping: Mapping
    """This job's compiled mapping (source paths, identity rules, guardrails, territory)."""
    source: SalesSource
    target_name: str
    target: ServiceTarget
    """Read for its identity feed (``customers``); asked through ``desk`` for lookups."""
    store: Store
    clock: Clock
    state: RunState
    control: RunControl
    desk: lookups.Desk
    conflicts: DealConflicts
    index_fresh_for: float
    """Seconds a target's stored identity index counts as fresh (shared by its jobs)."""
    edits: DeskEdits
    """Agent edits of what we wrote, found by the refresh and queued for stage 2."""
    spreading: Spreading = field(default_factory=Spreading)
    """Pages read with helper processes beside: handed to the run's spreader."""


async def refresh_index(ctx: Stage1, ended: asyncio.Event | None = None) -> IdentityIndex:
    """Bring the target's stored identity index up to date (incrementally), and queue the
    records an agent changed since dealbridge wrote them (:mod:`sync_jobs.run.desk_edits`).

    Returns what a dry run saw but did not store (empty otherwise); pages of deals look up
    the stored index with this laid over it. ``ended`` is set when it returns or fails."""
    try:
        return await _refresh_index(ctx)
    finally:
        if ended is not None:
            ended.set()


async def _refresh_index(ctx: Stage1) -> IdentityIndex:
    store, name = ctx.store, ctx.target_name
    async with read_tx(store) as conn:
        raw = await cursors.get_cursor(conn, "target", name)
        age = await cursors.cursor_age(conn, "target", name, ctx.clock())
    fresh = age is not None and age < ctx.index_fresh_for
    since = Cursor(value=raw) if raw else None
    pending: list[CustomerRecord] = []
    edits = ctx.edits  # agent edits of what we wrote are queued for stage 2 (desk_edits)
    # Several jobs share one target: the index is refreshed at most once per interval, so the
    # desk's export budget (Zendesk: 10 a minute) is not spent once per job; a desk doorbell
    # that did not name its records asks for it now.
    skip = fresh and not edits.refresh_now and not ctx.state.dry_run
    pages = _no_pages() if skip else ctx.target.customers(since)
    async for page in pages:
        for problem in page.problems:  # a record left out; the index keeps what it knew
            ctx.state.desk_problem(problem)
        ctx.state.counts["index_records"] += len(page.records)
        ctx.state.progress["export_pages"] += 1
        ctx.control.progress("index")
        if ctx.state.dry_run:
            pending += page.records  # a dry run changes nothing, so index in memory only
            continue
        async with write_tx(store) as conn:
            now = ctx.clock()
            await lookups.index_records(ctx.desk, conn, page.records, now)
            await edits.page(conn, page.records, now)
            await cursors.set_cursor(conn, "target", name, page.checkpoint.value, now)
        ctx.control.check_lease()
    await edits.finish()
    unsaved = IdentityIndex()
    for record in pending:
        unsaved.add(record.ref.kind, record.ref.id, [] if record.deleted else identity_keys(record))
    return unsaved


async def _no_pages() -> AsyncIterator[CustomerPage]:
    return
    yield  # an empty async generator


async def reads_everything(ctx: Stage1, *, full: bool) -> bool:
    """Whether this run reads the whole book: the job's first run, or one asked to (--full)."""
    if full:
        return True
    async with read_tx(ctx.store) as conn:
        return await cursors.get_cursor(conn, "source", ctx.job) is None


async def pull(ctx: Stage1, unsaved: IdentityIndex, *, full: bool = False) -> set[str]:
    """Read changed deals page by page; return the customers touched (dry runs only: a real
    run queues them page by page, and keeping them all would grow with the book)."""
    touched = await rematch(ctx, unsaved)
    touched |= await _read(ctx, unsaved, full=full, defer=None)
    touched |= await _expire(ctx)
    _collect_source_problems(ctx)
    return touched


async def backfill(
    ctx: Stage1, *, full: bool = False, matching: asyncio.Event | None = None
) -> None:
    """Stage 1 of a run that reads the whole book: read the source while the desk's identity
    export waits for its budget, and match once the index is complete.

    The export is paced by the desk (Zendesk: 10 pages a minute, so 40,000 records take five
    export minutes), and while it waits for its next minute the CPU is idle. From its first
    announced wait (:mod:`connectors.waits`) on, or once it ended, the source's pages are
    read, mapped and stored as ``pending`` deals, each page with its cursor (as :func:`pull`
    commits them). A deal is matched only against the whole index ("matched twice" and "not
    found" are true only once every record was seen), so matching waits for the export's
    last page and then runs as the keyset-paged match pass (:func:`rematch`), which queues
    the customers it decides. An export that never waits (a small desk, an incremental
    refresh) is read whole first, as in any other run, and so the deals read after it are
    matched as each page is read, as any other run's are (:func:`_read_after`).

    Whether the export waited decides the pass's order (:class:`PassOrder`). By account,
    ``matching`` is set when the match pass starts: from then on every page it commits
    queues customers with all their deals decided, so stage 2 may write them while the pass
    goes on. By deal id, it is never set: stage 2 writes once stage 1 is done."""
    export_waits = asyncio.Event()

    def heard(connector: str, _seconds: float) -> None:
        if connector == ctx.target_name:
            export_waits.set()

    ended = asyncio.Event()
    with also_listening(heard):
        refreshing = asyncio.ensure_future(refresh_index(ctx, ended))
        unsaved, order = await _together(
            refreshing, _read_after(ctx, export_waits, refreshing, ended, full=full)
        )
    if matching is not None and order is not None and order.writes_during_pass:
        matching.set()
    await rematch(ctx, unsaved)
    await _expire(ctx)
    _collect_source_problems(ctx)


async def _read_after(
    ctx: Stage1,
    export_waits: asyncio.Event,
    refreshing: asyncio.Future[IdentityIndex],
    ended: asyncio.Event,
    *,
    full: bool,
) -> PassOrder | None:
    """Read once the export waits or ended; the order its deals are stored pending for, or
    None when they were matched as they were read.

    An export that ended (whole, without failing) before it ever waited leaves nothing to
    wait for: the deals are matched against the whole index as each page is read, as any
    other run's are, and stored once with their match. Stored pending, each was written
    twice (the match pass rewrote its row) and read back once more by the pass.

    With helper processes (a spreader), the reading starts at once instead: the helpers map
    the units they are handed while the export runs, and match (or store pending) and commit
    them once it is decided which (:func:`_read_spread`)."""
    spreader = None if ctx.state.dry_run else ctx.spreading.spreader
    if spreader is not None:
        return await _read_spread(ctx, spreader, export_waits, refreshing, ended, full=full)
    await first_of(export_waits, ended)
    if not export_waits.is_set() and _whole(refreshing):
        await _read(ctx, refreshing.result(), full=full, defer=None)
        return None
    order = PassOrder.of_backfill(export_waited=export_waits.is_set())
    await _read(ctx, IdentityIndex(), full=full, defer=order)
    return order


async def _read_spread(
    ctx: Stage1,
    spreader: Spreader,
    export_waits: asyncio.Event,
    refreshing: asyncio.Future[IdentityIndex],
    ended: asyncio.Event,
    *,
    full: bool,
) -> PassOrder | None:
    """:func:`_read_after` with helpers: read from the start, the units held undecided (mapped
    by the helpers, matched by nobody) until the export waits or ends; then decided as
    :func:`_read_after` decides the pages it reads. The lead's own CPU is the refresh and
    the reading either way; what the helpers map meanwhile is off its part of the run.

    An export that ended whole: every unit is matched against the whole index. One that
    waited, failed or was cancelled: every unit is stored pending (a failed one's run fails,
    and what was not committed by then is read again by the next run: the cursor never
    passes it). Nothing is ever matched against part of the index."""
    spreader.hold()
    reading = asyncio.ensure_future(_read(ctx, IdentityIndex(), full=full, defer=None))
    try:
        # (The reading ends before that only by failing: it waits for the decision.)
        waits = [asyncio.ensure_future(export_waits.wait()), asyncio.ensure_future(ended.wait())]
        try:
            await asyncio.wait([*waits, reading], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        order: PassOrder | None = None
        if export_waits.is_set() or not _whole(refreshing):
            order = PassOrder.of_backfill(export_waited=export_waits.is_set())
        if not reading.done():
            spreader.decide(order)
            ctx.control.checkpoint("stage1_decided")
        await reading
    finally:
        reading.cancel()
    return order


def _whole(refreshing: asyncio.Future[IdentityIndex]) -> bool:
    """Whether the index refresh returned: every record of the export is indexed. (One that
    failed or was cancelled also sets ``ended``; its run fails, and pages read meanwhile are
    stored pending, matched by a later run's pass.)"""
    return refreshing.done() and not refreshing.cancelled() and refreshing.exception() is None


async def _together(first: Awaitable[A], second: Awaitable[B]) -> tuple[A, B]:
    """Both results; when one fails (or stops the run), the other is cancelled and the first
    failure is raised as it is. Cancelling is safe at any point: every page commits with its
    cursor, and a transaction cut short rolls back."""
    one, two = asyncio.ensure_future(first), asyncio.ensure_future(second)
    try:
        await asyncio.gather(one, two)
    except BaseException:
        for task in (one, two):
            task.cancel()
        await asyncio.gather(one, two, return_exceptions=True)
        raise
    return one.result(), two.result()


async def _read(
    ctx: Stage1, unsaved: IdentityIndex, *, full: bool, defer: PassOrder | None
) -> set[str]:
    """The source's changed deals, committed page by page; ``defer``: stored pending, to be
    matched by the match pass in this order (the index is still being read)."""
    touched: set[str] = set()
    async with read_tx(ctx.store) as conn:
        raw = None if full else await cursors.get_cursor(conn, "source", ctx.job)
    query = DealQuery(fields=ctx.mapping.source_paths(), select=ctx.mapping.spec.select, full=full)
    since = Cursor(value=raw) if raw else None
    # Deals matched as they are read may be spread over the run's helpers (pages deferred to
    # the match pass are cheap to store: they stay here).
    spreader = None if defer or ctx.state.dry_run else ctx.spreading.spreader
    async for page in ctx.source.changed_deals(query, since):
        if spreader is not None:
            await spreader.hand(ctx, page.deals, page.checkpoint.value)
        else:
            changed = await _commit_page(ctx, unsaved, page.deals, page.checkpoint.value, defer)
            if ctx.state.dry_run:
                touched |= changed
        ctx.control.checkpoint("after_stage1_commit")
        if ctx.control.stopping.is_set():
            if spreader is not None:
                await spreader.finish(ctx)
            raise RunInterrupted("shutting down after committing this page")
        ctx.control.check_lease()
    if spreader is not None:
        await spreader.finish(ctx)
    return touched


def _collect_source_problems(ctx: Stage1) -> None:
    """Sources that read files report bad rows and files after a read (which sheet, row)."""
    problems = getattr(ctx.source, "problems", None)
    if callable(problems):
        for problem in problems():
            ctx.state.record_error(f"{ctx.job}: {problem}")


@dataclass(slots=True)
class MappedDeal:
    """One deal of a page as mapped: its terms, why they could not be mapped, or None for a
    deleted deal; terms come with their stored JSON form and fingerprint, made once.

    Not frozen (nothing changes it): a frozen dataclass sets each field through
    ``object.__setattr__``, three times the cost of making it, once a deal."""

    deal: SourceDeal
    terms: DealTerms | MappingFailed | None
    stored: JsonText | EncodedJson | None = None
    """The row's terms column: the terms' JSON text, written by the store as it is (the
    fingerprint's sorted text with the modification time, :meth:`DealTerms.stored_text`; or
    pydantic's, for terms only their dumped form can write); in a dry run with
    ``terms.model_dump(mode="json")``, which its overlay row holds."""
    digest: str = ""

    @classmethod
    def of(
        cls, deal: SourceDeal, terms: DealTerms | MappingFailed | None, *, dry_run: bool
    ) -> MappedDeal:
        if not isinstance(terms, DealTerms):
            return cls(deal, terms)
        # A real run only writes the text: no JSON form is made, and the text stored is the
        # one the fingerprint hashes (with the modification time), made once.
        if not dry_run:
            both = terms.stored_text()
            if both is not None:
                return cls(deal, terms, JsonText(both[0]), both[1])
        stored = model_json(terms) if dry_run else model_text(terms)
        return cls(deal, terms, stored, terms.fingerprint())


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
    deferred: PassOrder | None = None
    """Read while the index still is: its deals are stored pending for the match pass, which
    reads them in this order."""


async def _commit_page(
    ctx: Stage1,
    unsaved: IdentityIndex,
    page_deals: Sequence[SourceDeal],
    checkpoint: str | None,
    defer: PassOrder | None = None,
) -> set[str]:
    """Map, match and commit one page's deals (C1), with the page's cursor ``checkpoint``
    (None: a spreader commits the cursor once every page up to this one is committed)."""
    return await _commit_mapped(ctx, unsaved, map_deals(ctx, page_deals), checkpoint, defer)


def map_deals(ctx: Stage1, page_deals: Sequence[SourceDeal]) -> list[MappedDeal]:
    """The deals' terms as mapped, with their stored text and fingerprint: the part of a
    page's work that needs neither the identity index nor the store (a helper does it
    while the lead's index refresh still runs)."""
    dry_run = ctx.state.dry_run
    return [MappedDeal.of(deal, _map(ctx, deal), dry_run=dry_run) for deal in page_deals]


async def _commit_mapped(
    ctx: Stage1,
    unsaved: IdentityIndex,
    mapped: Sequence[MappedDeal],
    checkpoint: str | None,
    defer: PassOrder | None,
) -> set[str]:
    """Match and commit one page's mapped deals (C1); see :func:`_commit_page`."""
    store, job = ctx.store, ctx.job
    wanted: set[IndexKey] = set()
    if not defer:
        for one in mapped:
            if isinstance(one.terms, DealTerms):
                wanted |= wanted_keys(one.terms.account, ctx.mapping.spec.identity)
    async with read_tx(store) as conn:
        known = await deals.deal_states(conn, job, [one.deal.id for one in mapped])
        index = IdentityIndex.of(await identity.index_hits(conn, ctx.target_name, wanted)).overlaid(
            unsaved
        )
    to_match = [
        one.terms
        for one in mapped
        if isinstance(one.terms, DealTerms) and _needs_matching(one.digest, known.get(one.deal.id))
    ]
    undecided: set[str] = set()
    if not defer:  # a deferred page is matched by the match pass, against the whole index
        spec = ctx.mapping.spec
        settled = await lookups.settle(
            ctx.desk, index, [t.account for t in to_match], rules=spec.identity, kind=spec.record
        )
        await lookups.keep_found(ctx.desk, unsaved, settled.found)
        undecided = {to_match[i].deal.id for i in settled.undecided}
    page = _Page(deferred=defer)
    day = today(ctx.clock)
    for one in mapped:
        ctx.state.counts["deals_read"] += 1
        _deal(ctx, index, one, known.get(one.deal.id), page, one.deal.id in undecided, day)
    ctx.state.progress["deals_mapped"] += sum(isinstance(one.terms, DealTerms) for one in mapped)
    ctx.control.progress("read")
    if ctx.state.dry_run:
        ctx.state.counts["deals_changed"] += len(page.rows)
        for row in page.rows:
            ctx.state.overlay[(job, row["deal_id"])] = row
        for deal_id in page.deleted:
            ctx.state.overlay[(job, deal_id)] = {"deleted": True}
        return page.touched
    async with write_tx(store) as conn:
        await ctx.control.fence(conn)
        now = ctx.clock()
        for row in page.rows:
            row["updated_at"] = now
        await deals.save_deals(conn, page.rows)
        await deals.mark_deleted(conn, job, page.deleted, now)
        await deals.mark_failed(conn, job, page.failed, now)
        await work.enqueue(conn, ctx.target_name, page.touched, now)
        await _settle_deal_conflicts(ctx, conn, page)
        if checkpoint is not None:
            await cursors.set_cursor(conn, "source", job, checkpoint, now)
    ctx.control.queued.notify()
    ctx.state.counts["deals_changed"] += len(page.rows)
    return page.touched


async def commit_deals(
    ctx: Stage1, deals_read: Sequence[SourceDeal], defer: PassOrder | None = None
) -> None:
    """Map, match and commit deals read by the lead (a spreader's unit), without the
    cursor: it advances once every deal read before them is committed too. ``defer``: store
    them pending for the match pass, in that order (read while the index was)."""
    await commit_mapped(ctx, map_deals(ctx, deals_read), defer)


async def commit_mapped(
    ctx: Stage1, mapped: Sequence[MappedDeal], defer: PassOrder | None = None
) -> None:
    """:func:`commit_deals` of deals already mapped (:func:`map_deals`). Spread units are
    never a dry run's, so no index of unsaved records is laid over the stored one."""
    await _commit_mapped(ctx, IdentityIndex(), mapped, None, defer)


async def advance_cursor(ctx: Stage1, checkpoint: str) -> None:
    """The job's source cursor to ``checkpoint``: every deal read up to it is committed."""
    async with write_tx(ctx.store) as conn:
        await ctx.control.fence(conn)
        await cursors.set_cursor(conn, "source", ctx.job, checkpoint, ctx.clock())


def _map(ctx: Stage1, deal: SourceDeal) -> DealTerms | MappingFailed | None:
    """A deal's terms, why they could not be mapped, or None for a deleted deal."""
    if deal.deleted:
        return None
    try:
        return ctx.mapping.apply(deal)
    except MappingFailed as exc:
        return exc


def _needs_matching(digest: str, known: deals.KnownDeal | None) -> bool:
    """New or changed terms are matched (and looked up) again, unless a person linked them."""
    if known is None:
        return True
    return known.payload_hash != digest and known.match_method != "manual"


def _deal(
    ctx: Stage1,
    index: IdentityIndex,
    mapped: MappedDeal,
    known: deals.KnownDeal | None,
    page: _Page,
    undecided: bool,
    day: date,
) -> None:
    """One deal of a page: its row, conflicts and touched customers; ``day`` is the page's
    today (validity and guardrails are judged against it)."""
    deal, terms = mapped.deal, mapped.terms
    old_key = known.customer_key if known else None
    if terms is None:
        if known is not None:
            ctx.state.counts["deals_deleted"] += 1
            page.deleted.append(deal.id)
            page.touched |= {old_key} if old_key else set()
        return
    if isinstance(terms, MappingFailed):
        exc = terms
        ctx.state.record_error(f"{ctx.job} {exc}")
        log.warning("deal_mapping_failed", job=ctx.job, deal=deal.id, error=str(exc))
        if known is not None:
            page.failed[deal.id] = str(exc)  # keep the last good terms; report the error
        else:
            page.rows.append(_deal_row(ctx, deal, _raw_hash(deal), None, error=str(exc)))
        return
    digest = mapped.digest
    if known is not None and known.payload_hash == digest:
        ctx.state.counts["deals_unchanged"] += 1
        return
    if page.deferred and not _linked_by_hand(known):
        _defer(ctx, mapped, terms, old_key, page, day)
        return
    match = _match(ctx, index, terms, known, undecided)
    # Only terms that would reach agents are policed: lost or open deals never show.
    rails = violations(terms, ctx.mapping.spec.guardrails, day) if terms.active else []
    page.settled.append(f"{ctx.job}/{deal.id}")
    if match.status in REPORTED:
        page.found.append(ctx.conflicts.match_conflict(terms, match))
    if rails:
        page.found.append(_policy_conflict(ctx, terms, rails, match, digest))
    TERMS.put(digest, deal.modified_at, terms)  # stage 2 plans it without validating again
    page.rows.append(
        _deal_row(
            ctx,
            deal,
            digest,
            match.customer_key,
            **_terms_columns(mapped, terms, day),
            match_status=match.status,
            match_detail=match.model_dump(mode="json"),
            violations=rails or None,
            lookup_at=None if undecided else ctx.clock(),
        )
    )
    page.touched |= {k for k in (old_key, match.customer_key) if k}


def _defer(
    ctx: Stage1, mapped: MappedDeal, terms: DealTerms, old_key: str | None, page: _Page, day: date
) -> None:
    """Store the deal ``pending``, its violations with it: the match pass decides its match
    and raises its conflicts (a policy conflict names the customer) once the index is whole.
    It stays on its previous customer until then, unqueued: stage 2 of a backfill may write
    from the match pass on (:class:`PassOrder`), and a note written before the pass decides
    the deal still shows it where it was; the pass queues both customers if it moves. Its
    ``account_key`` is what the pass's order (``page.deferred``) pages it by."""
    deal = mapped.deal
    spec = ctx.mapping.spec
    rails = violations(terms, spec.guardrails, day) if terms.active else []
    TERMS.put(mapped.digest, deal.modified_at, terms)  # as for a deal matched at once
    order = page.deferred
    page.rows.append(
        _deal_row(
            ctx,
            deal,
            mapped.digest,
            old_key,  # its match stays pending whatever its key
            **_terms_columns(mapped, terms, day),
            match_status=PENDING.status,
            match_detail=_PENDING_DETAIL,
            violations=rails or None,
            account_key="" if order is None else order.key(terms.account, spec.identity),
        )
    )


def _linked_by_hand(known: deals.KnownDeal | None) -> bool:
    return known is not None and known.match_method == "manual" and bool(known.customer_key)


def _match(
    ctx: Stage1,
    index: IdentityIndex,
    terms: DealTerms,
    known: deals.KnownDeal | None,
    undecided: bool,
) -> MatchResult:
    """Match by identity, except a deal a person linked by hand keeps that link, and a deal
    whose lookups the run's budget deferred stays pending (never called unmatched unasked)."""
    if known is not None and _linked_by_hand(known) and known.customer_key:
        ref = RecordRef.from_key(known.customer_key)
        result = MatchResult(
            status="matched", record_kind=ref.kind, record_id=ref.id, method="manual"
        )
    elif undecided:
        result = MatchResult(status="pending")
    else:
        result = index.match(terms.account, ctx.mapping.spec.identity, ctx.mapping.spec.record)
    _count_match(ctx, result)
    return result


def _policy_conflict(
    ctx: Stage1,
    terms: DealTerms,
    rails: list[str],
    match: MatchResult,
    digest: str | None = None,
) -> ConflictRecord:
    """``digest``: the terms' fingerprint when the caller has it."""
    return ConflictRecord(
        kind="out_of_policy",
        target=ctx.target_name,
        customer_key=None,
        field=None,
        scope=f"{ctx.job}/{terms.deal.id}",
        details={
            "deal": terms.deal.id,
            "job": ctx.job,
            "territory": terms.deal.territory,
            "deal_name": terms.name,
            "account": terms.account.name,
            "violations": rails,
            "customer_key": match.customer_key,
            "fingerprint": digest or terms.fingerprint(),
            "owner": terms.owner_email,
            "url": terms.deal.url,
        },
    )


def _deal_row(
    ctx: Stage1, deal: SourceDeal, digest: str, key: str | None, **columns: Any
) -> dict[str, Any]:
    """A deal's row, every column in the table's order (the order names the statement's
    columns): ``columns`` over the defaults of a deal stored without terms."""
    row = {
        "job": ctx.job,
        "deal_id": deal.id,
        "target": ctx.target_name,
        "territory": ctx.mapping.territory,
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
        "account_key": "",
    }
    row.update(columns)  # a key already there keeps its place
    return row


def _terms_columns(mapped: MappedDeal, terms: DealTerms, day: date) -> dict[str, Any]:
    """The row's columns of mapped terms."""
    return {"terms": mapped.stored, "live": terms.is_live(day), "valid_until": terms.valid_until}


def _raw_hash(deal: SourceDeal) -> str:
    raw = json.dumps(deal.payload, sort_keys=True, default=str)
    return "raw:" + hashlib.sha256(raw.encode()).hexdigest()[:28]


def _count_match(ctx: Stage1, match: MatchResult) -> None:
    ctx.state.counts[f"deals_{match.status}"] += 1


async def _settle_deal_conflicts(ctx: Stage1, conn: Connection, page: _Page) -> None:
    await ctx.conflicts.settle(conn, page.found, page.settled)


async def rematch(ctx: Stage1, unsaved: IdentityIndex) -> set[str]:
    """The match pass: try every deal that found no single record last time (or was stored
    ``pending``: read while the index was, or its lookup deferred) against the refreshed
    index, a page of deals at a time in deal id order (keyset paging: memory stays flat, each
    page is one range search). Those never looked up at the desk (new, or whose record
    vanished, or whose lookup was deferred) are looked up first, a page's keys in one batch.
    Each page commits its decisions, conflicts and queued customers; returns the customers
    touched in a dry run only (a real run queues them page by page)."""
    touched: set[str] = set()
    for status in deals.UNDECIDED:
        after: deals.PageEnd | None = None
        while True:
            async with read_tx(ctx.store) as conn:
                rows = await deals.undecided_page(
                    conn, ctx.job, ctx.target_name, status, after, MATCH_PAGE
                )
            if not rows:
                break
            after = deals.PageEnd(rows[-1].account_key, rows[-1].deal_id)
            changed = await _rematch_page(ctx, unsaved, rows)
            if ctx.state.dry_run:
                touched |= changed
            if ctx.control.stopping.is_set():
                raise RunInterrupted("shutting down after committing this page of matches")
            ctx.control.check_lease()
    return touched


class _StoredAccount(BaseModel):
    """A deal's stored terms as the match pass reads them: the account alone, validated from
    the JSON text (pydantic skips the rest without making Python objects of it)."""

    account: AccountIdentity


def stored_account(terms_text: str) -> AccountIdentity:
    """The account of a deal's stored terms, as ``AccountIdentity.model_validate`` makes it
    from the decoded terms' ``account`` (decoding every page's terms into dicts first cost
    as much as the rest of reading it)."""
    account = _sorted_account(terms_text)
    if account is not None:
        return account
    try:
        # The validator itself, as ``model_validate_json`` calls it with no options.
        stored: _StoredAccount = _StoredAccount.__pydantic_validator__.validate_json(terms_text)
    except ValidationError:
        # Pydantic's parser refuses a lone surrogate's escape (``"\ud800"``), which the
        # standard decoder reads (and the store writes): what else fails, fails as before.
        return AccountIdentity.model_validate(json.loads(terms_text)["account"])
    return stored.account


_ACCOUNT_FIRST = '{"account":{'
_AFTER_ACCOUNT = '},"active":'
_validate_account = AccountIdentity.__pydantic_validator__.validate_json


def _sorted_account(terms_text: str) -> AccountIdentity | None:
    """The account of terms stored as stage 1 stores them (:meth:`DealTerms.stored_text`:
    keys sorted, so ``account`` first and ``active`` next), validated from its own text
    alone; None for any other text (terms stored in field order, ``deal`` first), or
    when that text does not validate (the general reading then decides, as before).

    Validating the whole terms text for its account was most of the match pass's cost of
    a deal. The account's object holds no object, and no JSON text holds an unescaped
    quote, so the object ends at the first ``},"active":``."""
    if not terms_text.startswith(_ACCOUNT_FIRST):
        return None
    end = terms_text.find(_AFTER_ACCOUNT)
    if end < 0:
        return None
    try:
        account: AccountIdentity = _validate_account(terms_text[len(_ACCOUNT_FIRST) - 1 : end + 1])
    except ValidationError:
        return None
    return account


async def _rematch_page(
    ctx: Stage1, unsaved: IdentityIndex, rows: Sequence[deals.Undecided]
) -> set[str]:
    spec = ctx.mapping.spec
    # Only the account is needed to match; the whole terms only for a conflict. A new deal
    # that failed mapping has no terms: JSON null, which ``terms IS NOT NULL`` lets through.
    waiting = [(row, stored_account(row.terms_text)) for row in rows if row.terms_text != "null"]
    wanted = set().union(*(wanted_keys(account, spec.identity) for _, account in waiting))
    async with read_tx(ctx.store) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, ctx.target_name, wanted)).overlaid(
            unsaved
        )
    unasked = [i for i, (row, _) in enumerate(waiting) if row.lookup_at is None]
    settled = await lookups.settle(
        ctx.desk,
        index,
        [waiting[i][1] for i in unasked],
        rules=spec.identity,
        kind=spec.record,
    )
    await lookups.keep_found(ctx.desk, unsaved, settled.found)
    deferred = {unasked[i] for i in settled.undecided}
    asked = set(unasked) - deferred
    now = ctx.clock()
    page = _Page()
    for position, (row, account) in enumerate(waiting):
        if position in deferred:
            continue  # its lookup waits for the next run's budget; nothing is reported
        result = index.match(account, spec.identity, spec.record)
        looked = now if position in asked else row.lookup_at
        if result.status == row.match_status and looked == row.lookup_at:
            continue  # still unmatched (or still ambiguous): its open conflict stands
        key = result.customer_key  # (a property making its text: asked once a deal)
        if row.match_status == "pending" and row.lookup_at is None:
            _count_match(ctx, result)  # first decided here (read while the index was)
        elif key:
            ctx.state.counts["deals_rematched"] += 1
        if result.status != row.match_status:
            _rematched_conflicts(ctx, row, result, page)
        page.rows.append(
            {
                "deal_id": row.deal_id,
                "customer_key": key,
                "match_status": result.status,
                "match_detail": model_text(result),  # only written: its text alone
                "lookup_at": looked,
            }
        )
        # A deal read by a backfill stays on its previous customer until decided here: a
        # customer it leaves is written again too.
        if row.customer_key:
            page.touched.add(row.customer_key)
        if key:
            page.touched.add(key)
    if page.rows and not ctx.state.dry_run:
        async with write_tx(ctx.store) as conn:
            await ctx.control.fence(conn)
            await deals.save_matches(conn, ctx.job, page.rows, now)
            await work.enqueue(conn, ctx.target_name, page.touched, now)
            await _settle_deal_conflicts(ctx, conn, page)
        ctx.control.queued.notify()
    return page.touched


def _rematched_conflicts(
    ctx: Stage1, row: deals.Undecided, result: MatchResult, page: _Page
) -> None:
    """A deal whose match changed: its match and policy conflicts are decided again."""
    page.settled.append(f"{ctx.job}/{row.deal_id}")
    if result.status in REPORTED or row.violations:
        terms = DealTerms.model_validate(json.loads(row.terms_text))
        if result.status in REPORTED:
            page.found.append(ctx.conflicts.match_conflict(terms, result))
        if row.violations:
            page.found.append(_policy_conflict(ctx, terms, row.violations, result))


async def _expire(ctx: Stage1) -> set[str]:
    """Customers whose terms expired since the last run must be re-planned (terms drop out)."""
    day = today(ctx.clock)
    async with read_tx(ctx.store) as conn:
        keys = await deals.expiring_customers(conn, ctx.target_name, day)
    if keys and not ctx.state.dry_run:
        async with write_tx(ctx.store) as conn:
            await work.enqueue(conn, ctx.target_name, keys, ctx.clock())
            await deals.mark_expired(conn, ctx.target_name, day)
    ctx.state.counts["customers_expired"] += len(keys)
    return set(keys)
