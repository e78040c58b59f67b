"""The HubSpot simulator answers like HubSpot, driven by the real connector over ASGI:
search paging and its 10,000 cap (shrunk here), ties, archived deals, batch caps, rate limits,
OAuth expiry, and the contract harness."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import Cursor, DealPage, DealQuery
from connectors.registry import get_spec
from connectors.sales.hubspot import HubSpotConfig, HubSpotSource
from connectors.sales.hubspot.simulator import (
    DEMO_ACCESS_TOKEN,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    HubSpotSimulator,
    contract_harness,
    throttle_fault,
)
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

URL = "http://hubspot.sandbox"
AUTH = {"Authorization": f"Bearer {DEMO_ACCESS_TOKEN}"}
MAPPED = (
    "properties.special_discount",
    "properties.payment_terms",
    "properties.free_services",
    "properties.terms_valid_until",
    "companies.properties.customer_number",
    "companies.properties.domain",
    "contacts.properties.email",
    "owner.email",
)
HOUR_AGO = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)


class FakeTime:
    """One fake clock for the simulator's limits and the connector's sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_SIM_TOKEN", DEMO_ACCESS_TOKEN)
    monkeypatch.setenv("HS_SIM_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setenv("HS_SIM_REFRESH", DEMO_REFRESH_TOKEN)


def simulator(**knobs: Any) -> tuple[HubSpotSimulator, FakeTime]:
    """A simulator whose limits count time on a fake clock that the connector's sleeps move."""
    time = FakeTime()
    return HubSpotSimulator(clock=time.clock, **knobs), time


def connect(
    sim: HubSpotSimulator,
    time: FakeTime,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    now: Callable[[], datetime] | None = None,
    **overrides: Any,
) -> HubSpotSource:
    raw: dict[str, Any] = {"kind": "hubspot", "base_url": URL, "access_token": "${HS_SIM_TOKEN}"}
    options = ConnectorOptions(
        transport=transport or httpx.ASGITransport(app=sim.app), sleep=time.sleep
    )
    config = HubSpotConfig.model_validate(raw | overrides)
    return HubSpotSource("emea", config, options, now=now)


async def read(src: HubSpotSource, query: DealQuery, since: Cursor | None = None) -> list[DealPage]:
    pages = [page async for page in src.changed_deals(query, since)]
    await src.aclose()
    return pages


def ids(pages: list[DealPage]) -> list[str]:
    return [d.id for p in pages for d in p.deals]


async def call(sim: HubSpotSimulator, method: str, path: str, **kw: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=URL, headers=AUTH) as client:
        return await client.request(method, path, **kw)


def search_body(**overrides: Any) -> dict[str, Any]:
    return {"filterGroups": [], "sorts": [], "properties": [], "limit": 10} | overrides


# --- the demo territory ------------------------------------------------------------------------


async def test_demo_deals_come_through_with_terms_company_contact_and_owner() -> None:
    pages = await read(connect(*simulator()), DealQuery(fields=MAPPED))
    deals = {d.id: d.payload for d in pages[0].deals}
    acme = deals["9001"]
    assert acme["properties"]["special_discount"] == "10"
    assert acme["properties"]["payment_terms"] == "Net 60"
    assert acme["properties"]["free_services"] == "Onsite training"
    assert acme["companies"][0]["properties"]["customer_number"] == "CUST-1001"
    assert acme["companies"][0]["properties"]["domain"] == "acme.example"
    assert acme["contacts"][0]["properties"]["email"] == "ops@acme.example"
    assert acme["owner"]["email"] == "jonas.weber@seller.example"


async def test_field_catalog_has_the_demo_custom_properties() -> None:
    src = connect(*simulator())
    catalog = {f.path: f for f in await src.field_catalog()}
    await src.aclose()
    assert catalog["properties.payment_terms"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["properties.free_services"].type == "enumeration/checkbox"
    assert catalog["properties.terms_valid_until"].type == "date/date"
    assert catalog["properties.has_special_terms"].type == "bool/booleancheckbox"
    assert catalog["companies.properties.customer_number"].custom


# --- paging, cap, ties ------------------------------------------------------------------------


async def test_small_pages_are_followed_to_the_end() -> None:
    sim, time = simulator(seed_demo=False)
    added = sim.seed_bulk(23, start=HOUR_AGO)
    pages = await read(
        connect(sim, time, page_size=5, read_archived=False), DealQuery(fields=MAPPED)
    )
    assert ids(pages) == added
    # Keyset paging: each search starts at the instant the page before ended at, so it sends
    # that page's last deal again (dropped): 5 + 4 + 4 + 4 + 4 + 2 = 23 in 6 searches. Offset
    # paging took 5 but skipped a deal whenever one was edited during the read.
    assert sim.controls.count("POST", "/search") == 6


async def test_search_cap_is_resliced_so_a_backfill_never_stops_at_the_cap() -> None:
    sim, time = simulator(seed_demo=False, search_cap=50)
    added = sim.seed_bulk(180, start=HOUR_AGO)
    src = connect(sim, time, page_size=10, search_result_cap=50, read_archived=False)
    pages = await read(src, DealQuery(fields=("properties.special_discount",)))
    assert ids(pages) == added
    assert sim.controls.count("POST", "/search") < 40


async def test_more_deals_at_one_instant_than_the_cap_are_all_read_once() -> None:
    sim, time = simulator(seed_demo=False, search_cap=50)
    tied = sim.seed_equal_timestamps(120, at=HOUR_AGO)
    later = sim.seed_bulk(7, start=HOUR_AGO + timedelta(seconds=1))
    src = connect(sim, time, page_size=10, search_result_cap=50, read_archived=False)
    read_ids = ids(await read(src, DealQuery(fields=("properties.dealname",))))
    assert sorted(read_ids[:120], key=int) == sorted(tied, key=int)
    assert read_ids[120:] == later
    assert len(read_ids) == len(set(read_ids))


async def test_paging_past_the_cap_is_a_400_validation_error() -> None:
    sim, _ = simulator(search_cap=50)
    answer = await call(sim, "POST", "/crm/v3/objects/deals/search", json=search_body(after="50"))
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"


async def test_resuming_from_a_checkpoint_inside_a_tie_misses_no_deal() -> None:
    """The run stops after its first page; the next run must still read every tied deal."""
    sim, time = simulator(seed_demo=False)
    tied = sim.seed_equal_timestamps(12, at=HOUR_AGO)
    src = connect(sim, time, page_size=5, read_archived=False, overlap_seconds=0)
    stream = src.changed_deals(DealQuery(fields=("properties.dealname",)), None)
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    await stream.aclose()
    await src.aclose()
    resumed = await read(
        connect(sim, time, page_size=5, read_archived=False, overlap_seconds=0),
        DealQuery(fields=("properties.dealname",)),
        first.checkpoint,
    )
    assert set(ids([first])) | set(ids(resumed)) == set(tied)


async def test_the_next_run_reads_changes_since_the_cursor_plus_overlap_only() -> None:
    """Deals an hour apart: only the newest (inside the 300 s overlap) and the changed one."""
    sim, time = simulator(seed_demo=False)
    old = sim.seed_bulk(5, start=HOUR_AGO - timedelta(days=2), step_ms=3_600_000)
    pages = await read(connect(sim, time, read_archived=False), DealQuery(fields=MAPPED))
    sim.update_deal(old[1], modified=HOUR_AGO, special_discount="15")
    since = pages[-1].checkpoint
    again = await read(connect(sim, time, read_archived=False), DealQuery(fields=MAPPED), since)
    changed = [d for p in again for d in p.deals]
    assert [d.id for d in changed] == [old[4], old[1]]
    assert changed[1].payload["properties"]["special_discount"] == "15"


async def test_a_deal_changed_while_paging_does_not_push_another_deal_out_of_the_read() -> None:
    sim, time = simulator(seed_demo=False)
    added = sim.seed_bulk(12, start=HOUR_AGO)
    later = datetime.now(UTC) + timedelta(seconds=5)  # after this run's upper bound
    transport = ChangeAfterSearch(
        sim, searches=1, change=lambda: sim.update_deal(added[0], modified=later)
    )
    src = connect(sim, time, page_size=5, read_archived=False, transport=transport)
    read_ids = ids(await read(src, DealQuery(fields=("properties.dealname",))))
    assert read_ids == added[:5] + added[5:]  # nothing skipped, nothing twice
    # Keyset paging never sends `after`, so the edit shifts nothing: 3 searches (5 + 4 + 4
    # deals, each page starting at the last one's instant); offset paging needed 5 (a page
    # discarded on the changed total, then re-sliced).
    assert sim.controls.count("POST", "/search") == 3


class ChangeAfterSearch(httpx.AsyncBaseTransport):
    """Passes requests to the simulator and changes its data after the n-th search."""

    def __init__(self, sim: HubSpotSimulator, *, searches: int, change: Callable[[], None]) -> None:
        self._inner = httpx.ASGITransport(app=sim.app)
        self._left = searches
        self._change = change

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path.endswith("/search"):
            self._left -= 1
            if self._left == 0:
                self._change()
        return response


# --- deletions, filters, unknown properties ---------------------------------------------------


async def test_archived_deal_comes_back_as_a_deletion() -> None:
    sim, time = simulator()
    sim.archive_deal("9002", at=HOUR_AGO)
    pages = await read(connect(sim, time), DealQuery(fields=MAPPED))
    deals = {d.id: d for p in pages for d in p.deals}
    assert deals["9002"].deleted
    assert deals["9002"].modified_at == HOUR_AGO
    assert not deals["9001"].deleted


async def test_select_filters_are_applied_by_the_simulator() -> None:
    sim, time = simulator()
    sim.update_deal("9002", dealstage="closedlost")
    won = {"propertyName": "dealstage", "operator": "IN", "values": ["closedwon"]}
    generous = {"propertyName": "special_discount", "operator": "GTE", "value": "9"}
    select = json.dumps([won, generous])
    pages = await read(
        connect(sim, time, read_archived=False), DealQuery(fields=MAPPED, select=select)
    )
    assert ids(pages) == ["9001"]


async def test_unknown_properties_are_silently_left_out() -> None:
    sim, time = simulator()
    pages = await read(
        connect(sim, time, read_archived=False), DealQuery(fields=("properties.no_such_thing",))
    )
    assert pages[0].deals
    assert all("no_such_thing" not in d.payload["properties"] for d in pages[0].deals)


async def test_related_records_are_read_in_batches_of_at_most_100() -> None:
    sim, time = simulator(seed_demo=False)
    companies = [sim.add_company(f"Co {i}", f"co{i}.example") for i in range(250)]
    for i, company in enumerate(companies):
        sim.add_deal(
            {"dealname": f"D{i}"}, modified=HOUR_AGO + timedelta(seconds=i), companies=[company]
        )
    pages = await read(
        connect(sim, time, read_archived=False), DealQuery(fields=("companies.properties.domain",))
    )
    assert sum(len(d.payload["companies"]) for p in pages for d in p.deals) == 250
    # a page of 200 deals needs 2 batch reads, the next page of 50 one more
    assert sim.controls.count("POST", "/crm/v3/objects/companies/batch/read") == 3


async def test_batch_limits_are_enforced_with_400() -> None:
    sim, _ = simulator()
    too_many = {"inputs": [{"id": str(i)} for i in range(101)], "properties": []}
    answer = await call(sim, "POST", "/crm/v3/objects/companies/batch/read", json=too_many)
    assert answer.status_code == 400
    links = {"inputs": [{"id": str(i)} for i in range(1001)]}
    answer = await call(sim, "POST", "/crm/v4/associations/deals/companies/batch/read", json=links)
    assert answer.status_code == 400


async def test_deal_without_associations_is_a_207_no_associations_found() -> None:
    sim, _ = simulator()
    lonely = sim.add_deal({"dealname": "Lonely"})
    body = {"inputs": [{"id": "9001"}, {"id": lonely}]}
    answer = await call(sim, "POST", "/crm/v4/associations/deals/contacts/batch/read", json=body)
    assert answer.status_code == 207
    assert answer.json()["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert answer.json()["results"][0]["from"] == {"id": "9001"}


# --- limits and auth --------------------------------------------------------------------------


async def test_search_rate_limit_429_is_waited_out_and_the_read_completes() -> None:
    sim, time = simulator(seed_demo=False, search_per_second=2)
    added = sim.seed_bulk(30, start=HOUR_AGO)
    src = connect(sim, time, page_size=5, read_archived=False, search_rate_per_second=50)
    assert ids(await read(src, DealQuery(fields=("properties.dealname",)))) == added
    assert sim.controls.count("POST", "/search") > 6  # some searches were refused and retried
    assert 1.0 in time.sleeps


async def test_search_429_has_the_rate_limit_body_and_no_limit_headers() -> None:
    sim, _ = simulator(search_per_second=1)
    await call(sim, "POST", "/crm/v3/objects/deals/search", json=search_body())
    answer = await call(sim, "POST", "/crm/v3/objects/deals/search", json=search_body())
    assert answer.status_code == 429
    assert answer.json()["errorType"] == "RATE_LIMIT"
    assert answer.json()["policyName"] == "SECONDLY"
    assert "x-hubspot-ratelimit-max" not in answer.headers


async def test_ten_second_window_sends_budget_headers_then_429() -> None:
    sim, _ = simulator(ten_second_limit=2)
    first = await call(sim, "GET", "/crm/v3/properties/deals")
    assert first.headers["x-hubspot-ratelimit-max"] == "2"
    assert first.headers["x-hubspot-ratelimit-remaining"] == "1"
    assert first.headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert "x-hubspot-ratelimit-daily-remaining" in first.headers
    await call(sim, "GET", "/crm/v3/properties/deals")
    third = await call(sim, "GET", "/crm/v3/properties/deals")
    assert third.status_code == 429
    assert third.json()["policyName"] == "TEN_SECONDLY_ROLLING"


async def test_ten_second_429_makes_the_connector_wait_the_interval() -> None:
    sim, time = simulator(ten_second_limit=2)
    src = connect(sim, time)
    catalog = await src.field_catalog()
    await src.aclose()
    assert catalog
    assert max(time.sleeps) >= 9.9  # one interval (less the moment already spent)


async def test_daily_budget_spent_is_a_429_daily() -> None:
    sim, _ = simulator(daily_limit=1)
    await call(sim, "GET", "/crm/v3/owners")
    answer = await call(sim, "GET", "/crm/v3/owners")
    assert answer.status_code == 429
    assert answer.json()["policyName"] == "DAILY"


async def test_unknown_token_is_a_401_invalid_authentication() -> None:
    sim, _ = simulator()
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=URL) as client:
        answer = await client.get("/crm/v3/owners", headers={"Authorization": "Bearer nope"})
    assert answer.status_code == 401
    assert answer.json()["category"] == "INVALID_AUTHENTICATION"


async def test_oauth_connector_refreshes_when_the_simulator_expires_its_token() -> None:
    sim, time = simulator()
    src = connect(
        sim,
        time,
        access_token=None,
        client_id=DEMO_CLIENT_ID,
        client_secret="${HS_SIM_SECRET}",
        refresh_token="${HS_SIM_REFRESH}",
    )
    assert (await src.check()).ok
    sim.expire_tokens()
    assert (await src.check()).ok
    await src.aclose()
    assert sim.controls.count("POST", "/oauth/v1/token") == 2


async def test_token_endpoint_refuses_an_unknown_refresh_token() -> None:
    sim, _ = simulator()
    form = {
        "grant_type": "refresh_token",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "refresh_token": "stale",
    }
    answer = await call(sim, "POST", "/oauth/v1/token", data=form)
    assert answer.status_code == 400
    assert answer.json()["status"] == "BAD_REFRESH_TOKEN"


# --- harness ----------------------------------------------------------------------------------


async def test_contract_harness_config_reads_the_seeded_deals_and_tied_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = contract_harness()
    for key, value in harness.env.items():
        monkeypatch.setenv(key, value)
    assert harness.seed_equal_timestamps is not None
    harness.seed_equal_timestamps(7)
    assert harness.app is not None
    spec = get_spec(harness.kind)
    options = ConnectorOptions(
        transport=httpx.ASGITransport(app=harness.app), sleep=FakeTime().sleep
    )
    src = spec.factory("harness", spec.config_model.model_validate(harness.config), options)
    pages = [p async for p in src.changed_deals(DealQuery(), None)]
    await src.aclose()
    assert len(ids(pages)) == 2 + 7
    assert all(len(p.deals) <= harness.page_size for p in pages)


async def test_throttle_fault_is_served_once_then_the_call_succeeds() -> None:
    sim, _ = simulator()
    sim.controls.inject(throttle_fault())
    first = await call(sim, "GET", "/crm/v3/owners")
    second = await call(sim, "GET", "/crm/v3/owners")
    assert first.status_code == 429
    assert first.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert second.status_code == 200


# --- search lag ---------------------------------------------------------------------------------


async def test_a_deal_changed_seconds_ago_is_not_searchable_until_the_index_catches_up() -> None:
    sim, _time = simulator()
    deal = sim.add_deal({"dealname": "Fresh", "dealstage": "closedwon"})  # modified just now
    body = search_body(properties=["dealname"], limit=200)
    before = (await call(sim, "POST", "/crm/v3/objects/deals/search", json=body)).json()
    assert deal not in {r["id"] for r in before["results"]}
    sim.pass_time(sim.search_lag)
    after = (await call(sim, "POST", "/crm/v3/objects/deals/search", json=body)).json()
    assert deal in {r["id"] for r in after["results"]}
    assert after["total"] == before["total"] + 1


async def test_a_deal_the_search_lag_hid_from_one_run_is_read_by_the_next() -> None:
    sim, time = simulator()
    sim.pass_time(3600)  # the demo deals are long indexed
    overlap = 300  # the default; it also covers indexing that is not first-in first-out
    first = connect(sim, time, now=sim.now, overlap_seconds=overlap)  # the account's "now"
    checkpoint = (await read(first, DealQuery(fields=MAPPED)))[-1].checkpoint
    late = sim.add_deal({"dealname": "Late", "dealstage": "closedwon"})  # not yet indexed
    sim.pass_time(1)
    hidden = connect(sim, time, now=sim.now, overlap_seconds=overlap)
    pages = await read(hidden, DealQuery(fields=MAPPED), checkpoint)
    assert late not in ids(pages)
    sim.pass_time(sim.search_lag)
    again = connect(sim, time, now=sim.now, overlap_seconds=overlap)
    assert late in ids(await read(again, DealQuery(fields=MAPPED), pages[-1].checkpoint))
