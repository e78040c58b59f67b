"""Stage 2: claim customers (C2), read their records, plan, write in bulk, commit (C3).

A batch is as large as the target's bulk endpoint. The target is read once per batch (current
values for the three-way compare), written once (only changed fields of changed records), and
then one local transaction, fenced by the claim token, records the new bases, the audit trail
and the conflicts, and removes the work items. A crash between the write and C3 replays the
batch: the planner then sees the target already holding the desired values and writes nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import structlog

from connectors.base import CustomerRecord, RecordChange, RecordRef, ServiceTarget, WriteResult
from connectors.errors import BudgetExhausted, ConnectorError, PermanentError
from connectors.settings import ConnectorConfig
from sync_jobs.alerts.outbox import notify
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.domain.mapping import Mapping, NoteRule
from sync_jobs.domain.model import DealTerms
from sync_jobs.domain.notes import NoteTemplates, template_location
from sync_jobs.domain.planner import (
    CustomerState,
    DealView,
    LineRenderer,
    Plan,
    Resolution,
    plan_customer,
)
from sync_jobs.run import recheck
from sync_jobs.run.catalog import (
    Catalog,
    LiveCatalog,
    missing_field_message,
    refused_fields,
    remember,
)
from sync_jobs.run.context import CustomerPreview, RunState
from sync_jobs.run.control import Clock, RunControl, first_of, today
from sync_jobs.run.terms_cache import TERMS
from sync_jobs.store import batch_state, deals, identity, work
from sync_jobs.store.audit import AuditEntry
from sync_jobs.store.bases import Base
from sync_jobs.store.batch_state import ResolvedConflict
from sync_jobs.store.conflicts import ConflictRecord, mark_applied, raise_conflicts
from sync_jobs.store.db import Connection, Store, read_tx, write_tx

log = structlog.get_logger("dealbridge.stage2")
PLAN_KINDS = ("target_edited", "territory_disagreement", "expired_terms_present")


class StaleClaim(RuntimeError):
    """Another worker took these customers over; our results must not be recorded."""


@dataclass(frozen=True)
class Stage2:
    """What stage 2 needs to work one target's queue for a run, and nothing else."""

    job: str
    """The job whose run drains the queue (its name goes into the audit trail)."""
    target_name: str
    target: ServiceTarget
    target_config: ConnectorConfig
    """Identifies the desk whose field catalog is kept."""
    store: Store
    clock: Clock
    state: RunState
    control: RunControl
    replica_id: str
    """Who claims the work items (a dead replica's claims are released by its successor)."""
    write_workers: int
    claim_timeout: timedelta
    max_attempts: int
    alerts: AlertsConfig
    mappings: dict[str, Mapping]
    """Every job's mapping: a record carries the deals of every job of the target."""
    note: NoteRule
    """The note placement every job of the target shares."""
    mapping_folder: Callable[[str], Path]
    """Where a job's mapping (and so its note template) lives."""
    templates: Callable[[str], NoteTemplates]
    """The note renderer for a note format."""
    catalog: LiveCatalog
    relink: recheck.Relinking


async def drain(
    ctx: Stage2,
    pulling: Awaitable[object],
    *,
    overlap: bool = True,
    begin: asyncio.Event | None = None,
    ready: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Work the target's queue until it is empty (or the target refuses us).

    ``engine.write_workers`` workers each claim and finish their own batches, exactly as
    replicas would (claims are exclusive and fenced), so while one batch waits for the desk
    another is planned or recorded. With ``overlap`` they start while ``pulling`` (stage 1)
    still reads, on its first committed page, so reading the source and writing the desk
    overlap; an empty queue means "wait for the next page" until stage 1 is done. Without it
    they start when stage 1 ends: a backfill reads the whole book in the source's order, and
    a customer whose deals sit on several pages would be written once per page; ``begin``,
    when given, starts them earlier, once it is set (a backfill's match pass: it decides a
    customer's deals on one page, and queues it as that page commits). The first
    worker to hit a connector error stops the others at their next claim, and so does a
    failing stage 1; errors are raised once everyone has stopped, stage 1's first.
    ``ready``, when given, is awaited before the first claim (worker processes: the lead's
    workers start with its helpers', so the queue is shared from the first batch).
    """
    halt = asyncio.Event()
    pulled = asyncio.Event()

    async def pull() -> None:
        try:
            await pulling
        except BaseException:
            halt.set()  # as before pipelining: a failed stage 1 starts no further batches
            raise
        finally:
            pulled.set()
            ctx.control.queued.notify()

    claims = _Claims()

    async def work() -> None:
        if not overlap:
            await first_of(pulled, begin)
        if ready is not None:
            await ready()
        await _work(ctx, halt, pulled, claims)

    workers = max(1, ctx.write_workers)
    outcomes = await asyncio.gather(
        pull(), *(work() for _ in range(workers)), return_exceptions=True
    )
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


@dataclass
class _Claims:
    """How one drain's workers claim: one at a time, and not while the queue is known to be
    short. Each commit of stage 1 wakes every idle worker; without this, all but the first
    few would each spend a write transaction finding nothing (a backfill's match pass
    commits a hundred pages while sixteen workers wait)."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    short_at: int = -1
    """Stage 1's commit count when a claim last found fewer customers than a batch: until
    its next commit, the queue holds nothing more of this run's that is due and free (a
    customer queued again while a worker writes it waits for that commit; the end of stage
    1 counts as one, and from then on every worker claims until the queue is empty)."""

    async def claim(
        self, ctx: Stage2, pulled: asyncio.Event
    ) -> tuple[list[work.WorkItem], bool, int]:
        """A batch (maybe empty), whether stage 1 had ended before it was claimed, and
        stage 1's commit count then (an empty batch waits past it)."""
        size = max(1, ctx.target.write_batch_size)
        async with self.lock:
            finished = pulled.is_set()  # read before claiming: a later page may be queued
            seen = ctx.control.queued.count
            if not finished and self.short_at == seen:
                return [], finished, seen
            items = await work.claim(
                ctx.store,
                ctx.target_name,
                size,
                ctx.clock(),
                ctx.claim_timeout,
                holder=ctx.replica_id,
            )
            if len(items) < size:
                self.short_at = seen
            return items, finished, seen


async def _work(ctx: Stage2, halt: asyncio.Event, pulled: asyncio.Event, claims: _Claims) -> None:
    while not (ctx.control.stopping.is_set() or halt.is_set()):
        items, finished, seen = await claims.claim(ctx, pulled)
        if not items:
            if finished:
                return
            await ctx.control.queued.wait_past(seen)  # the next page (or the end of stage 1)
            continue
        ctx.control.checkpoint("after_claim")
        ctx.control.check_lease()
        try:
            await _batch(ctx, items)
        except BudgetExhausted:
            halt.set()  # the desk will refuse every batch until then: not the customers' fault
            async with write_tx(ctx.store) as conn:
                await work.release(conn, items, ctx.clock())
            raise
        except ConnectorError as exc:
            halt.set()
            await _fail(ctx, items, str(exc))
            ctx.state.errors.append(f"{ctx.target_name}: {exc}")
            if isinstance(exc, PermanentError):
                raise
            return
        except BaseException:
            halt.set()
            raise


async def preview(ctx: Stage2, keys: set[str], *, with_queued: bool = True) -> None:
    """Dry run: plan the given customers (plus everything queued, unless the console asks
    about one customer) and keep the diffs."""
    queued: list[str] = []
    if with_queued:
        async with read_tx(ctx.store) as conn:
            queued = list(await work.queued_keys(conn, ctx.target_name))
    for part in _chunks(sorted(keys | set(queued)), max(1, ctx.target.write_batch_size)):
        plans, names, moves = await _plans(ctx, part)
        for key, plan in plans.items():
            ctx.state.add_preview(_preview(key, names.get(key, ""), plan))
        for move in moves:
            if move.leaves:
                ctx.state.notices.append(_moved(move))


MOVED_REPLANS = 2
"""How often one batch plans again the records a desk refused as changed since their read
(an agent saving the record between our read and our write): the next plan sees the edit and
holds it as a conflict, so a race costs one more read, not a failed record."""


async def _batch(ctx: Stage2, items: Sequence[work.WorkItem]) -> None:
    plans, names, moves = await _plans(ctx, [i.customer_key for i in items])
    by_key = await _write(ctx, plans)
    for _ in range(MOVED_REPLANS):
        moved = [key for key, result in by_key.items() if result.moved]
        if not moved:
            break
        log.info("records_moved_since_read", target=ctx.target_name, records=len(moved))
        again, again_names, again_moves = await _plans(ctx, moved)
        plans.update(again)
        names.update(again_names)
        moves = [m for m in moves if m.row.customer_key not in moved] + again_moves
        for key in moved:
            del by_key[key]  # the new plan decides: it may hold the edit and write nothing
        by_key.update(await _write(ctx, again))
    async with write_tx(ctx.store) as conn:
        done = [i for i in items if _succeeded(i.customer_key, plans, by_key)]
        await _record_batch(ctx, conn, items, done, plans, by_key, names)
        gone = [i.customer_key for i in items if i.customer_key not in plans]
        await identity.forget(conn, ctx.target_name, gone)
        await deals.unlink(conn, ctx.target_name, gone, ctx.clock())
        queued = await recheck.commit(ctx.relink, conn, moves)
    if queued:
        ctx.control.queued.notify()  # the records deals moved to are written by this same drain
    ctx.control.checkpoint("after_stage2_commit")
    ctx.control.progress("write")


async def _write(ctx: Stage2, plans: dict[str, Plan]) -> dict[str, WriteResult]:
    """Write the plans' changes, each carrying the version its plan was made on."""
    changes = [
        RecordChange(ref=p.ref, fields=p.fields, expected_version=p.version)
        for p in plans.values()
        if p.changes and p.error is None
    ]
    results = await ctx.target.write(changes) if changes else []
    ctx.state.counts["write_calls"] += 1 if changes else 0
    ctx.control.checkpoint("after_target_write")
    return {r.ref.key: r for r in results}


def _succeeded(key: str, plans: dict[str, Plan], results: dict[str, WriteResult]) -> bool:
    """Whether the customer ``key`` was planned and written (or had nothing to write).

    Plans are kept by their record's key (``plan.ref.key``, which is a pydantic property:
    formatting it again per customer cost more than the lookup)."""
    plan = plans.get(key)
    if plan is None:
        return True
    if plan.error is not None:
        return False
    result = results.get(key)
    return result is None or result.ok


async def _plans(
    ctx: Stage2, keys: Sequence[str]
) -> tuple[dict[str, Plan], dict[str, str], list[recheck.Move]]:
    target = ctx.target_name
    async with read_tx(ctx.store) as conn:
        state = await batch_state.load(conn, target, keys)
    rows, bases, names, decisions = state.deals, state.bases, state.names, state.decisions
    resolutions = _resolutions(state.resolved)
    refs = [RecordRef.from_key(k) for k in keys]
    records = {r.ref.key: r for r in await ctx.target.read(refs)}
    # A record the desk answered but that did not read (a field of the wrong kind) fails
    # with the desk's message; it is neither gone nor moved, so its deals stay where they are.
    malformed = {key: r.problem for key, r in records.items() if r.problem is not None}
    if malformed:
        records = {key: r for key, r in records.items() if key not in malformed}
    readable, unreadable = _readable(_with_overlay(ctx, rows, keys))
    # The record just read must still carry the key each deal was matched by; a deal whose
    # key moved is resolved again and, if it now belongs elsewhere, planned off this record.
    moves = await recheck.stale_links(ctx.relink, [row for row, _ in readable], records)
    left = {(m.row.job, m.row.deal_id) for m in moves if m.leaves}
    views: dict[str, list[DealView]] = defaultdict(list)
    templates: dict[str, tuple[Path, str | None]] = {}
    for row, terms in readable:
        if (row.job, row.deal_id) in left:
            continue
        view = _view(ctx, row, terms, decisions.get(f"{row.job}/{row.deal_id}"), templates)
        if view is not None:
            views[row.customer_key].append(view)
    names = {key: names.get(key) or (records[key].name if key in records else "") for key in keys}
    note = ctx.note
    render_line = _line_renderer(ctx, note)
    plans = {}
    for key in keys:
        record = records.get(key)
        if key in malformed:
            plans[key] = Plan(RecordRef.from_key(key), (), {}, (), (), 0, error=malformed[key])
            continue
        if record is None:
            ctx.state.record_error(
                f"{target} record {key} no longer exists; its deals will "
                "be matched again after the next index refresh"
            )
            continue
        plans[key] = _plan(
            ctx,
            record,
            views.get(key, []),
            bases.get(key, {}),
            note,
            resolutions.get(key, {}),
            render_line,
        )
        if key in unreadable:  # planned without that deal: must not be written
            plans[key] = plans[key]._replace(error=unreadable[key])
    return await _refuse_unknown_fields(ctx, plans), names, moves


def _readable(rows: Sequence[Any]) -> tuple[list[tuple[Any, DealTerms]], dict[str, str]]:
    """The rows with their terms, and the customers with a deal whose stored terms are not
    valid terms (a row changed by hand, or written by an incompatible version), each with
    the reason: that customer's record fails, naming the deal, and the batch goes on."""
    readable: list[tuple[Any, DealTerms]] = []
    unreadable: dict[str, str] = {}
    for row in rows:
        try:
            readable.append((row, _terms(row)))
        except ValueError as exc:  # pydantic's ValidationError, or JSON that does not parse
            reason = str(exc).splitlines()[0]
            unreadable.setdefault(
                row.customer_key,
                f"stored terms of deal {row.job}/{row.deal_id} unreadable: {reason}",
            )
    return readable, unreadable


async def _refuse_unknown_fields(ctx: Stage2, plans: dict[str, Plan]) -> dict[str, Plan]:
    """A field the desk's live catalog lacks is never written: the record fails, naming it.

    (Zendesk drops unknown custom-field keys without an error, so a misspelled write field
    would otherwise be lost silently, and look "unchanged" to every later ctx.) The catalog
    is fetched by the first batch that has changes, once per ctx."""
    if not any(p.changes and p.error is None for p in plans.values()):
        return plans
    catalog = await ctx.catalog.get(lambda: _fetch_catalog(ctx))
    for key, plan in plans.items():
        if plan.error is not None:
            continue
        refused = refused_fields((c.field for c in plan.changes), catalog)
        if refused:
            error = "; ".join(missing_field_message(name, catalog) for name in refused)
            plans[key] = plan._replace(error=error)
    return plans


async def _fetch_catalog(ctx: Stage2) -> Catalog:
    fields = await ctx.target.field_catalog()
    log.info("target_catalog_fetched", target=ctx.target_name, fields=len(fields))
    if not ctx.state.dry_run:  # kept for validate --offline and the daemon's reload
        config = ctx.target_config
        await remember(ctx.store, ctx.target_name, config, fields, ctx.clock())
    return Catalog(ctx.target_name, tuple(fields))


def _with_overlay(ctx: Stage2, rows: Sequence[Any], keys: Sequence[str]) -> list[Any]:
    """Dry runs: replace stored deal rows by what stage 1 would have written."""
    overlay = ctx.state.overlay
    if not overlay:
        return list(rows)
    kept = [r for r in rows if (r.job, r.deal_id) not in overlay]
    wanted = set(keys)
    added = [
        SimpleNamespace(**row)
        for row in overlay.values()
        if not row.get("deleted") and row.get("terms") and row.get("customer_key") in wanted
    ]
    return kept + added


def _plan(
    ctx: Stage2,
    record: CustomerRecord,
    deals: list[DealView],
    base: dict[str, Any],
    note: NoteRule,
    resolutions: dict[str, Resolution],
    render_line: LineRenderer,
) -> Plan:
    state = CustomerState(
        target=ctx.target_name,
        record=record,
        deals=deals,
        base=base,
        note=note,
        text_limit=ctx.target.text_limit,
        today=today(ctx.clock),
        resolutions=resolutions,
    )
    return plan_customer(state, render_line)


def _line_renderer(ctx: Stage2, note: NoteRule) -> LineRenderer:
    """How a batch's deal lines are rendered: by the note format's templates (looked up
    once a batch, not once a customer)."""
    line = ctx.templates(note.format).line
    return lambda d: line(d.terms, d.template, d.folder, stored=d.stored)


def _view(
    ctx: Stage2,
    row: Any,
    terms: DealTerms,
    decision: dict[str, Any] | None,
    templates: dict[str, tuple[Path, str | None]],
) -> DealView | None:
    """A stored deal (its ``terms`` read) as the planner sees it; None when a person rejected
    its terms.

    ``templates`` keeps each job's note template location for the batch: building and
    hashing its path per deal cost a tenth of planning."""
    mapping = ctx.mappings.get(row.job)
    review = False
    if getattr(row, "violations", None):
        current = decision is not None and decision.get("pinned") == row.payload_hash
        if current and decision is not None and decision.get("take") == "target":
            return None
        review = not (current and decision is not None and decision.get("take") == "source")
    # A dry run's overlay row holds its terms as a dict, not as stored text: not reused.
    stored = None
    if getattr(row, "terms_text", None) is not None:
        stored = (row.payload_hash, row.modified_at)
    if mapping is None:  # the job was removed from config: its deals still describe terms
        return DealView(terms=terms, rules={}, under_review=review, stored=stored)
    location = templates.get(row.job)
    if location is None:
        location = templates[row.job] = template_location(
            ctx.mapping_folder(row.job), mapping.spec.note.template
        )
    folder, template = location
    return DealView(
        terms=terms,
        rules=mapping.spec.write,
        template=template,
        folder=folder,
        under_review=review,
        stored=stored,
    )


def _terms(row: Any) -> DealTerms:
    """A stored deal's terms: as stage 1 validated them if still cached, else validated from
    the stored JSON text in one step (a dry run's overlay rows hold them as a dict)."""
    text = getattr(row, "terms_text", None)
    if text is None:
        return DealTerms.model_validate(row.terms)
    terms = TERMS.get(row.payload_hash, row.modified_at)
    if terms is None:
        terms = _validate_json(text)
        TERMS.offer(row.payload_hash, row.modified_at, terms)
    return terms


_validate_json: Callable[[str], DealTerms] = DealTerms.__pydantic_validator__.validate_json
"""``DealTerms.model_validate_json`` as it calls the validator with no options, without its
Python wrapper: the same terms, the same errors (most of a backfill's stored terms are
validated here, stage 1's having left the terms cache)."""


def _resolutions(rows: Sequence[ResolvedConflict]) -> dict[str, dict[str, Resolution]]:
    """Resolved plan conflicts by customer and field."""
    found: dict[str, dict[str, Resolution]] = defaultdict(dict)
    for row in rows:
        res = row.resolution or {}
        if row.kind in PLAN_KINDS and row.field and row.customer_key and "take" in res:
            found[row.customer_key][row.field] = Resolution(
                conflict_id=int(row.id),
                kind=row.kind,
                take=res["take"],
                value=res.get("value"),
                pinned=res.get("pinned"),
            )
    return found


async def _record_batch(
    ctx: Stage2,
    conn: Connection,
    items: Sequence[work.WorkItem],
    done: Sequence[work.WorkItem],
    plans: dict[str, Plan],
    results: dict[str, WriteResult],
    names: dict[str, str],
) -> None:
    """C3 for a whole batch: the work items done (fenced by their claim), bases, notes, audit
    and closed conflicts in one hop (:mod:`sync_jobs.store.batch_state`); failures, raised
    conflicts and alerts, which most batches have none of, after it. The run's counts and
    errors are taken once the batch is recorded."""
    now, target = ctx.clock(), ctx.target_name
    commit = batch_state.Commit(done, kinds=PLAN_KINDS)
    failed: dict[str, str] = {}
    found: list[ConflictRecord] = []
    applied: list[int] = []
    for item in items:
        plan = plans.get(item.customer_key)
        if plan is None:
            continue
        result = results.get(item.customer_key)  # plans are kept by their record's key
        if plan.error or (result is not None and not result.ok):
            failed[item.customer_key] = (
                plan.error or (result.error if result else None) or "write failed"
            )
            continue
        _gather(ctx, item.customer_key, plan, result, names, commit, found)
        applied += plan.applied
    commit.still_open = [c.identity for c in found]
    recorded = await batch_state.record(
        conn, target, commit, now=now, run_id=ctx.state.run_id, actor=f"job:{ctx.job}"
    )
    if not recorded.fenced:
        raise StaleClaim("claim expired and was taken over; results not recorded")
    for item in items:
        if item.customer_key in failed:
            await work.fail(conn, item, failed[item.customer_key], now, ctx.max_attempts)
    new = await raise_conflicts(conn, found, now)
    for conflict_id in await mark_applied(conn, applied, now):
        ctx.state.counts["resolutions_applied"] += 1
        log.info("resolution_applied", conflict=conflict_id)
    await notify(conn, ctx.alerts, now, changed=new, closed=recorded.closed)
    ctx.state.counts["conflicts_raised"] += len(new)
    for item in items:
        key = item.customer_key
        if key in failed:
            ctx.state.record_error(f"{names.get(key) or key}: {failed[key]}")
        elif key in plans:
            _account(ctx, key, plans[key], names)


def _gather(
    ctx: Stage2,
    key: str,
    plan: Plan,
    result: WriteResult | None,
    names: dict[str, str],
    commit: batch_state.Commit,
    found: list[ConflictRecord],
) -> None:
    """One successfully planned (and written) customer's share of the batch commit.

    Every customer of every batch passes here (a note and a few fields each), so the common
    case is one pass over the changes with no comprehension made per customer: what a plan
    seldom has (adopted or confirmed bases, bases dropped, findings) is only looked at when
    it is there. Rows come out in the order the audit, the bases and the drops always had
    (a plan holds one change per field, as ``Plan.fields`` takes for granted too)."""
    stored = result.fields if result is not None else {}
    note_field = ctx.note.field
    audit = commit.audit
    bases: list[Base] = []
    cleared: list[tuple[str, str]] = []  # written as None: the base is dropped
    for name, old, new, reason in plan.changes:  # feeds the audit, the note and the bases
        audit.append(AuditEntry(key, name, old, new, reason))
        if name == note_field:
            commit.notes.append((key, str(new), plan.live_deals))
            continue
        value = stored.get(name, new)
        if value is None:
            cleared.append((key, name))
        else:
            bases.append((key, name, value))
    adopt = plan.adopt
    if adopt:  # adopted values replace a written one in its place, the others follow
        bases = [(key, f, v) for f, v in ({f: v for _, f, v in bases} | adopt).items()]
    commit.bases += bases
    if plan.drop_base:
        commit.drops += [(key, f) for f in plan.drop_base]
    if cleared:
        commit.drops += cleared
    for name in plan.confirmed:
        reason = "already on the record; recorded as base"
        audit.append(AuditEntry(key, name, None, adopt[name], reason))
    if plan.findings:
        found += [
            ConflictRecord(
                kind=f.kind,
                target=ctx.target_name,
                customer_key=key,
                field=f.field,
                details=f.details | {"summary": f.summary, "customer": names.get(key)},
                scope="",
            )
            for f in plan.findings
        ]
    commit.settled.append(key)


def _account(ctx: Stage2, key: str, plan: Plan, names: dict[str, str]) -> None:
    """A recorded customer in the run's counts, errors and preview."""
    for problem in plan.problems:  # written anyway: the rest of the record was fine
        ctx.state.record_error(f"{names.get(key) or key}: {problem}")
    ctx.state.counts["customers_written"] += 1 if plan.changes else 0
    ctx.state.counts["fields_written"] += len(plan.changes)
    ctx.state.counts["customers_planned"] += 1
    ctx.state.add_preview_of(lambda: _preview(key, names.get(key, ""), plan))


async def _fail(ctx: Stage2, items: Sequence[work.WorkItem], error: str) -> None:
    async with write_tx(ctx.store) as conn:
        for item in items:
            await work.fail(conn, item, error, ctx.clock(), ctx.max_attempts)


def _preview(key: str, name: str, plan: Plan) -> CustomerPreview:
    return CustomerPreview(
        customer_key=key,
        name=name,
        changes=[(c.field, c.old, c.new) for c in plan.changes],
        conflicts=[f.summary for f in plan.findings],
        error="; ".join(filter(None, [plan.error, *plan.problems])) or None,
    )


def _moved(move: recheck.Move) -> str:
    """A dry run's note on a deal whose key left its record."""
    detail = move.row.match_detail or {}
    where = move.result.customer_key or f"no record ({move.result.status})"
    return (
        f"deal {move.row.job}/{move.row.deal_id}: {detail.get('method')} "
        f"{detail.get('key') or '?'} is no longer on {move.row.customer_key}; it would move "
        f"to {where}"
    )


def _chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i : i + size] for i in range(0, len(keys), size)]
