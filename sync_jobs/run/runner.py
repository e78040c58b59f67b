"""One job run, start to finish: index -> pull (stage 1) -> plan and write (stage 2) -> record.

A run is isolated: its failure is recorded and reported, never raised into the caller's loop,
so one broken job never stops the others. The run row is written first, so a crash leaves a
visible "running" run behind (closed as ``died`` by whoever takes its lease over).

Before it starts, a run checks that none of its connectors waits for a spent vendor budget
(``waiting``), and takes its job lease: from a dead holder on this host at once, releasing the
dead run's claims. A run that completes still reports ``record_errors`` while any customer it
is responsible for waits in failure, so an operator's run never exits 0 over a failing record.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog

from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConfigError,
    ConnectorError,
    DealbridgeError,
    RateLimited,
)
from connectors.redact import redact
from connectors.waits import listening
from sync_jobs.alerts.content import failure_alert
from sync_jobs.alerts.outbox import enqueue
from sync_jobs.config.app import AppConfig
from sync_jobs.config.checks import check_job
from sync_jobs.domain.durations import parse_duration
from sync_jobs.domain.mapping import Mapping
from sync_jobs.run import stage1, stage2, workers
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import (
    KEPT,
    CustomerPreview,
    Engine,
    JobRun,
    RunInterrupted,
    RunState,
)
from sync_jobs.run.control import Checkpoint
from sync_jobs.run.wiring import stage1_of, stage2_of
from sync_jobs.store import deals, holds, identity, work
from sync_jobs.store.db import (
    Connection,
    Store,
    StoreError,
    make_engine,
    migrate_async,
    read_tx,
    write_tx,
)
from sync_jobs.store.leases import (
    Grant,
    LeaseLost,
    Takeover,
    acquire,
    dead_holders,
    holder_of,
    release,
)
from sync_jobs.store.runs import finish_run, mark_died, previous_status, start_run

log = structlog.get_logger("dealbridge.run")

RunStatus = Literal[
    "ok",
    "record_errors",
    "failed",
    "budget_exhausted",
    "waiting",
    "dry_run",
    "skipped",
    "interrupted",
]
"""``budget_exhausted``: a vendor's daily budget ran out during this run; ``waiting``: the run
did not start because one did earlier and has not reset yet (both exit 1: the work is not
done); ``skipped``: another live process runs the job right now."""


@dataclass
class RunReport:
    """What a run did, for the CLI, the daemon and tests."""

    job: str
    run_id: str
    status: RunStatus
    counts: dict[str, int]
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    previews: list[CustomerPreview] = field(default_factory=list)
    previews_omitted: int = 0
    """Customers changed beyond those in ``previews`` (a run keeps the first hundred)."""

    @property
    def exit_code(self) -> int:
        """0 ok, 1 the run finished with record errors, failed, or waits for a vendor budget."""
        return 0 if self.status in ("ok", "dry_run", "skipped", "interrupted") else 1


def config_fingerprint(config: AppConfig) -> str:
    """Hash of config.yaml and every mapping file, recorded on the leases a replica takes."""
    digest = hashlib.sha256()
    for job in sorted(config.jobs):
        path = config.mapping_path(job)
        digest.update(path.read_bytes() if path.is_file() else b"")
    digest.update(config.model_dump_json(exclude={"connectors"}).encode())
    return digest.hexdigest()[:16]


def compile_mappings(config: AppConfig) -> tuple[dict[str, Mapping], dict[str, ConfigError]]:
    """Compile every job's mapping after the checks ``validate`` makes offline (the mapping,
    its note template, its select); a broken one disables only its job."""
    mappings: dict[str, Mapping] = {}
    broken: dict[str, ConfigError] = {}
    for name, job in config.jobs.items():
        try:
            spec = check_job(config, name).spec
        except ConfigError as exc:
            broken[name] = exc
            continue
        mappings[name] = Mapping(
            spec,
            job=name,
            source=job.source,
            system=config.connectors[job.source].kind,
            territory=job.territory,
            base_dir=config.mapping_path(name).parent,
        )
    return mappings, broken


async def open_engine(
    config: AppConfig, checkpoint: Checkpoint | None = None, store: Store | None = None
) -> Engine:
    """Migrate the store and compile mappings: everything a run needs but connectors."""
    await migrate_async(config.state.url)
    mappings, _broken = compile_mappings(config)
    engine = Engine(
        config=config,
        store=store or make_engine(config.state.url),
        mappings=mappings,
        lease_ttl=timedelta(seconds=parse_duration(config.engine.lease_ttl)),
        config_hash=config_fingerprint(config),
    )
    if checkpoint is not None:
        engine.checkpoint = checkpoint
    return engine


async def run_job(
    engine: Engine,
    connections: Connections,
    job: str,
    *,
    dry_run: bool = False,
    full: bool = False,
    write: bool = True,
    retry_now: bool = False,
) -> RunReport:
    """Run one job; never raises for vendor or data problems (they land in the report).

    ``write=False`` stops after stage 1: the customers stay queued for the next run of any
    job on the same target (``dealbridge run all`` uses it so that a customer several
    territories sell to is written once, by the last job of its target). ``retry_now`` (an
    operator's explicit run) retries failed customers at once instead of after their back-off.
    """
    state = RunState(
        run_id=uuid.uuid4().hex,
        job=job,
        dry_run=dry_run,
        retry_now=retry_now,
        started_at=engine.clock(),
    )
    started = time.monotonic()
    with structlog.contextvars.bound_contextvars(job=job, run_id=state.run_id):
        try:
            report = await _run_job(engine, connections, job, state, full=full, write=write)
        finally:
            engine.progress.finished(job)
        log.info(
            "run_finished",
            status=report.status,
            seconds=round(time.monotonic() - started, 2),
            **report.counts,
            **({"reason": report.notices[0]} if report.status in ("skipped", "waiting") else {}),
        )
        return report


async def _run_job(
    engine: Engine,
    connections: Connections,
    job: str,
    state: RunState,
    *,
    full: bool,
    write: bool,
) -> RunReport:
    dry_run = state.dry_run
    if job not in engine.mappings:
        _, broken = compile_mappings(engine.config)
        problem = broken.get(job)
        state.errors.append(str(problem) if problem else f"job {job!r} has no valid mapping")
        return RunReport(job, state.run_id, "failed", dict(state.counts), state.errors)
    job_config = engine.job(job)
    on_hold = await _holds(engine, job_config.source, job_config.target)
    if on_hold:
        return RunReport(job, state.run_id, "waiting", {}, [], on_hold)
    grant = None
    if not dry_run:
        grant = await _take_lease(engine, state)
        if grant is None:
            return RunReport(job, state.run_id, "skipped", {}, [], state.notices)
    run = JobRun(
        engine,
        job,
        connections.source(job_config.source),
        connections.target(job_config.target),
        state,
        grant,
    )
    status: RunStatus = "ok"
    failure: Exception | None = None
    try:
        with listening(run.waiting):
            async with run.lease_heartbeat():
                await _stages(run, full=full, write=write)
    except RunInterrupted:
        status = "interrupted"
    except BudgetExhausted as exc:
        status, failure = "budget_exhausted", exc
        state.errors.append(f"{exc}; {exc.when()}")
        log.warning("budget_exhausted", connector=exc.connector, until=exc.until.isoformat())
    except (ConnectorError, DealbridgeError, stage2.StaleClaim, LeaseLost) as exc:
        status, failure = "failed", exc
        state.errors.append(str(exc))
        log.error("run_failed", error=str(exc))
    except Exception as exc:
        status, failure = "failed", exc
        state.errors.append(f"internal error: {type(exc).__name__}: {redact(str(exc))[:500]}")
        log.exception("run_crashed")
    state.notices += run.target.notices()
    if status == "ok" and not dry_run:
        await _still_failing(run, write=write)
    if status == "ok":
        status = "dry_run" if dry_run else ("record_errors" if state.errors else "ok")
    if not dry_run:
        status = await _record_end(engine, run, status, failure, grant)
    return RunReport(
        job,
        state.run_id,
        status,
        dict(state.counts),
        state.errors,
        state.notices,
        state.previews,
        state.previews_omitted,
    )


async def _take_lease(engine: Engine, state: RunState) -> Grant | None:
    """The job's lease (taken over at once from a dead holder on this host), and the run's
    row; None, with the reason in the notices, when a live process holds it."""
    job = state.job
    grant = await acquire(
        engine.store,
        f"job:{job}",
        engine.replica_id,
        engine.lease_ttl,
        engine.clock(),
        engine.config_hash,
        on_takeover=after_takeover(engine),
    )
    if grant is None:
        held = await holder_of(engine.store, f"job:{job}")
        who = held.describe() if held else "another replica"
        until = f"{held.until:%Y-%m-%d %H:%M:%S} UTC" if held else "shortly"
        state.notices.append(f"job {job} is running on {who} (lease until {until}); skipped")
        return None
    if grant.took_over is not None:
        state.notices.append(grant.took_over.describe())
        log.warning("lease_taken_over", lease=grant.name, previous=grant.took_over.describe())
    await _reap_dead_holders(engine)
    async with write_tx(engine.store) as conn:
        await start_run(conn, state.run_id, job, engine.clock(), engine.replica_id)
    return grant


async def _holds(engine: Engine, *connectors: str) -> list[str]:
    """Why the job must not start yet: a connector's vendor budget is spent (empty: go)."""
    async with read_tx(engine.store) as conn:
        found = await holds.active(conn, connectors, engine.clock())
    return [
        f"waiting: {h.connector}'s {h.reason} until {h.until:%Y-%m-%d %H:%M} UTC; "
        "the job runs again then"
        for h in found
    ]


def after_takeover(engine: Engine) -> Any:
    """What taking a lease from a dead (or lapsed) holder also does, in the same transaction:
    its claims go back to the queue at once, and its unfinished runs are closed as died."""

    async def clean_up(conn: Connection, takeover: Takeover) -> None:
        now = engine.clock()
        released = await work.release_claims_of(conn, takeover.previous.holder, now)
        await mark_died(conn, takeover.previous.holder, takeover.describe(), now)
        if released:
            log.warning("claims_released", holder=takeover.previous.holder, customers=released)

    return clean_up


async def _reap_dead_holders(engine: Engine) -> None:
    """Release what dead processes on this host had claimed, even for leases of other jobs
    (their customers would otherwise wait for that job's next run, or the claim timeout)."""
    for dead in await dead_holders(engine.store, engine.replica_id):
        async with write_tx(engine.store) as conn:
            now = engine.clock()
            released = await work.release_claims_of(conn, dead.holder, now)
            message = Takeover(dead, died=True).describe()
            closed = await mark_died(conn, dead.holder, message.removesuffix("; taking over"), now)
        if released or closed:
            log.warning("dead_holder_reaped", holder=dead.holder, customers=released, runs=closed)


async def _stages(run: JobRun, *, full: bool, write: bool) -> None:
    first = stage1_of(run)
    if run.state.dry_run:
        unsaved = await stage1.refresh_index(first)
        await stage2.preview(stage2_of(run), await stage1.pull(first, unsaved, full=full))
        run.report_progress("done")
        return
    if write and run.state.retry_now:
        await _retry_failed_now(run)
    # A backfill reads the source while the desk's export runs and matches after it
    # (stage1.backfill); other runs read their few changes against the refreshed index.
    backfill = await stage1.reads_everything(first, full=full)
    pulling: Awaitable[object]
    matching = asyncio.Event()
    if backfill:
        pulling = stage1.backfill(first, full=full, matching=matching)
    else:
        pulling = stage1.pull(first, await stage1.refresh_index(first), full=full)
    # Stage 2 writes while stage 1 still reads; in a backfill, from its match pass if that
    # pages by account (pass_order.PassOrder), else once stage 1 is done.
    if write:
        await workers.drain(run, pulling, overlap=not backfill, begin=matching)
    else:
        await pulling
        run.state.notices.append(
            f"customers stay queued for {run.target_name}: a later job on it writes them"
        )
    run.report_progress("done")


async def _retry_failed_now(run: JobRun) -> None:
    """An explicit run retries failed customers at once: the back-off is the daemon's."""
    async with write_tx(run.engine.store) as conn:
        due = await work.retry_now(conn, run.target_name, run.engine.clock())
    if due:
        run.state.notices.append(f"retrying {due} failed customer(s) now (explicit run)")


async def _still_failing(run: JobRun, *, write: bool) -> None:
    """Records that failed before this run and still do: the run is not clean while they wait.

    A run that writes answers for every failed customer of its target (it drains the whole
    queue); every run answers for its own job's deals that could not be mapped."""
    state = run.state
    async with read_tx(run.engine.store) as conn:
        items = (
            await work.failing(conn, run.target_name, before=state.started_at, limit=KEPT)
            if write
            else []
        )
        names = await identity.record_names(conn, run.target_name, [i.customer_key for i in items])
        failing_deals, more_deals = await deals.still_failing_deals(
            conn, run.job, state.started_at, KEPT
        )
    for item in items:
        who = f"{names.get(item.customer_key) or item.customer_key} ({item.customer_key})"
        if item.status == "dead":
            state.still_failing(
                f"{who}: quarantined after {item.attempts} failed attempts: {item.last_error} "
                f"(dealbridge quarantine retry {item.customer_key})"
            )
        else:
            state.still_failing(
                f"{who}: still failing after {item.attempts} attempt(s), next try "
                f"{item.not_before:%Y-%m-%d %H:%M:%S} UTC: {item.last_error}"
            )
    for deal in failing_deals:
        state.still_failing(f"{run.job} deal {deal.deal_id} still fails: {deal.error}")
    if more_deals:
        state.counts["records_still_failing"] += more_deals
        state.errors.append(f"... and {more_deals} more deals of {run.job} that still fail")


def failure_kind(exc: Exception) -> str:
    """Which alert a run failure raises: IT must renew credentials, wait, or investigate."""
    if isinstance(exc, AuthError):
        return "auth_expired"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    return "run_failed"


async def _health_alerts(
    conn: Connection, engine: Engine, job: str, failure: Exception | None, run_id: str
) -> None:
    """A failing job alerts once per interval; the first good run after failures closes it."""
    config = engine.config.alerts
    if not config.routes:
        return
    now = engine.clock()
    every = parse_duration(config.repeat_failures_every)
    bucket = str(int(now.timestamp()) // every)
    if failure is not None:
        alert = failure_alert(failure_kind(failure), job, str(failure), bucket, run_id=run_id)
        await enqueue(conn, alert, config, now)
        return
    previous = await previous_status(conn, job)
    if previous == "failed":
        alert = failure_alert(
            "run_failed", job, "the job ran cleanly again", bucket, "closed", run_id=run_id
        )
        await enqueue(conn, alert, config, now)


async def _record_end(
    engine: Engine,
    run: JobRun,
    status: RunStatus,
    failure: Exception | None,
    grant: Grant | None,
) -> RunStatus:
    """Write the run's outcome, budget holds and alerts, and give the job lease back.

    If the store itself is gone, the run is reported as failed without recording: its
    cursor was never advanced past what was committed, so nothing is lost.
    """
    state = run.state
    try:
        async with write_tx(engine.store) as conn:
            await finish_run(
                conn,
                state.run_id,
                status,
                dict(state.counts),
                state.errors,
                state.notices,
                engine.clock(),
            )
            if isinstance(failure, BudgetExhausted):
                await _hold(conn, engine, run, failure)
            else:
                await _health_alerts(conn, engine, state.job, failure, state.run_id)
            if status in ("ok", "record_errors"):
                await _end_holds(conn, engine, run)
        if grant is not None and not isinstance(failure, LeaseLost):
            await release(engine.store, grant, engine.clock())
    except (OSError, StoreError) as exc:
        log.error("run_not_recorded", job=state.job, error=redact(str(exc))[:300])
        state.errors.append(f"the state store is unreachable: {type(exc).__name__}")
        return "failed"
    return status


async def _hold(conn: Connection, engine: Engine, run: JobRun, exc: BudgetExhausted) -> datetime:
    """Hold every job of the spent connector until it can succeed; alert once an episode."""
    connector = exc.connector or engine.job(run.job).source
    now = engine.clock()
    kept = await holds.hold(conn, connector, exc.until, exc.budget, now)
    config = engine.config.alerts
    if config.routes:
        message = f"{exc}; {exc.when()}. Jobs using {connector} wait until then."
        alert = failure_alert("budget_exhausted", connector, message, kept.since.isoformat())
        await enqueue(conn, alert, config, now)
    return kept.until


async def _end_holds(conn: Connection, engine: Engine, run: JobRun) -> None:
    """A run completed on its connectors: any budget episode on them is over (say so)."""
    job = engine.job(run.job)
    ended = await holds.end(conn, (job.source, job.target))
    config = engine.config.alerts
    for hold in ended:
        log.info("budget_available", connector=hold.connector)
        if config.routes:
            message = f"{hold.connector}'s {hold.reason} is available again; jobs run as usual"
            alert = failure_alert(
                "budget_exhausted", hold.connector, message, hold.since.isoformat(), "closed"
            )
            await enqueue(conn, alert, config, engine.clock())
