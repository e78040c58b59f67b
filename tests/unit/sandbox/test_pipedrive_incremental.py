"""The incremental invariant, over arbitrary histories: whatever deals are created, edited (often
several times in one second), deleted or archived, whenever reads run, stop part-way (a crash
after some committed pages) or meet writes between their pages, and whatever the page size, the
last version each deal was handed out in is its latest: nothing skipped, no deletion missed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, DealQuery, SourceDeal
from connectors.sales.pipedrive import PipedriveConfig, PipedriveSource
from connectors.sales.pipedrive.simulator import DEMO_API_TOKEN, SANDBOX_URL, PipedriveSimulator
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

START = datetime(2026, 12, 6, 10, 0, tzinfo=UTC).timestamp()

Write = tuple[str, int]
"""("create" | "edit" | "delete" | "archive", which deal: an index into the deals made)."""

writes = st.tuples(st.sampled_from(["create", "create", "edit", "edit", "delete", "archive"]),
                   st.integers(0, 30))  # fmt: skip
steps = st.one_of(
    st.tuples(st.just("write"), writes),
    st.tuples(st.just("tick"), st.integers(0, 2)),
    st.tuples(
        st.just("read"),
        st.tuples(
            st.integers(1, 4),  # page size
            st.none() | st.integers(1, 3),  # stop after this many pages (a crash), or read all
            st.lists(writes, max_size=3),  # writes between the first and second page
        ),
    ),
)


@dataclass
class World:
    """The simulator, its clock, and what the connector handed out so far."""

    now: float = START
    made: list[int] = field(default_factory=list)
    version: dict[int, int] = field(default_factory=dict)
    cursor: Cursor | None = None
    handed: dict[str, SourceDeal] = field(default_factory=dict)
    dated: bool = True
    sim: PipedriveSimulator = field(init=False)

    def __post_init__(self) -> None:
        self.sim = PipedriveSimulator(
            seed_demo=False, burst=False, send_date=self.dated, clock=self.clock
        )

    def clock(self) -> float:
        return self.now

    def write(self, kind: str, pick: int) -> None:
        live = [d for d in self.made if self.sim.deal(d).deleted_at is None]
        if kind == "create" or not live:
            deal = self.sim.add_deal("v0", at=self.now)
            self.made.append(deal)
            self.version[deal] = 0
            return
        deal = live[pick % len(live)]
        if kind == "edit" and self.sim.deal(deal).archived_at is None:
            self.version[deal] += 1
            self.sim.update_deal(deal, at=self.now, title=f"v{self.version[deal]}")
        elif kind == "delete":
            self.sim.delete_deal(deal, at=self.now)
        elif kind == "archive" and self.sim.deal(deal).archived_at is None:
            self.sim.archive_deal(deal, at=self.now)


def connect(world: World, page_size: int) -> PipedriveSource:
    raw: dict[str, Any] = {
        "kind": "pipedrive",
        "base_url": SANDBOX_URL,
        "auth": {"flow": "api_token", "api_token": "${PD_INVARIANT_TOKEN}"},
        "page_size": page_size,
    }
    options = ConnectorOptions(transport=httpx.ASGITransport(app=world.sim.app))
    return PipedriveSource(
        "nordics",
        PipedriveConfig.model_validate(raw),
        options,
        now=lambda: datetime.fromtimestamp(world.now, tz=UTC),
    )


async def incremental_read(
    world: World, page_size: int, stop_after: int | None, between: list[Write]
) -> None:
    src = connect(world, page_size)
    pages = 0
    async for page in src.changed_deals(DealQuery(fields=("title",)), world.cursor):
        for deal in page.deals:
            world.handed[deal.id] = deal
        world.cursor = page.checkpoint  # committed with its page, as stage 1 does
        pages += 1
        if pages == 1:
            for kind, pick in between:
                world.write(kind, pick)
        if stop_after is not None and pages >= stop_after:
            break
    await src.aclose()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(steps, min_size=1, max_size=30), dated=st.booleans())
async def test_the_last_version_handed_out_is_every_deals_latest(
    history: list[tuple[str, Any]], dated: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dated``: Pipedrive's ``Date`` bounds each run; without it (a proxy that drops it) the
    checkpoint's version digests alone must keep same-second edits."""
    monkeypatch.setenv("PD_INVARIANT_TOKEN", DEMO_API_TOKEN)
    world = World(dated=dated)
    for step, argument in history:
        if step == "write":
            world.write(*argument)
        elif step == "tick":
            world.now += argument
        else:
            await incremental_read(world, *argument)
    world.now += 5  # the last writes settle, then one complete read
    await incremental_read(world, 3, None, [])
    for deal_id in world.made:
        stored = world.sim.deal(deal_id)
        handed = world.handed.get(str(deal_id))
        if stored.deleted_at is not None:
            assert handed is not None, f"deal {deal_id}'s deletion was never handed out"
            assert handed.deleted, f"deal {deal_id} was deleted, last handed out live"
            continue
        assert handed is not None, f"deal {deal_id} was never handed out"
        assert not handed.deleted
        assert handed.payload["title"] == stored.data["title"], f"deal {deal_id}: stale version"
        assert handed.payload["is_archived"] is (stored.archived_at is not None)
