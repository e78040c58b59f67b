"""The daemon process: its pieces put together and started, reloaded and stopped in order."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.alerts.outbox import Dispatcher
from sync_jobs.app.daemon import operator_alerts, signals
from sync_jobs.app.daemon.connector_checks import ConnectorChecks
from sync_jobs.app.daemon.gauges import Gauges
from sync_jobs.app.daemon.health_server import HealthServer, RouteSource
from sync_jobs.app.daemon.jobs import JobHealth, Jobs, log_progress
from sync_jobs.app.daemon.reloading import Reloader
from sync_jobs.app.daemon.store_access import RENEW_EVERY, DaemonLease, SecondDaemon, open_store
from sync_jobs.app.hooks import daemon_hooks
from sync_jobs.app.listening import PortUnavailable, listening_socket
from sync_jobs.app.metrics import Metrics
from sync_jobs.app.reload import Candidate, load_candidate
from sync_jobs.domain.durations import parse_duration
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.progress import Periodic
from sync_jobs.run.runner import config_fingerprint, open_engine
from sync_jobs.run.scheduler import Timer
from sync_jobs.run.workers import budget_shares
from sync_jobs.store.db import reachable

log = structlog.get_logger("dealbridge.daemon")
PROGRESS_EVERY = 60.0
HOUSEKEEPING = {"alerts", "reload", "lease", "checks"}
"""Timer names of the daemon's own periodic work (job timers are ``job:<name>``)."""


@dataclass
class DaemonOptions:
    """Knobs for tests and operators."""

    health_host: str = "127.0.0.1"
    health_port: int = 8080
    web_host: str = "127.0.0.1"
    web_port: int | None = None
    """Also serve the web console (sync_jobs/app/web) on this port."""
    reload_every: float = 5.0
    dispatch_every: float = 10.0
    drain_seconds: float = 30.0
    check_every: float = 60.0
    progress_every: float = PROGRESS_EVERY
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    channels: Mapping[str, Any] | None = None
    """Alert channels by name (tests inject them); built from config when None."""
    routes: Sequence[RouteSource] = ()
    """Extra HTTP routes served beside /healthz, /readyz and /metrics (see :meth:`Daemon.mount`)."""


class Daemon:
    """One dealbridge process: scheduler, runs, alert dispatch, health server.

    Each concern lives in its own piece (jobs, reloading, store access, connector checks,
    gauges, health server, signals); this class owns the shared state (the engine, the
    connections, the dispatcher) and calls the pieces in the order the lifecycle needs."""

    def __init__(self, config_path: Path, options: DaemonOptions | None = None) -> None:
        self.config_path = config_path
        self.options = options or DaemonOptions()
        self.metrics = Metrics()
        self.timer = Timer()
        self.jobs = Jobs(self.metrics)
        self.reloader = Reloader(config_path, self.options.transports)
        self.lease = DaemonLease()
        self.checks = ConnectorChecks()
        self.gauges = Gauges(self.metrics)
        self.server = HealthServer(
            self.options.health_host, self.options.health_port, self.options.routes
        )
        self.hooks = daemon_hooks(self)
        self.server.mount(*self.hooks.routes())  # POST /hooks/<job>: webhooks ring a doorbell
        self.engine: Engine | None = None
        self.connections: Connections | None = None
        self.dispatcher: Dispatcher | None = None
        self._stopped = asyncio.Event()
        self._broken: dict[str, ConfigError] = {}
        """Jobs stopped because their mapping (or its fields) failed the checks."""

    # What tests and /readyz read, kept under the names they always had.
    @property
    def health(self) -> dict[str, JobHealth]:
        """Each job's failure streak and last outcome."""
        return self.jobs.health

    @property
    def _running(self) -> set[asyncio.Task[Any]]:
        return self.jobs.running

    @property
    def connector_health(self) -> dict[str, dict[str, Any]]:
        """Each connector's latest check."""
        return self.checks.health

    def mount(self, *routes: RouteSource) -> None:
        """Serve these routes (or the routes these factories build from the running daemon)
        on the health port, beside /healthz, /readyz and /metrics; call before :meth:`run`."""
        self.server.mount(*routes)

    async def run(self) -> int:
        """Run until a stop signal; return the process exit code."""
        try:
            candidate = load_candidate(self.config_path)
        except ConfigError as exc:
            log.error("config_invalid", problems=[str(p) for p in exc.problems])
            return 2
        try:
            self.server.listen()
            console_socket = self._console_socket()
        except PortUnavailable as exc:
            self.server.close()
            log.error("port_unavailable", error=str(exc))
            return 2
        await open_store(candidate.config.state.url)
        self.engine = await open_engine(candidate.config)
        self.engine.mappings = candidate.mappings
        self.engine.progress = Periodic(log_progress, every=self.options.progress_every)
        try:
            await self.lease.take(self.engine)
        except SecondDaemon as exc:
            log.error("second_daemon_refused", error=str(exc))
            await self.engine.store.dispose()
            self.server.close()
            if console_socket is not None:
                console_socket.close()
            return 3
        await self.reloader.check_write_fields(candidate, self.engine.store)
        self._swap(candidate)
        if candidate.broken:  # only these jobs stop; the others run
            problems = [str(p) for p in candidate.problems()]
            log.error("jobs_disabled", jobs=sorted(candidate.broken), problems=problems)
            await self._config_alert("\n".join(problems))
        signals.install(self.stop, lambda: self._check_reload(force=True))
        self.timer.start()
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.check_connectors()))
        server = asyncio.create_task(
            self.server.serve(self.metrics, self.ready, self.refresh_gauges, self)
        )
        console = self._mount_console(console_socket)
        log.info(
            "daemon_started", replica=self.engine.replica_id, jobs=sorted(candidate.config.jobs)
        )
        await self._stopped.wait()
        await self._shutdown()
        if console is not None:  # it stops by itself once _stopped is set
            await asyncio.wait([console], timeout=5)
        try:  # let uvicorn close its sockets itself; cancel only if it hangs
            await asyncio.wait_for(server, timeout=5)
        except TimeoutError:
            server.cancel()
        return 0

    def _console_socket(self) -> socket.socket | None:
        """The web console's port, opened (``--web-port``), or None without a console."""
        if self.options.web_port is None:
            return None
        return listening_socket(self.options.web_host, self.options.web_port, "--web-port")

    def _mount_console(self, sock: socket.socket | None) -> asyncio.Task[None] | None:
        """The web console on ``--web-port`` (sync_jobs/app/web), stopped with the daemon."""
        if sock is None:
            return None
        from sync_jobs.app.web.serve import serve_console

        return asyncio.create_task(
            serve_console(
                self.config_path,
                self.options.web_host,
                self.options.web_port or 0,
                self._stopped,
                sock=sock,
            )
        )

    def stop(self) -> None:
        """Begin a graceful shutdown (what SIGTERM and SIGINT do)."""
        if self.engine is not None:
            self.engine.stopping.set()
        self._stopped.set()

    @property
    def engine_stopping(self) -> bool:
        """True once shutdown has begun."""
        return self.engine is not None and self.engine.stopping.is_set()

    def _swap(self, candidate: Candidate) -> None:
        """Install a validated configuration: connectors, channels, schedule."""
        assert self.engine is not None
        old = self.connections
        self.engine.config = candidate.config
        self.engine.mappings = candidate.mappings
        self.engine.templates = {}  # renderers cache compiled templates: start afresh
        self.engine.config_hash = config_fingerprint(candidate.config)
        self.engine.lease_ttl = timedelta(seconds=parse_duration(candidate.config.engine.lease_ttl))
        self.connections = Connections(
            candidate.config.connectors,
            self.options.transports,
            budget_shares=budget_shares(candidate.config),
        )
        if old is not None:
            self.jobs.keep(asyncio.create_task(old.aclose()))
        channels = self.options.channels
        if channels is None:
            channels = _build_channels(candidate.config.alerts.channels, self.connections)
        self.dispatcher = Dispatcher(self.engine.store, candidate.config.alerts, channels, utcnow)
        self._broken = dict(candidate.broken)
        names = self.jobs.schedule(self.timer, candidate.config, set(candidate.broken), self._tick)
        self.timer.every("alerts", self.options.dispatch_every, self._dispatch)
        self.timer.every("reload", self.options.reload_every, self._check_reload)
        self.timer.every("lease", RENEW_EVERY, self._renew_daemon_lease)
        self.timer.every("checks", self.options.check_every, self.check_connectors)
        self.timer.remove_except(names | HOUSEKEEPING)
        self.reloader.remember(candidate.config)

    def _tick(self, job: str) -> Callable[[], Awaitable[None]]:
        async def tick() -> None:
            await self.run_once(job)

        return tick

    async def run_once(self, job: str) -> None:
        """One scheduled run of ``job`` (what a tick does); shutdown waits for it."""
        assert self.engine is not None
        assert self.connections is not None
        await self.jobs.run_once(job, self.engine, self.connections)

    async def _dispatch(self) -> None:
        if self.dispatcher is not None and not self.engine_stopping:
            await self.dispatcher.deliver_due()

    async def _check_reload(self, *, force: bool = False) -> None:
        assert self.engine is not None
        moved = self.reloader.moved(self.engine.config)
        if not (moved or force):
            return
        try:
            candidate = await self.reloader.load(self.engine.store)
        except ConfigError as exc:
            await self._refuse_reload(exc.problems)
            return
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

    async def _config_alert(self, message: str) -> None:
        assert self.engine is not None
        await operator_alerts.config_invalid(self.engine.store, self.engine.config.alerts, message)

    async def _renew_daemon_lease(self) -> None:
        if self.engine is not None:
            await self.lease.renew(self.engine)

    async def check_connectors(self) -> None:
        """Ask every connector for its health (cheap authenticated call), for /readyz."""
        assert self.engine is not None
        assert self.connections is not None
        engine = self.engine

        async def alert(connector: str, message: str) -> None:
            await operator_alerts.connector_unhealthy(
                engine.store, engine.config.alerts, connector, message
            )

        await self.checks.check_all(engine.config, self.connections, alert)

    async def ready(self) -> tuple[bool, dict[str, Any]]:
        """Store reachable, and each job's last outcome."""
        assert self.engine is not None
        store_ok = await reachable(self.engine.store)
        # Ready means "can do its work": a failing vendor is reported here (and alerted),
        # but does not make an orchestrator restart a healthy process.
        return store_ok and not self.engine_stopping, {
            "store": store_ok,
            "jobs": self.jobs.statuses(),
            "connectors": self.checks.health,
        }

    async def refresh_gauges(self) -> None:
        """Mirror the store's shared state into the gauges before a scrape."""
        assert self.engine is not None
        await self.gauges.refresh(self.engine.store, list(self.engine.config.jobs))

    async def _shutdown(self) -> None:
        assert self.engine is not None
        self.timer.pause()
        signals.remove()
        await self.jobs.drain(self.options.drain_seconds)
        self.timer.shutdown()
        await self.lease.release(self.engine)
        if self.connections is not None:
            await self.connections.aclose()
        self.server.stop()
        await self.engine.store.dispose()
        log.info("daemon_stopped")


def _build_channels(configs: Mapping[str, Any], connections: Connections) -> dict[str, Any]:
    from sync_jobs.alerts.channels import build_channel

    # Ticket channels reach their desk through the connections of this config generation.
    return {
        name: build_channel(name, config, connectors=connections.target)
        for name, config in configs.items()
    }
