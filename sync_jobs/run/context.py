"""What one job run carries through its stages: config, store, connectors, clock and counters."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Set
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from connectors.base import IdentityKey, SalesSource, ServiceTarget
from sync_jobs.config.app import AppConfig, JobConfig
from sync_jobs.domain.mapping import Mapping
from sync_jobs.domain.notes import NoteTemplates
from sync_jobs.run.catalog import LiveCatalog
from sync_jobs.run.control import Checkpoint, QueueSignal, RunControl
from sync_jobs.run.desk_bells import DeskBells
from sync_jobs.run.progress import Phase, Progress, ProgressSink, Silent
from sync_jobs.run.spreading import Spreading
from sync_jobs.store.db import Connection, Store
from sync_jobs.store.leases import Grant, LeaseLost, fence, renew

log = structlog.get_logger("dealbridge.run")


def utcnow() -> datetime:
    """The engine's clock (aware UTC)."""
    return datetime.now(UTC)


class RunInterrupted(Exception):
    """The daemon is shutting down; the run stopped cleanly at a commit point."""


@dataclass(frozen=True)
class CustomerPreview:
    """What a run did (or, in a dry run, would do) to one record."""

    customer_key: str
    name: str
    changes: list[tuple[str, Any, Any]]
    conflicts: list[str]
    error: str | None = None


KEPT = 100
"""Previews and error messages one run keeps: a report shows the first few, and keeping one
per customer would grow with the book (a backfill of a million deals)."""


@dataclass
class RunState:
    """Counters, errors and previews accumulated during one run."""

    run_id: str
    job: str
    dry_run: bool = False
    retry_now: bool = False
    """An operator's explicit run: failed customers are retried now, not after their back-off."""
    started_at: datetime = field(default_factory=utcnow)
    counts: Counter[str] = field(default_factory=Counter)
    progress: Counter[str] = field(default_factory=Counter)
    """What only the progress display needs (export pages, deals mapped): not in the report."""
    errors: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    previews: list[CustomerPreview] = field(default_factory=list)
    previews_omitted: int = 0
    """Customers planned beyond the first ``KEPT`` (counted, not kept)."""
    overlay: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """Dry runs: deal rows stage 1 would have committed, keyed by (job, deal id)."""
    asked: set[IdentityKey] = field(default_factory=set)
    """Identity keys looked up at the desk in this run (each is asked once per run)."""
    desk_problems: set[str] = field(default_factory=set)
    """The messages of the desk records met in this run that did not read (each is reported
    once per run)."""

    def record_error(self, message: str) -> None:
        """Count every record-level error; keep the first ``KEPT`` messages."""
        self.counts["record_errors"] += 1
        if len(self.errors) < KEPT:
            self.errors.append(message)

    def desk_problem(self, message: str) -> None:
        """A desk record that did not read (left out of an identity page, or of a lookup's
        hits): a record error, once per run however often it is met (two identity rules can
        both look it up, and the refresh may have met it already)."""
        if message not in self.desk_problems:
            self.desk_problems.add(message)
            self.record_error(message)

    def take_part(self, counts: dict[str, int], errors: Iterable[str], problems: Set[str]) -> None:
        """Another process's part of this run (a helper's unit of stage 1, or its whole
        report): its counts and its first errors, except that a desk record this run has
        reported already (``problems`` are the part's own :meth:`desk_problem` messages, each
        counted once there) is neither counted nor listed again: the lead's refresh and a
        helper's lookup, or two helpers, may each have met it."""
        again = problems & self.desk_problems
        self.desk_problems |= problems
        self.counts.update(counts)
        self.counts["record_errors"] -= len(again)
        for message in errors:
            if message not in again and len(self.errors) < KEPT:
                self.errors.append(message)

    def still_failing(self, message: str) -> None:
        """A record that failed before this run and still waits in failure (or is parked)."""
        self.counts["records_still_failing"] += 1
        if len(self.errors) < KEPT:
            self.errors.append(message)

    def add_preview(self, preview: CustomerPreview) -> None:
        """Keep the first ``KEPT`` customers' changes for the report; count the rest."""
        if len(self.previews) < KEPT:
            self.previews.append(preview)
        else:
            self.previews_omitted += 1

    def add_preview_of(self, make: Callable[[], CustomerPreview]) -> None:
        """:meth:`add_preview`, building the preview only when it is kept (stage 2 plans
        every customer of a backfill, and keeps the first ``KEPT``)."""
        if len(self.previews) < KEPT:
            self.previews.append(make())
        else:
            self.previews_omitted += 1


@dataclass
class Engine:
    """Shared, long-lived pieces: config, compiled mappings, store engine, clock."""

    config: AppConfig
    store: Store
    mappings: dict[str, Mapping]
    checkpoint: Checkpoint = lambda _name: None
    helper_checkpoint: Checkpoint | None = None
    teams: set[str] = field(default_factory=set)
    """Targets whose worker processes are running now (one team per target: the daemon
    runs jobs at once, and a second team would spend the desk's budget a second time)."""
    """What worker processes (``engine.workers``) call at their commit points; pickled into
    them, so a module-level function (tests simulate a worker's crash with it)."""
    clock: Callable[[], datetime] = utcnow
    templates: dict[str, NoteTemplates] = field(default_factory=dict)
    replica_id: str = field(
        default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    )
    lease_ttl: timedelta = timedelta(seconds=60)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on SIGTERM: runs stop after the page or batch in hand is committed."""
    config_hash: str = ""
    progress: ProgressSink = field(default_factory=Silent)
    """Where runs report how far they got (the CLI's display, the daemon's log)."""
    desk_bells: DeskBells = field(default_factory=DeskBells)
    """Desks whose webhooks rang, with the records they named: their next run reads those
    (or refreshes the index at once when none was named; ``desk_edits``)."""

    def jobs_for_target(self, target: str) -> list[str]:
        """Jobs whose deals land in ``target`` (their mappings are needed in stage 2)."""
        return [n for n, j in self.config.jobs.items() if j.target == target]

    def job(self, name: str) -> JobConfig:
        """One job's config."""
        return self.config.jobs[name]

    def note_templates(self, fmt: str) -> NoteTemplates:
        """The template renderer for a note format, created once."""
        if fmt not in self.templates:
            self.templates[fmt] = NoteTemplates("html" if fmt == "html" else "text")
        return self.templates[fmt]

    def mapping_folder(self, job: str) -> Path:
        """Where a job's mapping (and so its note template) lives."""
        return self.config.mapping_path(job).parent


@dataclass
class JobRun:
    """One job's run: the engine plus this run's connectors and state."""

    engine: Engine
    job: str
    source: SalesSource
    target: ServiceTarget
    state: RunState
    grant: Grant | None = None
    """The job lease this run holds (None for dry runs); every stage-1 commit is fenced on it."""
    queued: QueueSignal = field(default_factory=lambda: QueueSignal())
    """Stage 1 signals each commit that may have queued customers (stage 2 may be waiting)."""
    lease_lost: LeaseLost | None = None
    """Set by the heartbeat when another replica took the lease over."""
    catalog: LiveCatalog = field(default_factory=LiveCatalog)
    """The target's field catalog, fetched by the first batch with changes (once per run)."""
    spreading: Spreading = field(default_factory=Spreading)
    """Where stage 1 hands its pages while the run's helpers run (``workers.pages``)."""

    async def fence(self, conn: Connection) -> None:
        """Refuse the commit in progress unless this run still holds its job lease."""
        if self.grant is not None:
            await fence(conn, self.grant, self.engine.clock())

    def check_lease(self) -> None:
        """Between pages and batches: stop (LeaseLost) if the heartbeat found the lease taken."""
        if self.lease_lost is not None:
            raise self.lease_lost

    @asynccontextmanager
    async def lease_heartbeat(self) -> AsyncIterator[None]:
        """Renew the job lease every third of its ttl while the run is inside.

        On a timer, not per page: a vendor's per-minute budget can hold one request for as
        long as a lease lasts (Zendesk's 11th export page of a minute waits about 60 s, the
        default ttl), and the lease would lapse though the run is alive.
        """
        if self.grant is None:
            yield
            return
        beat = asyncio.create_task(self._beat(self.grant))
        try:
            yield
        finally:
            beat.cancel()
            with suppress(asyncio.CancelledError):
                await beat

    async def _beat(self, grant: Grant) -> None:
        ttl = self.engine.lease_ttl
        while True:
            await asyncio.sleep(ttl.total_seconds() / 3)
            try:
                await renew(self.engine.store, grant, ttl, self.engine.clock())
            except LeaseLost as exc:
                self.lease_lost = exc  # the run's next check or fenced commit stops it
                return
            except Exception as exc:  # noqa: BLE001 - a store hiccup: the next beat retries
                log.warning("lease_heartbeat_failed", job=self.job, error=str(exc))

    def control(self) -> RunControl:
        """The hooks this run's stages are steered by (lease, shutdown, commit points)."""
        return RunControl(
            checkpoint=self.engine.checkpoint,
            stopping=self.engine.stopping,
            queued=self.queued,
            fence=self.fence,
            check_lease=self.check_lease,
            progress=self.report_progress,
        )

    def report_progress(
        self, phase: Phase, waiting_for: str | None = None, until: datetime | None = None
    ) -> None:
        """Tell the engine's progress sink how far this run got."""
        counts, extra = self.state.counts, self.state.progress
        self.engine.progress.update(
            Progress(
                job=self.job,
                phase=phase,
                export_pages=extra["export_pages"],
                deals_read=counts["deals_read"],
                deals_mapped=extra["deals_mapped"],
                customers_written=counts["customers_written"],
                waiting_for=waiting_for,
                waiting_until=until,
            )
        )

    def waiting(self, connector: str, seconds: float) -> None:
        """A connector of this run waits for its vendor's budget (a connectors.waits listener)."""
        phase = self._phase
        self.report_progress(phase, connector or "a vendor", utcnow() + timedelta(seconds=seconds))

    @property
    def _phase(self) -> Phase:
        if self.state.counts["customers_planned"]:
            return "write"
        return "read" if self.state.counts["deals_read"] else "index"

    @property
    def target_name(self) -> str:
        """The target connector's name in config.yaml."""
        return self.engine.job(self.job).target

    @property
    def mapping(self) -> Mapping:
        """This job's compiled mapping."""
        return self.engine.mappings[self.job]
