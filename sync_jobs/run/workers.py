"""Worker processes: one run's stage 2 spread over ``engine.workers`` processes (issue 19).

The run's own process is the lead: it holds the job lease, refreshes the index, runs stage 1
and drains the queue as always. ``workers - 1`` helpers, started with ``spawn`` (each has its
own interpreter, event loop, database engine and connector clients), only claim and write.
They hold no job lease: claims are exclusive and fenced by their token, so no customer is
worked by two processes and a helper whose claim was taken over cannot record its batch. They
start claiming when the lead's stage 2 does (at once in an incremental run, after stage 1 in
a backfill), and stop when the queue is empty and the lead's stage 1 is done. Each sends its
counts, errors and previews to the lead, which adds them to its run before recording it.

A helper that ends without a report (killed, crashed) is noticed when the lead's drain ends:
what it had claimed goes back to the queue at once and the lead drains again, so the run
still writes every customer, completes and says so in its notices.

Budgets: each process spends ``1/workers`` of the desk's shared budgets (``budget_shares``):
together they never exceed what the connector alone would spend. The lead alone reads the
source and the desk's identity export, and those budgets stay whole.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from typing import TYPE_CHECKING

import structlog

from connectors.errors import BudgetExhausted, DealbridgeError
from connectors.redact import redact
from sync_jobs.config.app import AppConfig
from sync_jobs.run import stage2
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import KEPT, CustomerPreview, JobRun, RunState
from sync_jobs.run.control import Checkpoint
from sync_jobs.run.wiring import stage2_of
from sync_jobs.store import work
from sync_jobs.store.db import make_engine, write_tx

if TYPE_CHECKING:
    from sync_jobs.run.context import Engine

log = structlog.get_logger("dealbridge.workers")

POLL = 0.05
"""How often a process looks at the cross-process signals (seconds)."""
QUEUE_POLL = 0.5
"""While the lead's stage 1 still reads, how often a helper's idle workers claim again (each
claim is a write transaction: on SQLite it queues behind every other writer)."""
START_TIMEOUT = 60.0
"""How long the lead's workers wait for slow helpers to start before claiming alone."""
STOP_GRACE = 30.0
"""After a failed run, how long a helper may take to finish its batch before it is killed."""


MAX_WORKERS = 64
"""As ``engine.workers`` allows: beyond the cores of any one host."""


def budget_shares(config: AppConfig) -> dict[str, float]:
    """Each desk's share of its budgets in every process of a run: ``1/workers`` for the
    targets of the configured jobs (the processes write to them together), none else."""
    workers = config.engine.workers
    if workers <= 1:
        return {}
    return {job.target: 1.0 / workers for job in config.jobs.values()}


@dataclass(frozen=True)
class HelperSpec:
    """What a helper process needs: pickled into it when it is spawned."""

    config: AppConfig
    job: str
    run_id: str
    """The lead's run: the helper's audit rows carry it."""
    holder: str
    """Who the helper claims as (the lead's replica id and the helper's number): the lead
    releases a dead helper's claims by it."""
    log: tuple[str, str]
    """Log format and level, as the lead's process was configured."""
    checkpoint: Checkpoint | None = None
    """Called at the helper's commit points (tests: a module-level function, so it pickles)."""


@dataclass
class HelperReport:
    """What a helper did, sent to the lead when it ends."""

    counts: dict[str, int]
    errors: list[str]
    notices: list[str]
    previews: list[CustomerPreview]
    previews_omitted: int
    failure: BaseException | SpentBudget | str | None = None
    """What stopped it early: the exception itself when it travels between processes, a
    spent budget as its parts (it stays a ``BudgetExhausted`` on the lead), else its message."""


@dataclass(frozen=True)
class SpentBudget:
    """A helper's ``BudgetExhausted`` on its way to the lead (its keyword-only constructor
    does not unpickle)."""

    message: str
    until: datetime
    exact: bool
    budget: str
    connector: str
    operation: str

    @classmethod
    def of(cls, exc: BudgetExhausted) -> SpentBudget:
        """The parts of ``exc``."""
        return cls(exc.message, exc.until, exc.exact, exc.budget, exc.connector, exc.operation)

    def error(self) -> BudgetExhausted:
        """The exception again, as the lead's run records it (a hold until ``until``)."""
        return BudgetExhausted(
            self.message,
            until=self.until,
            exact=self.exact,
            budget=self.budget,
            connector=self.connector,
            operation=self.operation,
        )


@dataclass
class _Helper:
    number: int
    holder: str
    process: BaseProcess
    pipe: Pipe
    report: HelperReport | None = None
    ended: bool = False


@dataclass
class _Signals:
    go: Event
    pulled: Event
    stop: Event
    started: Synchronized[int]


@dataclass
class Team:
    """The lead's side: its helper processes for one run, their signals and reports."""

    run: JobRun
    size: int
    """Helpers (``engine.workers - 1``)."""
    helpers: list[_Helper] = field(default_factory=list)
    _signals: _Signals | None = None

    def start(self, *, overlap: bool) -> None:
        """Spawn the helpers (they start while stage 1 reads); ``overlap``: they may claim at
        once, else after stage 1 (a backfill writes a customer once, after its last page)."""
        mp = multiprocessing.get_context("spawn")
        signals = _Signals(mp.Event(), mp.Event(), mp.Event(), mp.Value("i", 0))
        self._signals = signals
        if overlap:
            signals.go.set()
        engine = self.run.engine
        for number in range(2, self.size + 2):
            holder = f"{engine.replica_id}/w{number}"
            spec = HelperSpec(
                config=engine.config,
                job=self.run.job,
                run_id=self.run.state.run_id,
                holder=holder,
                log=_log_settings(),
                checkpoint=engine.helper_checkpoint,
            )
            reader, writer = mp.Pipe(duplex=False)
            process = mp.Process(
                target=helper_main,
                args=(spec, signals.go, signals.pulled, signals.stop, signals.started, writer),
                name=f"dealbridge-worker-{number}",
                daemon=True,
            )
            process.start()
            writer.close()  # the helper holds the only writing end: EOF tells us it ended
            self.helpers.append(_Helper(number, holder, process, reader))
        log.info("workers_started", job=self.run.job, helpers=self.size)

    async def after(self, pulling: Awaitable[object]) -> None:
        """Stage 1, then tell the helpers it is done (they drain what is left and stop)."""
        try:
            await pulling
        finally:
            assert self._signals is not None
            self._signals.go.set()
            self._signals.pulled.set()

    async def ready(self) -> None:
        """Until every helper started (or ended, or ``START_TIMEOUT`` passed)."""
        assert self._signals is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            self._collect()
            waiting = sum(not h.ended for h in self.helpers)
            if self._signals.started.value >= waiting:
                return
            await asyncio.sleep(POLL)

    def stop(self) -> None:
        """The run failed or is stopping: helpers stop after the batch in hand."""
        if self._signals is not None:
            self._signals.go.set()
            self._signals.pulled.set()
            self._signals.stop.set()

    async def join(self, *, grace: float | None = None) -> int:
        """Wait for every helper, add its report to the run; give back what dead ones had
        claimed. Returns how many customers went back to the queue. ``grace``: kill helpers
        still running after that many seconds."""
        deadline = None if grace is None else time.monotonic() + grace
        # Until each has sent its report (or died) and exited: joining a process that is
        # still tearing down would block the event loop (the daemon's other jobs).
        while not all(h.ended and not h.process.is_alive() for h in self.helpers):
            self._collect()
            if deadline is not None and time.monotonic() > deadline:
                for helper in self.helpers:
                    if helper.process.is_alive():
                        helper.process.kill()
            await asyncio.sleep(POLL)
        self._collect()
        released = 0
        for helper in self.helpers:
            helper.process.join()
            helper.pipe.close()
            if helper.report is not None:
                self._merge(helper, helper.report)
            else:
                released += await self._bury(helper)
        return released

    def failure(self) -> BaseException | None:
        """The first helper failure, as an exception the runner records."""
        for helper in self.helpers:
            failed = helper.report.failure if helper.report else None
            if isinstance(failed, SpentBudget):
                return failed.error()
            if isinstance(failed, BaseException):
                return failed
            if failed is not None:
                return WorkerFailed(f"worker {helper.number}: {failed}")
        return None

    def _collect(self) -> None:
        for helper in self.helpers:
            if helper.ended:
                continue
            try:
                if not helper.pipe.poll():
                    continue
                helper.report = helper.pipe.recv()
            except (EOFError, OSError):
                pass  # it ended without a report: died
            helper.ended = True

    def _merge(self, helper: _Helper, report: HelperReport) -> None:
        state = self.run.state
        state.notices.append(
            f"worker {helper.number} (pid {helper.process.pid}) planned "
            f"{report.counts.get('customers_planned', 0)} customer(s) and wrote "
            f"{report.counts.get('customers_written', 0)}"
        )
        state.counts.update(report.counts)
        for message in report.errors:
            if len(state.errors) < KEPT:
                state.errors.append(message)
        # the desk's own notices (its pacing, its limits) are the same in every process
        state.notices += [n for n in report.notices if n not in state.notices]
        for preview in report.previews:
            state.add_preview(preview)
        state.previews_omitted += report.previews_omitted

    async def _bury(self, helper: _Helper) -> int:
        engine = self.run.engine
        async with write_tx(engine.store) as conn:
            released = await work.release_claims_of(conn, helper.holder, engine.clock())
        code = helper.process.exitcode
        message = (
            f"worker {helper.number} (pid {helper.process.pid}) ended without a report "
            f"(exit code {code}); the {released} customer(s) it had claimed went back to the "
            "queue and this run wrote them"
        )
        self.run.state.notices.append(message)
        log.warning("worker_died", worker=helper.number, exit_code=code, customers=released)
        return released


class WorkerFailed(DealbridgeError):
    """A helper process stopped on an error that could not be carried over as itself."""


async def drain(run: JobRun, pulling: Awaitable[object], *, overlap: bool) -> None:
    """``stage2.drain`` for the run, with ``engine.workers - 1`` helper processes."""
    with team_size(run.engine, run.target_name) as helpers:
        if helpers <= 0:
            await stage2.drain(stage2_of(run), pulling, overlap=overlap)
            return
        await _drain_with_helpers(run, pulling, helpers, overlap=overlap)


@contextmanager
def team_size(engine: Engine, target: str) -> Iterator[int]:
    """How many helpers a run of ``target`` starts: ``engine.workers - 1``, or none while
    another run of the same target in this process has its team (the daemon runs a target's
    jobs at once; their shared connector already spends the lead's share, and one team
    spends the rest: a second would spend the desk's budget twice). The others' customers
    are in the same queue, so that team writes them too."""
    if target in engine.teams:
        yield 0
        return
    helpers = max(0, engine.config.engine.workers - 1)
    if helpers:
        engine.teams.add(target)
    try:
        yield helpers
    finally:
        if helpers:
            engine.teams.discard(target)


async def _drain_with_helpers(
    run: JobRun, pulling: Awaitable[object], helpers: int, *, overlap: bool
) -> None:
    ctx = stage2_of(run)
    team = Team(run, helpers)
    team.start(overlap=overlap)
    try:
        await stage2.drain(ctx, team.after(pulling), overlap=overlap, ready=team.ready)
    except BaseException:
        team.stop()
        await team.join(grace=STOP_GRACE)
        raise
    if run.engine.stopping.is_set():  # shutting down: helpers stop after the batch in hand
        team.stop()
    released = await team.join()
    failure = team.failure()
    if failure is not None:
        raise failure
    if released:  # a dead helper's customers: this process writes them now
        await stage2.drain(ctx, _done(), overlap=True)


async def _done() -> None:
    return None


def _log_settings() -> tuple[str, str]:
    from sync_jobs.app import logging as dblog  # the process's entry point configured it

    return dblog.current()


def helper_main(
    spec: HelperSpec,
    go: Event,
    pulled: Event,
    stop: Event,
    started: Synchronized[int],
    out: Pipe,
) -> None:
    """A helper process: claim and write the job's target until told stage 1 is done and the
    queue is empty; send the report to the lead."""
    from sync_jobs.app import event_loop
    from sync_jobs.app import logging as dblog
    from sync_jobs.app.collector import tune_collector

    # The lead decides when its helpers stop (a terminal's Ctrl-C or systemd's SIGTERM reach
    # the whole process group): they finish the batch in hand when it tells them, or when
    # it is gone.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fmt, level = spec.log
    dblog.configure("json" if fmt == "json" else "console", level)
    tune_collector()  # as the dealbridge command does for the lead
    report = event_loop.run(_help(spec, _Signals(go, pulled, stop, started)))
    if isinstance(report.failure, BudgetExhausted):
        report.failure = SpentBudget.of(report.failure)
    try:
        pickle.loads(pickle.dumps(report.failure))  # noqa: S301 - our own object; some pickle but do not load
    except Exception:  # noqa: BLE001 - any exception that does not travel goes as text
        report.failure = f"{type(report.failure).__name__}: {redact(str(report.failure))[:500]}"
    out.send(report)
    out.close()


async def _help(spec: HelperSpec, signals: _Signals) -> HelperReport:
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
            try:
                await _until(lambda: signals.go.is_set() or _orphaned())
                if not signals.stop.is_set():
                    await stage2.drain(stage2_of(run), _lead_pulling(signals, run), overlap=True)
            finally:
                watcher.cancel()
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
    )


def _engine(spec: HelperSpec) -> Engine:
    """The helper's engine: its own database connections, the lead's config (the lead has
    migrated the store already)."""
    from sync_jobs.run.context import Engine
    from sync_jobs.run.runner import compile_mappings  # the runner imports this module

    engine = Engine(
        config=spec.config,
        store=make_engine(spec.config.state.url),
        mappings=compile_mappings(spec.config)[0],
        replica_id=spec.holder,
    )
    if spec.checkpoint is not None:
        engine.checkpoint = spec.checkpoint
    return engine


async def _until(check: Callable[[], bool]) -> None:
    # The signals live in another process: no asyncio.Event can wait for them.
    while not check():  # noqa: ASYNC110
        await asyncio.sleep(POLL)


def _orphaned() -> bool:
    """The lead is gone (killed): nobody would tell this helper to stop."""
    parent = multiprocessing.parent_process()
    return parent is not None and not parent.is_alive()


async def _stop_when_told(signals: _Signals, engine: Engine) -> None:
    await _until(lambda: signals.stop.is_set() or _orphaned())
    engine.stopping.set()  # the drain's workers stop after the batch in hand


async def _lead_pulling(signals: _Signals, run: JobRun) -> None:
    """Stands for the lead's stage 1: until it is done, idle workers claim again now and
    then (the lead's commits are in another process: nothing else wakes them)."""
    while not (signals.pulled.is_set() or _orphaned()):
        await asyncio.sleep(QUEUE_POLL)
        run.queued.notify()
