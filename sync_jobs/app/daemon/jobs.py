"""The daemon's jobs: each on its schedule, backing off after failures, drained on shutdown.

A job whose runs keep failing backs off (capped exponential) while other jobs keep their
schedules. A job whose vendor budget is spent (``budget_exhausted``) is not backed off here:
the store's budget hold keeps every replica from running it before the budget can succeed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog

from sync_jobs.app.metrics import Metrics
from sync_jobs.config.app import AppConfig
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine
from sync_jobs.run.progress import Progress
from sync_jobs.run.runner import run_job
from sync_jobs.run.scheduler import Timer

log = structlog.get_logger("dealbridge.daemon")
BACKOFF_BASE = 60.0
BACKOFF_CAP = 3600.0


@dataclass
class JobHealth:
    """Per-job failure streak, for capped exponential back-off."""

    failures: int = 0
    not_before: float = 0.0
    last_status: str = "never run"


class Jobs:
    """Runs jobs one tick at a time and remembers how each last went."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.health: dict[str, JobHealth] = {}
        self.running: set[asyncio.Task[Any]] = set()
        """Runs (and other work) in flight, which shutdown waits for."""

    def schedule(
        self,
        timer: Timer,
        config: AppConfig,
        broken: set[str],
        tick: Callable[[str], Callable[[], Awaitable[None]]],
    ) -> set[str]:
        """Put every enabled, valid job on ``timer``; return the timer names used.

        A job new to this process (all of them at start) runs at once, then on its schedule:
        an operator sees it work without waiting a whole interval."""
        names = set()
        scheduled = set(timer.names())
        for job, job_config in config.jobs.items():
            if job in broken:
                self.health.setdefault(job, JobHealth()).last_status = "config_invalid"
            elif job_config.enabled:
                name = f"job:{job}"
                timer.schedule(name, job_config.schedule, tick(job), now=name not in scheduled)
                names.add(name)
        return names

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Let shutdown wait for ``task`` too."""
        self.running.add(task)
        task.add_done_callback(self.running.discard)

    async def run_once(self, job: str, engine: Engine, connections: Connections) -> None:
        """One scheduled run of ``job`` (what a tick does); shutdown waits for it."""
        task = asyncio.current_task()
        if task is not None:
            self.running.add(task)
        try:
            await self._run(job, engine, connections)
        finally:
            if task is not None:
                self.running.discard(task)

    async def _run(self, job: str, engine: Engine, connections: Connections) -> None:
        """Run ``job`` unless it is backing off after failures."""
        state = self.health.setdefault(job, JobHealth())
        if engine.stopping.is_set():
            return
        if time.monotonic() < state.not_before:
            left = round(state.not_before - time.monotonic())
            log.info("run_deferred", job=job, reason=f"backing off after failures ({left}s left)")
            return
        started = time.monotonic()
        report = await run_job(engine, connections, job)
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

    async def drain(self, seconds: float) -> None:
        """Let runs in flight commit what they hold; cancel those still going after
        ``seconds``."""
        if not self.running:
            return
        done, pending = await asyncio.wait(set(self.running), timeout=seconds)
        for task in pending:
            task.cancel()
        log.info("drained", finished=len(done), cancelled=len(pending))

    def statuses(self) -> dict[str, str]:
        """Each job's last outcome, for /readyz."""
        return {job: h.last_status for job, h in self.health.items()}


def log_progress(progress: Progress) -> None:
    """A running job's ``run_progress`` log line (the daemon logs one a minute per run)."""
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
