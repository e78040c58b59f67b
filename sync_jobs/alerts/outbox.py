"""The alert outbox: queued in the same transaction as the event, delivered at least once.

``notify`` runs inside the stage transaction that raised or closed conflicts, so a crash can
never lose an alert whose conflict was recorded (nor send one whose conflict was not). The
``Dispatcher`` claims due rows, sends each once through its channel, and records the outcome:
sent (with the receiver's reference, so updates thread under the first message), retried later
with exponential backoff (or the channel's Retry-After), or parked as ``dead`` with the reason
when the channel refuses permanently or attempts run out. The only duplicate possible is a
crash between a send and its commit; receivers can drop it by the alert key.
"""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import RetryCallState, wait_random_exponential

from sync_jobs.alerts.base import Alert, Channel, DeliveryError, Phase
from sync_jobs.alerts.content import conflict_alert
from sync_jobs.alerts.routing import AlertsConfig, route
from sync_jobs.domain.durations import parse_duration
from sync_jobs.store import tables as t
from sync_jobs.store.db import write_tx
from sync_jobs.store.sql import insert_ignore

log = structlog.get_logger("dealbridge.alerts")
OUT = t.outbox
CLAIM_TIMEOUT = timedelta(minutes=5)
_BACKOFF = wait_random_exponential(multiplier=30, max=3600)


async def enqueue(conn: AsyncConnection, alert: Alert, config: AlertsConfig, now: datetime) -> int:
    """Queue ``alert`` for every routed channel; an alert already queued is not queued again."""
    alert = with_console_link(alert, config.base_url)
    targets = route(alert, config)
    rows = [
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
    await insert_ignore(conn, OUT, rows, ["alert_key", "channel"])
    return len(rows)


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
    conn: AsyncConnection,
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
    rows = await conn.execute(sa.select(t.conflict).where(t.conflict.c.id.in_(list(phases))))
    queued = 0
    for row in rows:
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
        store: AsyncEngine,
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
        digests: dict[str, list[Any]] = {}
        for row in await self._claim(limit):
            if row.channel in self._config.digests:
                digests.setdefault(row.channel, []).append(row)
            else:
                await self._deliver(row, report)
        for rows in digests.values():
            await self._deliver_digest(rows, report)
        return report

    async def _deliver_digest(self, rows: list[Any], report: DispatchReport) -> None:
        """Send many alerts as one summary; they share its outcome."""
        channel = self._channels.get(rows[0].channel)
        alerts = [alert_from_payload(r.payload) for r in rows]
        summary = digest_alert(rows[0].channel, alerts, self._config.digests[rows[0].channel])
        try:
            if channel is None:
                raise DeliveryError(
                    f"channel {rows[0].channel!r} is not configured", permanent=True
                )
            delivery = await channel.send(summary)
        except DeliveryError as exc:
            for row in rows:
                await self._failed(row, exc, report)
            return
        for row in rows:
            await self._finish(row, "sent", reference=delivery.reference)
        report.sent += len(rows)

    async def _claim(self, limit: int) -> list[Any]:
        now, token = self._clock(), uuid.uuid4().hex
        due = (
            sa.select(OUT.c.id)
            .where(
                sa.or_(
                    sa.and_(OUT.c.status == "pending", OUT.c.next_attempt_at <= now),
                    sa.and_(OUT.c.status == "sending", OUT.c.claimed_at < now - CLAIM_TIMEOUT),
                )
            )
            .order_by(OUT.c.id)
            .limit(limit)
        )
        async with write_tx(self._store) as conn:
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = [r.id for r in await conn.execute(due)]
            if not ids:
                return []
            await conn.execute(
                sa.update(OUT)
                .where(OUT.c.id.in_(ids))
                .values(status="sending", claim_token=token, claimed_at=now)
            )
            return list(
                await conn.execute(sa.select(OUT).where(OUT.c.id.in_(ids)).order_by(OUT.c.id))
            )

    async def _deliver(self, row: Any, report: DispatchReport) -> None:
        channel = self._channels.get(row.channel)
        alert = alert_from_payload(row.payload)
        if channel is None:
            await self._finish(row, "dead", error=f"channel {row.channel!r} is not configured")
            report.parked += 1
            return
        try:
            reference = await self._thread_reference(row)
            delivery = await _send(channel, alert, reference)
        except DeliveryError as exc:
            await self._failed(row, exc, report)
            return
        await self._finish(row, "sent", reference=delivery.reference)
        report.sent += 1
        log.info("alert_sent", channel=row.channel, key=row.alert_key)

    async def _thread_reference(self, row: Any) -> str | None:
        async with self._store.connect() as conn:
            return (
                await conn.execute(
                    sa.select(OUT.c.reference)
                    .where(
                        OUT.c.thread == row.thread,
                        OUT.c.channel == row.channel,
                        OUT.c.status == "sent",
                        OUT.c.reference.is_not(None),
                    )
                    .order_by(OUT.c.id.desc())  # a desk may have opened a replacement ticket
                    .limit(1)
                )
            ).scalar()

    async def _failed(self, row: Any, exc: DeliveryError, report: DispatchReport) -> None:
        attempts = row.attempts + 1
        if exc.permanent or attempts >= self._config.max_attempts:
            why = "refused permanently" if exc.permanent else f"failed {attempts} times"
            await self._finish(row, "dead", error=f"{why}: {exc}", attempts=attempts)
            report.parked += 1
            log.error("alert_parked", channel=row.channel, key=row.alert_key, error=str(exc))
            return
        state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = attempts
        delay = max(exc.retry_after or 0.0, _BACKOFF(state))
        await self._finish(
            row,
            "pending",
            error=str(exc),
            attempts=attempts,
            next_at=self._clock() + timedelta(seconds=delay),
        )
        report.retried += 1

    async def _finish(
        self,
        row: Any,
        status: str,
        *,
        error: str | None = None,
        reference: str | None = None,
        attempts: int | None = None,
        next_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status, "claim_token": None, "last_error": error}
        if status == "sent":
            values |= {
                "sent_at": self._clock(),
                "reference": reference,
                "attempts": row.attempts + 1,
            }
        if attempts is not None:
            values["attempts"] = attempts
        if next_at is not None:
            values["next_attempt_at"] = next_at
        async with write_tx(self._store) as conn:
            await conn.execute(
                sa.update(OUT)
                .where(OUT.c.id == row.id, OUT.c.claim_token == row.claim_token)
                .values(values)
            )


async def _send(channel: Channel, alert: Alert, reference: str | None) -> Any:
    """Send, passing the thread's first reference to channels that can follow up on it."""
    if reference is not None and "reference" in inspect.signature(channel.send).parameters:
        return await channel.send(alert, reference=reference)  # type: ignore[call-arg]
    return await channel.send(alert)


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


async def retry_now(store: AsyncEngine, outbox_id: int, now: datetime) -> bool:
    """``dealbridge alerts retry ID``: put a parked or failing alert back in the queue."""
    async with write_tx(store) as conn:
        result = await conn.execute(
            sa.update(OUT)
            .where(OUT.c.id == outbox_id, OUT.c.status != "sent")
            .values(status="pending", next_attempt_at=now, attempts=0, claim_token=None)
        )
        return bool(result.rowcount)
