"""The Zoho connector against its simulator: data centres, bad input, deletions, credits,
requests per deal, and (Hypothesis) incremental reads that never lose a deal's latest version,
whatever the update times, ties, page sizes, reader, and changes made while a read is under way.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, DealPage, DealQuery, SourceDeal
from connectors.errors import AuthError, BudgetExhausted, PermanentError
from connectors.sales.zoho import ZohoConfig, ZohoSource
from connectors.sales.zoho.simulator import DEMO_ENV, ZohoSimulator, connector_config
from connectors.settings import ConnectorOptions
from sandbox.controls import ASGIApp, Receive, Scope, Send

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MAPPED = DealQuery(
    fields=("Deal_Name", "Payment_Terms", "Account_Name.Website", "Account_Name.Customer_Number")
)


class Clock:
    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def _no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def connect(
    app: ASGIApp, clock: Callable[[], datetime] | None = None, **overrides: Any
) -> ZohoSource:
    config = ZohoConfig.model_validate(connector_config(**overrides))
    options = ConnectorOptions(transport=httpx.ASGITransport(app=app), sleep=_no_sleep)
    return ZohoSource("latam", config, options, now=clock)


async def read(
    src: ZohoSource, since: Cursor | None = None, query: DealQuery = MAPPED
) -> tuple[list[SourceDeal], Cursor | None]:
    deals: list[SourceDeal] = []
    last: Cursor | None = since
    async for page in src.changed_deals(query, since):
        deals += page.deals
        last = page.checkpoint
    return deals, last


async def test_a_refresh_token_of_another_data_centre_names_the_one_to_use() -> None:
    sim = ZohoSimulator(data_centre="in")
    with pytest.raises(AuthError) as caught:
        await read(connect(sim.app, data_centre="us"))
    assert "India data centre (https://accounts.zoho.in)" in str(caught.value)
    assert "set data_centre: in" in str(caught.value)


async def test_a_token_answer_pointing_at_another_data_centre_is_diagnosed() -> None:
    sim = ZohoSimulator(data_centre="eu", api_domain="https://www.zohoapis.com")
    with pytest.raises(AuthError, match="different data centres") as caught:
        await read(connect(sim.app))
    assert "https://www.zohoapis.com (US data centre)" in str(caught.value)


async def test_an_expired_access_token_is_renewed_without_the_run_noticing() -> None:
    sim = ZohoSimulator()
    src = connect(sim.app)
    first, _ = await read(src)
    sim.expire_tokens()
    await src.api.timing.sleep(90)
    second, _ = await read(src)
    assert len(first) == len(second) == 5
    assert src.api.tokens.refreshes == 2


async def test_a_field_renamed_in_zoho_stops_the_run_with_the_new_name_suggested() -> None:
    sim = ZohoSimulator()
    sim.rename_field("Payment_Terms", "Payment_Term")
    before = sim.controls.count("POST", "/coql")
    with pytest.raises(PermanentError) as caught:
        await read(connect(sim.app))
    assert "'Payment_Terms' (did you mean 'Payment_Term'?)" in str(caught.value)
    assert sim.controls.count("POST", "/coql") == before, "no deal is read with a field missing"


@pytest.mark.parametrize("read_via", ["coql", "list"])
async def test_a_deal_whose_account_was_deleted_is_reported_and_the_rest_read(
    read_via: str,
) -> None:
    sim = ZohoSimulator()
    doomed = sim.add_account("Soylent Corp", "https://soylent.example", "CUST-7")
    values = {"Deal_Name": "Soylent catering", "Payment_Terms": "Net 30"}
    orphan = sim.add_deal(values, account=doomed)
    sim.delete_account(doomed)
    src = connect(sim.app, read_via=read_via)
    deals, _ = await read(src)
    assert len(deals) == 6
    (problem,) = src.problems()
    assert orphan in problem
    assert doomed in problem
    lost = next(d for d in deals if d.id == orphan)
    assert lost.payload["Account_Name"]["id"] == doomed
    assert lost.payload["Account_Name"].get("Website") is None


async def test_a_picklist_value_the_catalog_lacks_is_reported_for_that_deal() -> None:
    sim = ZohoSimulator()
    odd = sim.add_deal({"Deal_Name": "Imported", "Payment_Terms": "Net 90"})
    src = connect(sim.app)
    deals, _ = await read(src)
    assert any(d.id == odd and d.payload["Payment_Terms"] == "Net 90" for d in deals)
    (problem,) = src.problems()
    assert f"deal {odd}: Payment_Terms = 'Net 90' is not an option" in problem


async def test_deleted_deals_come_through_on_the_next_run(
    clock_sim: tuple[ZohoSimulator, Clock],
) -> None:
    sim, clock = clock_sim
    gone = sim.add_deal({"Deal_Name": "Short lived"})
    src = connect(sim.app, clock)
    _, cursor = await read(src)
    clock.advance(60)
    sim.delete_deal(gone)
    clock.advance(60)
    deals, _ = await read(src, cursor)
    assert [(d.id, d.deleted) for d in deals if d.deleted] == [(gone, True)]


async def test_deals_that_stop_matching_the_select_are_removed(
    clock_sim: tuple[ZohoSimulator, Clock],
) -> None:
    sim, clock = clock_sim
    special = sim.add_deal({"Deal_Name": "Special", "Has_Special_Terms": True})
    query = DealQuery(fields=MAPPED.fields, select="Has_Special_Terms = true")
    src = connect(sim.app, clock)
    first, cursor = await read(src, query=query)
    assert [d.id for d in first] == [special]
    clock.advance(30)
    sim.update_deal(special, Has_Special_Terms=False)
    second, _ = await read(src, cursor, query)
    assert [(d.id, d.deleted, d.payload.get("departed")) for d in second] == [(special, True, True)]


async def test_spent_credits_stop_the_job_and_say_when_they_return() -> None:
    sim = ZohoSimulator()
    src = connect(sim.app, credit_reserve=0)
    _, cursor = await read(src)
    sim.limits.spend_all()
    with pytest.raises(BudgetExhausted, match="credits are used up") as caught:
        await read(src, cursor)
    assert caught.value.until > datetime.now(UTC)


async def test_the_credit_reserve_stops_reading_before_zoho_refuses() -> None:
    sim = ZohoSimulator(daily_credits=1000)
    sim.limits.spent.append((datetime.now(UTC), 600))
    src = connect(sim.app, credit_reserve=398)
    with pytest.raises(BudgetExhausted, match=r"credit_reserve \(398\)"):
        await read(src)
    assert sim.limits.remaining == 398, "stopped at the reserve, before the COQL call"


@pytest.mark.parametrize(("read_via", "most"), [("coql", 0.002), ("list", 0.02)])
async def test_requests_per_deal_on_a_5000_deal_backfill(read_via: str, most: float) -> None:
    sim = ZohoSimulator(seed_demo=False)
    sim.seed_bulk(5000, accounts=400)
    src = connect(sim.app, read_via=read_via)
    deals, _ = await read(src)
    assert len({d.id for d in deals}) == 5000
    requests = src.requests_sent
    assert requests / 5000 <= most, f"{requests} requests for 5,000 deals"


# --- Hypothesis: no deal's latest version is ever lost ----------------------------------------


class MidReadWrites:
    """ASGI wrapper that applies queued writes just before the second data read of a run."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.queued: list[Callable[[], None]] = []
        self.data_reads = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.endswith(("/coql", "/Deals")):
            self.data_reads += 1
            if self.data_reads == 2:
                for write in self.queued:
                    write()
                self.queued.clear()
        await self.app(scope, receive, send)


Step = tuple[str, int, int]
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["create", "update", "delete", "run", "tick", "update_mid_read"]),
        st.integers(min_value=0, max_value=1_000),
        st.integers(min_value=0, max_value=2),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=STEPS,
    page_size=st.integers(min_value=1, max_value=4),
    via=st.sampled_from(["coql", "list"]),
)
def test_incremental_reads_always_end_at_every_deals_latest_version(
    steps: list[Step], page_size: int, via: str
) -> None:
    import asyncio

    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)
    asyncio.run(_replay(steps, page_size, via))


async def _replay(steps: list[Step], page_size: int, via: str) -> None:
    clock = Clock()
    sim = ZohoSimulator(seed_demo=False, clock=clock)
    wrapper = MidReadWrites(sim.app)
    src = connect(wrapper, clock, read_via=via, page_size=page_size, overlap_seconds=1)
    seen: dict[str, tuple[datetime, bool]] = {}
    cursor: Cursor | None = None

    async def run() -> None:
        nonlocal cursor
        wrapper.data_reads = 0
        async for page in src.changed_deals(DealQuery(fields=("Deal_Name",)), cursor):
            _remember(page, seen)
            cursor = page.checkpoint
        for write in wrapper.queued:  # the run made fewer than two data reads
            write()
        wrapper.queued.clear()

    for op, pick, ticks in [*steps, ("run", 0, 0)]:
        live = sim.deal_ids()
        if op == "create":
            sim.add_deal({"Deal_Name": f"deal {pick}"})
        elif op == "update" and live:
            sim.update_deal(live[pick % len(live)], Deal_Name=f"v{pick}")
        elif op == "delete" and live:
            sim.delete_deal(live[pick % len(live)])
        elif op == "update_mid_read" and live:
            later = functools.partial(_update_if_live, sim, live[pick % len(live)], f"m{pick}")
            wrapper.queued.append(later)
        elif op == "tick":
            clock.advance(ticks)
        elif op == "run":
            await run()
        clock.advance(ticks % 2)  # many writes share a second: ties are the normal case
    if wrapper.queued:
        await run()
    await run()
    for deal_id in sim.deal_ids():
        record = sim.org.get("Deals", deal_id)
        assert record is not None
        latest = (record.modified, False)
        assert seen.get(deal_id) == latest, f"deal {deal_id} lost its last version"
    for entry in sim.org.deletions:
        if entry.id in seen:
            assert seen[entry.id][1], f"deal {entry.id} was deleted but still looks live"
    await src.aclose()


def _update_if_live(sim: ZohoSimulator, deal_id: str, name: str) -> None:
    if sim.org.get("Deals", deal_id) is not None:
        sim.update_deal(deal_id, Deal_Name=name)


def _remember(page: DealPage, seen: dict[str, tuple[datetime, bool]]) -> None:
    for deal in page.deals:
        if deal.deleted:
            seen[deal.id] = (deal.modified_at, True)
            continue
        known = seen.get(deal.id)
        if known is None or known[1] or deal.modified_at >= known[0]:
            seen[deal.id] = (deal.modified_at, False)


@pytest.fixture
def clock_sim() -> tuple[ZohoSimulator, Clock]:
    clock = Clock()
    return ZohoSimulator(seed_demo=False, clock=clock), clock
