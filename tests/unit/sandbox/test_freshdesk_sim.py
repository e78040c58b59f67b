"""The Freshdesk simulator answers like Freshdesk, driven by the real connector in process."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import Cursor, CustomerRecord, IdentityKey, RecordChange, RecordRef
from connectors.errors import AuthError
from connectors.registry import get_spec
from connectors.service.freshdesk import FreshdeskConfig, FreshdeskTarget
from connectors.service.freshdesk.simulator import (
    DEMO_API_KEY,
    DEMO_BASE_URL,
    FreshdeskSimulator,
    contract_harness,
    demo_app,
)
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio
KEY_ENV = "FD_SIM_API_KEY"
DAY_1 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class SimClock:
    """The simulated account's wall clock, set by the test."""

    def __init__(self, now: datetime = DAY_1) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class VirtualTime:
    """One monotonic clock for the simulator's windows and the connector's (fake) sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, DEMO_API_KEY)


@pytest.fixture
async def sim_target() -> AsyncIterator[tuple[FreshdeskSimulator, FreshdeskTarget]]:
    sim = FreshdeskSimulator(clock=SimClock()).seed_demo()
    target = connect(sim)
    yield sim, target
    await target.aclose()


def connect(
    sim: FreshdeskSimulator, clock: VirtualTime | None = None, **overrides: Any
) -> FreshdeskTarget:
    """The real connector, its HTTP routed into the simulator's ASGI app."""
    raw = {
        "kind": "freshdesk",
        "base_url": DEMO_BASE_URL,
        "api_key": "${" + KEY_ENV + "}",
        "per_page": 5,
        "rate_per_second": 1000,
        "contact_list_per_minute": 60_000,
        **overrides,
    }
    options = ConnectorOptions(
        transport=httpx.ASGITransport(app=sim.app), sleep=(clock or VirtualTime()).sleep
    )
    return FreshdeskTarget("sim", FreshdeskConfig.model_validate(raw), options)


def raw_client(sim: FreshdeskSimulator, key: str = DEMO_API_KEY) -> httpx.AsyncClient:
    """Plain HTTP against the simulator, to look at Freshdesk's answers themselves."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url=DEMO_BASE_URL, auth=(key, "X")
    )


async def index(
    target: FreshdeskTarget, since: Cursor | None = None
) -> tuple[list[CustomerRecord], Cursor]:
    records: list[CustomerRecord] = []
    checkpoint = since
    async for page in target.customers(since):
        records += page.records
        checkpoint = page.checkpoint
    assert checkpoint is not None
    return records, checkpoint


def sim_clock(sim: FreshdeskSimulator) -> SimClock:
    clock = sim.time.wall_base
    assert isinstance(clock, SimClock)
    return clock


def ref(kind: str, record_id: int) -> RecordRef:
    return RecordRef(kind=kind, id=str(record_id))


async def test_demo_seed_gives_every_customer_a_company_and_a_contact(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    records, _ = await index(target)
    companies = {r.name: r for r in records if r.ref.kind == "company"}
    contacts = [r for r in records if r.ref.kind == "contact"]
    assert len(companies) == len(contacts) == 9
    acme = companies["Acme Corporation"]
    assert (acme.external_id, acme.domains) == ("CUST-1001", ("acme.example",))
    assert "Escalate billing questions" in acme.fields["description"]
    assert companies["Initech"].external_id is None
    assert "ops@acme.example" in {e for c in contacts for e in c.emails}
    assert sim.requests("GET", "/api/v2/companies") == 2  # 9 companies at 5 a page
    assert sim.requests("GET", "/api/v2/contacts") == 2


async def test_lists_announce_the_next_page_in_a_link_header_until_the_last(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    async with raw_client(sim) as http:
        first = await http.get("/api/v2/companies", params={"per_page": 4})
        last = await http.get("/api/v2/companies", params={"per_page": 4, "page": 3})
    assert first.headers["link"] == (
        f'<{DEMO_BASE_URL}/api/v2/companies?per_page=4&page=2>; rel="next"'
    )
    assert len(first.json()) == 4
    assert "link" not in last.headers
    assert len(last.json()) == 1


async def test_page_size_above_100_and_unknown_filters_are_validation_errors(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    async with raw_client(sim) as http:
        too_big = await http.get("/api/v2/contacts", params={"per_page": 101})
        unknown = await http.get("/api/v2/companies", params={"updated_since": "2024-01-01"})
    assert too_big.status_code == 400
    assert too_big.json() == {
        "description": "Validation failed",
        "errors": [
            {
                "field": "per_page",
                "message": "It should be a Positive Integer less than or equal to 100",
                "code": "invalid_value",
            }
        ],
    }
    assert unknown.json()["errors"][0]["code"] == "invalid_field"


async def test_put_stores_valid_fields_and_answers_with_the_stored_record(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    company_id, _ = sim.customers["globex"]
    sim_clock(sim).now = DAY_1 + timedelta(days=3)
    fields = {
        "note": "SPECIAL TERMS: 10% discount",
        "custom_fields.cf_payment_terms": "Net 45",
        "custom_fields.cf_special_discount": 10.0,
        "custom_fields.cf_terms_valid_until": "2027-01-31",
    }
    results = await target.write([RecordChange(ref=ref("company", company_id), fields=fields)])
    assert results[0].ok
    assert results[0].fields == fields
    stored = sim.record("company", company_id)
    assert stored["custom_fields"]["cf_customer_number"] == "CUST-1002"  # untouched
    assert stored["updated_at"] == "2024-05-04T09:00:00Z"


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "custom_fields.cf_payment_terms",
            "Net 90",
            "It should be one of these values: 'Net 30,Net 45,Net 60'",
        ),
        (
            "custom_fields.cf_terms_valid_until",
            "31/01/2027",
            "It should be in the 'yyyy-mm-dd' format",
        ),
        (
            "custom_fields.cf_special_discount",
            "15%",
            "Value set is of type String.It should be a/an Number",
        ),
        (
            "custom_fields.cf_sla_promise",
            "x" * 256,
            "Has 256 characters, it can have maximum of 255 characters",
        ),
        ("custom_fields.cf_unknown", "x", "Unexpected/invalid field in request"),
    ],
)
async def test_put_checks_values_against_the_field_definitions_record_by_record(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget], path: str, value: Any, message: str
) -> None:
    sim, target = sim_target
    bad, good = sim.customers["acme"][0], sim.customers["hooli"][0]
    results = await target.write(
        [
            RecordChange(ref=ref("company", bad), fields={path: value}),
            RecordChange(ref=ref("company", good), fields={"note": "fine"}),
        ]
    )
    assert not results[0].ok
    assert message in (results[0].error or "")
    assert path.removeprefix("custom_fields.") in (results[0].error or "")
    assert results[1].ok
    assert sim.record("company", good)["note"] == "fine"


async def test_an_agent_edit_after_a_sync_reaches_the_next_incremental_index(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    sim_clock(sim).now = DAY_1 + timedelta(days=4)
    _, checkpoint = await index(target)
    company_id, contact_id = sim.customers["stark"]
    sim.agent_edit("contact", contact_id, description="Prefers phone calls")  # same second
    sim.agent_edit("company", company_id, note="Call Pepper first")
    records, _ = await index(target, checkpoint)
    companies = {r.ref.key: r for r in records if r.ref.kind == "company"}
    contacts = [r for r in records if r.ref.kind == "contact"]
    assert len(companies) == len(sim.customers), "companies are listed in full every time"
    assert companies[f"company:{company_id}"].fields["note"] == "Call Pepper first"
    assert [r.ref.key for r in contacts] == [f"contact:{contact_id}"], "contacts by update time"
    assert contacts[0].fields["description"] == "Prefers phone calls"


async def test_a_soft_deleted_contact_leaves_the_index(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    _, checkpoint = await index(target)
    _, contact_id = sim.customers["hooli"]
    sim.delete_contact(contact_id)
    records, _ = await index(target, checkpoint)
    gone = [r for r in records if r.ref.id == str(contact_id)]
    assert [(r.ref.kind, r.deleted) for r in gone] == [("contact", True)]
    async with raw_client(sim) as http:
        listed = (await http.get("/api/v2/contacts", params={"per_page": 100})).json()
    assert contact_id not in {c["id"] for c in listed}


async def test_contacts_filter_by_updated_since_in_either_spelling(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    _, contact_id = sim.customers["globex"]
    sim.set_updated_at("contact", contact_id, DAY_1 + timedelta(hours=2))
    async with raw_client(sim) as http:
        underscore = await http.get(
            "/api/v2/contacts", params={"_updated_since": "2024-05-01T10:00:00Z"}
        )
        plain = await http.get("/api/v2/contacts", params={"updated_since": "2024-05-01T11:00:00Z"})
        bad = await http.get("/api/v2/contacts", params={"_updated_since": "yesterday"})
    assert [c["id"] for c in underscore.json()] == [contact_id]
    assert [c["id"] for c in plain.json()] == [contact_id]
    assert bad.status_code == 400


async def test_filter_api_answers_domain_and_date_queries_within_its_limits(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    acme, _ = sim.customers["acme"]

    async def search(query: str, page: int = 1) -> httpx.Response:
        async with raw_client(sim) as http:
            return await http.get("/api/v2/search/companies", params={"query": query, "page": page})

    by_domain = (await search("\"domain:'acme.example'\"")).json()
    assert (by_domain["total"], by_domain["results"][0]["id"]) == (1, acme)
    both = await search(
        "\"(domain:'acme.example' OR domain:'hooli.example') AND updated_at:>'2024-05-01'\""
    )
    assert both.json()["total"] == 2
    assert (await search("\"updated_at:>'2024-05-02'\"")).json() == {"total": 0, "results": []}
    assert (await search("\"updated_at:<'2024-05-01'\"")).json()["total"] == 9
    assert (await search("domain:'acme.example'")).status_code == 400  # not in double quotes
    assert (await search("\"domain:'acme.example'\"", page=11)).status_code == 400
    assert (await search('"' + "x" * 520 + '"')).status_code == 400
    assert (await search("\"colour:'red'\"")).json()["errors"][0]["field"] == "query"


async def test_the_connector_looks_up_companies_by_domain_and_contacts_by_email(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    wayne = await target.lookup(
        [IdentityKey(match="domain", value="wayne.example", kind="company")]
    )
    person = await target.lookup(
        [IdentityKey(match="email", value="lucius@wayne.example", kind="contact")]
    )
    assert {r.name for r in wayne} == {"Wayne Enterprises", "Wayne Foundation"}
    assert [r.ref.id for r in person] == [str(sim.customers["wayne-ent"][1])]


async def test_a_wrong_api_key_is_refused_with_invalid_credentials(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    async with raw_client(sim, key="not-the-key") as http:
        answer = await http.get("/api/v2/companies")
    assert answer.status_code == 401
    assert answer.json() == {
        "code": "invalid_credentials",
        "message": "You have to be logged in to perform this action.",
    }
    impostor = FreshdeskSimulator(api_key="another-account-key").seed_demo()
    target = connect(impostor)
    with pytest.raises(AuthError, match="You have to be logged in"):
        await index(target)
    await target.aclose()


async def test_every_answer_carries_the_budget_headers_and_a_missing_record_has_no_body(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    async with raw_client(sim) as http:
        first = await http.get("/api/v2/company_fields")
        missing = await http.get("/api/v2/contacts/1")
    assert first.headers["x-ratelimit-total"] == "700"
    assert first.headers["x-ratelimit-remaining"] == "699"
    assert first.headers["x-ratelimit-used-currentrequest"] == "1"
    assert missing.status_code == 404
    assert missing.content == b""
    assert missing.headers["x-ratelimit-remaining"] == "698"
    assert missing.headers["date"] == "Wed, 01 May 2024 09:00:00 GMT"


async def test_an_exhausted_account_budget_answers_429_and_the_connector_waits_it_out() -> None:
    clock = VirtualTime()
    sim = FreshdeskSimulator(requests_per_minute=3, monotonic=clock.monotonic).seed_demo()
    target = connect(sim, clock)
    refs = [ref("company", company) for company, _ in sim.customers.values()][:5]
    records = await target.read(refs)
    assert len(records) == 5
    assert max(clock.sleeps, default=0) >= 59  # Retry-After until the minute is over
    async with raw_client(sim) as http:
        for _ in range(3):
            await http.get("/api/v2/company_fields")
        throttled = await http.get("/api/v2/company_fields")
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert throttled.headers["x-ratelimit-remaining"] == "0"
    await target.aclose()


async def test_contact_listings_have_their_own_lower_budget() -> None:
    clock = VirtualTime()
    sim = FreshdeskSimulator(contact_list_per_minute=1, monotonic=clock.monotonic).seed_demo()
    target = connect(sim, clock)  # the connector is told a generous contact-list budget
    records, _ = await index(target)
    assert len([r for r in records if r.ref.kind == "contact"]) == 9
    assert sim.requests("GET", "/api/v2/contacts") == 3  # page 2 was refused once
    assert sim.requests("GET", "/api/v2/companies") == 2  # companies were never throttled
    assert max(clock.sleeps) >= 59
    await target.aclose()


async def test_the_harness_faults_are_freshdesk_shaped() -> None:
    harness = contract_harness()
    sim: FreshdeskSimulator = harness.extra["simulator"]
    target = connect(sim, per_page=harness.page_size)
    assert harness.throttle_fault is not None
    assert harness.auth_fault is not None
    harness.controls.inject(harness.throttle_fault)
    records, _ = await index(target)
    assert len(records) == 18
    harness.controls.inject(harness.auth_fault)
    with pytest.raises(AuthError, match="You have to be logged in"):
        await index(target)
    await target.aclose()


async def test_the_harness_config_builds_the_connector_and_seeds_more_customers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harness = contract_harness()
    for name, value in harness.env.items():
        monkeypatch.setenv(name, value)
    spec = get_spec(harness.kind)
    assert harness.app is not None
    options = ConnectorOptions(transport=httpx.ASGITransport(app=harness.app))
    target = spec.factory("contract", spec.config_model.model_validate(harness.config), options)
    assert harness.seed_customers is not None
    harness.seed_customers(7)
    records, _ = await index(target)
    assert len(records) == 18 + 7
    assert harness.secret == DEMO_API_KEY
    await target.aclose()


async def test_field_endpoints_describe_the_demo_fields(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    _, target = sim_target
    catalog = {f.path: f for f in await target.field_catalog()}
    assert catalog["custom_fields.cf_payment_terms"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["custom_fields.cf_customer_number"].label == "Customer number (company)"
    assert catalog["custom_fields.cf_special_discount"].type == "custom_decimal"
    assert catalog["custom_fields.cf_terms_valid_until"].type == "custom_date"


async def test_demo_app_serves_the_seeded_world() -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=demo_app()),
        base_url=DEMO_BASE_URL,
        auth=(DEMO_API_KEY, "X"),
    ) as http:
        companies = (await http.get("/api/v2/companies", params={"per_page": 100})).json()
    assert len(companies) == 9


async def test_bulk_seed_pages_through_thousands_of_records_quickly() -> None:
    sim = FreshdeskSimulator()
    sim.seed_bulk(3000)
    target = connect(sim, per_page=100)
    started = time.perf_counter()
    records, _ = await index(target)
    elapsed = time.perf_counter() - started
    assert len(records) == 6000
    assert sim.requests("GET") == 60
    assert elapsed < 10, f"listing 6000 records took {elapsed:.1f}s"
    results = await target.write([RecordChange(ref=records[0].ref, fields={"note": "bulk"})])
    assert results[0].ok
    await target.aclose()


# --- the filter API's indexing lag ------------------------------------------------------------


async def _search(sim: FreshdeskSimulator, query: str) -> list[int]:
    async with raw_client(sim) as http:
        answer = await http.get("/api/v2/search/companies", params={"query": f'"{query}"'})
    return [c["id"] for c in answer.json()["results"]]


async def test_the_filter_api_sees_a_change_only_after_its_indexing_lag(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, _ = sim_target
    acme, _ = sim.customers["acme"]
    newco = sim.add_company("Acme Holdings", domains=("acme-holdings.example",))["id"]
    sim.agent_edit("company", acme, custom_fields={"cf_customer_number": None})
    sim.agent_edit("company", newco, custom_fields={"cf_customer_number": "CUST-1001"})
    assert await _search(sim, "domain:'acme-holdings.example'") == []
    assert await _search(sim, "cf_customer_number:'CUST-1001'") == [acme], "the stale copy"
    async with raw_client(sim) as http:  # listings read the records themselves
        listed = (await http.get("/api/v2/companies", params={"per_page": 100})).json()
    assert {c["id"] for c in listed} >= {newco}
    sim.pass_time(sim.store.search["company"].lag)
    assert await _search(sim, "domain:'acme-holdings.example'") == [newco]
    assert await _search(sim, "cf_customer_number:'CUST-1001'") == [newco]


async def test_a_lookup_finds_where_a_customer_number_is_now_though_the_filter_api_lags(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    acme, _ = sim.customers["acme"]
    sim.agent_edit("company", acme, custom_fields={"cf_customer_number": None})
    newco = sim.add_company("Acme Holdings", custom_fields={"cf_customer_number": "CUST-1001"})
    found = await target.lookup(
        [IdentityKey(match="external_id", value="cust-1001", kind="company")]
    )
    holders = [r.ref.id for r in found if r.external_id == "CUST-1001"]
    assert holders == [str(newco["id"])]


async def test_contacts_filter_by_unique_external_id_ignoring_case(
    sim_target: tuple[FreshdeskSimulator, FreshdeskTarget],
) -> None:
    sim, target = sim_target
    person = sim.add_contact("Ext Person", "ext@x.example", unique_external_id="EXT-9")
    async with raw_client(sim) as http:
        hit = await http.get("/api/v2/contacts", params={"unique_external_id": "ext-9"})
        miss = await http.get("/api/v2/contacts", params={"unique_external_id": "EXT-0"})
    assert [c["id"] for c in hit.json()] == [person["id"]]
    assert miss.json() == []
    found = await target.lookup([IdentityKey(match="external_id", value="ext-9", kind="contact")])
    assert [r.ref.id for r in found] == [str(person["id"])]
