"""A helper process: claim and write the run's target beside the lead, then report."""

from __future__ import annotations

import asyncio
import pickle
import signal
import time
from typing import TYPE_CHECKING

import structlog

from connectors.errors import BudgetExhausted
from connectors.redact import redact
from sync_jobs.run import stage2
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import JobRun, RunState
from sync_jobs.run.wiring import stage2_of
from sync_jobs.run.workers.budgets import budget_shares
from sync_jobs.run.workers.launch import adopt_environment
from sync_jobs.run.workers.messages import HelperReport, HelperSpec, SpentBudget
from sync_jobs.run.workers.pages import Message, take_units
from sync_jobs.run.workers.signals import Signals, orphaned, until
from sync_jobs.store.db import make_engine

if TYPE_CHECKING:
    from multiprocessing.connection import Connection as Pipe
    from multiprocessing.queues import Queue

    from sync_jobs.run.context import Engine

log = structlog.get_logger("dealbridge.workers")

QUEUE_POLL = 0.5
"""While the lead's stage 1 still reads, how often a helper's idle workers claim again (each
claim is a write transaction: on SQLite it queues behind every other writer)."""


def helper_main(
    spec: HelperSpec,
    signals: Signals,
    out: Pipe,
    units: Queue[Message],
    answers: Pipe,
) -> None:
    """A helper process: commit the stage-1 units the lead hands it (``pages``), claim and
    write the job's target until told stage 1 is done and the queue is empty; send the
    report to the lead."""
    from sync_jobs.app import event_loop
    from sync_jobs.app import logging as dblog
    from sync_jobs.app.collector import tune_collector

    # The lead decides when its helpers stop (a terminal's Ctrl-C or systemd's SIGTERM reach
    # the whole process group): they finish the batch in hand when it tells them, or when
    # it is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    adopt_environment(spec.environment)  # the lead's of now, not the fork server's
    fmt, level = spec.log
    dblog.configure("json" if fmt == "json" else "console", level)
    tune_collector()  # as the dealbridge command does for the lead
    report = event_loop.run(_help(spec, signals, units, answers))
    if isinstance(report.failure, BudgetExhausted):
        report.failure = SpentBudget.of(report.failure)
    try:
        pickle.loads(pickle.dumps(report.failure))  # noqa: S301 - our own object; some pickle but do not load
    except Exception:  # noqa: BLE001 - any exception that does not travel goes as text
        report.failure = f"{type(report.failure).__name__}: {redact(str(report.failure))[:500]}"
    report.cpu_seconds = time.process_time()
    out.send(report)
    out.close()


async def _help(
    spec: HelperSpec, signals: Signals, units: Queue[Message], answers: Pipe
) -> HelperReport:
    state = RunState(run_id=spec.run_id, job=spec.job)
    failure: BaseException | None = None
    engine = _engine(spec)
    connections = Connections(spec.config.connectors, budget_shares=budget_shares(spec.config))
    with structlog.contextvars.bound_contextvars(job=spec.job, run_id=spec.run_id):
        try:
            job = engine.job(spec.job)
            run = JobRun(
                engine,
                spec.job,
                connections.source(job.source),
                connections.target(job.target),
                state,
            )
            with signals.started.get_lock():
                signals.started.value += 1
            watcher = asyncio.create_task(_stop_when_told(signals, engine))
            # No more units once the lead's stage 1 is done (it handed every unit before).
            stopped = lambda: signals.pulled.is_set() or signals.stop.is_set() or orphaned()  # noqa: E731
            reading = asyncio.create_task(take_units(run, spec.grant, units, answers, stopped))
            try:
                await until(lambda: signals.go.is_set() or orphaned())
                if not signals.stop.is_set():
                    await stage2.drain(stage2_of(run), _lead_pulling(signals, run), overlap=True)
                await reading
            finally:
                watcher.cancel()
                reading.cancel()
                answers.close()
        except Exception as exc:  # noqa: BLE001 - reported to the lead, which records it
            failure = exc
            log.error("worker_failed", error=redact(str(exc))[:300])
        finally:
            await connections.aclose()
            await engine.store.dispose()
    return HelperReport(
        counts=dict(state.counts),
        errors=state.errors,
        notices=state.notices,
        previews=state.previews,
        previews_omitted=state.previews_omitted,
        failure=failure,
        desk_problems=frozenset(state.desk_problems),
    )


def _engine(spec: HelperSpec) -> Engine:
    """The helper's engine: its own database connections, the lead's config and mappings
    (the lead has migrated the store already)."""
    from sync_jobs.run.context import Engine

    engine = Engine(
        config=spec.config,
        store=make_engine(spec.config.state.url),
        mappings=spec.mappings,
        replica_id=spec.holder,
    )
    if spec.checkpoint is not None:
        engine.checkpoint = spec.checkpoint
    return engine


async def _stop_when_told(signals: Signals, engine: Engine) -> None:
    await until(lambda: signals.stop.is_set() or orphaned())
    engine.stopping.set()  # the drain's workers stop after the batch in hand


async def _lead_pulling(signals: Signals, run: JobRun) -> None:
    """Stands for the lead's stage 1: until it is done, idle workers claim again now and
    then (the lead's commits are in another process: nothing else wakes them)."""
    while not (signals.pulled.is_set() or orphaned()):
        await asyncio.sleep(QUEUE_POLL)
        run.queued.notify()
