"""The desk's own change feed brings agent edits to stage 2: the daemon's regular index
refresh (no webhook) holds an agent's edit of a synced field as a conflict with no deal
changed, and our own writes coming back through the feed cost nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from connectors.base import RecordChange
from sync_jobs.domain.values import same_value
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx
from tests.e2e.conftest import Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
LATER = timedelta(minutes=2)
"""Past the index interval (1 min) and past Zendesk's export delay (the last minute)."""


async def _later(sandbox: Sandbox) -> None:
    """Two minutes pass for the desk and for dealbridge."""
    sandbox.world.desk.pass_time(LATER.total_seconds())
    await sandbox.restart(later=LATER)


async def _open_edits(sandbox: Sandbox) -> list[str]:
    async with read_tx(sandbox.engine.store) as conn:
        rows = await conn.execute(
            sa.select(t.conflict.c.customer_key).where(
                t.conflict.c.kind == "target_edited", t.conflict.c.status == "open"
            )
        )
        return [str(r.customer_key) for r in rows]


async def test_our_own_writes_coming_back_through_the_feed_are_not_read_again(
    sandbox: Sandbox,
) -> None:
    await sandbox.run()
    await _later(sandbox)
    (report,) = await sandbox.run("apac")
    assert report.counts["index_records"] > 0, "the refresh read our writes back"
    assert report.counts.get("desk_edits_queued", 0) == 0
    assert report.counts.get("customers_planned", 0) == 0, "no desk read, no plan"


async def test_the_regular_refresh_holds_an_agent_edit_with_no_deal_changed(
    sandbox: Sandbox,
) -> None:
    await sandbox.run()
    field = sandbox.field("discount_percent")
    hooli = await sandbox.ref("Hooli")
    before = (await sandbox.record("Hooli")).fields[field]
    edited = 3 if not same_value(before, 3) else 4
    await sandbox.desk.write([RecordChange(ref=hooli, fields={field: edited})])  # the agent
    await _later(sandbox)
    (report,) = await sandbox.run("apac")
    assert report.counts["deals_changed"] == 0
    assert report.counts["desk_edits_queued"] == 1
    assert await _open_edits(sandbox) == [hooli.key]
    record = await sandbox.record("Hooli")
    assert same_value(record.fields[field], edited), "the agent's value stays"
    assert "! " in record.fields[sandbox.note_field], "the note flags the held edit"
