"""The Intercom simulator answers like Intercom (FACTS.md), checked with plain HTTP calls.

Every answer also passes through :class:`SpecChecked`: bodies must fit Intercom's OpenAPI
description (2.15), apart from the numeric company attribute values FACTS.md §10.1 allows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from connectors.service.intercom.simulator import (
    COMPANY,
    CONTACT,
    DEMO_TOKEN,
    IntercomSimulator,
)
from connectors.service.intercom.simulator.scroll import RESTART_MESSAGE
from tests.unit.connectors.intercom_support import BASE, SpecChecked

pytestmark = pytest.mark.anyio
DAY = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {DEMO_TOKEN}", "Intercom-Version": "2.15"}


class SimClock:
    """The workspace's wall clock, set by the test."""

    def __init__(self, now: datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def sim(clock: SimClock) -> IntercomSimulator:
    return IntercomSimulator(clock=clock, search_lag=0.0, scroll_page_size=3).seed_demo()


@pytest.fixture
async def http(sim: IntercomSimulator) -> AsyncIterator[tuple[httpx.AsyncClient, SpecChecked]]:
    checked = SpecChecked(sim.app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=checked), base_url=BASE, headers=AUTH
    ) as client:
        yield client, checked
    assert checked.problems == [], "an answer does not fit Intercom's description"


async def search(client: httpx.AsyncClient, query: Any, **pagination: Any) -> httpx.Response:
    body: dict[str, Any] = {"query": query}
    if pagination:
        body["pagination"] = pagination
    return await client.post("/contacts/search", json=body)


# -- auth, version, errors, limits (FACTS.md §1-3) -------------------------------------------


async def test_a_wrong_token_is_401_unauthorized_without_budget_headers(
    http: tuple[httpx.AsyncClient, SpecChecked],
) -> None:
    client, _ = http
    response = await client.get("/me", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json()["type"] == "error.list"
    assert response.json()["errors"] == [
        {"code": "unauthorized", "message": "Access Token Invalid"}
    ]
    assert "x-ratelimit-limit" not in response.headers


async def test_authenticated_answers_carry_the_ten_second_window_budget(
    http: tuple[httpx.AsyncClient, SpecChecked], clock: SimClock
) -> None:
    client, _ = http
    response = await client.get("/me")
    assert response.headers["x-ratelimit-limit"] == str(-(-10_000 // 6))
    assert int(response.headers["x-ratelimit-remaining"]) == 1666
    reset = int(response.headers["x-ratelimit-reset"])
    assert 0 < reset - clock.now.timestamp() <= 10


async def test_over_the_window_budget_is_429_rate_limit_exceeded_until_the_window_turns(
    clock: SimClock,
) -> None:
    sim = IntercomSimulator(clock=clock, requests_per_minute=60)  # 10 per 10 s
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=SpecChecked(sim.app)), base_url=BASE, headers=AUTH
    ) as client:
        answers = [await client.get("/me") for _ in range(11)]
        assert [a.status_code for a in answers[:10]] == [200] * 10
        refused = answers[10]
        assert refused.status_code == 429
        assert refused.json()["errors"][0] == {
            "code": "rate_limit_exceeded",
            "message": "Exceeded rate limit of 10 in 10_seconds",
        }
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert "retry-after" not in refused.headers
        sim.pass_time(10)
        assert (await client.get("/me")).status_code == 200


async def test_the_version_header_is_noted_as_sent(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    await client.get("/me")
    await client.get("/me", headers={"Intercom-Version": "9.9"})
    assert sim.versions == {"2.15": 1, "unknown:9.9": 1}


# -- companies (§4) ----------------------------------------------------------------------


async def test_company_lookup_by_company_id_answers_a_list_or_company_not_found(
    http: tuple[httpx.AsyncClient, SpecChecked],
) -> None:
    client, _ = http
    found = await client.get("/companies", params={"company_id": "CUST-1001"})
    assert found.json()["type"] == "list"
    assert [c["name"] for c in found.json()["data"]] == ["Acme Corporation"]
    missing = await client.get("/companies", params={"company_id": "cust-1001"})
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "company_not_found"


async def test_post_companies_creates_a_company_for_an_unknown_company_id(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    before = len(sim.store.companies)
    response = await client.post("/companies", json={"company_id": "NEW-1", "name": "Accident"})
    assert response.status_code == 200
    assert len(sim.store.companies) == before + 1  # why the connector never uses it


async def test_put_company_merges_custom_attributes_and_refuses_unknown_ones(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    company_id = sim.customers["acme"][0]
    await client.put(f"/companies/{company_id}", json={"custom_attributes": {"seats": 40}})
    put = await client.put(
        f"/companies/{company_id}", json={"custom_attributes": {"sla_promise": "4h"}}
    )
    assert put.json()["custom_attributes"] == {"seats": 40, "sla_promise": "4h"}  # merged
    refused = await client.put(
        f"/companies/{company_id}", json={"custom_attributes": {"not_defined": "x"}}
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["code"] == "parameter_invalid"
    assert "not_defined" not in sim.record(COMPANY, company_id)["custom_attributes"]


async def test_put_of_a_deleted_company_is_404_and_creates_nothing(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    company_id = sim.customers["globex"][0]
    sim.delete(COMPANY, company_id)
    response = await client.put(f"/companies/{company_id}", json={"name": "Globex"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "company_not_found"
    assert company_id not in sim.store.companies


async def test_the_scroll_pages_to_an_empty_page_then_its_parameter_is_gone(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    seen: list[str] = []
    page = (await client.get("/companies/scroll")).json()
    assert page["pages"] is None
    assert page["total_count"] is None
    while page["data"]:
        seen += [c["id"] for c in page["data"]]
        assert len(page["data"]) <= 3
        page = (
            await client.get("/companies/scroll", params={"scroll_param": page["scroll_param"]})
        ).json()
    assert sorted(seen) == sorted(sim.store.companies)
    after = await client.get("/companies/scroll", params={"scroll_param": page["scroll_param"]})
    assert after.status_code == 404


async def test_one_scroll_at_a_time_until_it_expires_after_a_minute_unused(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    first = (await client.get("/companies/scroll")).json()
    second = await client.get("/companies/scroll")
    assert second.status_code == 400
    assert second.json()["errors"][0]["code"] == "scroll_exists"
    sim.pass_time(61)
    expired = await client.get("/companies/scroll", params={"scroll_param": first["scroll_param"]})
    assert expired.status_code == 404
    assert (await client.get("/companies/scroll")).status_code == 200


async def test_a_broken_scroll_answers_the_restart_500_and_can_be_opened_again(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    first = (await client.get("/companies/scroll")).json()
    sim.break_scroll()
    broken = await client.get("/companies/scroll", params={"scroll_param": first["scroll_param"]})
    assert broken.status_code == 500
    assert broken.json()["errors"][0]["message"] == RESTART_MESSAGE
    assert (await client.get("/companies/scroll")).status_code == 200


# -- contacts (§5) -----------------------------------------------------------------------


async def test_find_by_external_id_finds_users_not_leads(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    sim.add_contact("A lead", "lead@x.example", role="lead", external_id="L-1")
    assert (await client.get("/contacts/find_by_external_id/user-acme")).status_code == 200
    missing = await client.get("/contacts/find_by_external_id/L-1")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "not_found"


async def test_date_filters_match_calendar_days_in_the_workspace_time_zone(
    clock: SimClock,
) -> None:
    zone = timezone(timedelta(hours=-5))
    sim = IntercomSimulator(clock=clock, search_lag=0.0, zone=zone)
    # 2024-05-01 03:00 UTC is still April 30th at -05:00.
    early = sim.add_contact(
        "Early", "early@x.example", updated_at=int(DAY.replace(hour=3).timestamp())
    )
    late = sim.add_contact(
        "Late", "late@x.example", updated_at=int(DAY.replace(hour=20).timestamp())
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=SpecChecked(sim.app)), base_url=BASE, headers=AUTH
    ) as client:
        noon = int(DAY.replace(hour=17).timestamp())  # May 1st, 12:00 at -05:00

        async def ids(operator: str) -> list[str]:
            answer = await search(
                client, {"field": "updated_at", "operator": operator, "value": noon}
            )
            return [c["id"] for c in answer.json()["data"]]

        assert await ids("=") == [late["id"]]  # the whole of May 1st, local time
        assert await ids(">") == []  # from May 2nd's midnight, not from noon
        assert await ids("<") == [early["id"]]  # before May 1st's midnight
        refused = await search(client, {"field": "updated_at", "operator": ">=", "value": noon})
        assert refused.status_code == 400


async def test_search_limits_nesting_and_group_size(
    http: tuple[httpx.AsyncClient, SpecChecked],
) -> None:
    client, checked = http
    leaf = {"field": "role", "operator": "=", "value": "user"}
    too_deep = {
        "operator": "AND",
        "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}],
    }
    assert (await search(client, too_deep)).status_code == 400
    too_many = {"operator": "OR", "value": [leaf] * 16}
    assert (await search(client, too_many)).status_code == 400
    mixed = {"operator": "AND", "value": [leaf, {"operator": "OR", "value": [leaf]}]}
    assert (await search(client, mixed)).status_code == 400
    # The description refuses the mixed group too (FACTS.md §10.4): that request was wrong on
    # purpose, so its request-side finding is expected and dropped.
    assert any("is not valid under any of the given schemas" in p for p in checked.problems)
    checked.problems.clear()
    fine = {"operator": "AND", "value": [{"operator": "OR", "value": [leaf] * 15}]}
    assert (await search(client, fine)).status_code == 200


async def test_search_pages_with_starting_after_in_the_body_not_the_query_string(
    http: tuple[httpx.AsyncClient, SpecChecked],
) -> None:
    client, _ = http
    query = {"field": "role", "operator": "=", "value": "user"}
    first = (await search(client, query, per_page=4)).json()
    cursor = first["pages"]["next"]["starting_after"]
    ignored = await client.post(
        "/contacts/search",
        params={"starting_after": cursor},
        json={"query": query, "pagination": {"per_page": 4}},
    )
    assert [c["id"] for c in ignored.json()["data"]] == [c["id"] for c in first["data"]]
    second = (await search(client, query, per_page=4, starting_after=cursor)).json()
    assert not {c["id"] for c in second["data"]} & {c["id"] for c in first["data"]}
    assert (await search(client, query, per_page=151)).status_code == 400
    assert len((await search(client, query)).json()["data"]) <= 50


async def test_the_search_sees_new_contacts_only_after_the_lag(clock: SimClock) -> None:
    sim = IntercomSimulator(clock=clock, search_lag=180.0)
    sim.add_contact("New", "new@x.example")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=SpecChecked(sim.app)), base_url=BASE, headers=AUTH
    ) as client:
        query = {"field": "email", "operator": "=", "value": "new@x.example"}
        assert (await search(client, query)).json()["data"] == []
        sim.pass_time(180)
        assert len((await search(client, query)).json()["data"]) == 1


async def test_notes_are_added_as_html_and_listed_newest_first(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    contact_id = sim.customers["acme"][1]
    path = f"/contacts/{contact_id}/notes"
    first = await client.post(path, json={"body": "Hello", "admin_id": "991200001"})
    assert first.json()["body"] == "<p>Hello</p>"
    await client.post(path, json={"body": "<p>Second</p>", "admin_id": "991200001"})
    listed = (await client.get(path)).json()["data"]
    assert [n["body"] for n in listed] == ["<p>Second</p>", "<p>Hello</p>"]
    unknown_admin = await client.post(path, json={"body": "x", "admin_id": "1"})
    assert unknown_admin.status_code == 404


async def test_data_attributes_list_built_ins_and_live_custom_attributes(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    sim.store.archive_attribute(CONTACT, "special_discount")
    listed = (await client.get("/data_attributes", params={"model": "contact"})).json()["data"]
    names = {a["full_name"] for a in listed}
    assert {"email", "custom_attributes.payment_terms"} <= names
    assert "custom_attributes.special_discount" not in names
    options = next(a for a in listed if a["name"] == "payment_terms")["options"]
    assert options == ["Net 30", "Net 45", "Net 60"]


async def test_tickets_take_notes_and_close(
    sim: IntercomSimulator, http: tuple[httpx.AsyncClient, SpecChecked]
) -> None:
    client, _ = http
    created = await client.post(
        "/tickets",
        json={
            "ticket_type_id": sim.alert_type["id"],
            "contacts": [{"email": "ops@cc.example"}],
            "ticket_attributes": {"_default_title_": "T", "_default_description_": "D"},
        },
    )
    ticket_id = created.json()["id"]
    note = await client.post(
        f"/tickets/{ticket_id}/reply",
        json={"message_type": "note", "type": "admin", "admin_id": "991200001", "body": "n"},
    )
    assert note.json()["part_type"] == "note"
    await client.put(f"/tickets/{ticket_id}", json={"open": False})
    ticket = (await client.get(f"/tickets/{ticket_id}")).json()
    assert ticket["open"] is False
    assert ticket["is_shared"] is False  # a Back-office type
    found = await client.post(
        "/tickets/search", json={"query": {"field": "title", "operator": "~", "value": "t"}}
    )
    assert [t["id"] for t in found.json()["tickets"]] == [ticket_id]
    assert (await client.get("/tickets/999")).status_code == 404
