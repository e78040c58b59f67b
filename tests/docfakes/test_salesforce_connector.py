"""The Salesforce source against a fake written from Salesforce's documentation alone.

Each test states a documented Salesforce behaviour (see ``tests/docfakes/salesforce.py`` for the
sources) and what a deal source must make of it. Where the connector departs from the docs the
test keeps the documented expectation and is marked ``xfail(strict=True)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import DealQuery, SalesSource, SourceDeal
from connectors.errors import (
    AuthError,
    BudgetExhausted,
    ConnectorError,
    PermanentError,
    RateLimited,
)
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from tests.docfakes.clock import FakeClock
from tests.docfakes.reading import read
from tests.docfakes.salesforce import SalesforceOrg
from tests.docfakes.salesforce_http import INSTANCE_URL, LOGIN_URL, salesforce_app

pytestmark = pytest.mark.anyio

CLIENT_ID = "3MVG9docfake.west"
CLIENT_SECRET = "docfake-client-secret-7731"
REFRESH_TOKEN = "5Aep861docfakeRefreshTokenWest0001"
JWT_USER = "integration@acme-west.example"

QUERY = DealQuery(
    fields=(
        "Name",
        "StageName",
        "Amount",
        "Special_Discount__c",
        "Payment_Terms__c",
        "Account.Name",
        "Account.Website",
        "Account.Customer_Number__c",
        "Owner.Name",
        "Owner.Email",
        "OpportunityContactRoles.Contact.Email",
    ),
    select="Has_Special_Terms__c = true",
)


@dataclass
class World:
    clock: FakeClock
    org: SalesforceOrg
    account: str
    owner: str

    def deal(self, name: str, **fields: Any) -> str:
        values: dict[str, Any] = {
            "Name": name,
            "StageName": "Closed Won",
            "Amount": 1000.0,
            "AccountId": self.account,
            "OwnerId": self.owner,
            "Has_Special_Terms__c": True,
            "Special_Discount__c": 10.0,
            "Payment_Terms__c": "Net 30",
        }
        values.update(fields)
        return self.org.create("Opportunity", **values)

    def queries(self) -> list[str]:
        return [r.path for r in self.org.requests if "/query" in r.path]

    def served(self, status: int) -> int:
        return sum(1 for r in self.org.requests if r.status == status)


def _world() -> World:
    clock = FakeClock()
    org = SalesforceOrg(clock)
    org.add_refresh_token_client(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN)
    account = org.create(
        "Account", Name="Acme", Website="https://www.acme.example", Customer_Number__c="CUST-1"
    )
    owner = org.create("User", Name="Dana Ortiz", Email="dana.ortiz@seller.example")
    return World(clock, org, account, owner)


def _connector(
    world: World, sleep: Callable[[float], Awaitable[None]] | None = None, **overrides: Any
) -> SalesSource:
    spec = get_spec("salesforce")
    config: dict[str, Any] = {
        "kind": "salesforce",
        "base_url": LOGIN_URL,
        "page_size": 200,
        "auth": {
            "flow": "refresh_token",
            "client_id": CLIENT_ID,
            "client_secret": "${DOCFAKE_SF_SECRET}",
            "refresh_token": "${DOCFAKE_SF_REFRESH}",
        },
    }
    config.update(overrides)
    transport = httpx.ASGITransport(app=salesforce_app(world.org))
    options = ConnectorOptions(transport=transport, sleep=sleep or world.clock.sleep)
    source: SalesSource = spec.factory("west", spec.config_model.model_validate(config), options)
    return source


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCFAKE_SF_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("DOCFAKE_SF_REFRESH", REFRESH_TOKEN)


@pytest.fixture
def world() -> World:
    return _world()


@pytest.fixture
async def source(world: World) -> AsyncIterator[SalesSource]:
    connector = _connector(world)
    yield connector
    await connector.aclose()


def _by_id(deals: list[SourceDeal]) -> dict[str, SourceDeal]:
    return {deal.id: deal for deal in deals}


# --- paging ---------------------------------------------------------------------------------


async def test_full_read_follows_next_records_url_through_every_batch(
    world: World, source: SalesSource
) -> None:
    ids = [world.deal(f"Deal {i}") for i in range(450)]

    result = await read(source, QUERY)

    assert sorted(result.ids) == sorted(ids)
    assert len(result.ids) == len(set(result.ids)), "no deal is yielded twice"
    query_more = [p for p in world.queries() if "/query/" in p]
    assert len(query_more) == 2, "450 records in batches of 200 need two queryMore calls"
    asked = {r.headers.get("sforce-query-options") for r in world.org.requests if "query" in r.path}
    assert asked == {"batchSize=200"}
    first = _by_id(result.deals)[ids[0]].payload
    assert first["Account"]["Website"] == "https://www.acme.example"
    assert first["Owner"]["Email"] == "dana.ortiz@seller.example"


async def test_batches_smaller_than_requested_are_followed_to_the_end(
    world: World, source: SalesSource
) -> None:
    world.org.max_batch = 7  # "the returned batch can include fewer records than ... requested"
    ids = [world.deal(f"Deal {i}") for i in range(50)]

    result = await read(source, QUERY)

    assert sorted(result.ids) == sorted(ids)


async def test_child_rows_count_toward_the_batch_and_every_contact_arrives(
    world: World, source: SalesSource
) -> None:
    world.org.max_batch = 10
    expected: dict[str, set[str]] = {}
    for i in range(12):
        deal = world.deal(f"Deal {i}")
        emails = {f"buyer{i}.{k}@acme.example" for k in range(i % 4)}
        for email in sorted(emails):
            contact = world.org.create("Contact", Name=email, Email=email, AccountId=world.account)
            world.org.create("OpportunityContactRole", OpportunityId=deal, ContactId=contact)
        expected[deal] = emails

    result = await read(source, QUERY)

    got = {
        deal.id: {role["Contact"]["Email"] for role in deal.payload["OpportunityContactRoles"]}
        for deal in result.deals
    }
    assert got == expected


async def test_server_unavailable_mid_read_is_retried_without_losing_a_batch(
    world: World, source: SalesSource
) -> None:
    # 503: "the server is unavailable to handle the request ... down for maintenance or
    # overloaded" (REST guide, errorcodes); the same nextRecordsUrl gives the same batch again.
    world.org.max_batch = 5
    ids = [world.deal(f"Deal {i}") for i in range(17)]
    world.org.inject(
        503,
        [{"message": "Server unavailable", "errorCode": "SERVER_UNAVAILABLE"}],
        path_contains="/query/",
        times=1,
    )

    result = await read(source, QUERY)

    assert sorted(result.ids) == sorted(ids)
    assert world.served(503) == 1


async def test_resuming_from_any_checkpoint_skips_no_deal_sharing_one_timestamp(
    world: World,
) -> None:
    world.org.max_batch = 7
    instant = world.org.now() - timedelta(hours=1)
    ids = {world.deal(f"Tied {i}", at=instant) for i in range(30)}

    for overlap in (0, 300):
        source = _connector(world, overlap_seconds=overlap)
        try:
            full = await read(source, QUERY)
            assert set(full.ids) == ids
            for index, checkpoint in enumerate(full.checkpoints):
                before = {d.id for page in full.pages[: index + 1] for d in page}
                after = await read(source, QUERY, checkpoint)
                assert before | set(after.ids) == ids, f"lost a tied deal (overlap {overlap})"
        finally:
            await source.aclose()


async def test_deal_without_an_account_reads_with_a_null_parent(
    world: World, source: SalesSource
) -> None:
    deal = world.deal("No account", AccountId=None)

    result = await read(source, QUERY)

    assert _by_id(result.deals)[deal].payload.get("Account") is None


# --- change tracking ------------------------------------------------------------------------


async def test_deal_edited_during_the_read_arrives_with_its_latest_values(
    world: World, source: SalesSource
) -> None:
    world.org.max_batch = 5
    base = world.org.now() - timedelta(minutes=30)
    ids = [world.deal(f"Deal {i}", at=base + timedelta(seconds=i)) for i in range(20)]
    seen: dict[str, SourceDeal] = {}
    checkpoint = None
    edited = False
    async for page in source.changed_deals(QUERY, None):
        for deal in page.deals:
            seen[deal.id] = deal
        checkpoint = page.checkpoint
        if not edited:
            world.clock.advance(2)
            world.org.update("Opportunity", ids[0], Amount=111.0)  # already read
            world.org.update("Opportunity", ids[-1], Amount=999.0)  # still ahead in the cursor
            edited = True

    later = await read(source, QUERY, checkpoint)
    for deal in later.deals:
        seen[deal.id] = deal

    assert set(seen) == set(ids)
    assert seen[ids[0]].payload["Amount"] == 111.0
    assert seen[ids[-1]].payload["Amount"] == 999.0


async def test_deleted_deal_arrives_as_a_deletion_from_query_all(
    world: World, source: SalesSource
) -> None:
    keep, gone = world.deal("Keep"), world.deal("Gone")
    first = await read(source, QUERY)
    world.clock.advance(5)
    world.org.delete("Opportunity", gone)

    second = await read(source, QUERY, first.last_checkpoint)

    deals = _by_id(second.deals)
    assert deals[gone].deleted
    assert keep not in deals or not deals[keep].deleted
    assert any("/queryAll" in p for p in world.queries())


async def test_change_by_an_automated_process_is_read(world: World, source: SalesSource) -> None:
    deal = world.deal("Rolled up", at=world.org.now() - timedelta(hours=2))
    first = await read(source, QUERY)
    world.clock.advance(1)
    world.org.tables["Opportunity"][deal]["Amount"] = 4242.0
    world.org.system_touch(
        "Opportunity", deal
    )  # a trigger: SystemModstamp moves, LastModifiedDate not

    second = await read(source, QUERY, first.last_checkpoint)

    assert _by_id(second.deals)[deal].payload["Amount"] == 4242.0


async def test_migrated_deal_with_backdated_audit_fields_is_read(
    world: World, source: SalesSource
) -> None:
    first = await read(source, QUERY)
    world.deal("Existing")  # gives the first read's checkpoint a recent timestamp
    mid = await read(source, QUERY, first.last_checkpoint)
    world.clock.advance(1)
    migrated = world.org.insert_migrated(
        "Opportunity",
        last_modified=world.org.now() - timedelta(days=365),
        Name="Imported",
        StageName="Closed Won",
        AccountId=world.account,
        OwnerId=world.owner,
        Has_Special_Terms__c=True,
    )

    second = await read(source, QUERY, mid.last_checkpoint)

    assert migrated in second.ids


async def test_deal_that_stops_matching_the_select_is_reported_as_removed(
    world: World, source: SalesSource
) -> None:
    deal = world.deal("Flagged")
    first = await read(source, QUERY)
    world.clock.advance(3)
    world.org.update("Opportunity", deal, Has_Special_Terms__c=False)

    second = await read(source, QUERY, first.last_checkpoint)

    assert _by_id(second.deals)[deal].deleted


# --- catalog and check ----------------------------------------------------------------------


async def test_field_catalog_names_parent_and_child_paths_with_picklist_values(
    source: SalesSource,
) -> None:
    catalog = {f.path: f for f in await source.field_catalog()}

    for path in (
        "Special_Discount__c",
        "Account.Website",
        "Account.Customer_Number__c",
        "Owner.Email",
        "OpportunityContactRoles.Contact.Email",
    ):
        assert path in catalog, path
    assert catalog["Payment_Terms__c"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["Special_Discount__c"].custom
    assert catalog["Terms_Valid_Until__c"].type == "date"


async def test_check_reports_the_allocation_from_sforce_limit_info(
    world: World, source: SalesSource
) -> None:
    world.org.consume_api(41_000)

    health = await source.check()

    assert health.ok
    assert health.api_usage is not None
    assert "/100000" in health.api_usage
    assert "410" in health.api_usage  # 41,000 plus the check's own calls


async def test_data_calls_go_to_the_instance_url_from_the_token_answer(
    world: World, source: SalesSource
) -> None:
    world.deal("One")
    await read(source, QUERY)
    await source.field_catalog()

    hosts = {(r.host, r.path.startswith("/services/data")) for r in world.org.requests}
    login, instance = LOGIN_URL.removeprefix("https://"), INSTANCE_URL.removeprefix("https://")
    assert hosts == {(login, False), (instance, True)}


# --- limits ---------------------------------------------------------------------------------


class GaveUpWaiting(Exception):
    """The test's sleeper stops a connector that keeps waiting past a bound."""


def _bounded_sleep(clock: FakeClock, limit: timedelta) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        if sum(clock.slept) + seconds > limit.total_seconds():
            raise GaveUpWaiting
        await clock.sleep(seconds)

    return sleep


async def test_spent_daily_allocation_is_not_retried_every_minute(world: World) -> None:
    world.deal("One")
    world.org.consume_api(world.org.api_max)
    source = _connector(world, sleep=_bounded_sleep(world.clock, timedelta(hours=1)))
    try:
        with pytest.raises(ConnectorError) as caught:
            await read(source, QUERY)
    finally:
        await source.aclose()

    assert caught.value.vendor_code == "REQUEST_LIMIT_EXCEEDED"
    assert world.served(403) <= 2, "the spent allocation was asked again and again"
    retry_after = caught.value.retry_after if isinstance(caught.value, RateLimited) else None
    assert retry_after is None or retry_after >= 3600, "the caller is told to come back in a minute"


async def test_request_limit_exceeded_is_read_again_once_the_window_frees(world: World) -> None:
    """The allocation rolls over 24 hours, so no reset time exists to wait for inside a run:
    the read stops with BudgetExhausted naming the earliest time worth asking again, and a
    read at that time, once the spent calls have left the window, gets the deal."""
    deal = world.deal("One")
    world.org.consume_api(world.org.api_max)
    world.clock.advance(24 * 3600 - 30)  # the spent calls leave the rolling window in 30 s
    source = _connector(world)
    try:
        with pytest.raises(BudgetExhausted) as caught:
            await read(source, QUERY)
        assert not caught.value.exact
        world.clock.advance(60)
        result = await read(source, QUERY)
    finally:
        await source.aclose()

    assert result.ids == [deal]
    assert world.served(403) == 1


# --- sessions and credentials ---------------------------------------------------------------


def _token_calls(world: World) -> int:
    return sum(1 for r in world.org.requests if r.path == "/services/oauth2/token")


async def test_expired_session_is_renewed_once_and_the_call_replayed(
    world: World, source: SalesSource
) -> None:
    deal = world.deal("One")
    await read(source, QUERY)
    world.clock.advance(2 * 3600 + 1)  # two hours of inactivity: the session is gone

    result = await read(source, QUERY)

    assert deal in result.ids
    assert world.served(401) == 1
    assert _token_calls(world) == 2


async def test_rotated_refresh_token_is_the_one_used_next_time(world: World) -> None:
    world.org.rotate_refresh_tokens = True
    deal = world.deal("One")
    source = _connector(world)
    try:
        for _ in range(3):
            world.org.expire_sessions()
            result = await read(source, QUERY)
            assert deal in result.ids
    finally:
        await source.aclose()

    assert _token_calls(world) == 3
    assert REFRESH_TOKEN not in world.org.refresh_tokens, "the first token was invalidated"


async def test_revoked_refresh_token_is_an_auth_error_for_an_admin(
    world: World, source: SalesSource
) -> None:
    world.deal("One")
    world.org.refresh_tokens.clear()

    with pytest.raises(AuthError) as caught:
        await read(source, QUERY)

    assert caught.value.who_acts == "admin"
    assert REFRESH_TOKEN not in str(caught.value)
    assert CLIENT_SECRET not in str(caught.value)


def _rsa_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def _jwt_connector(world: World, monkeypatch: pytest.MonkeyPatch, username: str) -> SalesSource:
    private, public = _rsa_pem()
    world.org.add_jwt_client(CLIENT_ID, public, JWT_USER)
    monkeypatch.setenv("DOCFAKE_SF_KEY", private)
    auth = {
        "flow": "jwt_bearer",
        "client_id": CLIENT_ID,
        "username": username,
        "private_key": "${DOCFAKE_SF_KEY}",
    }
    return _connector(world, auth=auth)


async def test_jwt_bearer_login_signs_a_fresh_assertion_after_the_session_expires(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    deal = world.deal("One")
    source = _jwt_connector(world, monkeypatch, JWT_USER)
    try:
        first = await read(source, QUERY)
        world.org.expire_sessions()
        second = await read(source, QUERY)
    finally:
        await source.aclose()

    assert first.ids == second.ids == [deal]
    assert _token_calls(world) == 2
    assert all(r.status == 200 for r in world.org.requests if r.path == "/services/oauth2/token")


async def test_jwt_for_a_user_who_has_not_approved_the_app_is_an_auth_error(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _jwt_connector(world, monkeypatch, "someone.else@acme-west.example")
    try:
        health = await source.check()
        with pytest.raises(AuthError) as caught:
            await read(source, QUERY)
    finally:
        await source.aclose()

    assert not health.ok
    assert "approved" in health.detail
    assert caught.value.who_acts == "admin"


# --- error bodies ---------------------------------------------------------------------------


async def test_invalid_field_stops_the_read_with_the_vendor_message_and_no_retry(
    world: World, source: SalesSource
) -> None:
    world.deal("One")

    with pytest.raises(PermanentError) as caught:
        await read(source, DealQuery(fields=("Name", "Discount_Typo__c")))

    assert caught.value.vendor_code == "INVALID_FIELD"
    assert "Discount_Typo__c" in str(caught.value)
    assert len(world.queries()) == 1


async def test_malformed_select_is_refused_once_and_left_to_the_admin(
    world: World, source: SalesSource
) -> None:
    world.deal("One")

    with pytest.raises(PermanentError) as caught:
        await read(source, DealQuery(fields=("Name",), select="Has_Special_Terms__c = "))

    assert caught.value.vendor_code == "MALFORMED_QUERY"
    assert len(world.queries()) == 1


async def test_query_timeout_is_an_error_not_the_end_of_the_data(
    world: World, source: SalesSource
) -> None:
    world.org.max_batch = 5
    for i in range(20):
        world.deal(f"Deal {i}")
    world.org.inject(
        400,
        [{"message": "Your query request was running for too long.", "errorCode": "QUERY_TIMEOUT"}],
        path_contains="/query/",
        times=1000,
    )

    with pytest.raises(ConnectorError) as caught:
        await read(source, QUERY)

    assert caught.value.vendor_code == "QUERY_TIMEOUT"


async def test_uri_past_16384_bytes_is_a_clear_permanent_error(
    world: World, source: SalesSource
) -> None:
    world.deal("One")
    wide = DealQuery(fields=tuple(f"Very_Long_Custom_Field_Name_{i:04d}__c" for i in range(600)))

    with pytest.raises(PermanentError):
        await read(source, wide)

    assert world.served(414) == 1


# --- invariant ------------------------------------------------------------------------------

_edit = st.tuples(st.just("edit"), st.integers(0, 1000), st.integers(0, 3))
_delete = st.tuples(st.just("delete"), st.integers(0, 1000), st.just(0))
_read = st.tuples(st.just("read"), st.integers(0, 4), st.just(0))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    offsets=st.lists(st.integers(0, 6), min_size=1, max_size=25),
    batch=st.integers(1, 9),
    overlap=st.sampled_from([0, 300]),
    steps=st.lists(st.one_of(_edit, _delete, _read), max_size=12),
)
def test_union_of_incremental_reads_is_every_deals_latest_version(
    offsets: list[int], batch: int, overlap: int, steps: list[tuple[str, int, int]]
) -> None:
    asyncio.run(_replay(offsets, batch, overlap, steps))


async def _replay(
    offsets: list[int], batch: int, overlap: int, steps: list[tuple[str, int, int]]
) -> None:
    world = _world()
    world.org.max_batch = batch
    base = world.org.now() - timedelta(hours=1)
    ids = [world.deal(f"Deal {i}", at=base + timedelta(seconds=s)) for i, s in enumerate(offsets)]
    source = _connector(world, overlap_seconds=overlap)
    held: dict[str, SourceDeal] = {}
    checkpoint = None
    amount = 0.0
    try:
        for action, target, value in [*steps, ("read", -1, 0)]:
            deal_id = ids[target % len(ids)]
            if action == "edit" and not world.org.tables["Opportunity"][deal_id]["IsDeleted"]:
                world.clock.advance(value)
                amount += 1
                world.org.update("Opportunity", deal_id, Amount=amount)
            elif action == "delete" and not world.org.tables["Opportunity"][deal_id]["IsDeleted"]:
                world.clock.advance(1)
                world.org.delete("Opportunity", deal_id)
            elif action == "read":
                result = await read(
                    source, QUERY, checkpoint, max_pages=None if target < 0 else target
                )
                for deal in result.deals:
                    held[deal.id] = deal
                checkpoint = result.last_checkpoint or checkpoint
    finally:
        await source.aclose()

    for deal_id in ids:
        truth = world.org.tables["Opportunity"][deal_id]
        assert deal_id in held, "a deal was never read"
        assert held[deal_id].deleted == truth["IsDeleted"]
        if not truth["IsDeleted"]:
            assert held[deal_id].payload["Amount"] == truth["Amount"]
