"""The Intercom doc-fake behaves as connectors/service/intercom/FACTS.md says, and every answer
it gives fits the OpenAPI description (checked by a response hook on every call)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.intercom import DataAttribute, IntercomFake
from tests.docfakes.intercom_openapi import intercom_spec

TOKEN = "tok-dealbridge"
DAY = 86_400
pytestmark = pytest.mark.anyio


def spec_checked_client(fake: IntercomFake, token: str | None = TOKEN) -> httpx.AsyncClient:
    """A client whose every response is validated against the 2.15 description."""
    spec = intercom_spec()

    async def check(response: httpx.Response) -> None:
        await response.aread()
        method, path = response.request.method, response.request.url.path
        try:
            spec.operation(method, path)
        except LookupError:
            assert response.status_code in {404, 405}, f"{method} {path} is not an operation"
            return
        problems = spec.response_errors(method, path, response.status_code, response.json())
        assert not problems, f"{method} {path} {response.status_code}: {problems}"

    headers = {"Intercom-Version": "2.15"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app),
        base_url="https://api.intercom.io",
        headers=headers,
        event_hooks={"response": [check]},
    )


def run(fake: IntercomFake, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    """Hypothesis examples are synchronous: each one gets its own event loop and client."""

    async def main() -> None:
        async with spec_checked_client(fake) as client:
            await scenario(client)

    asyncio.run(main())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> IntercomFake:
    fake = IntercomFake(clock)
    fake.define_attribute(DataAttribute("deal_terms", "company", "string"))
    fake.define_attribute(DataAttribute("deal_terms", "contact", "string"))
    fake.define_attribute(DataAttribute("tier", "company", "string", options=["gold", "silver"]))
    return fake


@pytest.fixture
async def client(fake: IntercomFake) -> AsyncIterator[httpx.AsyncClient]:
    async with spec_checked_client(fake) as client:
        yield client


def error_codes(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["type"] == "error.list"
    return [e["code"] for e in body["errors"]]


# ---- auth, errors, limits ----------------------------------------------------------------------


async def test_a_call_without_a_valid_token_is_401_unauthorized_without_rate_headers(
    fake: IntercomFake,
) -> None:
    async with spec_checked_client(fake, token="wrong") as client:
        response = await client.get("/data_attributes")
    assert response.status_code == 401
    assert error_codes(response) == ["unauthorized"]
    assert "X-RateLimit-Limit" not in response.headers


async def test_the_window_budget_is_the_per_minute_limit_spread_over_six_windows(
    clock: FakeClock,
) -> None:
    fake = IntercomFake(clock, per_minute=60)  # 10 per 10-second window
    async with spec_checked_client(fake) as client:
        answers = [await client.get("/data_attributes") for _ in range(11)]
        assert [r.status_code for r in answers] == [200] * 10 + [429]
        assert [r.headers["X-RateLimit-Remaining"] for r in answers[:10]] == [
            str(n) for n in range(9, -1, -1)
        ]
        refused = answers[-1]
        assert refused.headers["X-RateLimit-Limit"] == "10"
        assert refused.headers["X-RateLimit-Reset"] == str(int(clock.now()) + 10)
        assert error_codes(refused) == ["rate_limit_exceeded"]
        assert refused.json()["errors"][0]["message"] == "Exceeded rate limit of 10 in 10_seconds"
        clock.advance(10)
        assert (await client.get("/data_attributes")).status_code == 200


def test_the_default_limit_of_1000_a_minute_gives_167_a_window(clock: FakeClock) -> None:
    assert IntercomFake(clock, per_minute=1_000).per_window == 167


# ---- companies ----------------------------------------------------------------------------------


async def test_post_companies_creates_once_then_updates_the_same_company_by_company_id(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    first = await client.post("/companies", json={"company_id": "acme-1", "name": "Acme"})
    clock.advance(5)
    again = await client.post(
        "/companies",
        json={"company_id": "acme-1", "custom_attributes": {"deal_terms": "10% off until June"}},
    )
    assert first.status_code == again.status_code == 200
    assert len(fake.companies) == 1
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == "Acme"
    assert again.json()["custom_attributes"] == {"deal_terms": "10% off until June"}
    assert again.json()["updated_at"] == first.json()["updated_at"] + 5


async def test_retrieve_by_company_id_answers_a_list_and_404_company_not_found_when_absent(
    client: httpx.AsyncClient, fake: IntercomFake
) -> None:
    fake.add_company("acme-1", "Acme")
    found = await client.get("/companies", params={"company_id": "acme-1"})
    missing = await client.get("/companies", params={"company_id": "nope"})
    assert found.json()["type"] == "list"
    assert [c["company_id"] for c in found.json()["data"]] == ["acme-1"]
    assert missing.status_code == 404
    assert error_codes(missing) == ["company_not_found"]


async def test_put_company_by_intercom_id_updates_in_place(
    client: httpx.AsyncClient, fake: IntercomFake
) -> None:
    company_id = fake.add_company("acme-1", "Acme")
    response = await client.put(
        f"/companies/{company_id}", json={"custom_attributes": {"deal_terms": "net 60"}}
    )
    assert response.json()["custom_attributes"]["deal_terms"] == "net 60"
    assert (await client.put("/companies/0", json={"name": "x"})).status_code == 404


@pytest.mark.parametrize(
    ("attributes", "code"),
    [
        ({"deal_terms": "x" * 256}, "parameter_invalid"),
        ({"not_in_catalog": "x"}, "parameter_invalid"),
        ({"tier": "bronze"}, "parameter_invalid"),
        ({"deal_terms": 5}, "parameter_invalid"),
    ],
)
async def test_company_attribute_outside_the_catalog_or_its_limits_is_refused_and_not_stored(
    client: httpx.AsyncClient, fake: IntercomFake, attributes: dict[str, Any], code: str
) -> None:
    company_id = fake.add_company("acme-1", "Acme", deal_terms="old")
    response = await client.put(f"/companies/{company_id}", json={"custom_attributes": attributes})
    assert response.status_code == 400
    assert error_codes(response) == [code]
    assert fake.companies[company_id]["custom_attributes"] == {"deal_terms": "old"}


async def test_a_255_character_text_attribute_is_accepted(
    client: httpx.AsyncClient, fake: IntercomFake
) -> None:
    company_id = fake.add_company("acme-1", "Acme")
    note = "n" * 255
    response = await client.put(
        f"/companies/{company_id}", json={"custom_attributes": {"deal_terms": note}}
    )
    assert response.json()["custom_attributes"]["deal_terms"] == note


@given(companies=st.integers(0, 40), page_size=st.integers(1, 7))
@settings(max_examples=25, deadline=None)
def test_a_scroll_visits_every_company_once_and_ends_with_an_empty_page(
    companies: int, page_size: int
) -> None:
    fake = IntercomFake(FakeClock(), scroll_page_size=page_size)
    expected = {fake.add_company(f"c{n}", f"Company {n}") for n in range(companies)}

    async def scenario(client: httpx.AsyncClient) -> None:
        seen: list[str] = []
        page = (await client.get("/companies/scroll")).json()
        while page["data"]:
            seen += [c["id"] for c in page["data"]]
            page = (
                await client.get("/companies/scroll", params={"scroll_param": page["scroll_param"]})
            ).json()
        assert sorted(seen) == sorted(expected)
        after_end = await client.get("/companies/scroll", params={"scroll_param": "anything"})
        assert after_end.status_code == 404
        assert (await client.get("/companies/scroll")).status_code == 200  # a new scroll opens

    run(fake, scenario)


async def test_only_one_scroll_may_be_open_and_an_idle_one_expires_after_a_minute(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    for n in range(40):
        fake.add_company(f"c{n}", f"Company {n}")
    first = (await client.get("/companies/scroll")).json()
    second = await client.get("/companies/scroll")
    assert error_codes(second) == ["scroll_exists"]
    clock.advance(61)
    stale = await client.get("/companies/scroll", params={"scroll_param": first["scroll_param"]})
    assert stale.status_code == 404
    assert error_codes(stale) == ["not_found"]
    assert (await client.get("/companies/scroll")).status_code == 200


async def test_there_is_no_company_search_operation(client: httpx.AsyncClient) -> None:
    response = await client.post("/companies/search", json={"query": {}})
    assert response.status_code in {404, 405}


# ---- contacts -----------------------------------------------------------------------------------


def search_body(query: dict[str, Any], **pagination: Any) -> dict[str, Any]:
    return {"query": query, "pagination": pagination} if pagination else {"query": query}


async def test_new_contacts_become_searchable_only_after_the_indexing_delay(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    fake.add_contact("ann@acme.test")
    query = search_body({"field": "email", "operator": "=", "value": "ann@acme.test"})
    assert (await client.post("/contacts/search", json=query)).json()["total_count"] == 0
    clock.advance(fake.search_index_delay)
    assert (await client.post("/contacts/search", json=query)).json()["total_count"] == 1


@given(
    offset_hours=st.integers(-11, 12),
    updated=st.integers(0, 5 * DAY),
    cursor=st.integers(0, 5 * DAY),
)
@settings(max_examples=50, deadline=None)
def test_updated_at_greater_than_matches_from_the_next_workspace_day_only(
    offset_hours: int, updated: int, cursor: int
) -> None:
    clock = FakeClock()
    base = int(clock.now())
    fake = IntercomFake(clock, workspace_utc_offset_hours=offset_hours, search_index_delay=0)
    clock.advance(updated)
    fake.add_contact("ann@acme.test")
    clock.advance(6 * DAY - updated)
    local = datetime.fromtimestamp(base + cursor, UTC) + timedelta(hours=offset_hours)
    next_day = local.replace(hour=0, minute=0, second=0) + timedelta(days=1)
    next_day_start = int((next_day - timedelta(hours=offset_hours)).timestamp())

    async def scenario(client: httpx.AsyncClient) -> None:
        query = search_body({"field": "updated_at", "operator": ">", "value": base + cursor})
        found = (await client.post("/contacts/search", json=query)).json()["total_count"]
        assert found == (1 if base + updated >= next_day_start else 0)

    run(fake, scenario)


async def test_a_contact_updated_later_on_the_cursor_day_is_missed_by_greater_than(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    contact_id = fake.add_contact("ann@acme.test")
    clock.advance(fake.search_index_delay + 3_600)
    cursor = int(clock.now())
    clock.advance(60)
    fake.agent_edits_contact(contact_id, deal_terms="edited")
    strictly_after = search_body({"field": "updated_at", "operator": ">", "value": cursor})
    same_day = search_body({"field": "updated_at", "operator": "=", "value": cursor})
    assert (await client.post("/contacts/search", json=strictly_after)).json()["data"] == []
    assert [c["id"] for c in (await client.post("/contacts/search", json=same_day)).json()["data"]]


@given(contacts=st.integers(0, 30), per_page=st.integers(1, 8))
@settings(max_examples=25, deadline=None)
def test_starting_after_pages_through_every_hit_once(contacts: int, per_page: int) -> None:
    fake = IntercomFake(FakeClock(), search_index_delay=0)
    ids = {fake.add_contact(f"u{n}@acme.test", external_id=f"x{n}") for n in range(contacts)}

    async def scenario(client: httpx.AsyncClient) -> None:
        query = {"field": "email_domain", "operator": "=", "value": "acme.test"}
        seen: list[str] = []
        body = search_body(query, per_page=per_page)
        while True:
            page = (await client.post("/contacts/search", json=body)).json()
            assert page["total_count"] == contacts
            seen += [c["id"] for c in page["data"]]
            following = page["pages"].get("next")
            if following is None:
                break
            body = search_body(query, **following)
        assert sorted(seen) == sorted(ids)

    run(fake, scenario)


@pytest.mark.parametrize(
    "query",
    [
        {"field": "updated_at", "operator": ">=", "value": 1},
        {"field": "created_at", "operator": "IN", "value": [1, 2]},
        {
            "operator": "AND",
            "value": [
                {"operator": "OR", "value": [{"operator": "AND", "value": []}]},
            ],
        },
        {
            "operator": "OR",
            "value": [{"field": "email", "operator": "=", "value": f"{n}@x"} for n in range(16)],
        },
        {"field": "email", "operator": "LIKE", "value": "x"},
    ],
    ids=["gte-on-date", "in-on-date", "three-levels", "sixteen-filters", "unknown-operator"],
)
async def test_search_queries_outside_the_documented_language_are_400(
    client: httpx.AsyncClient, query: dict[str, Any]
) -> None:
    response = await client.post("/contacts/search", json=search_body(query))
    assert response.status_code == 400
    assert error_codes(response) == ["parameter_invalid"]


async def test_email_in_list_finds_several_contacts_in_one_search(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    for n in range(5):
        fake.add_contact(f"u{n}@acme.test")
    clock.advance(fake.search_index_delay)
    wanted = ["u1@acme.test", "u3@acme.test", "nobody@acme.test"]
    query = search_body({"field": "email", "operator": "IN", "value": wanted})
    found = (await client.post("/contacts/search", json=query)).json()["data"]
    assert sorted(c["email"] for c in found) == ["u1@acme.test", "u3@acme.test"]


async def test_find_by_external_id_finds_users_but_not_leads(
    client: httpx.AsyncClient, fake: IntercomFake
) -> None:
    fake.add_contact("ann@acme.test", external_id="sf-1")
    fake.add_contact("lead@acme.test", external_id="sf-2", role="lead")
    assert (await client.get("/contacts/find_by_external_id/sf-1")).status_code == 200
    lead = await client.get("/contacts/find_by_external_id/sf-2")
    assert lead.status_code == 404
    assert error_codes(lead) == ["not_found"]


async def test_put_contact_changes_only_the_custom_attributes_it_names(
    client: httpx.AsyncClient, fake: IntercomFake, clock: FakeClock
) -> None:
    fake.define_attribute(DataAttribute("owner", "contact", "string"))
    contact_id = fake.add_contact("ann@acme.test", deal_terms="old", owner="zoe")
    clock.advance(30)
    response = await client.put(
        f"/contacts/{contact_id}", json={"custom_attributes": {"deal_terms": "new"}}
    )
    assert response.json()["custom_attributes"] == {"deal_terms": "new", "owner": "zoe"}
    assert response.json()["updated_at"] == int(clock.now())


async def test_notes_are_append_only(client: httpx.AsyncClient, fake: IntercomFake) -> None:
    contact_id = fake.add_contact("ann@acme.test")
    first = await client.post(f"/contacts/{contact_id}/notes", json={"body": "terms v1"})
    await client.post(f"/contacts/{contact_id}/notes", json={"body": "terms v2"})
    listed = (await client.get(f"/contacts/{contact_id}/notes")).json()
    assert [n["body"] for n in listed["data"]] == ["<p>terms v1</p>", "<p>terms v2</p>"]
    note_id = first.json()["id"]
    assert (await client.get(f"/notes/{note_id}")).json()["body"] == "<p>terms v1</p>"
    assert (await client.put(f"/notes/{note_id}", json={"body": "x"})).status_code == 405


async def test_data_attributes_list_is_the_catalog_for_one_model(client: httpx.AsyncClient) -> None:
    body = (await client.get("/data_attributes", params={"model": "company"})).json()
    by_name = {a["name"]: a for a in body["data"]}
    assert {a["model"] for a in body["data"]} == {"company"}
    assert by_name["deal_terms"]["full_name"] == "custom_attributes.deal_terms"
    assert by_name["tier"]["options"] == ["gold", "silver"]
    assert by_name["company_id"]["api_writable"] is False


async def test_a_request_body_the_description_does_not_allow_is_400_parameter_invalid(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/companies", json={"company_id": 7})
    assert response.status_code == 400
    assert error_codes(response) == ["parameter_invalid"]
