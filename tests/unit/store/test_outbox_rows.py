"""The alert outbox's rows: an alert queued twice is one row, a claim is exclusive until it
is abandoned, only the claim that sent a row records its outcome, and a thread continues on
its newest reference."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import outbox
from sync_jobs.store.db import write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CLAIM = timedelta(minutes=5)


def row(key: str, channel: str = "desk", thread: str = "conflict:1") -> dict[str, Any]:
    return {
        "alert_key": key,
        "thread": thread,
        "channel": channel,
        "payload": {"key": key},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "created_at": NOW,
    }


async def queue(engine: AsyncEngine, *rows: dict[str, Any]) -> None:
    async with write_tx(engine) as conn:
        await outbox.queue(conn, rows)


async def test_an_alert_queued_again_for_the_same_channel_is_one_row(engine: AsyncEngine) -> None:
    await queue(engine, row("a"), row("a", channel="mail"))
    await queue(engine, row("a"))

    claimed = await outbox.claim_due(engine, NOW, 10, CLAIM)

    assert sorted((r.alert_key, r.channel) for r in claimed) == [("a", "desk"), ("a", "mail")]


async def test_a_claim_is_exclusive_until_it_is_abandoned(engine: AsyncEngine) -> None:
    await queue(engine, row("a"))
    (first,) = await outbox.claim_due(engine, NOW, 10, CLAIM)

    assert await outbox.claim_due(engine, NOW + timedelta(minutes=1), 10, CLAIM) == []
    (taken_over,) = await outbox.claim_due(engine, NOW + timedelta(minutes=6), 10, CLAIM)
    assert taken_over.id == first.id
    assert taken_over.claim_token != first.claim_token


async def test_only_the_claim_that_sent_a_row_records_its_outcome(engine: AsyncEngine) -> None:
    await queue(engine, row("a"))
    (stale,) = await outbox.claim_due(engine, NOW, 10, CLAIM)
    (current,) = await outbox.claim_due(engine, NOW + timedelta(minutes=6), 10, CLAIM)

    await outbox.mark_sent(engine, stale, "T1", NOW)
    assert await outbox.thread_reference(engine, "conflict:1", "desk") is None

    await outbox.mark_sent(engine, current, "T2", NOW)
    assert await outbox.thread_reference(engine, "conflict:1", "desk") == "T2"


async def test_a_thread_continues_on_its_newest_reference(engine: AsyncEngine) -> None:
    await queue(engine, row("opened"), row("updated"), row("other", thread="conflict:2"))
    opened, updated, other = await outbox.claim_due(engine, NOW, 10, CLAIM)
    await outbox.mark_sent(engine, opened, "T1", NOW)
    await outbox.mark_sent(engine, updated, "T9", NOW)  # the desk replaced a closed ticket
    await outbox.mark_sent(engine, other, "T5", NOW)

    assert await outbox.thread_reference(engine, "conflict:1", "desk") == "T9"
    assert await outbox.thread_reference(engine, "conflict:1", "mail") is None


async def test_a_rescheduled_row_waits_and_a_parked_one_waits_for_a_person(
    engine: AsyncEngine,
) -> None:
    await queue(engine, row("later"), row("dead"))
    later, dead = await outbox.claim_due(engine, NOW, 10, CLAIM)
    await outbox.reschedule(engine, later, "HTTP 503", 1, NOW + timedelta(minutes=2))
    await outbox.park(engine, dead, "refused permanently: HTTP 404", 1)

    assert await outbox.claim_due(engine, NOW + timedelta(minutes=1), 10, CLAIM) == []
    (due,) = await outbox.claim_due(engine, NOW + timedelta(minutes=2), 10, CLAIM)
    assert (due.alert_key, due.attempts) == ("later", 1)

    assert await outbox.retry_now(engine, dead.id, NOW) is True
    (again,) = await outbox.claim_due(engine, NOW, 10, CLAIM)
    assert (again.alert_key, again.attempts) == ("dead", 0)
