"""Alerts the daemon itself raises: a configuration it refused, a connector failing its check.

They go through the alert outbox like every other alert (delivered by the dispatcher), and
only when alert routes are configured."""

from __future__ import annotations

import hashlib

from sync_jobs.alerts.content import failure_alert
from sync_jobs.alerts.outbox import enqueue
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.domain.durations import parse_duration
from sync_jobs.run.context import utcnow
from sync_jobs.store.db import Store, write_tx


async def config_invalid(store: Store, config: AlertsConfig, message: str) -> None:
    """A configuration was refused (or jobs disabled); one alert per distinct message."""
    if not config.routes:
        return
    async with write_tx(store) as conn:
        alert = failure_alert(
            "config_invalid",
            "config",
            message,
            bucket=hashlib.sha256(message.encode()).hexdigest()[:12],
        )
        await enqueue(conn, alert, config, utcnow())


async def connector_unhealthy(
    store: Store, config: AlertsConfig, connector: str, message: str
) -> None:
    """A connector failing its check alerts once per ``repeat_failures_every``."""
    if not config.routes:
        return
    now = utcnow()
    bucket = str(int(now.timestamp()) // parse_duration(config.repeat_failures_every))
    async with write_tx(store) as conn:
        await enqueue(
            conn, failure_alert("connector_unhealthy", connector, message, bucket), config, now
        )
