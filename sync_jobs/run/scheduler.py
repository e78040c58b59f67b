"""The only module that imports APScheduler (3.x, which ships no type information).

APScheduler is just the timer of each process: schedules are rebuilt from config.yaml at start
and on reload, kept in memory, and never shared between processes (3.x cannot share a job
store). Exclusive execution across replicas comes from the job leases, not from here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sync_jobs.domain.durations import parse_duration

if TYPE_CHECKING:  # config.py checks crons with this module: no import cycle at run time
    from sync_jobs.config.app import Schedule

Tick = Callable[[], Awaitable[None]]
MISFIRE_GRACE_SECONDS = 300
CRON_FIELDS = "minute hour day-of-month month day-of-week"


def cron_trigger(expression: str) -> Any:
    """The trigger of a five-field cron expression (UTC); ValueError saying what is wrong.

    config.yaml is checked with this very function, so a schedule that passed ``validate``
    cannot fail when the daemon (re)builds its timer."""
    try:
        trigger = CronTrigger.from_crontab(expression, timezone="UTC")
    except ValueError as exc:
        raise ValueError(
            f"cron {expression!r} is not valid: {exc} (fields: {CRON_FIELDS}, "
            "e.g. '*/15 * * * *' or '0 6 * * mon-fri')"
        ) from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise ValueError(f"cron {expression!r} never fires (no such date)")
    return trigger


class Timer:
    """Typed wrapper: schedule ticks by interval or cron, with jitter and no overlap."""

    def __init__(self) -> None:
        self._scheduler: Any = AsyncIOScheduler(timezone="UTC")

    def start(self) -> None:
        """Begin firing (call from inside the running event loop)."""
        self._scheduler.start()

    def pause(self) -> None:
        """Stop firing new ticks without touching ticks in flight.

        (Shutting down APScheduler's asyncio executor cancels running ticks, so a graceful
        stop pauses first, waits for the runs, and shuts down last.)
        """
        if self._scheduler.running:
            self._scheduler.pause()

    def shutdown(self) -> None:
        """Stop firing new ticks; ticks already running are left to finish."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def schedule(self, name: str, schedule: Schedule, tick: Tick, *, now: bool = False) -> None:
        """(Re)place the tick called ``name``: coalesced, one at a time, bounded misfire.

        ``now``: fire once at once, then on the schedule (a job the process has just taken on).
        """
        jitter = parse_duration(schedule.jitter)
        if schedule.every is not None:
            trigger: Any = IntervalTrigger(seconds=parse_duration(schedule.every), jitter=jitter)
        else:
            assert schedule.cron is not None  # a Schedule holds exactly one of the two
            trigger = cron_trigger(schedule.cron)
            trigger.jitter = jitter
        first: dict[str, Any] = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(
            tick,
            trigger,
            id=name,
            name=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
            **first,
        )

    def every(self, name: str, seconds: float, tick: Tick) -> None:
        """A housekeeping tick (alert dispatch, reload check) every ``seconds``."""
        self._scheduler.add_job(
            tick,
            IntervalTrigger(seconds=seconds),
            id=name,
            name=name,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )

    def remove_except(self, keep: set[str]) -> None:
        """Drop ticks whose job left the config."""
        for job in self._scheduler.get_jobs():
            if job.id not in keep:
                job.remove()

    def names(self) -> list[str]:
        """Scheduled tick names."""
        return sorted(job.id for job in self._scheduler.get_jobs())
