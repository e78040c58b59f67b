"""At volume: a 5,000-deal backfill costs a handful of requests (never one per deal), and a deal
changed while the first read's tracked pages are served is still read at its latest version."""

from __future__ import annotations

import httpx
import pytest

from bench.dynamics_requests import measure
from connectors.base import DealQuery
from connectors.sales.dynamics import DynamicsConfig, DynamicsSource
from connectors.sales.dynamics.simulator import DEMO_ENV, DynamicsSimulator, connector_config
from connectors.settings import ConnectorOptions
from sandbox.controls import ASGIApp, Receive, Scope, Send

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)


async def test_a_5000_deal_backfill_costs_a_handful_of_requests_and_a_later_run_a_few() -> None:
    backfill, later = await measure(5000, 50)
    assert backfill.deals == 5000
    assert backfill.requests <= 20, backfill.by_operation
    assert backfill.by_operation["read deals"] == 5, "5,000 deals at the default 1,000 a page"
    assert backfill.by_operation["start change tracking"] == 1, "5,000 ids in one tracked page"
    assert later.deals == 50
    assert later.deleted == 5
    assert later.requests == 2, later.by_operation


def _change_during_tracking(app: ASGIApp, sim: DynamicsSimulator, deal_id: str) -> ASGIApp:
    """Update ``deal_id`` when the tracked read asks for its second page."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"").decode()
        if scope["type"] == "http" and "skiptoken" in query and "deltatoken" not in query:
            headers = dict(scope.get("headers") or [])
            if b"odata.track-changes" in headers.get(b"prefer", b""):
                sim.update_deal(deal_id, name="changed while tracking paged")
        await app(scope, receive, send)

    return wrapped


async def test_a_deal_changed_while_the_tracked_pages_are_served_is_not_lost() -> None:
    """FACTS.md §6.3: that change may never reach a later delta; the data read covers it."""
    sim = DynamicsSimulator()
    ids = sorted(sim.seed_bulk(5003))
    first_page_deal = ids[0]
    app = _change_during_tracking(sim.app, sim, first_page_deal)
    config = DynamicsConfig.model_validate(connector_config())
    src = DynamicsSource(
        "central", config, ConnectorOptions(transport=httpx.ASGITransport(app=app))
    )
    names: dict[str, str] = {}
    cursor = None
    async for page in src.changed_deals(DealQuery(fields=("name",)), None):
        names.update((d.id, d.payload["name"]) for d in page.deals)
        cursor = page.checkpoint
    delta = [
        d async for p in src.changed_deals(DealQuery(fields=("name",)), cursor) for d in p.deals
    ]
    await src.aclose()
    assert len(names) == 5003
    assert names[first_page_deal] == "changed while tracking paged"
    assert delta == [], "the simulator's delta indeed never shows that change"
