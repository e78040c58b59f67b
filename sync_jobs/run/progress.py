"""How far a run has got: a small vendor-neutral interface the engine reports to.

The engine calls :meth:`ProgressSink.update` after each committed page and batch (and when a
connector starts waiting for its vendor's budget); what is shown, and where, is the caller's
business: a live display on a terminal (``sync_jobs.app.progress_view``), periodic plain lines
otherwise, or nothing (:class:`Silent`, the default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, Protocol

Phase = Literal["index", "read", "write", "done"]


@dataclass(frozen=True)
class Progress:
    """One run's progress so far."""

    job: str
    phase: Phase
    export_pages: int = 0
    """Pages of the desk's customer export read into the identity index."""
    deals_read: int = 0
    deals_mapped: int = 0
    customers_written: int = 0
    waiting_for: str | None = None
    """A connector waiting for its vendor's budget, until ``waiting_until``."""
    waiting_until: datetime | None = None

    def line(self) -> str:
        """``west: 3 export pages, 1,200 deals read, 1,190 mapped, 40 customers written``."""
        parts = [
            f"{self.export_pages:,} export pages",
            f"{self.deals_read:,} deals read",
            f"{self.deals_mapped:,} mapped",
            f"{self.customers_written:,} customers written",
        ]
        text = f"{self.job} ({self.phase}): {', '.join(parts)}"
        if self.waiting_for is not None and self.waiting_until is not None:
            text += f"; waiting for {self.waiting_for}'s budget until {self.waiting_until:%H:%M:%S}"
        return text


class ProgressSink(Protocol):
    """Receives progress reports; must be quick (it is called from the run's event loop)."""

    def update(self, progress: Progress) -> None:
        """The run got further (or started or stopped waiting)."""

    def finished(self, job: str) -> None:
        """The run ended (whatever its outcome)."""


class Silent:
    """Reports go nowhere (tests, in-process callers)."""

    def update(self, progress: Progress) -> None:
        """Ignore it."""

    def finished(self, job: str) -> None:
        """Ignore it."""


class Periodic:
    """A report per job every ``every`` seconds while it runs, and each long wait at once.

    For output that scrolls (a log, a redirected CLI): a line per page would flood it, none
    would leave a backfill silent for minutes. A run shorter than ``every`` prints nothing."""

    def __init__(
        self,
        emit: Callable[[Progress], None],
        every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._emit = emit
        self._every = every
        self._clock = clock
        self._wall = wall
        self._last: dict[str, float] = {}
        self._waits: dict[str, tuple[str, datetime]] = {}

    def update(self, progress: Progress) -> None:
        """Emit when the interval has passed since the last line, or a long wait begins."""
        now = self._clock()
        last = self._last.setdefault(progress.job, now)
        if self._long_new_wait(progress) or now - last >= self._every:
            self._last[progress.job] = now
            self._emit(progress)

    def finished(self, job: str) -> None:
        """Forget the job (its next run starts afresh)."""
        self._last.pop(job, None)
        self._waits.pop(job, None)

    def _long_new_wait(self, progress: Progress) -> bool:
        if progress.waiting_for is None or progress.waiting_until is None:
            self._waits.pop(progress.job, None)
            return False
        if (progress.waiting_until - self._wall()).total_seconds() < LONG_WAIT:
            return False
        seen = self._waits.get(progress.job)
        self._waits[progress.job] = (progress.waiting_for, progress.waiting_until)
        return seen is None or seen[0] != progress.waiting_for or seen[1] != progress.waiting_until


LONG_WAIT = 5.0
"""Seconds of waiting worth a line of their own."""
