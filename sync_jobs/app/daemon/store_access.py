"""Opening the state store at start-up, and the SQLite daemon lease.

On SQLite one daemon owns the file: a second is refused with the holder's name, but one
whose holder died is not (it takes over at once, so a crashed daemon restarts cleanly under
systemd). PostgreSQL takes any number of replicas; job leases split the work.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.runner import after_takeover
from sync_jobs.store.db import UNREACHABLE, is_sqlite, migrate_async
from sync_jobs.store.leases import Grant, acquire, holder_of, release, renew

log = structlog.get_logger("dealbridge.daemon")
DAEMON_LEASE = timedelta(seconds=30)
RENEW_EVERY = 10.0


class SecondDaemon(RuntimeError):
    """Another daemon already owns this SQLite state file."""


async def open_store(url: str) -> None:
    """Migrate the store, retrying with back-off while it is unreachable."""
    retrying = AsyncRetrying(
        retry=retry_if_exception_type(UNREACHABLE),
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


class DaemonLease:
    """The ``daemon`` lease on a SQLite store (nothing to hold on PostgreSQL)."""

    def __init__(self) -> None:
        self.grant: Grant | None = None

    async def take(self, engine: Engine) -> None:
        """Hold the lease, or raise :class:`SecondDaemon` naming who does."""
        if not is_sqlite(engine.config.state.url):
            return
        self.grant = await acquire(
            engine.store,
            "daemon",
            engine.replica_id,
            DAEMON_LEASE,
            utcnow(),
            on_takeover=after_takeover(engine),
        )
        if self.grant is None:
            held = await holder_of(engine.store, "daemon")
            who = held.describe() if held else "another process"
            until = f"{held.until:%Y-%m-%d %H:%M:%S} UTC" if held else "shortly"
            raise SecondDaemon(
                f"another dealbridge daemon ({who}) is using this SQLite state file (lease "
                f"until {until}); run one daemon per SQLite file, or use PostgreSQL for replicas"
            )
        if self.grant.took_over is not None:
            log.warning("daemon_taken_over", previous=self.grant.took_over.describe("daemon"))

    async def renew(self, engine: Engine) -> None:
        """Keep holding it (every ``RENEW_EVERY`` seconds)."""
        if self.grant is not None:
            await renew(engine.store, self.grant, DAEMON_LEASE, utcnow())

    async def release(self, engine: Engine) -> None:
        """Let the next daemon start at once."""
        if self.grant is not None:
            await release(engine.store, self.grant, utcnow())
