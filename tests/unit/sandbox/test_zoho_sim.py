"""The Zoho CRM simulator answers like Zoho (FACTS.md sections named in each test), checked
with plain HTTP; then the real connector against it: wrong data centre, renamed fields,
deleted accounts, deletions, credits, and reads that never skip a deal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.sales.zoho.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    ZohoSimulator,
)

pytestmark = pytest.mark.anyio

ACCOUNTS_EU = "https://accounts.zoho.eu"
API = "https://www.zohoapis.eu/crm/v8"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FORM = {
    "grant_type": "refresh_token",
    "client_id": DEMO_CLIENT_ID,
    "client_secret": DEMO_CLIENT_SECRET,
    "refresh_token": DEMO_REFRESH_TOKEN,
}


class Clock:
    """The simulator's clock, moved by the test."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> ZohoSimulator:
    return ZohoSimulator(clock=clock, seed_demo=False)


@pytest.fixture
async def http(sim: ZohoSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        yield client


async def token(http: httpx.AsyncClient, accounts: str = ACCOUNTS_EU) -> dict[str, Any]:
    response = await http.post(f"{accounts}/oauth/v2/token", data=FORM)
    body: dict[str, Any] = response.json()
    return body


async def auth(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Zoho-oauthtoken {(await token(http))['access_token']}"}


async def coql(http: httpx.AsyncClient, query: str, **kw: Any) -> httpx.Response:
    headers = await auth(http)
    return await http.post(f"{API}/coql", json={"select_query": query}, headers=headers, **kw)


async def get(
    http: httpx.AsyncClient, path: str, headers: dict[str, str], **params: str
) -> httpx.Response:
    return await http.get(f"{API}{path}", headers=headers, params=params)


def code(response: httpx.Response) -> str:
    return str(response.json()["code"])


# --- accounts servers and data centres (§1, §2) ---------------------------------------------


async def test_the_orgs_data_centre_issues_tokens_for_its_api_domain(
    http: httpx.AsyncClient,
) -> None:
    body = await token(http)
    assert body["api_domain"] == "https://www.zohoapis.eu"
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("1000.")


async def test_another_data_centre_does_not_know_the_refresh_token(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("https://accounts.zoho.com/oauth/v2/token", data=FORM)
    assert response.status_code == 200, "a refusal is told by the missing access_token (§2.3)"
    assert response.json() == {"error": "invalid_code"}


async def test_a_wrong_client_secret_is_invalid_client(http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{ACCOUNTS_EU}/oauth/v2/token", data={**FORM, "client_secret": "nope"}
    )
    assert response.json() == {"error": "invalid_client"}


async def test_an_eleventh_token_within_ten_minutes_is_refused(http: httpx.AsyncClient) -> None:
    for _ in range(10):
        assert "access_token" in await token(http)
    response = await http.post(f"{ACCOUNTS_EU}/oauth/v2/token", data=FORM)
    assert response.status_code == 400
    assert "too many requests" in response.json()["error_description"]


async def test_tokens_work_only_on_the_orgs_api_domain_and_with_zohos_scheme(
    http: httpx.AsyncClient,
) -> None:
    value = (await token(http))["access_token"]
    zoho = {"Authorization": f"Zoho-oauthtoken {value}"}
    good = await get(http, "/settings/fields", zoho, module="Deals")
    other_dc = await http.get(
        "https://www.zohoapis.com/crm/v8/settings/fields", params={"module": "Deals"}, headers=zoho
    )
    bearer = await get(
        http, "/settings/fields", {"Authorization": f"Bearer {value}"}, module="Deals"
    )
    assert good.status_code == 200
    assert (other_dc.status_code, code(other_dc)) == (401, "INVALID_TOKEN")
    assert (bearer.status_code, code(bearer)) == (401, "INVALID_TOKEN")


async def test_expired_tokens_are_refused(
    http: httpx.AsyncClient, sim: ZohoSimulator, clock: Clock
) -> None:
    headers = await auth(http)
    clock.advance(3601)
    response = await get(http, "/settings/fields", headers, module="Deals")
    assert code(response) == "INVALID_TOKEN"


async def test_coql_needs_its_scope(http: httpx.AsyncClient, sim: ZohoSimulator) -> None:
    sim.set_scopes("ZohoCRM.modules.ALL", "ZohoCRM.settings.fields.READ")
    response = await coql(http, "select id from Deals where id is not null")
    assert (response.status_code, code(response)) == (401, "OAUTH_SCOPE_MISMATCH")


# --- list API (§3) ----------------------------------------------------------------------------


async def test_fields_are_mandatory_and_at_most_fifty(http: httpx.AsyncClient) -> None:
    headers = await auth(http)
    missing = await get(http, "/Deals", headers)
    wide = await get(http, "/Deals", headers, fields=",".join(f"F{i}" for i in range(51)))
    assert (code(missing), missing.json()["details"]) == (
        "REQUIRED_PARAM_MISSING",
        {"param_name": "fields"},
    )
    assert code(wide) == "LIMIT_EXCEEDED"


async def test_an_unknown_field_is_left_out_of_the_records(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    sim.add_deal({"Deal_Name": "One", "Special_Discount": 10.0})
    response = await get(http, "/Deals", await auth(http), fields="Deal_Name,Special_Discont")
    (record,) = response.json()["data"]
    assert record == {"id": record["id"], "Deal_Name": "One"}


async def test_pages_reach_2000_records_and_page_tokens_go_beyond(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    ids = set(sim.seed_bulk(2100, accounts=3))
    headers = await auth(http)
    params = {"fields": "Deal_Name", "per_page": "200", "sort_by": "id", "sort_order": "asc"}
    eleventh = await http.get(f"{API}/Deals", headers=headers, params={**params, "page": "11"})
    assert code(eleventh) == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    seen: list[str] = []
    answer = (await http.get(f"{API}/Deals", headers=headers, params=params)).json()
    while True:
        seen += [r["id"] for r in answer["data"]]
        if not answer["info"]["more_records"]:
            break
        following = {**params, "page_token": answer["info"]["next_page_token"]}
        answer = (await http.get(f"{API}/Deals", headers=headers, params=following)).json()
    assert len(seen) == len(set(seen)) == 2100
    assert set(seen) == ids


async def test_page_tokens_are_bound_expire_and_exclude_page(
    http: httpx.AsyncClient, sim: ZohoSimulator, clock: Clock
) -> None:
    sim.seed_bulk(5, accounts=1)
    headers = await auth(http)
    params = {"fields": "Deal_Name", "per_page": "2"}
    first = (await get(http, "/Deals", headers, **params)).json()
    next_token = first["info"]["next_page_token"]
    rebound = await get(
        http, "/Deals", headers, **{**params, "per_page": "3"}, page_token=next_token
    )
    both = await get(http, "/Deals", headers, **params, page="2", page_token=next_token)
    unknown = await get(http, "/Deals", headers, **params, page_token="feedfacecafe")
    assert code(rebound) == "TOKEN_BOUND_DATA_MISMATCH"
    assert code(both) == "AMBIGUITY_DURING_PROCESSING"
    assert code(unknown) == "INVALID_DATA"
    clock.advance(24 * 3600 + 1)
    headers = await auth(http)
    expired = await get(http, "/Deals", headers, **params, page_token=next_token)
    assert code(expired) == "EXPIRED_VALUE"


async def test_if_modified_since_is_strictly_after_and_nothing_left_is_304(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    at = START - timedelta(minutes=5)
    sim.add_deal({"Deal_Name": "Exactly at"}, modified=at)
    later = sim.add_deal({"Deal_Name": "After"}, modified=at + timedelta(seconds=1))
    headers = {**await auth(http), "If-Modified-Since": "2026-03-02T14:25:00+05:30"}
    params = {"fields": "Deal_Name,Modified_Time", "sort_by": "Modified_Time", "sort_order": "asc"}
    response = await http.get(f"{API}/Deals", headers=headers, params=params)
    assert [r["id"] for r in response.json()["data"]] == [later]
    assert response.json()["data"][0]["Modified_Time"] == "2026-03-02T14:25:01+05:30"
    headers["If-Modified-Since"] = "2026-03-02T08:56:00+00:00"
    assert (await http.get(f"{API}/Deals", headers=headers, params=params)).status_code == 304


async def test_ids_read_several_records_and_leave_deleted_ones_out(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    kept = sim.add_account("Kept", "https://kept.example")
    gone = sim.add_account("Gone", "https://gone.example")
    sim.delete_account(gone)
    response = await get(
        http, "/Accounts", await auth(http), ids=f"{kept},{gone}", fields="Account_Name"
    )
    assert [r["id"] for r in response.json()["data"]] == [kept]


# --- deleted records (§5) and fields (§6) -----------------------------------------------------


async def test_deleted_lists_newest_first_since_a_time_within_retention(
    http: httpx.AsyncClient, sim: ZohoSimulator, clock: Clock
) -> None:
    old, new = sim.add_deal({"Deal_Name": "Old"}), sim.add_deal({"Deal_Name": "New"})
    sim.delete_deal(old, at=START - timedelta(days=61))
    sim.delete_deal(new, at=START - timedelta(hours=1), permanent=True)
    headers = await auth(http)
    listed = (await get(http, "/Deals/deleted", headers, type="all")).json()
    assert [(e["id"], e["type"], e["display_name"]) for e in listed["data"]] == [
        (new, "permanent", None)
    ], "the recycle bin keeps 60 days; a purged entry keeps no name"
    headers["If-Modified-Since"] = "2026-03-02T09:00:00+00:00"
    none = await get(http, "/Deals/deleted", headers, type="all")
    assert none.status_code == 204


async def test_fields_metadata_needs_a_known_module(http: httpx.AsyncClient) -> None:
    headers = await auth(http)
    deals = (await get(http, "/settings/fields", headers, module="Deals")).json()
    terms = next(f for f in deals["fields"] if f["api_name"] == "Payment_Terms")
    assert {(v["actual_value"], v["type"]) for v in terms["pick_list_values"]} >= {
        ("Net 60", "used"),
        ("Net 15", "unused"),
    }
    wrong = await get(http, "/settings/fields", headers, module="Deal")
    assert code(wrong) == "INVALID_MODULE"


# --- COQL (§4) ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("select Deal_Name from Deals", "SYNTAX_ERROR"),
        ("select id from Deals where Stage = 'A' and Stage = 'B' and Stage = 'C'", "SYNTAX_ERROR"),
        ("select Deal_Name from Deals where id is not null limit 2001", "LIMIT_EXCEEDED"),
        ("select id from Deals where id is not null limit 2000 offset 98001", "LIMIT_EXCEEDED"),
        ("select Special_Discont from Deals where id is not null", "INVALID_QUERY"),
        ("select Deal_Name from Deals where Description = 'x'", "INVALID_QUERY"),
        ("select Deal_Name from Deals where id is not null order by id, id", "DUPLICATE_DATA"),
    ],
)
async def test_coql_refuses_what_zoho_documents_it_refuses(
    http: httpx.AsyncClient, query: str, expected: str
) -> None:
    response = await coql(http, query)
    assert (response.status_code, code(response)) == (400, expected)


async def test_coql_traverses_lookups_and_nulls_a_deleted_account(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    live = sim.add_account("Zylker", "https://zylker.example", "CUST-1")
    gone = sim.add_account("Gone Inc", "https://gone.example", "CUST-2")
    first = sim.add_deal({"Deal_Name": "A"}, account=live)
    second = sim.add_deal({"Deal_Name": "B"}, account=gone)
    sim.delete_account(gone)
    response = await coql(
        http,
        "select Deal_Name, Account_Name, Account_Name.Website, Account_Name.Account_Name "
        "from Deals where ((Deal_Name = 'A') or (Deal_Name = 'B'))",
    )
    rows = response.json()["data"]
    assert [r["id"] for r in rows] == [first, second], "no ORDER BY: id ascending (§4.4)"
    assert rows[0]["Account_Name"] == {"id": live}, "a selected lookup is only its id (§4.5)"
    assert rows[0]["Account_Name.Website"] == "https://zylker.example"
    assert rows[1]["Account_Name"] == {"id": gone}
    assert rows[1]["Account_Name.Account_Name"] is None


async def test_coql_compares_times_across_offsets_and_answers_204_for_nothing(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    sim.add_deal({"Deal_Name": "A"}, modified=START)
    after = "select id from Deals where Modified_Time > '2026-03-02T14:30:00+05:30'"
    at_or_after = "select id from Deals where Modified_Time >= '2026-03-02T14:30:00+05:30'"
    assert (await coql(http, after)).status_code == 204
    assert len((await coql(http, at_or_after)).json()["data"]) == 1


# --- credits and concurrency (§8) -------------------------------------------------------------


async def test_credits_follow_the_coql_limit_and_are_announced_past_half(
    http: httpx.AsyncClient, sim: ZohoSimulator
) -> None:
    sim.limits.credits = 10
    sim.add_deal({"Deal_Name": "A"})
    small, large = "limit 200", "limit 2000"

    async def spend(limit: str) -> httpx.Response:
        return await coql(http, f"select id from Deals where id is not null {limit}")

    first, second = await spend(small), await spend(large)
    assert "x-api-credits-remaining" not in first.headers, "1 of 10 used: no header"
    assert "x-api-credits-remaining" not in second.headers, "1 + 3 = 4 of 10: still under half"
    third = await spend(large)
    assert third.headers["x-api-credits-remaining"] == "3", "7 of 10 used (§8.4)"
    fourth = await spend(large)
    assert (fourth.status_code, fourth.headers["x-api-credits-remaining"]) == (200, "0")
    refused = await spend(small)
    assert refused.status_code == 429
    assert code(refused) == "TOO_MANY_REQUESTS"
    assert refused.headers["x-api-credits-remaining"] == "0"
    assert "retry-after" not in refused.headers, "Zoho sends no Retry-After (§8.3)"


async def test_credits_come_back_after_24_hours(
    http: httpx.AsyncClient, sim: ZohoSimulator, clock: Clock
) -> None:
    sim.limits.spend_all()
    spent = await get(http, "/settings/fields", await auth(http), module="Deals")
    assert spent.status_code == 429
    clock.advance(24 * 3600)
    back = await get(http, "/settings/fields", await auth(http), module="Deals")
    assert back.status_code == 200


async def test_too_many_calls_at_once_get_the_same_429_without_the_credits_header(
    clock: Clock,
) -> None:
    sim = ZohoSimulator(clock=clock, seed_demo=False, concurrency=2, response_delay=0.05)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as http:
        headers = await auth(http)
        calls = [get(http, "/settings/fields", headers, module="Deals") for _ in range(3)]
        answers = await asyncio.gather(*calls)
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200, 200, 429]
    refused = next(r for r in answers if r.status_code == 429)
    assert json.loads(refused.content)["code"] == "TOO_MANY_REQUESTS"
    assert "x-api-credits-remaining" not in refused.headers
