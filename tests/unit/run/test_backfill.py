"""A backfill's stage 1: the source is read while the desk's identity export waits for its
budget, and its deals are matched only once the export's last page is in (a deal is "matched
twice" or "not found" only against every record), a page of deals at a time."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from connectors.base import Cursor, CustomerPage, CustomerRecord
from connectors.waits import announce_wait
from sync_jobs.domain.model import MatchResult
from sync_jobs.run import stage1
from sync_jobs.run.context import RunInterrupted
from sync_jobs.store import conflicts, deals, work
from sync_jobs.store.db import read_tx
from tests.unit.run.kit import JOB, TARGET, FakeCrm, FakeDesk, World, deal, org

pytestmark = pytest.mark.anyio


@dataclass
class SlowExport(FakeDesk):
    """An export of two pages whose second comes only after the CRM was read (as a desk's
    export waits for its next minute); notes what the store held about the deals then."""

    late: tuple[CustomerRecord, ...] = ()
    crm_read: asyncio.Event = field(default_factory=asyncio.Event)
    held_while_exporting: dict[str, Any] = field(default_factory=dict)
    peek: Any = None

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        self.feed_reads += 1
        yield CustomerPage(records=tuple(self.records.values()), checkpoint=Cursor(value="1"))
        announce_wait(TARGET, 60.0)  # as the desk's gate does before its next export minute
        await self.crm_read.wait()
        self.held_while_exporting = await self.peek()
        self.holding(*self.late)
        yield CustomerPage(records=self.late, checkpoint=Cursor(value="2"))


@pytest.fixture
def slow(world: World) -> World:
    crm = FakeCrm()
    world.crm = crm
    world.desk = SlowExport(crm_read=crm.read_all, peek=lambda: match_states(world))
    return world


async def match_states(world: World) -> dict[str, Any]:
    async with read_tx(world.store) as conn:
        known = await deals.deal_states(conn, JOB, ["D1", "D2", "D3", "D4", "D5"])
    return {d: k.customer_key for d, k in known.items()}


async def open_conflicts(world: World) -> list[tuple[str, Any]]:
    async with read_tx(world.store) as conn:
        found = await conflicts.open_conflicts(conn)
    return sorted((c.kind, (c.details or {}).get("deal")) for c in found)


async def queued(world: World) -> list[str]:
    async with read_tx(world.store) as conn:
        return sorted(await work.queued_keys(conn, TARGET))


async def test_deals_read_during_the_export_are_matched_against_every_record_it_brings(
    slow: World,
) -> None:
    assert isinstance(slow.desk, SlowExport)
    slow.desk.holding(org("1", number="CUST-1"))
    # The export's last page brings a second holder of CUST-1, and the only holder of CUST-9.
    slow.desk.late = (org("2", number="CUST-1"), org("3", number="CUST-9"))
    slow.crm.pages = [[deal("D1")], [deal("D2", customer_number="CUST-9")]]

    await stage1.backfill(slow.stage1())

    assert slow.desk.held_while_exporting == {"D1": None, "D2": None}, "stored, pending"
    assert await match_states(slow) == {"D1": None, "D2": "organization:3"}
    assert await open_conflicts(slow) == [("ambiguous", "D1")], "not matched to org 1 alone"
    assert slow.desk.looked_up == [], "CUST-9 was in the export: nothing asked at the desk"
    assert await queued(slow) == ["organization:3"]
    assert slow.state.counts["deals_matched"] == 1
    assert slow.state.counts["deals_ambiguous"] == 1


async def test_the_match_pass_decides_every_waiting_deal_a_page_at_a_time(
    slow: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage1, "MATCH_PAGE", 2)
    assert isinstance(slow.desk, SlowExport)
    slow.desk.holding(org("1", number="CUST-1"))
    slow.desk.late = (org("2", number="CUST-2"),)
    slow.crm.pages = [
        [deal("D1"), deal("D2", customer_number="CUST-2")],
        [deal("D3"), deal("D4", customer_number="CUST-2"), deal("D5", customer_number="CUST-7")],
    ]

    await stage1.backfill(slow.stage1())

    assert await match_states(slow) == {
        "D1": "organization:1",
        "D2": "organization:2",
        "D3": "organization:1",
        "D4": "organization:2",
        "D5": None,
    }
    assert await open_conflicts(slow) == [("unmatched", "D5")]
    assert sorted(k.value for k in slow.desk.looked_up) == ["acme.example", "cust-7"], (
        "only D5's keys were asked at the desk, once"
    )
    assert await queued(slow) == ["organization:1", "organization:2"]


@dataclass
class WaitingExport(FakeDesk):
    """An export that waits for its budget after its page: deals are stored pending."""

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        async for page in super().customers(since):
            yield page
        announce_wait(TARGET, 60.0)


async def test_deals_of_a_backfill_stopped_before_its_match_pass_are_matched_by_the_next_run(
    world: World,
) -> None:
    world.desk = WaitingExport()
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")], [deal("D2")]]
    world.control.stopping.set()  # SIGTERM: stop after the page in hand is committed

    with pytest.raises(RunInterrupted):
        await stage1.backfill(world.stage1())

    assert await match_states(world) == {"D1": None}, "the first page, pending"
    async with read_tx(world.store) as conn:
        stored = (await conn.exec_driver_sql("SELECT match_detail FROM deal")).scalar_one()
    assert stored == json.dumps(MatchResult(status="pending").model_dump(mode="json")), (
        "the pending match's text as the store's encoder always wrote it"
    )
    world.control.stopping.clear()
    ctx = world.stage1()
    await stage1.pull(ctx, await stage1.refresh_index(ctx))
    assert await match_states(world) == {"D1": "organization:1", "D2": "organization:1"}
    assert await queued(world) == ["organization:1"]
