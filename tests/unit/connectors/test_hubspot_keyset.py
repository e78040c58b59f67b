"""HubSpot's keyset read against the project's simulator: deals edited while one read pages
through the search are each read, and none is skipped.

The simulator hides a deal changed less than ``search_lag`` ago (HubSpot probably still shows
its previous version; docs/vendor-fidelity.md), so the edits here are stamped a little in the
past: they are searchable at once and still later than every seeded deal, as a real edit is.
The same property against the doc-only fake, with the lag: tests/docfakes/test_hubspot_connector.py.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import DealQuery
from connectors.sales.hubspot import HubSpotConfig, HubSpotSource
from connectors.sales.hubspot.simulator import DEMO_ACCESS_TOKEN, HubSpotSimulator
from connectors.settings import ConnectorOptions

URL = "http://hubspot.sandbox"
QUERY = DealQuery(fields=("properties.dealname", "properties.special_discount"))


class FakeTime:
    """The simulator's rate limits count time that the connector's sleeps move."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


class EditsBetweenSearches(httpx.AsyncBaseTransport):
    """Serves the simulator and, right after the n-th search, edits the deals scheduled for it."""

    def __init__(self, sim: HubSpotSimulator, schedule: dict[int, list[str]]) -> None:
        self._inner = httpx.ASGITransport(app=sim.app)
        self._sim = sim
        self._schedule = schedule
        self._searches = 0
        self._edits = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path.endswith("/search"):
            self._searches += 1
            for deal_id in self._schedule.get(self._searches, []):
                self._edits += 1
                stamped = datetime.now(UTC) - timedelta(seconds=30 - self._edits / 1000)
                self._sim.update_deal(deal_id, modified=stamped, special_discount=str(self._edits))
        return response


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_SIM_TOKEN", DEMO_ACCESS_TOKEN)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(1, 30),
    step_ms=st.sampled_from([0, 1, 1000]),
    page_size=st.integers(1, 7),
    edits=st.lists(st.tuples(st.integers(1, 12), st.integers(0, 1000)), max_size=15),
)
def test_deals_edited_at_random_moments_of_one_read_are_each_read_and_none_skipped(
    count: int, step_ms: int, page_size: int, edits: list[tuple[int, int]]
) -> None:
    """Deals a second apart, a millisecond apart or all at one instant (the simulator orders
    ties by descending id); edits land after random searches of the same read."""
    asyncio.run(_read_while_editing(count, step_ms, page_size, edits))


async def _read_while_editing(
    count: int, step_ms: int, page_size: int, edits: list[tuple[int, int]]
) -> None:
    time = FakeTime()
    sim = HubSpotSimulator(seed_demo=False, clock=time.clock)
    ids = sim.seed_bulk(count, start=datetime.now(UTC) - timedelta(hours=1), step_ms=step_ms)
    schedule: dict[int, list[str]] = {}
    for after_search, target in edits:
        schedule.setdefault(after_search, []).append(ids[target % len(ids)])
    config = HubSpotConfig.model_validate(
        {
            "kind": "hubspot",
            "base_url": URL,
            "access_token": "${HS_SIM_TOKEN}",
            "page_size": page_size,
            "read_archived": False,
        }
    )
    transport = EditsBetweenSearches(sim, schedule)
    source = HubSpotSource("emea", config, ConnectorOptions(transport=transport, sleep=time.sleep))
    try:
        read = [deal.id async for page in source.changed_deals(QUERY, None) for deal in page.deals]
    finally:
        await source.aclose()

    assert set(read) == set(ids), "a deal was skipped"
    edited = {deal_id for batch in schedule.values() for deal_id in batch}
    unchanged = [deal_id for deal_id in read if deal_id not in edited]
    assert len(unchanged) == len(set(unchanged)), "an unchanged deal was yielded twice"
