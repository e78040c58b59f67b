"""``dealbridge daemon``: every job on its schedule, alerts dispatched, health and metrics served.

Lifecycle: open the store (retrying with backoff while it is unreachable), on SQLite take the
``daemon`` lease (a second daemon on the same file is refused with the holder's name; one whose
holder died is not: it takes over at once, so a crashed daemon restarts cleanly under systemd),
build the schedule, run every job once at once (then on its schedule), serve /healthz /readyz
/metrics, and run until SIGTERM/SIGINT. Each run logs one ``run_finished`` line (info, the
daemon's default level) and, while it lasts, a ``run_progress`` line a minute. Shutdown stops new
ticks, lets each running job commit the page or batch in hand, releases leases and exits
within ``drain_seconds``. SIGHUP, or an edit to config.yaml or a mapping, reloads: the new
version is validated first (the checks of ``validate --offline``, write fields against the kept
catalogs included) and swapped in only if valid; an invalid edit keeps the old version
running, logs ``reload_refused`` with every problem and raises a ``config_invalid`` alert. At
start, a job whose mapping fails those checks is not scheduled (``jobs_disabled``, alert) and
the others run; a later edit that fixes it is picked up like any reload.

A job whose runs keep failing backs off (capped exponential) while other jobs keep their
schedules; a failing job alerts once per ``alerts.repeat_failures_every``. A job whose vendor
budget is spent (``budget_exhausted``) is not backed off here: the store's budget hold keeps
every replica from running it before the budget can succeed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import signal
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
import uvicorn
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from connectors.base import FieldInfo
from connectors.errors import ConfigError, ConfigProblem, ConnectorError
from connectors.registry import get_spec
from sync_jobs.alerts.content import failure_alert
from sync_jobs.alerts.outbox import Dispatcher, enqueue
from sync_jobs.app.health import health_app
from sync_jobs.app.hooks import mount_hooks
from sync_jobs.app.metrics import HttpCounters, Metrics
from sync_jobs.app.reload import (
    Candidate,
    check_write_fields,
    fingerprint,
    load_candidate,
    watched_files,
)
from sync_jobs.app.state_view import store_gauges
from sync_jobs.domain.durations import parse_duration
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.progress import Periodic, Progress
from sync_jobs.run.runner import after_takeover, config_fingerprint, open_engine, run_job
from sync_jobs.run.scheduler import Timer
from sync_jobs.store import tables as t
from sync_jobs.store.db import is_sqlite, make_engine, migrate_async, read_tx, write_tx
from sync_jobs.store.leases import Grant, acquire, holder_of, release, renew

log = structlog.get_logger("dealbridge.daemon")
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0
DAEMON_LEASE = timedelta(seconds=30)
PROGRESS_EVERY = 60.0


class SecondDaemon(RuntimeError):
    """Another daemon already owns this SQLite state file."""


@dataclass
class JobHealth:
    """Per-job failure streak, for capped exponential back-off."""

    failures: int = 0
    not_before: float = 0.0
    last_status: str = "never run"


@dataclass
class DaemonOptions:
    """Knobs for tests and operators."""

    health_host: str = "127.0.0.1"
    health_port: int = 8080
    reload_every: float = 5.0
    dispatch_every: float = 10.0
    drain_seconds: float = 30.0
    check_every: float = 60.0
    progress_every: float = PROGRESS_EVERY
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    channels: Mapping[str, Any] | None = None
    """Alert channels by name (tests inject them); built from config when None."""


class Daemon:
    """One dealbridge process: scheduler, runs, alert dispatch, health server."""

    def __init__(self, config_path: Path, options: DaemonOptions | None = None) -> None:
        self.config_path = config_path
        self.options = options or DaemonOptions()
        self.metrics = Metrics()
        self.timer = Timer()
        self.health: dict[str, JobHealth] = {}
        self.engine: Engine | None = None
        self.connections: Connections | None = None
        self.dispatcher: Dispatcher | None = None
        self._grant: Grant | None = None
        self._stopped = asyncio.Event()
        self._running: set[asyncio.Task[Any]] = set()
        self._fingerprint: Any = None
        self._broken: dict[str, ConfigError] = {}
        """Jobs stopped because their mapping (or its fields) failed the checks."""
        self._server: uvicorn.Server | None = None
        self._http = HttpCounters()
        self.connector_health: dict[str, dict[str, Any]] = {}

    async def run(self) -> int:
        """Run until a stop signal; return the process exit code."""
        try:
            candidate = load_candidate(self.config_path)
        except ConfigError as exc:
            log.error("config_invalid", problems=[str(p) for p in exc.problems])
            return 2
        await self._open_store(candidate.config.state.url)
        self.engine = await open_engine(candidate.config)
        self.engine.mappings = candidate.mappings
        self.engine.progress = Periodic(_log_progress, every=self.options.progress_every)
        try:
            await self._take_daemon_lease()
        except SecondDaemon as exc:
            log.error("second_daemon_refused", error=str(exc))
            await self.engine.store.dispose()
            return 3
        await self._check_write_fields(candidate)
        self._swap(candidate)
        if candidate.broken:  # only these jobs stop; the others run
            problems = [str(p) for p in candidate.problems()]
            log.error("jobs_disabled", jobs=sorted(candidate.broken), problems=problems)
            await self._config_alert("\n".join(problems))
        self._install_signals()
        self.timer.start()
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.check_connectors()))
        server = asyncio.create_task(self._serve_health())
        log.info(
            "daemon_started", replica=self.engine.replica_id, jobs=sorted(candidate.config.jobs)
        )
        await self._stopped.wait()
        await self._shutdown()
        try:  # let uvicorn close its sockets itself; cancel only if it hangs
            await asyncio.wait_for(server, timeout=5)
        except TimeoutError:
            server.cancel()
        return 0

    def stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM and SIGINT do)."""
        if self.engine is not None:
            self.engine.stopping.set()
        self._stopped.set()

    async def _open_store(self, url: str) -> None:
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(
                (OSError, sa.exc.OperationalError, sa.exc.InterfaceError)
            ),
            wait=wait_exponential(multiplier=1, max=30),
            stop=stop_after_attempt(8),
            before_sleep=lambda s: log.warning(
                "store_unreachable",
                attempt=s.attempt_number,
                error=str(s.outcome.exception() if s.outcome else ""),
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await migrate_async(url)

    async def _take_daemon_lease(self) -> None:
        assert self.engine is not None
        if not is_sqlite(self.engine.config.state.url):
            return  # PostgreSQL: any number of replicas; job leases split the work
        self._grant = await acquire(
            self.engine.store,
            "daemon",
            self.engine.replica_id,
            DAEMON_LEASE,
            utcnow(),
            on_takeover=after_takeover(self.engine),
        )
        if self._grant is None:
            held = await holder_of(self.engine.store, "daemon")
            who = held.describe() if held else "another process"
            until = f"{held.until:%Y-%m-%d %H:%M:%S} UTC" if held else "shortly"
            raise SecondDaemon(
                f"another dealbridge daemon ({who}) is using this SQLite state file (lease "
                f"until {until}); run one daemon per SQLite file, or use PostgreSQL for replicas"
            )
        if self._grant.took_over is not None:
            log.warning("daemon_taken_over", previous=self._grant.took_over.describe("daemon"))

    def _swap(self, candidate: Candidate) -> None:
        """Install a validated configuration: connectors, channels, schedule."""
        assert self.engine is not None
        old = self.connections
        self.engine.config = candidate.config
        self.engine.mappings = candidate.mappings
        self.engine.templates = {}  # renderers cache compiled templates: start afresh
        self.engine.config_hash = config_fingerprint(candidate.config)
        self.engine.lease_ttl = timedelta(seconds=parse_duration(candidate.config.engine.lease_ttl))
        self.connections = Connections(candidate.config.connectors, self.options.transports)
        if old is not None:
            task = asyncio.create_task(old.aclose())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        channels = self.options.channels
        if channels is None:
            channels = _build_channels(candidate.config.alerts.channels, self.connections)
        self.dispatcher = Dispatcher(self.engine.store, candidate.config.alerts, channels, utcnow)
        self._broken = dict(candidate.broken)
        names = set()
        scheduled = set(self.timer.names())
        for job, job_config in candidate.config.jobs.items():
            if job in candidate.broken:
                self.health.setdefault(job, JobHealth()).last_status = "config_invalid"
            elif job_config.enabled:
                name = f"job:{job}"
                # A job new to this process (all of them at start) runs at once, then on its
                # schedule: an operator sees it work without waiting a whole interval.
                self.timer.schedule(
                    name, job_config.schedule, self._ticker(job), now=name not in scheduled
                )
                names.add(name)
        self.timer.every("alerts", self.options.dispatch_every, self._dispatch)
        self.timer.every("reload", self.options.reload_every, self._check_reload)
        self.timer.every("lease", 10, self._renew_daemon_lease)
        self.timer.every("checks", self.options.check_every, self.check_connectors)
        self.timer.remove_except(names | {"alerts", "reload", "lease", "checks"})
        self._fingerprint = fingerprint(watched_files(self.config_path, candidate.config))

    def _ticker(self, job: str) -> Any:
        async def tick() -> None:
            await self.run_once(job)

        return tick

    async def run_once(self, job: str) -> None:
        """One scheduled run of ``job`` (what a tick does); shutdown waits for it."""
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            await self._run_job(job)
        finally:
            if task is not None:
                self._running.discard(task)

    async def _run_job(self, job: str) -> None:
        """Run ``job`` unless it is backing off after failures."""
        assert self.engine is not None
        assert self.connections is not None
        state = self.health.setdefault(job, JobHealth())
        if self.engine.stopping.is_set():
            return
        if time.monotonic() < state.not_before:
            left = round(state.not_before - time.monotonic())
            log.info("run_deferred", job=job, reason=f"backing off after failures ({left}s left)")
            return
        started = time.monotonic()
        report = await run_job(self.engine, self.connections, job)
        self.metrics.record_run(report, time.monotonic() - started, time.time())
        if report.status in ("skipped", "waiting"):
            state.last_status = report.notices[0] if report.notices else report.status
            return
        state.last_status = report.status
        if report.status == "failed":
            state.failures += 1
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (state.failures - 1))
            state.not_before = time.monotonic() + delay
            log.warning("job_backing_off", job=job, seconds=delay, failures=state.failures)
        elif report.status in ("ok", "record_errors"):
            state.failures, state.not_before = 0, 0.0

    async def _dispatch(self) -> None:
        if self.dispatcher is not None and not self.engine_stopping:
            await self.dispatcher.deliver_due()

    @property
    def engine_stopping(self) -> bool:
        """True once shutdown has begun."""
        return self.engine is not None and self.engine.stopping.is_set()

    async def _check_reload(self, *, force: bool = False) -> None:
        assert self.engine is not None
        current = fingerprint(watched_files(self.config_path, self.engine.config))
        if not force and current == self._fingerprint:
            return
        self._fingerprint = current
        try:
            candidate = load_candidate(self.config_path)
        except ConfigError as exc:
            await self._refuse_reload(exc.problems)
            return
        await self._check_write_fields(candidate)
        # A job that breaks in this edit keeps the whole old version running; a job that was
        # already stopped for its mapping and still is does not block fixing the others.
        newly_broken = set(candidate.broken) - set(self._broken)
        if newly_broken:
            await self._refuse_reload(candidate.problems(newly_broken))
            return
        self._swap(candidate)
        log.info("reloaded", jobs=sorted(candidate.config.jobs), disabled=sorted(candidate.broken))

    async def _refuse_reload(self, problems: list[ConfigProblem]) -> None:
        """Keep the running version; say why in the log and through the alert outbox."""
        lines = [str(p) for p in problems]
        log.error("reload_refused", problems=lines)
        await self._config_alert("\n".join(lines))

    async def _check_write_fields(self, candidate: Candidate) -> None:
        """Write fields against the targets' kept catalogs, as ``validate --offline`` does."""
        assert self.engine is not None
        transports = self.options.transports

        async def fetch(target: str) -> list[FieldInfo]:
            connections = Connections(candidate.config.connectors, transports)
            try:
                return await connections.target(target).field_catalog()
            finally:
                await connections.aclose()

        await check_write_fields(candidate, self.engine.store, fetch)

    async def _config_alert(self, message: str) -> None:
        assert self.engine is not None
        config = self.engine.config.alerts
        if not config.routes:
            return
        async with write_tx(self.engine.store) as conn:
            alert = failure_alert(
                "config_invalid",
                "config",
                message,
                bucket=hashlib.sha256(message.encode()).hexdigest()[:12],
            )
            await enqueue(conn, alert, config, utcnow())

    async def _renew_daemon_lease(self) -> None:
        if self._grant is not None and self.engine is not None:
            await renew(self.engine.store, self._grant, DAEMON_LEASE, utcnow())

    async def check_connectors(self) -> None:
        """Ask every connector for its health (cheap authenticated call), for /readyz."""
        assert self.engine is not None
        assert self.connections is not None
        for name, config in self.engine.config.connectors.items():
            connector: Any = (
                self.connections.target(name)
                if get_spec(config.kind).role == "target"
                else self.connections.source(name)
            )
            try:
                health = await connector.check()
                self.connector_health[name] = {
                    "ok": health.ok,
                    "detail": health.detail,
                    "api_usage": health.api_usage,
                }
            except ConnectorError as exc:
                self.connector_health[name] = {"ok": False, "detail": str(exc)}
                await self._unhealthy_alert(name, str(exc))

    async def _unhealthy_alert(self, connector: str, message: str) -> None:
        """A connector failing its check alerts once per ``repeat_failures_every``."""
        assert self.engine is not None
        config = self.engine.config.alerts
        if not config.routes:
            return
        now = utcnow()
        bucket = str(int(now.timestamp()) // parse_duration(config.repeat_failures_every))
        async with write_tx(self.engine.store) as conn:
            await enqueue(
                conn, failure_alert("connector_unhealthy", connector, message, bucket), config, now
            )

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Store reachable, and each job's last outcome."""
        assert self.engine is not None
        try:
            async with read_tx(self.engine.store) as conn:
                await conn.execute(sa.select(sa.func.count()).select_from(t.lease))
            store_ok = True
        except (OSError, sa.exc.SQLAlchemyError):
            store_ok = False
        jobs = {job: h.last_status for job, h in self.health.items()}
        # Ready means "can do its work": a failing vendor is reported here (and alerted),
        # but does not make an orchestrator restart a healthy process.
        return store_ok and not self.engine_stopping, {
            "store": store_ok,
            "jobs": jobs,
            "connectors": self.connector_health,
        }

    async def refresh_gauges(self) -> None:
        """Mirror the store's shared state into the gauges before a scrape."""
        assert self.engine is not None
        conflicts, outbox, queue, lags = await store_gauges(
            self.engine.store, list(self.engine.config.jobs)
        )
        self.metrics.set_state(conflicts, outbox, queue, lags)
        for name, (by_status, throttled) in self._http.deltas().items():
            self.metrics.record_http(name, by_status, throttled)

    async def _serve_health(self) -> None:
        app = health_app(self.metrics, self.ready, self.refresh_gauges)
        mount_hooks(app, self)  # POST /hooks/<job>: webhooks ring a job's doorbell
        config = uvicorn.Config(
            app,
            host=self.options.health_host,
            port=self.options.health_port,
            log_level="warning",
            lifespan="off",
        )
        self._server = _QuietServer(config)
        await self._server.serve()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(
            signal.SIGHUP, lambda: asyncio.ensure_future(self._check_reload(force=True))
        )

    async def _shutdown(self) -> None:
        assert self.engine is not None
        self.timer.pause()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if self._running:
            done, pending = await asyncio.wait(
                set(self._running), timeout=self.options.drain_seconds
            )
            for task in pending:
                task.cancel()
            log.info("drained", finished=len(done), cancelled=len(pending))
        self.timer.shutdown()
        if self._grant is not None:
            await release(self.engine.store, self._grant, utcnow())
        if self.connections is not None:
            await self.connections.aclose()
        if self._server is not None:
            self._server.should_exit = True
        await self.engine.store.dispose()
        log.info("daemon_stopped")


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon owns SIGTERM, SIGINT and SIGHUP."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _log_progress(progress: Progress) -> None:
    fields: dict[str, Any] = {
        "job": progress.job,
        "phase": progress.phase,
        "export_pages": progress.export_pages,
        "deals_read": progress.deals_read,
        "deals_mapped": progress.deals_mapped,
        "customers_written": progress.customers_written,
    }
    if progress.waiting_for is not None and progress.waiting_until is not None:
        fields["waiting_for"] = progress.waiting_for
        fields["waiting_until"] = progress.waiting_until.isoformat(timespec="seconds")
    log.info("run_progress", **fields)


def _build_channels(configs: Mapping[str, Any], connections: Connections) -> dict[str, Any]:
    from sync_jobs.alerts.channels import build_channel

    # Ticket channels reach their desk through the connections of this config generation.
    return {
        name: build_channel(name, config, connectors=connections.target)
        for name, config in configs.items()
    }


__all__ = ["Daemon", "DaemonOptions", "make_engine"]
