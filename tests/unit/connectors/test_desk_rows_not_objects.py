"""Rows that are not JSON objects in a desk's list answers (a number, text, null, a list), for
the desks whose clients used to drop them before any reader saw them (ServiceNow, Service
Cloud, Intercom), through each connector's own paths against its simulator.

The property, per desk: the identity feed over a listing with such rows put anywhere in its
answers (often last on a page, sometimes alone on one) yields every record and every
checkpoint exactly as it does without them, and each such row is one problem naming the desk,
the kind and the row's position in its answer; nothing raises. Lookups report them to the
run the same way; callers that read no customer record (catalogs, version checks, the search
for an alert's case) pass over them."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.base import (
    CustomerPage,
    DeskTicket,
    IdentityKey,
    RecordChange,
    RecordRef,
    ServiceTarget,
)
from connectors.service.intercom.simulator import DEMO_TOKEN
from connectors.service.servicecloud import ServiceCloudConfig, ServiceCloudTarget
from connectors.service.servicecloud.simulator import (
    DEMO_ENV,
    ServiceCloudSimulator,
    connector_config,
)
from connectors.service.servicenow.simulator import ServiceNowSimulator
from connectors.settings import ConnectorOptions
from tests.unit.connectors.inserted_rows import InsertedRows, Insertion, insertions
from tests.unit.connectors.intercom_support import TOKEN_ENV, Desk, desk
from tests.unit.connectors.servicenow_kit import Wrap, connect

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEFT_OUT = "not an object; the record was left out (correct it at {desk}: the next read takes it)"


def assert_reported(problems: Sequence[str], inserted: InsertedRows, desk: str, kind: str) -> None:
    """Each inserted row is exactly one problem, in the order sent, at its position."""
    expected = inserted.problems(desk, kind)
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), (problem, start)
        assert problem.endswith(LEFT_OUT.format(desk=desk)), problem


def unchanged(pages: list[CustomerPage]) -> list[tuple[object, ...]]:
    """What a feed yields apart from its problems: each page's records and checkpoint."""
    return [(page.records, page.checkpoint) for page in pages]


# -- ServiceNow --------------------------------------------------------------------------------

ACCOUNTS = "/api/now/table/customer_account"


def servicenow_accounts(request: httpx.Request) -> bool:
    return request.url.path == ACCOUNTS


def servicenow_sim(seconds: list[int]) -> ServiceNowSimulator:
    sim = ServiceNowSimulator(clock=lambda: START + timedelta(hours=1))
    for n, second in enumerate(seconds):
        row = sim.add("account", name=f"Tie {n}", u_customer_number=f"T-{n}")
        sim.set_updated_on("account", row["sys_id"], START + timedelta(seconds=second))
    return sim


def inserting(
    plan: Sequence[Sequence[Insertion]],
    rewrites: Callable[[httpx.Request], bool] = servicenow_accounts,
    member: str = "result",
) -> tuple[list[InsertedRows], Wrap]:
    """A transport wrapper putting ``plan``'s rows into the answers ``rewrites`` picks (by
    default ServiceNow's account listings), and the list it leaves the wrapper in."""
    made: list[InsertedRows] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(InsertedRows(inner, member, rewrites, plan))
        return made[-1]

    return made, wrap


async def feed(target: ServiceTarget) -> list[CustomerPage]:
    try:
        return [page async for page in target.customers(None)]
    finally:
        await target.aclose()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
    page_size=st.integers(min_value=1, max_value=4),
    plan=st.lists(insertions(), max_size=8),
)
@example(seconds=[0, 0, 1, 1, 2], page_size=2, plan=[[(9, "row")]] * 4)  # last on each page
@example(seconds=[0, 1], page_size=1, plan=[[(0, None)], [], [(0, 7), (0, [])]])
async def test_servicenow_feed_reports_rows_that_are_not_objects_and_pages_as_without_them(
    seconds: list[int], page_size: int, plan: list[list[Insertion]]
) -> None:
    sim = servicenow_sim(seconds)
    without = await feed(connect(sim, page_size=page_size))
    made, wrap = inserting(plan)
    pages = await feed(connect(sim, wrap, page_size=page_size))
    assert unchanged(pages) == unchanged(without)
    assert [p for page in without for p in page.problems] == []
    problems = [p for page in pages for p in page.problems]
    assert_reported(problems, made[0], "ServiceNow", "account")


async def test_servicenow_steps_over_a_page_whose_only_row_is_not_an_object() -> None:
    """A page the ACLs emptied but for a row that is not an object names no position to go on
    from: the row is reported and the page stepped over through its next link, as an empty
    one is, and the feed reads on (it used to stop there, as if the instance had ignored
    the position)."""
    sim = servicenow_sim(list(range(9)))
    ids = [row["sys_id"] for row in sim.store.rows["customer_account"].values()]
    for sys_id in ids[:3]:
        sim.hide(sys_id)
    without = await feed(connect(sim, page_size=3))
    made, wrap = inserting([[(0, "row")]])
    pages = await feed(connect(sim, wrap, page_size=3))
    assert made[0].positions[0] == [1]
    read = [r.ref.id for page in pages for r in page.records]
    assert read == [r.ref.id for page in without for r in page.records]
    assert sorted(read) == sorted(ids[3:])
    assert pages[-1].checkpoint == without[-1].checkpoint
    assert_reported([p for page in pages for p in page.problems], made[0], "ServiceNow", "account")


async def test_servicenow_lookup_hands_a_hit_that_is_not_an_object_to_the_run() -> None:
    sim = ServiceNowSimulator().seed_demo()
    _, wrap = inserting([[(1, "row")]])
    target = connect(sim, wrap)
    problems: list[str] = []
    key = IdentityKey(match="external_id", value="cust-1001", kind="account")
    found = await target.lookup([key], problems)
    await target.aclose()
    assert [r.ref.id for r in found] == [sim.customers["acme"][0]]
    assert problems == [
        "ServiceNow account #2 of the page: is 'row', " + LEFT_OUT.format(desk="ServiceNow")
    ]


def servicenow_catalog_and_cases(request: httpx.Request) -> bool:
    return request.url.path.startswith("/api/now/table/") and request.url.path != ACCOUNTS


def servicenow_versions(request: httpx.Request) -> bool:
    return bool(request.url.params.get("sysparm_fields") == "sys_id,sys_mod_count")


async def test_servicenow_catalog_case_search_and_version_check_pass_over_non_objects() -> None:
    """They read no customer record: the catalog is what it is without such rows, the alert's
    case is still found (so not opened twice), a version still guards its write."""
    sim = ServiceNowSimulator().seed_demo()
    plain = connect(sim)
    catalog = await plain.field_catalog()
    await plain.aclose()
    everywhere = [[(0, 7), (99, None)]] * 50
    made, wrap = inserting(everywhere, servicenow_catalog_and_cases)
    target = connect(sim, wrap)
    assert await target.field_catalog() == catalog
    alert = DeskTicket(key="a1b2c3d4", subject="Out of policy", body="35%", severity="critical")
    case = await target.open_ticket(alert)
    assert await target.open_ticket(alert) == case
    await target.aclose()
    assert made[0].positions, "the rows went in"
    acme = RecordRef(kind="account", id=sim.customers["acme"][0])
    reader = connect(sim)
    (current,) = await reader.read([acme])
    await reader.aclose()
    made, wrap = inserting([[(0, "row"), (99, [])]], servicenow_versions)
    target = connect(sim, wrap)
    change = RecordChange(ref=acme, fields={"notes": "x"}, expected_version=current.version)
    (result,) = await target.write([change])
    await target.aclose()
    assert made[0].positions == [[1, 3]]
    assert result.ok, result.error


# -- Service Cloud -----------------------------------------------------------------------------


async def _no_sleep(_seconds: float) -> None:
    return None


def service_cloud(
    sim: ServiceCloudSimulator, wrap: Wrap | None = None, **overrides: Any
) -> ServiceCloudTarget:
    os.environ.update(DEMO_ENV)  # the client secret, by reference (as the simulator's tests do)
    config = ServiceCloudConfig.model_validate(connector_config(**overrides))
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=sim.app)
    options = ConnectorOptions(transport=wrap(transport) if wrap else transport, sleep=_no_sleep)
    return ServiceCloudTarget("desk", config, options)


def soql(request: httpx.Request) -> str:
    return str(request.url.params.get("q", ""))


def service_cloud_queries(request: httpx.Request) -> bool:
    """A query's batches: the first (``q``) and those its ``nextRecordsUrl`` names."""
    return "/query" in request.url.path


@settings(max_examples=25, deadline=None)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=10),
    batch=st.integers(min_value=1, max_value=4),
    plan=st.lists(insertions(), max_size=8),
)
@example(seconds=[0, 0, 1, 1, 2], batch=2, plan=[[(9, "row")]] * 4)  # last in each batch
async def test_service_cloud_feed_reports_rows_that_are_not_objects_and_pages_as_without_them(
    seconds: list[int], batch: int, plan: list[list[Insertion]]
) -> None:
    sim = ServiceCloudSimulator(batch_cap=batch)
    for n, second in enumerate(seconds):
        sim.add_account(f"A{n}", stamp=START + timedelta(seconds=second))
    without = await feed(service_cloud(sim, record_kinds=["account"]))
    made, wrap = inserting(plan, service_cloud_queries, "records")
    pages = await feed(service_cloud(sim, wrap, record_kinds=["account"]))
    assert unchanged(pages) == unchanged(without)
    assert [p for page in without for p in page.problems] == []
    problems = [p for page in pages for p in page.problems]
    assert_reported(problems, made[0], "Service Cloud", "account")


async def test_service_cloud_lookup_hands_a_hit_that_is_not_an_object_to_the_run() -> None:
    sim = ServiceCloudSimulator()
    found_id = sim.add_account("Acme", stamp=START, Customer_Number__c="C-77")
    _, wrap = inserting([[(0, None)]], service_cloud_queries, "records")
    target = service_cloud(sim, wrap)
    problems: list[str] = []
    key = IdentityKey(match="external_id", value="c-77", kind="account")
    found = await target.lookup([key], problems)
    await target.aclose()
    assert [r.ref.id for r in found] == [found_id]
    assert problems == [
        "Service Cloud account #1 of the page: is None, " + LEFT_OUT.format(desk="Service Cloud")
    ]


def service_cloud_case_searches(request: httpx.Request) -> bool:
    return " FROM Case" in soql(request)  # the case, and its comment


def service_cloud_versions(request: httpx.Request) -> bool:
    return soql(request).startswith("SELECT Id, SystemModstamp FROM Account WHERE Id IN")


async def test_service_cloud_case_searches_and_version_check_pass_over_non_objects() -> None:
    """They read no customer record: an alert's case is still found (its follow-up goes on
    it), a version still guards its write."""
    sim = ServiceCloudSimulator().seed_demo()
    alert = DeskTicket(key="a1b2c3", subject="Out of policy", body="35%", severity="critical")
    plain = service_cloud(sim)
    case = await plain.open_ticket(alert)
    await plain.aclose()
    made, wrap = inserting([[(0, 7), (99, "row")]] * 4, service_cloud_case_searches, "records")
    target = service_cloud(sim, wrap)
    assert await target.add_internal_note(case, alert) == case
    await target.aclose()
    assert made[0].positions[0] == [1, 3], "the case's search answered the rows"
    account_id = sim.add_account("Versioned", stamp=START)
    reader = service_cloud(sim)
    (current,) = await reader.read([RecordRef(kind="account", id=account_id)])
    await reader.aclose()
    made, wrap = inserting([[(0, "row"), (99, [])]], service_cloud_versions, "records")
    target = service_cloud(sim, wrap)
    fields = {"SLA_Promise__c": "4h"}
    change = RecordChange(ref=current.ref, fields=fields, expected_version=current.version)
    (result,) = await target.write([change])
    await target.aclose()
    assert made[0].positions == [[1, 3]]
    assert result.ok, result.error


# -- Intercom ----------------------------------------------------------------------------------


def intercom(**sim: Any) -> Desk:
    """The simulator on a clock that stands still (a feed's checkpoint carries the time of the
    answers, so two feeds a second apart on the real clock differ there)."""
    os.environ[TOKEN_ENV] = DEMO_TOKEN  # the token, by reference (as an admin writes it)
    return desk(**{"clock": lambda: START} | sim)


def intercom_scroll(request: httpx.Request) -> bool:
    return request.url.path == "/companies/scroll"


def intercom_search(request: httpx.Request) -> bool:
    return request.url.path == "/contacts/search"


def intercom_companies(request: httpx.Request) -> bool:
    return request.url.path == "/companies"


@settings(max_examples=20, deadline=None)
@given(
    scroll_page=st.integers(min_value=1, max_value=4),
    page=st.integers(min_value=1, max_value=4),
    companies=st.lists(insertions(), max_size=6),
    contacts=st.lists(insertions(), max_size=6),
)
@example(scroll_page=2, page=2, companies=[[(9, "row")]] * 3, contacts=[[(9, None)]] * 3)
async def test_intercom_feed_reports_rows_that_are_not_objects_and_pages_as_without_them(
    scroll_page: int,
    page: int,
    companies: list[list[Insertion]],
    contacts: list[list[Insertion]],
) -> None:
    """The scroll ends at its first empty page and the search at its last cursor, so the rows
    go into answers that have records (a page of such rows alone is not the end)."""
    d = intercom(search_lag=0.0, scroll_page_size=scroll_page)
    without = await feed(d.target(contact_page_size=page))
    made: list[InsertedRows] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(InsertedRows(inner, "data", intercom_scroll, companies, into_empty=False))
        made.append(InsertedRows(made[0], "data", intercom_search, contacts, into_empty=False))
        return made[1]

    pages = await feed(d.target(wrap, contact_page_size=page))
    assert unchanged(pages) == unchanged(without)
    assert [p for page in without for p in page.problems] == []
    problems = [p for page in pages for p in page.problems]
    company_problems = len(made[0].problems("Intercom", "company"))
    assert_reported(problems[:company_problems], made[0], "Intercom", "company")
    assert_reported(problems[company_problems:], made[1], "Intercom", "contact")


async def test_intercom_lookups_hand_hits_that_are_not_objects_to_the_run() -> None:
    """By company_id (the company's listing) and by email (the search, whose hits are read
    again one by one: a hit that is not an object cannot be)."""
    d = intercom(search_lag=0.0)
    company = d.sim.add_company("Brand New", "CUST-9001")
    person = d.sim.add_contact("New User", "new@x.example", indexed=True)
    made: list[InsertedRows] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        made.append(InsertedRows(inner, "data", intercom_companies, [[(99, 5)]]))
        made.append(InsertedRows(made[0], "data", intercom_search, [[(0, [])]]))
        return made[1]

    target = d.target(wrap)
    problems: list[str] = []
    keys = [
        IdentityKey(match="external_id", value="cust-9001", kind="company"),
        IdentityKey(match="email", value="new@x.example", kind="contact"),
    ]
    found = await target.lookup(keys, problems)
    await target.aclose()
    assert sorted(r.ref.id for r in found) == sorted([company["id"], person["id"]])
    left_out = LEFT_OUT.format(desk="Intercom")
    assert problems == [
        "Intercom company #2 of the page: is 5, " + left_out,
        "Intercom contact #1 of the page: is a list [], " + left_out,
    ]
