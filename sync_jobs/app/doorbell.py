"""Debounced "run this job now": what a verified webhook does, and all it does.

Many notifications for one job within the settle time make one run; notifications while that
run is going make exactly one follow-up run after it (the run in progress may have read its
source before the change the notification announces); more notifications meanwhile change
nothing. So a storm of 1,000 events in a second costs one run and one follow-up, never a run
per event, and the scheduled poll stays the safety net for a notification that never comes.

The doorbell knows nothing of HTTP or of the daemon: ``wait_free`` waits until no other run of
the job holds it (a scheduled tick, another replica), ``run`` runs it and says whether it did
(False: another run took the job first; the doorbell waits again and retries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

log = structlog.get_logger("dealbridge.hooks")

Rang = Literal["scheduled", "coalesced", "follow_up"]
WaitFree = Callable[[str], Awaitable[None]]
RunJob = Callable[[str], Awaitable[bool]]
SETTLE_SECONDS = 0.25
"""How long a first notification waits for others (HubSpot batches up to 100 events a request
but sends several requests for one save): well inside the "within a second" target."""
MAX_RETRIES = 20
"""Runs the doorbell retries when another run takes the job first, before the poll takes over."""


@dataclass
class _Ringing:
    task: asyncio.Task[None] | None = None
    running: bool = False
    again: bool = False


@dataclass
class Doorbell:
    """One pending-or-running doorbell run per job at most, plus at most one follow-up."""

    wait_free: WaitFree
    run: RunJob
    settle: float = SETTLE_SECONDS
    _jobs: dict[str, _Ringing] = field(default_factory=dict)

    def ring(self, job: str) -> Rang:
        """Ask for a run of ``job``; say whether this scheduled it, or joined one already due."""
        state = self._jobs.setdefault(job, _Ringing())
        if state.task is None:
            state.task = asyncio.get_running_loop().create_task(self._serve(job, state))
            return "scheduled"
        if state.running and not state.again:
            state.again = True
            return "follow_up"
        return "coalesced"

    def busy(self, job: str) -> bool:
        """True while a doorbell run of ``job`` is due or going."""
        state = self._jobs.get(job)
        return state is not None and state.task is not None

    async def _serve(self, job: str, state: _Ringing) -> None:
        try:
            retries = 0
            while True:
                await asyncio.sleep(self.settle)
                await self.wait_free(job)
                state.running, state.again = True, False
                try:
                    ran = await self.run(job)
                except Exception:  # a crash of one run must not silence the doorbell for good
                    log.exception("doorbell_run_crashed", job=job)
                    ran = True
                state.running = False
                if not ran and retries < MAX_RETRIES:
                    retries += 1
                    continue
                if not state.again:
                    return
                retries = 0
        finally:
            state.task, state.running, state.again = None, False, False
