"""The HubSpot source against a fake written from HubSpot's documentation alone.

Each test states a documented HubSpot behaviour (sources in ``tests/docfakes/hubspot*.py``) and
what a deal source must make of it. Where the connector departs from the docs the test keeps
the documented expectation and is marked ``xfail(strict=True)``.

The fake's clock starts an hour behind the real one: the connector bounds each search by its
own clock (``LTE`` the run's start), so records the fake stamps must never lie in the future.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import DealQuery, SalesSource, SourceDeal
from connectors.errors import AuthError, ConnectorError, PermanentError, RateLimited
from connectors.registry import get_spec
from connectors.sales.hubspot import HubSpotConfig
from connectors.settings import ConnectorOptions
from tests.docfakes.clock import FakeClock
from tests.docfakes.hubspot import HubSpotAccount
from tests.docfakes.hubspot_http import hubspot_app
from tests.docfakes.hubspot_limits import Policy, rate_limit_body
from tests.docfakes.hubspot_search import RESULT_CAP
from tests.docfakes.reading import read

pytestmark = pytest.mark.anyio

PRIVATE_APP_TOKEN = "pat-eu1-docfake-7f3e2a91"
CLIENT_ID = "docfake-client-id"
CLIENT_SECRET = "docfake-client-secret-51"
REFRESH_TOKEN = "eu1-docfake-refresh-0042"

QUERY = DealQuery(
    fields=(
        "properties.dealname",
        "properties.dealstage",
        "properties.amount",
        "properties.special_discount",
        "properties.payment_terms",
        "companies.properties.name",
        "companies.properties.domain",
        "companies.properties.customer_number",
        "contacts.properties.email",
        "owner.email",
    )
)


@dataclass
class World:
    clock: FakeClock
    account: HubSpotAccount
    owner: str
    company: str
    contact: str

    def deal(
        self,
        name: str,
        *,
        at: datetime | None = None,
        lag: timedelta | None = None,
        company: str | None = None,
        **properties: Any,
    ) -> str:
        values: dict[str, Any] = {
            "dealname": name,
            "dealstage": "closedwon",
            "amount": 1000,
            "special_discount": 10,
            "payment_terms": "Net 30",
            "hubspot_owner_id": self.owner,
        }
        values.update(properties)
        saved = self.account.search_lag
        if lag is not None:
            self.account.search_lag = lag
        try:
            deal_id = self.account.create("deals", at=at, **values)
        finally:
            self.account.search_lag = saved
        self.account.associate_company(deal_id, company or self.company, primary=True)
        self.account.associate_contact(deal_id, self.contact)
        return deal_id

    def let_search_catch_up(self) -> None:
        self.clock.advance(self.account.search_lag.total_seconds() + 1)

    def calls(self, path_end: str, status: int | None = None) -> int:
        return sum(
            1
            for r in self.account.requests
            if r.path.endswith(path_end) and (status is None or r.status == status)
        )

    def served(self, status: int) -> int:
        return sum(1 for r in self.account.requests if r.status == status)


def _world() -> World:
    clock = FakeClock(datetime.now(UTC) - timedelta(hours=1))
    account = HubSpotAccount(clock)
    account.add_private_app(PRIVATE_APP_TOKEN)
    account.add_oauth_install(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    owner = account.add_owner("jonas.weber@seller.example", "Jonas", "Weber")
    company = account.create(
        "companies", name="Acme", domain="acme.example", customer_number="CUST-1001"
    )
    contact = account.create("contacts", email="ops@acme.example", firstname="Riley")
    return World(clock, account, owner, company, contact)


def _connector(
    world: World,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    *,
    oauth: bool = False,
    **overrides: Any,
) -> SalesSource:
    spec = get_spec("hubspot")
    config: dict[str, Any] = {"kind": "hubspot", "base_url": "https://api.hubapi.example"}
    if oauth:
        config.update(
            client_id=CLIENT_ID,
            client_secret="${DOCFAKE_HS_SECRET}",
            refresh_token="${DOCFAKE_HS_REFRESH}",
        )
    else:
        config["access_token"] = "${DOCFAKE_HS_TOKEN}"
    config.update(overrides)
    transport = httpx.ASGITransport(app=hubspot_app(world.account))
    options = ConnectorOptions(transport=transport, sleep=sleep or world.clock.sleep)
    source: SalesSource = spec.factory("emea", spec.config_model.model_validate(config), options)
    return source


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFAKE_HS_TOKEN", PRIVATE_APP_TOKEN)
    monkeypatch.setenv("DOCFAKE_HS_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("DOCFAKE_HS_REFRESH", REFRESH_TOKEN)


@pytest.fixture
def world() -> World:
    return _world()


@pytest.fixture
async def source(world: World) -> AsyncIterator[SalesSource]:
    connector = _connector(world)
    yield connector
    await connector.aclose()


def _live(deals: list[SourceDeal]) -> dict[str, SourceDeal]:
    return {deal.id: deal for deal in deals if not deal.deleted}


# --- paging ---------------------------------------------------------------------------------


async def test_full_read_pages_through_search_and_embeds_company_contact_and_owner(
    world: World, source: SalesSource
) -> None:
    start = world.clock.now() - timedelta(hours=5)
    ids = [world.deal(f"Deal {i}", at=start + timedelta(seconds=i)) for i in range(450)]

    result = await read(source, QUERY)

    assert sorted(_live(result.deals)) == sorted(ids)
    assert len(result.ids) == len(set(result.ids)), "no deal is yielded twice"
    searches = [r.body for r in world.account.requests if r.path.endswith("/search")]
    assert len(searches) == 3
    assert {body["limit"] for body in searches} == {200}
    deal = _live(result.deals)[ids[0]].payload
    assert deal["properties"]["dealname"] == "Deal 0"
    assert [c["properties"]["domain"] for c in deal["companies"]] == ["acme.example"]
    assert [c["properties"]["email"] for c in deal["contacts"]] == ["ops@acme.example"]
    assert deal["owner"]["email"] == "jonas.weber@seller.example"


async def test_companies_of_a_page_are_read_in_batches_of_at_most_one_hundred(
    world: World, source: SalesSource
) -> None:
    start = world.clock.now() - timedelta(hours=5)
    expected = {}
    for i in range(250):
        company = world.account.create("companies", name=f"Co {i}", domain=f"co{i}.example")
        expected[world.deal(f"Deal {i}", at=start + timedelta(seconds=i), company=company)] = (
            f"co{i}.example"
        )

    result = await read(source, QUERY)

    domains = {
        d.id: d.payload["companies"][0]["properties"]["domain"]
        for d in _live(result.deals).values()
    }
    assert domains == expected
    assert world.served(400) == 0, "no batch was larger than the API accepts"


async def test_resuming_from_any_checkpoint_skips_no_deal_sharing_one_timestamp(
    world: World,
) -> None:
    instant = world.clock.now() - timedelta(hours=2)
    ids = {world.deal(f"Tied {i}", at=instant) for i in range(30)}

    for overlap in (0, 300):
        source = _connector(world, page_size=7, overlap_seconds=overlap)
        try:
            full = await read(source, QUERY)
            assert set(_live(full.deals)) == ids
            for index, checkpoint in enumerate(full.checkpoints):
                before = {d.id for page in full.pages[: index + 1] for d in page}
                after = await read(source, QUERY, checkpoint)
                assert before | set(after.ids) >= ids, f"lost a tied deal (overlap {overlap})"
        finally:
            await source.aclose()


def test_connector_default_cap_is_the_documented_ten_thousand() -> None:
    assert HubSpotConfig.model_fields["search_result_cap"].default == RESULT_CAP == 10_000


async def test_more_deals_sharing_one_instant_than_the_search_cap_are_all_read(
    world: World,
) -> None:
    # The 10,000-result cap scaled down to 500 on both sides, so each search scans 500 deals
    # rather than 10,000; the paging logic under test is the same.
    world.account.result_cap = 500
    instant = world.clock.now() - timedelta(hours=3)
    ids = {world.deal(f"Bulk {i}", at=instant) for i in range(530)}
    source = _connector(world, page_size=100, search_result_cap=500)
    try:
        result = await read(source, QUERY)
    finally:
        await source.aclose()

    assert set(_live(result.deals)) == ids
    assert world.calls("/search", 400) == 0, "never paged past the result cap"


# --- change tracking ------------------------------------------------------------------------


async def test_deal_edited_during_the_read_costs_no_other_deal(
    world: World, source: SalesSource
) -> None:
    start = world.clock.now() - timedelta(hours=6)
    ids = [world.deal(f"Deal {i}", at=start + timedelta(minutes=10 * i)) for i in range(20)]
    source = _connector(world, page_size=5)
    held: dict[str, SourceDeal] = {}
    checkpoint = None
    edited = False
    try:
        async for page in source.changed_deals(QUERY, None):
            held.update((d.id, d) for d in page.deals)
            checkpoint = page.checkpoint
            if not edited:
                # An already-read deal changes: search re-evaluates the query for every page,
                # so everything after it moves one place up the list.
                world.account.update("deals", ids[0], amount=111)
                world.let_search_catch_up()
                edited = True
        world.let_search_catch_up()
        later = await read(source, QUERY, checkpoint)
    finally:
        await source.aclose()
    held.update((d.id, d) for d in later.deals)

    assert set(held) == set(ids)
    assert held[ids[0]].payload["properties"]["amount"] == "111"


async def test_archived_deal_arrives_as_a_deletion(world: World, source: SalesSource) -> None:
    old = world.clock.now() - timedelta(hours=1)
    keep, gone = world.deal("Keep", at=old), world.deal("Gone", at=old)
    first = await read(source, QUERY)
    world.clock.advance(5)
    world.account.archive("deals", gone)
    world.let_search_catch_up()

    second = await read(source, QUERY, first.last_checkpoint)

    deletions = {d.id for d in second.deals if d.deleted}
    assert gone in deletions
    assert keep not in deletions


async def test_archived_deals_beyond_one_listing_page_all_arrive_as_deletions(
    world: World, source: SalesSource
) -> None:
    old = world.clock.now() - timedelta(hours=1)
    ids = [world.deal(f"Deal {i}", at=old) for i in range(230)]
    for deal_id in ids:
        world.account.archive("deals", deal_id)
    world.let_search_catch_up()

    result = await read(source, QUERY)

    assert {d.id for d in result.deals if d.deleted} == set(ids)


async def test_primary_company_is_the_one_with_association_type_5(
    world: World, source: SalesSource
) -> None:
    other = world.account.create("companies", name="Reseller", domain="reseller.example")
    deal = world.deal("Two companies", at=world.clock.now() - timedelta(hours=1))
    world.account.associate_company(deal, other)  # a plain association (type 341) besides Acme

    result = await read(source, QUERY)

    companies = _live(result.deals)[deal].payload["companies"]
    primary = {c["properties"]["domain"]: c["primary"] for c in companies}
    assert primary == {"acme.example": True, "reseller.example": False}


async def test_deal_whose_company_was_archived_is_read_without_it(
    world: World, source: SalesSource
) -> None:
    gone = world.account.create("companies", name="Gone", domain="gone.example")
    world.account.archive("companies", gone)
    deal = world.deal("Orphan", at=world.clock.now() - timedelta(hours=1), company=gone)

    result = await read(source, QUERY)

    assert _live(result.deals)[deal].payload["companies"] == []


async def test_owners_beyond_the_first_page_are_found(world: World, source: SalesSource) -> None:
    for i in range(150):
        world.account.add_owner(f"rep{i}@seller.example", "Rep", str(i))
    late_owner = world.account.add_owner("late@seller.example", "Late", "Owner")
    deal = world.deal(
        "Late owner", at=world.clock.now() - timedelta(hours=1), hubspot_owner_id=late_owner
    )

    result = await read(source, QUERY)

    assert _live(result.deals)[deal].payload["owner"]["email"] == "late@seller.example"


async def test_deal_written_seconds_before_the_read_is_picked_up_by_the_next_read(
    world: World, source: SalesSource
) -> None:
    world.deal("Older", at=world.clock.now() - timedelta(hours=1))
    lag = timedelta(seconds=30)
    fresh = world.deal("Fresh", at=world.clock.now() - timedelta(seconds=2), lag=lag)

    first = await read(source, QUERY)
    assert fresh not in first.ids, "search has not indexed it yet"
    world.clock.advance(lag.total_seconds())
    second = await read(source, QUERY, first.last_checkpoint)

    assert fresh in _live(second.deals)


async def test_deal_indexed_after_a_later_one_is_still_read(
    world: World, source: SalesSource
) -> None:
    now = world.clock.now()
    slow = world.deal("Slow to index", at=now - timedelta(seconds=3), lag=timedelta(seconds=40))
    quick = world.deal("Quick to index", at=now - timedelta(seconds=2), lag=timedelta(seconds=1))
    world.clock.advance(2)

    first = await read(source, QUERY)
    assert first.ids == [quick]
    world.clock.advance(60)
    second = await read(source, QUERY, first.last_checkpoint)

    assert slow in _live(second.deals)


# --- catalog and check ----------------------------------------------------------------------


async def test_field_catalog_lists_properties_with_their_option_values(
    source: SalesSource,
) -> None:
    catalog = {f.path: f for f in await source.field_catalog()}

    assert catalog["properties.payment_terms"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["properties.dealstage"].choices == ("closedwon", "closedlost")
    assert catalog["properties.free_services"].type == "enumeration/checkbox"
    assert catalog["properties.special_discount"].custom
    assert not catalog["properties.dealname"].custom
    for path in ("companies.properties.domain", "contacts.properties.email", "owner.email"):
        assert path in catalog, path


async def test_check_reports_the_burst_allowance_from_the_rate_limit_headers(
    world: World, source: SalesSource
) -> None:
    health = await source.check()

    assert health.ok
    assert health.api_usage is not None
    assert "190" in health.api_usage


# --- limits ---------------------------------------------------------------------------------


async def test_ten_secondly_window_is_paced_from_the_rate_limit_headers(world: World) -> None:
    # "We recommend you use those headers in your apps requesting limiting logic" (changelog
    # burst-limits-are-increasing-for-api-key-authenticated-calls).
    world.account.limits.burst_max = 4
    start = world.clock.now() - timedelta(hours=2)
    ids = {world.deal(f"Deal {i}", at=start + timedelta(seconds=i)) for i in range(12)}
    source = _connector(world, page_size=3)
    try:
        result = await read(source, QUERY)
    finally:
        await source.aclose()

    assert set(_live(result.deals)) == ids
    assert sum(world.clock.slept) >= 10, "the ten-second window had to pass at least once"
    assert world.served(429) == 0


@pytest.mark.parametrize(
    ("policy", "path"),
    [("TEN_SECONDLY_ROLLING", "/batch/read"), ("SECONDLY", "/search")],
)
async def test_429_from_limits_shared_with_other_apps_is_waited_out(
    world: World, source: SalesSource, policy: Policy, path: str
) -> None:
    # Limits are per account, shared by every app installed in it (sales-apis.md s.2), so a
    # 429 can come even when this connector kept to its own pace.
    start = world.clock.now() - timedelta(hours=2)
    ids = {world.deal(f"Deal {i}", at=start + timedelta(seconds=i)) for i in range(5)}
    world.account.inject(429, rate_limit_body(policy), path_contains=path, times=2)

    result = await read(source, QUERY)

    assert set(_live(result.deals)) == ids
    assert world.served(429) == 2


class GaveUpWaiting(Exception):
    """The test's sleeper stops a connector that keeps waiting past a bound."""


def _bounded_sleep(clock: FakeClock, limit: timedelta) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        if sum(clock.slept) + seconds > limit.total_seconds():
            raise GaveUpWaiting
        await clock.sleep(seconds)

    return sleep


def _midday_zone(now: datetime) -> timezone:
    """A time zone in which ``now`` is around noon: the daily reset is hours away."""
    return timezone(timedelta(hours=(12 - now.hour + 12) % 24 - 12))


async def test_daily_limit_stops_the_read_instead_of_retrying_every_minute(world: World) -> None:
    world.deal("One", at=world.clock.now() - timedelta(hours=1))
    world.account.limits.account_timezone = _midday_zone(world.clock.now())
    world.account.limits.spend_daily(world.account.limits.daily_max, world.clock.now())
    source = _connector(world, sleep=_bounded_sleep(world.clock, timedelta(hours=1)))
    try:
        with pytest.raises(ConnectorError) as caught:
            await read(source, QUERY)
    finally:
        await source.aclose()

    assert world.served(429) <= 2, "the spent daily allowance was asked again and again"
    retry_after = caught.value.retry_after if isinstance(caught.value, RateLimited) else None
    assert retry_after is None or retry_after >= 3600, "the caller is told to come back soon"


# --- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("token_path", ["/oauth/v1/token", "/oauth/v3/token"])
async def test_oauth_access_token_is_renewed_from_expires_in_not_after_a_401(
    world: World, token_path: str
) -> None:
    # The read waits out the ten-second window again and again, so the access token (60 s here;
    # clients must follow expires_in) runs out in the middle of it.
    world.account.access_token_seconds = 60
    world.account.limits.burst_max = 4
    start = world.clock.now() - timedelta(hours=2)
    ids = {world.deal(f"Deal {i}", at=start + timedelta(seconds=i)) for i in range(30)}
    source = _connector(world, oauth=True, page_size=3, token_path=token_path)
    try:
        result = await read(source, QUERY)
    finally:
        await source.aclose()

    assert set(_live(result.deals)) == ids
    assert sum(world.clock.slept) > 60, "the read outlived its first access token"
    assert world.calls(token_path) >= 2
    assert world.served(401) == 0, "renewal waited for a 401 HubSpot says not to rely on"


async def test_bad_refresh_token_is_an_auth_error_for_an_admin(world: World) -> None:
    world.deal("One", at=world.clock.now() - timedelta(hours=1))
    world.account.refresh_tokens.clear()
    source = _connector(world, oauth=True)
    try:
        with pytest.raises(AuthError) as caught:
            await read(source, QUERY)
    finally:
        await source.aclose()

    assert caught.value.who_acts == "admin"
    assert REFRESH_TOKEN not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


async def test_missing_scopes_is_a_permanent_error_for_an_admin(
    world: World, source: SalesSource
) -> None:
    world.deal("One", at=world.clock.now() - timedelta(hours=1))
    world.account.inject(
        403,
        {
            "status": "error",
            "message": "This app hasn't been granted all required scopes to make this call.",
            "correlationId": "0a8f2e4c-6b1d-4f3e-9c7a-5d2b8e1f0a3c",
            "errors": [
                {
                    "message": "One or more of the following scopes are required.",
                    "context": {"requiredGranularScopes": ["crm.objects.owners.read"]},
                }
            ],
            "category": "MISSING_SCOPES",
        },
        path_contains="/owners",
        times=100,
    )

    with pytest.raises(PermanentError) as caught:
        await read(source, QUERY)

    assert caught.value.who_acts == "admin"
    assert world.calls("/owners") == 1, "a missing scope is not retried"


async def test_validation_error_from_search_is_not_retried(
    world: World, source: SalesSource
) -> None:
    world.deal("One", at=world.clock.now() - timedelta(hours=1))
    world.account.inject(
        400,
        {
            "status": "error",
            "message": "There was a problem with the request.",
            "correlationId": "5c4b3a29-1807-4f6e-8d5c-4b3a2f1e0d9c",
            "category": "VALIDATION_ERROR",
        },
        path_contains="/search",
        times=100,
    )

    with pytest.raises(PermanentError):
        await read(source, QUERY)

    assert world.calls("/search") == 1


# --- invariant ------------------------------------------------------------------------------

_edit = st.tuples(st.just("edit"), st.integers(0, 1000), st.integers(0, 20))
_archive = st.tuples(st.just("archive"), st.integers(0, 1000), st.just(0))
_read = st.tuples(st.just("read"), st.integers(0, 4), st.integers(0, 30))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(0, 600), min_size=1, max_size=25),
    page_size=st.integers(1, 9),
    lags=st.lists(st.integers(0, 60), min_size=1, max_size=5),
    steps=st.lists(st.one_of(_edit, _archive, _read), max_size=12),
)
def test_union_of_incremental_reads_is_every_deals_latest_version(
    offsets: list[int], page_size: int, lags: list[int], steps: list[tuple[str, int, int]]
) -> None:
    asyncio.run(_replay(offsets, page_size, lags, steps))


async def _replay(
    offsets: list[int], page_size: int, lags: list[int], steps: list[tuple[str, int, int]]
) -> None:
    world = _world()
    lag_of = [timedelta(seconds=lags[i % len(lags)]) for i in range(1000)]
    base = world.clock.now() - timedelta(minutes=30)
    ids = [
        world.deal(f"Deal {i}", at=base + timedelta(seconds=s), lag=lag_of[i])
        for i, s in enumerate(offsets)
    ]
    world.clock.advance(61)
    source = _connector(world, page_size=page_size)
    held: dict[str, SourceDeal] = {}
    checkpoint = None
    amount = 0
    try:
        for number, (action, target, value) in enumerate([*steps, ("read", -1, 61)]):
            deal_id = ids[target % len(ids)]
            archived = world.account.objects["deals"][deal_id].archived_at is not None
            if action == "edit" and not archived:
                amount += 1
                saved, world.account.search_lag = world.account.search_lag, lag_of[number]
                world.account.update("deals", deal_id, amount=amount)
                world.account.search_lag = saved
                world.clock.advance(value)
            elif action == "archive" and not archived:
                world.account.archive("deals", deal_id)
            elif action == "read":
                world.clock.advance(value)
                result = await read(
                    source, QUERY, checkpoint, max_pages=None if target < 0 else target
                )
                for deal in result.deals:
                    held[deal.id] = deal
                checkpoint = result.last_checkpoint or checkpoint
    finally:
        await source.aclose()

    for deal_id in ids:
        truth = world.account.objects["deals"][deal_id]
        assert deal_id in held, "a deal was never read"
        assert held[deal_id].deleted == (truth.archived_at is not None)
        if truth.archived_at is None:
            assert held[deal_id].payload["properties"]["amount"] == truth.properties["amount"]


class EditsBetweenSearches(httpx.AsyncBaseTransport):
    """Serves the fake and, right after the n-th search, edits the deals scheduled for it: an
    edit lands while the connector is between two pages of one read."""

    def __init__(self, world: World, schedule: dict[int, list[tuple[str, int]]]) -> None:
        self._inner = httpx.ASGITransport(app=hubspot_app(world.account))
        self._world = world
        self._schedule = schedule
        self._searches = 0
        self.edits = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.url.path.endswith("/search"):
            self._searches += 1
            account = self._world.account
            for deal_id, lag in self._schedule.get(self._searches, []):
                self.edits += 1
                saved, account.search_lag = account.search_lag, timedelta(seconds=lag)
                account.update("deals", deal_id, amount=1000 + self.edits)
                account.search_lag = saved
        return response


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seconds=st.lists(st.integers(0, 40), min_size=1, max_size=30),
    page_size=st.integers(1, 7),
    edits=st.lists(
        st.tuples(st.integers(1, 12), st.integers(0, 1000), st.sampled_from([0, 5])),
        max_size=15,
    ),
)
def test_deals_edited_at_random_moments_of_one_read_are_each_read_and_none_skipped(
    seconds: list[int], page_size: int, edits: list[tuple[int, int, int]]
) -> None:
    """Deals share instants (seconds drawn from a small range); edits land after random
    searches of the same read, each moving a deal to the fake clock's now (as an edit does),
    and reach the search index at once or after HubSpot's usual lag (5 s: the old version
    stays in the results meanwhile)."""
    asyncio.run(_read_while_editing(seconds, page_size, edits))


async def _read_while_editing(
    seconds: list[int], page_size: int, edits: list[tuple[int, int, int]]
) -> None:
    world = _world()
    base = world.clock.now() - timedelta(minutes=10)
    ids = [world.deal(f"Deal {i}", at=base + timedelta(seconds=s)) for i, s in enumerate(seconds)]
    schedule: dict[int, list[tuple[str, int]]] = {}
    for after_search, target, lag in edits:
        schedule.setdefault(after_search, []).append((ids[target % len(ids)], lag))
    transport = EditsBetweenSearches(world, schedule)
    spec = get_spec("hubspot")
    config = spec.config_model.model_validate(
        {
            "kind": "hubspot",
            "base_url": "https://api.hubapi.example",
            "access_token": "${DOCFAKE_HS_TOKEN}",
            "page_size": page_size,
            "read_archived": False,
        }
    )
    options = ConnectorOptions(transport=transport, sleep=world.clock.sleep)
    source: SalesSource = spec.factory("emea", config, options)
    try:
        result = await read(source, QUERY)
    finally:
        await source.aclose()

    assert set(result.ids) == set(ids), "a deal was skipped"
    edited = {deal_id for batch in schedule.values() for deal_id, _ in batch}
    unchanged = [deal_id for deal_id in result.ids if deal_id not in edited]
    assert len(unchanged) == len(set(unchanged)), "an unchanged deal was yielded twice"
