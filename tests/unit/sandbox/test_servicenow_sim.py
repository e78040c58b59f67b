"""The ServiceNow simulator behaves as FACTS.md describes the instance (raw HTTP, no connector)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from connectors.service.servicenow.simulator import (
    DEMO_BASE_URL,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    DEMO_USER,
    ServiceNowSimulator,
)

pytestmark = pytest.mark.anyio

ACCOUNTS = "/api/now/table/customer_account"
START = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
JSON = {"Content-Type": "application/json", "Accept": "application/json"}


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return ServiceNowSimulator(clock=lambda: START).seed_demo()


@pytest.fixture
async def http(sim: ServiceNowSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=DEMO_BASE_URL,
        auth=(DEMO_USER, DEMO_PASSWORD),
        headers={"Accept": "application/json"},
    ) as client:
        yield client


def acme(sim: ServiceNowSimulator) -> str:
    return sim.customers["acme"][0]


async def test_a_misspelled_column_in_a_query_is_dropped_and_returns_more_rows(
    http: httpx.AsyncClient,
) -> None:
    exact = await http.get(ACCOUNTS, params={"sysparm_query": "u_customer_number=CUST-1001"})
    typo = await http.get(ACCOUNTS, params={"sysparm_query": "u_customer_numbr=CUST-1001"})
    assert len(exact.json()["result"]) == 1
    assert len(typo.json()["result"]) == 9  # the whole table
    lower = await http.get(ACCOUNTS, params={"sysparm_query": "u_customer_number=cust-1001"})
    assert lower.json()["result"] == []  # values are case-sensitive


async def test_or_binds_tighter_than_and_and_nq_ors_whole_queries(
    http: httpx.AsyncClient,
) -> None:
    query = "nameSTARTSWITHAcme^ORnameSTARTSWITHGlobex^u_customer_numberISNOTEMPTY^NQname=Initech"
    rows = (await http.get(ACCOUNTS, params={"sysparm_query": query + "^ORDERBYname"})).json()
    assert [r["name"] for r in rows["result"]] == ["Acme Corporation", "Globex", "Initech"]


async def test_fields_unknown_names_ignored_and_references_with_or_without_links(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    params = {
        "sysparm_query": f"sys_id={sim.customers['acme'][1]}",
        "sysparm_fields": "email,account,nope",
    }
    linked = (await http.get("/api/now/table/customer_contact", params=params)).json()["result"][0]
    assert linked == {
        "email": "ops@acme.example",
        "account": {
            "link": f"{DEMO_BASE_URL}/api/now/table/customer_account/{acme(sim)}",
            "value": acme(sim),
        },
    }
    bare = await http.get(
        "/api/now/table/customer_contact",
        params=params | {"sysparm_exclude_reference_link": "true"},
    )
    assert bare.json()["result"][0]["account"] == acme(sim)


async def test_every_value_is_a_string_and_stamps_have_whole_seconds(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    row = (await http.get(f"{ACCOUNTS}/{acme(sim)}")).json()["result"]
    assert row["sys_mod_count"] == "0"
    assert row["sys_updated_on"] == "2026-03-02 09:00:05"
    assert all(isinstance(v, str | dict) for v in row.values())


async def test_paging_headers_and_v1_answering_404_for_no_rows(http: httpx.AsyncClient) -> None:
    page = await http.get(ACCOUNTS, params={"sysparm_limit": 4, "sysparm_query": "ORDERBYname"})
    assert page.headers["x-total-count"] == "9"
    link = page.headers["link"]
    assert 'rel="next"' in link
    assert "sysparm_offset=4" in link
    assert 'rel="prev"' not in link
    last = await http.get(ACCOUNTS, params={"sysparm_limit": 4, "sysparm_offset": 8})
    assert 'rel="next"' not in last.headers["link"]
    none = {"sysparm_query": "name=Nobody"}
    assert (await http.get(ACCOUNTS, params=none)).json() == {"result": []}
    v1 = await http.get("/api/now/v1/table/customer_account", params=none)
    assert v1.status_code == 404
    assert v1.json()["status"] == "failure"


async def test_the_acl_applies_after_the_limit(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    ordered = (await http.get(ACCOUNTS, params={"sysparm_query": "ORDERBYname"})).json()["result"]
    for row in ordered[:3]:
        sim.hide(row["sys_id"])
    page = await http.get(ACCOUNTS, params={"sysparm_query": "ORDERBYname", "sysparm_limit": 3})
    assert page.json()["result"] == []
    assert 'rel="next"' in page.headers["link"]
    hidden = await http.get(f"{ACCOUNTS}/{ordered[0]['sys_id']}")
    assert hidden.status_code == 404
    assert hidden.json()["error"]["message"] == "No Record found"


async def test_an_update_ignores_unknown_columns_cuts_long_text_and_keeps_invalid_choices(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    body = {
        "u_nonsense": "dropped",
        "sys_mod_count": "99",
        "u_sla_promise": "s" * 300,
        "u_payment_terms": "net120",
    }
    answer = await http.patch(f"{ACCOUNTS}/{acme(sim)}", json=body, headers=JSON)
    row = answer.json()["result"]
    assert answer.status_code == 200
    assert "u_nonsense" not in row
    assert row["sys_mod_count"] == "1"
    assert row["u_sla_promise"] == "s" * 255  # cut to max_length, no error
    assert row["u_payment_terms"] == "net120"  # not a choice, stored anyway


async def test_an_empty_value_clears_text_but_not_a_choice_column(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    sim.agent_edit("account", acme(sim), u_payment_terms="net30", u_sla_promise="4h")
    answer = await http.patch(
        f"{ACCOUNTS}/{acme(sim)}", json={"u_payment_terms": "", "u_sla_promise": ""}, headers=JSON
    )
    row = answer.json()["result"]
    assert row["u_sla_promise"] == ""
    assert row["u_payment_terms"] == "net30"


async def test_an_update_changing_nothing_is_not_saved(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    answer = await http.patch(
        f"{ACCOUNTS}/{acme(sim)}", json={"name": "Acme Corporation"}, headers=JSON
    )
    assert answer.json()["result"]["sys_mod_count"] == "0"


async def test_writes_without_both_data_headers_are_refused(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    answer = await http.patch(
        f"{ACCOUNTS}/{acme(sim)}", content=b'{"notes": "x"}', headers={"Accept": "application/json"}
    )
    assert answer.status_code == 400


async def test_journal_columns_append_entries_and_read_back_empty(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    created = await http.post(
        "/api/now/table/sn_customerservice_case",
        json={"short_description": "Alert", "work_notes": "first"},
        headers=JSON,
    )
    case = created.json()["result"]
    assert created.status_code == 201
    assert case["number"].startswith("CS")
    await http.patch(
        f"/api/now/table/sn_customerservice_case/{case['sys_id']}",
        json={"work_notes": "second"},
        headers=JSON,
    )
    assert sim.work_notes(case["sys_id"]) == ["first", "second"]
    row = (await http.get(f"/api/now/table/sn_customerservice_case/{case['sys_id']}")).json()
    assert row["result"]["work_notes"] == ""


async def test_the_dictionary_lists_columns_under_the_table_that_defines_them(
    http: httpx.AsyncClient,
) -> None:
    rows = (
        await http.get(
            "/api/now/table/sys_dictionary",
            params={
                "sysparm_query": "element=email^ORelement=website^ORelement=notes",
                "sysparm_fields": "name,element",
            },
        )
    ).json()["result"]
    owners = {(r["name"], r["element"]) for r in rows}
    assert ("sys_user", "email") in owners
    assert ("core_company", "website") in owners
    assert ("customer_account", "notes") in owners
    assert ("customer_contact", "email") not in owners
    parents = (
        await http.get(
            "/api/now/table/sys_db_object",
            params={
                "sysparm_query": "name=customer_contact",
                "sysparm_fields": "name,super_class.name",
            },
        )
    ).json()["result"]
    assert parents == [{"name": "customer_contact", "super_class.name": "sys_user"}]


def _item(item_id: str, sys_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id,
        "method": "PATCH",
        "url": f"{ACCOUNTS}/{sys_id}?sysparm_fields=sys_id,notes",
        "headers": [{"name": k, "value": v} for k, v in JSON.items()],
        "body": base64.b64encode(json.dumps(body).encode()).decode(),
    }


async def test_batch_items_run_in_order_with_their_own_status_until_the_quota_ends(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    sim.settings.item_seconds = 8.0  # three items fit the 30-second quota
    ids = sim.seed_bulk(4)
    items = [_item(str(n), i, {"notes": f"n{n}"}) for n, i in enumerate(ids)]
    items.insert(1, _item("gone", "0" * 32, {"notes": "x"}))
    answer = await http.post(
        "/api/now/v1/batch", json={"batch_request_id": "b1", "rest_requests": items}, headers=JSON
    )
    body = answer.json()
    served = {s["id"]: s for s in body["serviced_requests"]}
    assert list(served) == ["0", "gone", "1"]
    assert served["gone"]["status_code"] == 404
    assert json.loads(base64.b64decode(served["0"]["body"]))["result"]["notes"] == "n0"
    assert served["0"]["execution_time"] == 8000
    assert body["unserviced_requests"] == ["2", "3"]
    assert sim.record("account", ids[3])["notes"] == ""


async def test_the_batch_api_needs_a_versioned_url_and_can_be_missing(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    request = {"batch_request_id": "b", "rest_requests": []}
    assert (await http.post("/api/now/batch", json=request, headers=JSON)).status_code == 400
    assert (await http.post("/api/now/v1/batch", json=request, headers=JSON)).status_code == 200
    sim.remove_batch_api()
    missing = await http.post("/api/now/v1/batch", json=request, headers=JSON)
    assert missing.status_code == 400
    assert missing.json()["error"]["message"] == "Requested URI does not represent any resource"


async def test_a_rule_lets_a_client_overshoot_for_30_seconds_then_refuses_until_the_hour_ends(
    http: httpx.AsyncClient, sim: ServiceNowSimulator
) -> None:
    rule = sim.add_rate_rule(10)
    answers = [await http.get(ACCOUNTS, params={"sysparm_limit": 1}) for _ in range(25)]
    assert all(a.status_code == 200 for a in answers), "counts are not committed yet"
    assert answers[0].headers["x-ratelimit-limit"] == "10"
    assert answers[0].headers["x-ratelimit-rule"] == rule.sys_id
    assert answers[0].headers["x-ratelimit-reset"] == str(
        int(datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp())
    )
    assert "x-ratelimit-remaining" not in answers[0].headers
    sim.pass_time(30)
    refused = await http.get(ACCOUNTS, params={"sysparm_limit": 1})
    assert refused.status_code == 429
    assert (
        refused.json()["error"]["detail"]
        == "Rate limit of 10 requests per hour for Table API exceeded"
    )
    assert int(refused.headers["retry-after"]) == 3600 - 5 - 30
    sim.pass_time(3600)
    assert (await http.get(ACCOUNTS, params={"sysparm_limit": 1})).status_code == 200


async def test_oauth_tokens_are_issued_for_the_client_and_expire(sim: ServiceNowSimulator) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app), base_url=DEMO_BASE_URL
    ) as http:
        wrong = await http.post(
            "/oauth_token.do",
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": "no",
            },
        )
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        grant = await http.post(
            "/oauth_token.do",
            data={
                "grant_type": "client_credentials",
                "client_id": DEMO_CLIENT_ID,
                "client_secret": DEMO_CLIENT_SECRET,
            },
        )
        token = grant.json()
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 1799
        bearer = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
        assert (await http.get(ACCOUNTS, headers=bearer)).status_code == 200
        sim.pass_time(1800)
        expired = await http.get(ACCOUNTS, headers=bearer)
        assert expired.status_code == 401
        assert expired.json()["error"]["message"] == "User Not Authenticated"
