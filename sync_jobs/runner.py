"""One job run, start to finish: index -> pull (stage 1) -> plan and write (stage 2) -> record.

A run is isolated: its failure is recorded and reported, never raised into the caller's loop,
so one broken job never stops the others. The run row is written first, so a crash leaves a
visible "running" run behind.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    DealbridgeError,
    RateLimited,
)
from connectors.redact import redact
from sync_jobs import stage1, stage2
from sync_jobs.alerts.content import failure_alert
from sync_jobs.alerts.outbox import enqueue
from sync_jobs.checks import check_job
from sync_jobs.config import AppConfig
from sync_jobs.connections import Connections
from sync_jobs.context import (
    Checkpoint,
    CustomerPreview,
    Engine,
    JobRun,
    RunInterrupted,
    RunState,
)
from sync_jobs.durations import parse_duration
from sync_jobs.mapping import Mapping
from sync_jobs.store.db import make_engine, migrate_async, write_tx
from sync_jobs.store.leases import Grant, LeaseLost, acquire, holder_of, release
from sync_jobs.store.records import finish_run, previous_status, start_run

log = structlog.get_logger("dealbridge.run")

RunStatus = Literal["ok", "record_errors", "failed", "dry_run", "skipped", "interrupted"]


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
        """0 ok, 1 the run finished with record errors or failed."""
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
    config: AppConfig, checkpoint: Checkpoint | None = None, store: AsyncEngine | None = None
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
) -> RunReport:
    """Run one job; never raises for vendor or data problems (they land in the report).

    ``write=False`` stops after stage 1: the customers stay queued for the next run of any
    job on the same target (``dealbridge run all`` uses it so that a customer several
    territories sell to is written once, by the last job of its target)."""
    state = RunState(run_id=uuid.uuid4().hex, job=job, dry_run=dry_run)
    with structlog.contextvars.bound_contextvars(job=job, run_id=state.run_id):
        return await _run_job(engine, connections, job, state, full=full, write=write)


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
    bound = log
    if job not in engine.mappings:
        _, broken = compile_mappings(engine.config)
        problem = broken.get(job)
        state.errors.append(str(problem) if problem else f"job {job!r} has no valid mapping")
        return RunReport(job, state.run_id, "failed", dict(state.counts), state.errors)
    grant = None
    if not dry_run:
        grant = await acquire(
            engine.store,
            f"job:{job}",
            engine.replica_id,
            engine.lease_ttl,
            engine.clock(),
            engine.config_hash,
        )
        if grant is None:
            holder, until = await holder_of(engine.store, f"job:{job}")
            message = f"job {job} is running on {holder} (lease until {until}); skipped"
            return RunReport(job, state.run_id, "skipped", {}, [], [message])
        async with write_tx(engine.store) as conn:
            await start_run(conn, state.run_id, job, engine.clock(), engine.replica_id)
    job_config = engine.job(job)
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
        async with run.lease_heartbeat():
            await _stages(run, full=full, write=write)
    except RunInterrupted:
        status = "interrupted"
    except (ConnectorError, DealbridgeError, stage2.StaleClaim, LeaseLost) as exc:
        status, failure = "failed", exc
        state.errors.append(str(exc))
        bound.error("run_failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug or a lost store must not escape the run
        status, failure = "failed", exc
        state.errors.append(f"internal error: {type(exc).__name__}: {redact(str(exc))[:500]}")
        bound.exception("run_crashed")
    state.notices += run.target.notices()
    if status == "ok":
        status = "dry_run" if dry_run else ("record_errors" if state.errors else "ok")
    if not dry_run:
        status = await _record_end(engine, state, status, failure, grant)
    bound.info("run_finished", status=status, **dict(state.counts))
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


async def _stages(run: JobRun, *, full: bool, write: bool) -> None:
    unsaved = await stage1.refresh_index(run)
    if run.state.dry_run:
        await stage2.preview(run, await stage1.pull(run, unsaved, full=full))
    elif write:  # stage 2 writes while stage 1 still reads, except in a backfill
        backfill = await stage1.reads_everything(run, full=full)
        await stage2.drain(run, stage1.pull(run, unsaved, full=full), overlap=not backfill)
    else:
        await stage1.pull(run, unsaved, full=full)
        run.state.notices.append(
            f"customers stay queued for {run.target_name}: a later job on it writes them"
        )


def failure_kind(exc: Exception) -> str:
    """Which alert a run failure raises: IT must renew credentials, wait, or investigate."""
    if isinstance(exc, AuthError):
        return "auth_expired"
    if isinstance(exc, RateLimited):
        return "rate_limited"
    return "run_failed"


async def _health_alerts(
    conn: AsyncConnection, engine: Engine, job: str, failure: Exception | None
) -> None:
    """A failing job alerts once per interval; the first good run after failures closes it."""
    config = engine.config.alerts
    if not config.routes:
        return
    now = engine.clock()
    every = parse_duration(config.repeat_failures_every)
    bucket = str(int(now.timestamp()) // every)
    if failure is not None:
        alert = failure_alert(failure_kind(failure), job, str(failure), bucket)
        await enqueue(conn, alert, config, now)
        return
    previous = await previous_status(conn, job)
    if previous == "failed":
        alert = failure_alert("run_failed", job, "the job ran cleanly again", bucket, "closed")
        await enqueue(conn, alert, config, now)


async def _record_end(
    engine: Engine,
    state: RunState,
    status: RunStatus,
    failure: Exception | None,
    grant: Grant | None,
) -> RunStatus:
    """Write the run's outcome and alerts, and give the job lease back.

    If the store itself is gone, the run is reported as failed without recording: its
    cursor was never advanced past what was committed, so nothing is lost.
    """
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
            await _health_alerts(conn, engine, state.job, failure)
        if grant is not None and not isinstance(failure, LeaseLost):
            await release(engine.store, grant, engine.clock())
    except (OSError, SQLAlchemyError) as exc:
        log.error("run_not_recorded", job=state.job, error=redact(str(exc))[:300])
        state.errors.append(f"the state store is unreachable: {type(exc).__name__}")
        return "failed"
    return status
