"""Waiting for Zendesk bulk jobs: every open job of one connector instance is polled together.

Several batches are written at once (``engine.write_workers``), each a job of its own. Asking
for each job's status separately would spend one request per job and poll; Zendesk's "Show
Many Job Statuses" (``GET /api/v2/job_statuses/show_many.json?ids=``, up to 100 ids) answers
for all of them in one request. So one poller runs while any job is open: it sleeps until the
earliest job is due, asks about every open job at once, hands finished jobs to their writers,
and gives the others a later due time (backing off from ``job_poll_initial``).

A job is first due after about as long as recent jobs took (jobs of one account take similar
times; before any has finished, ``job_seconds``). A job done at its first look shortens the
next estimate a little; one that needed more looks sets it to the middle between its last
pending look and its done look, taken as of when that look was meant to be asked (a poll the
account's per-minute budget held back says nothing more about the job).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from connectors.errors import PermanentError
from connectors.service.zendesk.client import ZendeskApi
from connectors.service.zendesk.config import ZendeskConfig

DONE = {"completed", "failed", "killed"}
MAX_IDS = 100
"""Show Many Job Statuses takes at most 100 ids."""


@dataclass
class _Open:
    """One job a writer is waiting for."""

    started: float
    due: float
    pause: float
    answer: asyncio.Future[dict[str, Any] | None] = field(repr=False)
    looks: int = 0
    pending_at: float = 0.0


class JobWatch:
    """The jobs one connector instance waits for, polled together."""

    def __init__(self, api: ZendeskApi, config: ZendeskConfig) -> None:
        self._api = api
        self._config = config
        self._open: dict[str, _Open] = {}
        self._poller: asyncio.Task[None] | None = None
        self.job_seconds = self._clamp(config.job_seconds)
        """How long recent jobs took: a new job is first due after this."""

    async def wait(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The job's final status; None when its status expired before it finished."""
        if str(job.get("status")) in DONE:
            return job
        job_id = str(job["id"])
        now = self._api.pacing.clock()
        answer: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._open[job_id] = _Open(
            started=now,
            due=now + self.job_seconds,
            pause=self._config.job_poll_initial,
            answer=answer,
        )
        if self._poller is None or self._poller.done():
            self._poller = asyncio.create_task(self._poll())
        try:
            return await answer
        finally:  # a cancelled writer stops being polled for
            self._open.pop(job_id, None)

    async def _poll(self) -> None:
        pacing = self._api.pacing
        while self._open:
            wait = min(job.due for job in self._open.values()) - pacing.clock()
            if wait > 0:
                await pacing.sleep(wait)
                continue
            # Every open job rides along (one request either way), the most overdue first.
            ids = sorted(self._open, key=lambda i: self._open[i].due)[:MAX_IDS]
            asked = pacing.clock()
            try:
                statuses = await self._api.job_statuses(ids)
            except Exception as exc:  # noqa: BLE001 - handed to the writers waiting on these jobs
                for job_id in ids:
                    self._settle(job_id, exc)
                continue
            for job_id in ids:
                self._look(job_id, statuses.get(job_id), asked)

    def _look(self, job_id: str, status: dict[str, Any] | None, asked: float) -> None:
        job = self._open.get(job_id)
        if job is None:
            return
        now = self._api.pacing.clock()
        job.looks += 1
        if status is None:  # expired: the writer reads the records back instead
            self._settle(job_id, None)
        elif str(status.get("status")) in DONE:
            # Done between the pending look and this one, as this one was meant to be asked:
            # a poll the account's budget held back (a full minute of writes) says nothing
            # about the job beyond that, and counting the hold would make every later job
            # wait that long for its first poll.
            first = job.looks == 1
            estimate = (
                self.job_seconds * 0.97 if first else (job.pending_at + asked - job.started) / 2
            )
            self.job_seconds = self._clamp(estimate)
            self._settle(job_id, status)
        elif now - job.started >= self._config.job_timeout:
            error = PermanentError(
                f"Zendesk job {job_id} still {status.get('status')} after "
                f"{self._config.job_timeout:.0f}s",
                operation="job_status",
            )
            self._settle(job_id, error)
        else:
            job.pending_at = now - job.started
            job.due = max(job.due, now) + job.pause
            job.pause = min(job.pause * 2, self._config.job_poll_max)

    def _settle(self, job_id: str, outcome: dict[str, Any] | BaseException | None) -> None:
        job = self._open.pop(job_id, None)
        if job is None or job.answer.done():
            return
        if isinstance(outcome, BaseException):
            job.answer.set_exception(outcome)
        else:
            job.answer.set_result(outcome)

    def _clamp(self, seconds: float) -> float:
        return max(self._config.job_poll_initial, min(seconds, self._config.job_poll_max))
