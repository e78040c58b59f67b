"""Background jobs as Zendesk runs them: queued on ``update_many``, done after a short delay.

A job completes lazily: the first request after its ``ready_at`` applies its rows (as Zendesk's
workers would have) and stores per-record ``results``. Jobs still queued count toward the cap
of 30 queued or running jobs per account (``TooManyJobs``). Finished statuses are forgotten
``ttl`` seconds after they finished, and only the newest ``keep`` are kept at all: "Zendesk
only logs the last 100 jobs. Jobs also expire within an hour" [3p: Zendesk community post
4408867925914, via shared/vendor-apis section 1]; a forgotten status answers 404.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.service.zendesk.simulator.fields import clean_row
from connectors.service.zendesk.simulator.store import ZendeskStore, iso

MAX_JOBS = 30
JOB_TTL = 3600.0
"""Seconds a finished job's status stays readable (Zendesk: "within an hour")."""
JOBS_KEPT = 100
"""How many job statuses the account keeps (Zendesk: "the last 100 jobs")."""


@dataclass
class Job:
    """One ``update_many`` job and its ``job_status``."""

    id: str
    kind: str
    rows: list[dict[str, Any]]
    ready_at: float
    status: str = "queued"
    results: list[dict[str, Any]] = field(default_factory=list)
    message: str | None = None
    finished_at: float | None = None


class JobQueue:
    """Queued and finished jobs of one account."""

    def __init__(
        self,
        store: ZendeskStore,
        monotonic: Callable[[], float],
        delay: float,
        *,
        ttl: float = JOB_TTL,
        keep: int = JOBS_KEPT,
    ) -> None:
        self.store = store
        self.monotonic = monotonic
        self.delay = delay
        self.ttl = ttl
        self.keep = keep
        self.jobs: dict[str, Job] = {}
        self._pending: list[Job] = []
        self._seq = itertools.count(1)

    def in_flight(self) -> list[Job]:
        """Jobs queued or running (completing any that are due first)."""
        self.complete_due()
        return list(self._pending)

    def submit(self, kind: str, rows: list[dict[str, Any]]) -> Job:
        """Queue a job."""
        job_id = uuid.UUID(int=next(self._seq) * 7919 + 1_000_003).hex
        job = Job(id=job_id, kind=kind, rows=rows, ready_at=self.monotonic() + self.delay)
        self.jobs[job_id] = job
        self._pending.append(job)
        return job

    def expire(self, job_id: str) -> None:
        """Forget a job, as Zendesk does after about an hour."""
        self.jobs.pop(job_id, None)

    def complete_due(self) -> None:
        """Run every job whose delay has passed; forget statuses past their time."""
        now = self.monotonic()
        for job in [j for j in self._pending if j.ready_at <= now]:
            self._pending.remove(job)
            job.results = [self._apply(job.kind, i, row) for i, row in enumerate(job.rows)]
            job.status = "completed"
            job.message = f"Completed at {iso(self.store.clock())}"
            job.finished_at = now
        self._forget(now)

    def _forget(self, now: float) -> None:
        expired = [
            job_id
            for job_id, job in self.jobs.items()
            if job.finished_at is not None and job.finished_at + self.ttl <= now
        ]
        for job_id in expired:
            del self.jobs[job_id]
        surplus = len(self.jobs) - self.keep
        if surplus > 0:  # dicts keep insertion order: the oldest submitted come first
            oldest = [i for i, job in self.jobs.items() if job.finished_at is not None][:surplus]
            for job_id in oldest:
                del self.jobs[job_id]

    def _apply(self, kind: str, index: int, row: dict[str, Any]) -> dict[str, Any]:
        raw_id = row.get("id")
        record_id = int(str(raw_id)) if str(raw_id).isdigit() else None
        if record_id is None or self.store.get(kind, record_id) is None:
            return _failed(raw_id, index, "RecordNotFound", "Not found")
        changes, problems = clean_row(kind, row)
        if problems:
            details = "; ".join(p["description"] for items in problems.values() for p in items)
            return _failed(record_id, index, "RecordInvalid", details)
        self.store.apply(kind, record_id, changes)
        return {
            "id": record_id,
            "index": index,
            "action": "update",
            "success": True,
            "status": "Updated",
        }


def status_body(job: Job, base_url: str) -> dict[str, Any]:
    """``{"job_status": {...}}`` as ``GET /api/v2/job_statuses/{id}.json`` shows it."""
    done = job.status == "completed"
    return {
        "job_status": {
            "id": job.id,
            "url": f"{base_url}/api/v2/job_statuses/{job.id}.json",
            "job_type": f"Bulk Update {job.kind.title()}s",
            "total": len(job.rows),
            "progress": len(job.rows) if done else 0,
            "status": job.status,
            "message": job.message,
            "results": job.results if done else None,
        }
    }


def _failed(record_id: Any, index: int, error: str, details: str) -> dict[str, Any]:
    return {
        "id": record_id,
        "index": index,
        "action": "update",
        "success": False,
        "status": "Failed",
        "error": error,
        "details": details,
    }
