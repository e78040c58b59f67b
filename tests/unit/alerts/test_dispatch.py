"""The one delivery path: every channel gets one send with the thread's reference, and the
connectors' error taxonomy decides what happens next (retry later, wait for the receiver,
or park for a person)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    RateLimited,
    TransientError,
)
from sync_jobs.alerts.base import Alert, Delivery
from sync_jobs.alerts.outbox import BACKOFF_FIRST, Dispatcher, backoff, enqueue
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.store import tables as t
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx
from tests.unit.alerts.helpers import ACME_EDIT, follow_up

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CONFIG = AlertsConfig.model_validate(
    {
        "channels": {"desk": {"type": "ticket", "connector": "zd"}},
        "routes": [{"channels": ["desk"]}],
        "max_attempts": 3,
    }
)


class Scripted:
    """A channel that answers from a script: a reference to deliver, or an error to raise."""

    name = "desk"

    def __init__(self, *answers: str | ConnectorError) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str | None]] = []

    async def send(self, alert: Alert, *, reference: str | None = None) -> Delivery:
        self.calls.append((alert.key, reference))
        answer = self.answers.pop(0)
        if isinstance(answer, ConnectorError):
            raise answer
        return Delivery(channel=self.name, reference=answer)

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    await migrate_async(url)
    engine = make_engine(url)
    yield engine
    await engine.dispose()


async def raise_alert(store: AsyncEngine, alert: Alert) -> None:
    async with write_tx(store) as conn:
        await enqueue(conn, alert, CONFIG, NOW)


async def rows(store: AsyncEngine) -> list[Any]:
    async with read_tx(store) as conn:
        return list(await conn.execute(sa.select(t.outbox).order_by(t.outbox.c.id)))


def dispatcher(store: AsyncEngine, channel: Scripted, at: datetime = NOW) -> Dispatcher:
    return Dispatcher(store, CONFIG, {"desk": channel}, lambda: at)


async def test_a_thread_continues_on_the_reference_its_first_delivery_returned(
    store: AsyncEngine,
) -> None:
    channel = Scripted("T1", "T1")
    await raise_alert(store, ACME_EDIT)
    await dispatcher(store, channel).deliver_due()
    await raise_alert(store, follow_up(ACME_EDIT, "updated"))
    await dispatcher(store, channel).deliver_due()

    assert [reference for _, reference in channel.calls] == [None, "T1"]


async def test_a_transient_failure_is_retried_later_never_sooner_than_asked(
    store: AsyncEngine,
) -> None:
    await raise_alert(store, ACME_EDIT)
    report = await dispatcher(store, Scripted(RateLimited("slow", retry_after=600))).deliver_due()

    (row,) = await rows(store)
    assert (report.retried, row.status, row.attempts) == (1, "pending", 1)
    assert row.next_attempt_at >= NOW + timedelta(seconds=600)


async def test_a_spent_budget_waits_for_its_reset(store: AsyncEngine) -> None:
    until = NOW + timedelta(hours=5)
    await raise_alert(store, ACME_EDIT)
    await dispatcher(store, Scripted(BudgetExhausted("spent", until=until))).deliver_due()

    (row,) = await rows(store)
    assert row.status == "pending"
    assert row.next_attempt_at >= until


async def test_a_permanent_refusal_parks_the_alert_with_its_reason(store: AsyncEngine) -> None:
    await raise_alert(store, ACME_EDIT)
    refused = AuthError("access refused", connector="desk", status=401)
    report = await dispatcher(store, Scripted(refused)).deliver_due()

    (row,) = await rows(store)
    assert (report.parked, row.status) == (1, "dead")
    assert row.last_error.startswith("refused permanently: [desk] HTTP 401: access refused")


async def test_transient_failures_park_the_alert_when_attempts_run_out(
    store: AsyncEngine,
) -> None:
    await raise_alert(store, ACME_EDIT)
    later = NOW
    for _ in range(CONFIG.max_attempts):
        later += timedelta(hours=2)
        await dispatcher(store, Scripted(TransientError("HTTP 503")), at=later).deliver_due()

    (row,) = await rows(store)
    assert (row.status, row.attempts) == ("dead", CONFIG.max_attempts)
    assert row.last_error.startswith(f"failed {CONFIG.max_attempts} times")


async def test_an_unconfigured_channel_parks_the_alert(store: AsyncEngine) -> None:
    await raise_alert(store, ACME_EDIT)
    report = await Dispatcher(store, CONFIG, {}, lambda: NOW).deliver_due()

    (row,) = await rows(store)
    assert (report.parked, row.status) == (1, "dead")
    assert "channel 'desk' is not configured" in row.last_error


def test_backoff_grows_with_full_jitter_up_to_an_hour() -> None:
    for attempts in range(1, 12):
        ceiling = min(3600.0, BACKOFF_FIRST * 2 ** (attempts - 1))
        assert all(0 <= backoff(attempts) <= ceiling for _ in range(50))
