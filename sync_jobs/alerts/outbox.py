"""The alert outbox: queued in the same transaction as the event, delivered at least once.

``notify`` runs inside the stage transaction that raised or closed conflicts, so a crash can
never lose an alert whose conflict was recorded (nor send one whose conflict was not). The
``Dispatcher`` claims due rows, sends each once through its channel, and records the outcome:
sent (with the receiver's reference, so updates thread under the first message), retried later
with exponential backoff (or the channel's Retry-After), or parked as ``dead`` with the reason
when the channel refuses permanently or attempts run out. Every channel fails with the
connectors' taxonomy (``connectors.errors``): a ``TransientError`` is retried, a
``BudgetExhausted`` waits for its reset, any other ``ConnectorError`` parks the alert. The
only duplicate possible is a crash between a send and its commit; receivers can drop it by the
alert key. The rows live in ``sync_jobs.store.outbox``; this module issues no SQL.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from connectors.errors import (
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
    TransientError,
)
from sync_jobs.alerts.base import Alert, Channel, Phase
from sync_jobs.alerts.content import conflict_alert
from sync_jobs.alerts.routing import AlertsConfig, route
from sync_jobs.domain.durations import parse_duration
from sync_jobs.store import outbox as rows
from sync_jobs.store.outbox import Queued

if TYPE_CHECKING:  # the store's handles, passed through: this module issues no SQL
    from sync_jobs.store.db import Connection, Store

log = structlog.get_logger("dealbridge.alerts")
CLAIM_TIMEOUT = timedelta(minutes=5)
BACKOFF_FIRST, BACKOFF_MAX = 30.0, 3600.0
"""Seconds: the first retry waits up to 30 s, each later one up to twice as long, capped at
an hour."""


async def enqueue(conn: Connection, alert: Alert, config: AlertsConfig, now: datetime) -> int:
    """Queue ``alert`` for every routed channel; an alert already queued is not queued again."""
    alert = with_console_link(alert, config.base_url)
    targets = route(alert, config)
    queued = [
        {
            "alert_key": alert.key,
            "thread": str(alert.extra.get("thread") or alert.key),
            "channel": channel,
            "payload": _payload(dataclasses.replace(alert, recipients=recipients)),
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": _digest_time(config, channel, now),
            "created_at": now,
        }
        for channel, recipients in targets.items()
    ]
    await rows.queue(conn, queued)
    return len(queued)


def with_console_link(alert: Alert, base_url: str | None) -> Alert:
    """Every alert links to the console when its address is known: a conflict to its page
    (set where it is made), a failed run to the run, anything else to the overview."""
    if alert.link or not base_url:
        return alert
    run_id = alert.extra.get("run_id")
    base = base_url.rstrip("/")
    return dataclasses.replace(alert, link=f"{base}/runs/{run_id}" if run_id else f"{base}/")


def _digest_time(config: AlertsConfig, channel: str, now: datetime) -> datetime:
    """Digest channels collect alerts until the end of the current interval."""
    every = config.digests.get(channel)
    if every is None:
        return now
    seconds = parse_duration(every)
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start + seconds, tz=UTC)


async def notify(
    conn: Connection,
    config: AlertsConfig,
    now: datetime,
    *,
    changed: Sequence[tuple[int, str]] = (),
    closed: Sequence[int] = (),
) -> int:
    """Queue the alerts for conflicts just raised, changed or closed (same transaction)."""
    phases: dict[int, Phase] = {i: ("opened" if p == "opened" else "updated") for i, p in changed}
    phases |= dict.fromkeys(closed, "closed")
    if not phases or not config.routes:
        return 0
    queued = 0
    for row in await rows.conflicts(conn, list(phases)):
        queued += await enqueue(
            conn, conflict_alert(row, phases[row.id], config.base_url), config, now
        )
    return queued


def _payload(alert: Alert) -> dict[str, Any]:
    data = dataclasses.asdict(alert)
    data["facts"] = [list(f) for f in alert.facts]
    data["recipients"] = list(alert.recipients)
    return data


def alert_from_payload(data: Mapping[str, Any]) -> Alert:
    """Rebuild the alert stored on an outbox row."""
    values = dict(data)
    values["facts"] = tuple(tuple(f) for f in values.get("facts", ()))
    values["recipients"] = tuple(values.get("recipients", ()))
    return Alert(**values)


@dataclass
class DispatchReport:
    """What one dispatch pass did."""

    sent: int = 0
    retried: int = 0
    parked: int = 0


class Dispatcher:
    """Delivers due outbox rows through their channels."""

    def __init__(
        self,
        store: Store,
        config: AlertsConfig,
        channels: Mapping[str, Channel],
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._config = config
        self._channels = channels
        self._clock = clock

    async def deliver_due(self, limit: int = 50) -> DispatchReport:
        """Claim and send up to ``limit`` due alerts (digest channels: one summary each)."""
        report = DispatchReport()
        digests: dict[str, list[Queued]] = {}
        for row in await rows.claim_due(self._store, self._clock(), limit, CLAIM_TIMEOUT):
            if row.channel in self._config.digests:
                digests.setdefault(row.channel, []).append(row)
            else:
                await self._deliver_one(row, report)
        for group in digests.values():
            await self._deliver_digest(group, report)
        return report

    async def _deliver_one(self, row: Queued, report: DispatchReport) -> None:
        alert = alert_from_payload(row.payload)
        reference = await rows.thread_reference(self._store, row.thread, row.channel)
        if await self._deliver([row], alert, reference, report):
            log.info("alert_sent", channel=row.channel, key=row.alert_key)

    async def _deliver_digest(self, group: list[Queued], report: DispatchReport) -> None:
        """Send many alerts as one summary; they share its outcome."""
        channel = group[0].channel
        alerts = [alert_from_payload(r.payload) for r in group]
        summary = digest_alert(channel, alerts, self._config.digests[channel])
        await self._deliver(group, summary, None, report)

    async def _deliver(
        self, group: list[Queued], alert: Alert, reference: str | None, report: DispatchReport
    ) -> bool:
        """The one delivery path: every channel, one send, one outcome for ``group``."""
        channel = self._channels.get(group[0].channel)
        try:
            if channel is None:
                raise PermanentError(
                    f"channel {group[0].channel!r} is not configured", who_acts="admin"
                )
            delivery = await channel.send(alert, reference=reference)
        except ConnectorError as exc:
            for row in group:
                await self._failed(row, exc, report)
            return False
        for row in group:
            await rows.mark_sent(self._store, row, delivery.reference, self._clock())
        report.sent += len(group)
        return True

    async def _failed(self, row: Queued, exc: ConnectorError, report: DispatchReport) -> None:
        attempts = row.attempts + 1
        retryable = isinstance(exc, TransientError | BudgetExhausted)
        if not retryable or attempts >= self._config.max_attempts:
            why = "refused permanently" if not retryable else f"failed {attempts} times"
            await rows.park(self._store, row, f"{why}: {exc}", attempts)
            report.parked += 1
            log.error("alert_parked", channel=row.channel, key=row.alert_key, error=str(exc))
            return
        now = self._clock()
        delay = timedelta(seconds=max(_asked_wait(exc, now), backoff(attempts)))
        await rows.reschedule(self._store, row, str(exc), attempts, now + delay)
        report.retried += 1


def backoff(attempts: int) -> float:
    """Seconds before the next try after ``attempts`` failures: exponential with full jitter,
    so many alerts failing together do not come back together.

    This retry loop spans processes (the outbox row is its state), so it is written out here;
    tenacity's waits need a live loop's state, and the in-process retries that have one (a
    desk connector's client, ``connectors.http``) use tenacity itself."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1))
    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


def _asked_wait(exc: ConnectorError, now: datetime) -> float:
    """How long the receiver asked us to wait (Retry-After, or a budget's reset)."""
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        return exc.retry_after
    if isinstance(exc, BudgetExhausted):
        return max(0.0, (exc.until - now).total_seconds())
    return 0.0


def digest_alert(channel: str, alerts: Sequence[Alert], every: str) -> Alert:
    """One message listing what happened in the interval, worst first."""
    order = {"critical": 0, "warning": 1, "info": 2}
    ranked = sorted(alerts, key=lambda a: (order.get(a.severity, 3), a.title))
    worst = ranked[0].severity if ranked else "info"
    return Alert(
        key=f"digest:{channel}:{ranked[0].key if ranked else ''}:{len(alerts)}",
        kind="digest",
        severity=worst,
        title=f"dealbridge: {len(alerts)} alert(s) in the last {every}",
        summary="; ".join(a.title for a in ranked[:20]) + (" ..." if len(ranked) > 20 else ""),
        action="dealbridge conflicts list --open, then dealbridge conflicts show ID",
        facts=tuple((a.title[:80], a.action[:120]) for a in ranked[:20]),
    )


async def retry_now(store: Store, outbox_id: int, now: datetime) -> bool:
    """``dealbridge alerts retry ID``: put a parked or failing alert back in the queue."""
    return await rows.retry_now(store, outbox_id, now)
