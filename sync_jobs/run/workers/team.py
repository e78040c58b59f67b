"""The lead's side of a run's worker processes: spawning its helpers, waiting for them,
adding their reports to its run, and giving back what a dead one had claimed."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue

import structlog

from connectors.errors import DealbridgeError
from sync_jobs.run.context import JobRun
from sync_jobs.run.workers.helper import helper_main
from sync_jobs.run.workers.launch import helper_context
from sync_jobs.run.workers.messages import HelperReport, HelperSpec, SpentBudget
from sync_jobs.run.workers.pages import Message, Outlet, PageSpreader
from sync_jobs.run.workers.signals import POLL, Signals
from sync_jobs.store import work
from sync_jobs.store.db import write_tx

log = structlog.get_logger("dealbridge.workers")

START_TIMEOUT = 60.0
"""How long the lead's workers wait for slow helpers to start before claiming alone."""


class WorkerFailed(DealbridgeError):
    """A helper process stopped on an error that could not be carried over as itself."""


@dataclass
class _Helper:
    number: int
    holder: str
    process: BaseProcess
    pipe: Pipe
    report: HelperReport | None = None
    ended: bool = False


@dataclass
class Team:
    """The lead's side: its helper processes for one run, their signals and reports."""

    run: JobRun
    size: int
    """Helpers (``engine.workers - 1``)."""
    helpers: list[_Helper] = field(default_factory=list)
    _signals: Signals | None = None
    _outlets: list[Outlet] = field(default_factory=list)
    _spreader: PageSpreader | None = None

    def start(self, *, overlap: bool) -> None:
        """Spawn the helpers (they start while stage 1 reads); ``overlap``: they may claim at
        once, else after stage 1 (a backfill writes a customer once, after its last page)."""
        mp = helper_context()
        signals = Signals.new(mp)
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
                mappings=engine.mappings,
                environment=dict(os.environ),
                checkpoint=engine.helper_checkpoint,
                grant=self.run.grant,
            )
            reader, writer = mp.Pipe(duplex=False)
            units: Queue[Message] = mp.Queue()
            answers, answering = mp.Pipe(duplex=False)
            process = mp.Process(
                target=helper_main,
                args=(spec, signals, writer, units, answering),
                name=f"dealbridge-worker-{number}",
                daemon=True,
            )
            process.start()
            writer.close()  # the helper holds the only writing end: EOF tells us it ended
            answering.close()
            units.cancel_join_thread()  # a dead helper's units are not waited for at exit
            self.helpers.append(_Helper(number, holder, process, reader))
            self._outlets.append(Outlet(number, units, answers, process))
        # Stage 1's pages go to the helpers too (mapping and committing them is most of it).
        self._spreader = PageSpreader(self._outlets, self.run.state)
        self.run.spreading.spreader = self._spreader
        log.info("workers_started", job=self.run.job, helpers=self.size)

    async def after(self, pulling: Awaitable[object]) -> None:
        """Stage 1, then tell the helpers it is done (they drain what is left and stop)."""
        try:
            await pulling
        finally:
            assert self._signals is not None
            if self._spreader is not None:
                self._spreader.end()
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
        self.run.spreading.spreader = None
        for outlet in self._outlets:
            outlet.answers.close()
            outlet.units.close()
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
            f"{report.counts.get('customers_written', 0)} in {report.cpu_seconds:.1f} s of CPU"
        )
        state.take_part(report.counts, report.errors, report.desk_problems)
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


def _log_settings() -> tuple[str, str]:
    from sync_jobs.app import logging as dblog  # the process's entry point configured it

    return dblog.current()
