"""The ServiceNow doc-fake behaves as connectors/service/servicenow/FACTS.md says."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.servicenow import INSTANCE, RateRule, ServiceNowFake

ACCOUNT = "customer_account"
TABLE = f"/api/now/table/{ACCOUNT}"
FAILURE_KEYS = {"error", "status"}
pytestmark = pytest.mark.anyio


def basic_client(fake: ServiceNowFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app),
        base_url=INSTANCE,
        auth=("dealbridge", "secret"),
        headers={"Accept": "application/json"},
    )


def run(fake: ServiceNowFake, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with basic_client(fake) as client:
            await scenario(client)

    asyncio.run(main())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> ServiceNowFake:
    return ServiceNowFake(clock)


@pytest.fixture
async def client(fake: ServiceNowFake) -> AsyncIterator[httpx.AsyncClient]:
    async with basic_client(fake) as client:
        yield client


def assert_failure(response: httpx.Response, status: int, message: str) -> None:
    """§10.1: ``{"error": {message, detail}, "status": "failure"}``."""
    assert response.status_code == status
    body = response.json()
    assert set(body) == FAILURE_KEYS
    assert body["status"] == "failure"
    assert set(body["error"]) == {"message", "detail"}
    assert body["error"]["message"] == message


def next_link(response: httpx.Response) -> str | None:
    for part in response.headers.get("Link", "").split(","):
        found = re.fullmatch(r'<([^>]+)>;rel="next"', part.strip())
        if found:
            return found.group(1)
    return None


# ---- authentication ---------------------------------------------------------------------------


async def test_client_credentials_token_opens_the_api_until_its_lifespan_ends(
    fake: ServiceNowFake, clock: FakeClock
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url=INSTANCE
    ) as client:
        form = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"}
        token = (await client.post("/oauth_token.do", data=form)).json()
        assert token["token_type"] == "Bearer"
        assert token["expires_in"] == 1_799
        bearer = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
        assert (await client.get(TABLE, headers=bearer)).status_code == 200
        clock.advance(1_800)
        assert_failure(await client.get(TABLE, headers=bearer), 401, "User Not Authenticated")
        wrong = await client.post("/oauth_token.do", data=form | {"client_secret": "nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"


async def test_wrong_basic_credentials_are_401_in_the_failure_envelope(
    fake: ServiceNowFake,
) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url=INSTANCE, auth=("dealbridge", "x")
    ) as client:
        assert_failure(await client.get(TABLE), 401, "User Not Authenticated")


# ---- reading ------------------------------------------------------------------------------------


async def test_values_are_strings_and_references_are_link_and_value(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    account = fake.insert(ACCOUNT, {"name": "Acme"})
    contact = fake.insert("customer_contact", {"email": "ann@acme.test", "account": account})
    url = f"/api/now/table/customer_contact/{contact}"
    linked = (await client.get(url)).json()["result"]
    assert linked["sys_mod_count"] == "0"
    assert linked["account"] == {
        "link": f"{INSTANCE}/api/now/table/{ACCOUNT}/{account}",
        "value": account,
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", linked["sys_updated_on"])
    bare = (await client.get(url, params={"sysparm_exclude_reference_link": "true"})).json()
    assert bare["result"]["account"] == account


@given(rows=st.integers(0, 30), limit=st.integers(1, 9))
@settings(max_examples=25, deadline=None)
def test_link_next_pages_through_every_row_once_and_x_total_count_counts_them(
    rows: int, limit: int
) -> None:
    fake = ServiceNowFake(FakeClock())
    ids = {fake.insert(ACCOUNT, {"name": f"Account {n}"}) for n in range(rows)}

    async def scenario(client: httpx.AsyncClient) -> None:
        seen: list[str] = []
        response = await client.get(
            TABLE, params={"sysparm_limit": str(limit), "sysparm_fields": "sys_id"}
        )
        while True:
            assert response.headers["X-Total-Count"] == str(rows)
            seen += [r["sys_id"] for r in response.json()["result"]]
            link = next_link(response)
            if link is None:
                break
            response = await client.get(link)
        assert sorted(seen) == sorted(ids)

    run(fake, scenario)


@given(
    seconds=st.lists(st.integers(0, 3), min_size=1, max_size=25),
    limit=st.integers(1, 6),
)
@settings(max_examples=30, deadline=None)
def test_keyset_polling_on_sys_updated_on_reads_every_row_once_despite_equal_seconds(
    seconds: list[int], limit: int
) -> None:
    clock = FakeClock()
    fake = ServiceNowFake(clock)
    ids = []
    for gap in seconds:  # many rows share one second of sys_updated_on
        clock.advance(gap)
        ids.append(fake.insert(ACCOUNT, {"name": "x"}))

    async def scenario(client: httpx.AsyncClient) -> None:
        seen: list[str] = []
        cursor, last_id = "1970-01-01 00:00:00", ""
        while True:
            query = (
                f"sys_updated_on>{cursor}^NQsys_updated_on={cursor}^sys_id>{last_id}"
                "^ORDERBYsys_updated_on^ORDERBYsys_id"
            )
            params = {"sysparm_query": query, "sysparm_limit": str(limit)}
            page = (await client.get(TABLE, params=params)).json()["result"]
            if not page:
                break
            seen += [r["sys_id"] for r in page]
            cursor, last_id = page[-1]["sys_updated_on"], page[-1]["sys_id"]
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))

    run(fake, scenario)


async def test_strictly_after_the_cursor_second_misses_rows_written_in_that_second(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    first = fake.insert(ACCOUNT, {"name": "read last time"})
    late = fake.insert(ACCOUNT, {"name": "same second, after the read"})
    cursor = fake.tables[ACCOUNT][first]["sys_updated_on"]
    strictly = await client.get(TABLE, params={"sysparm_query": f"sys_updated_on>{cursor}"})
    inclusive = await client.get(TABLE, params={"sysparm_query": f"sys_updated_on>={cursor}"})
    assert strictly.json()["result"] == []
    assert late in [r["sys_id"] for r in inclusive.json()["result"]]


async def test_a_misspelled_field_in_the_query_is_ignored_and_widens_the_answer(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    wanted = fake.insert(ACCOUNT, {"name": "Acme"})
    fake.insert(ACCOUNT, {"name": "Other"})
    exact = await client.get(TABLE, params={"sysparm_query": "name=Acme"})
    typo = await client.get(TABLE, params={"sysparm_query": "nmae=Acme"})
    assert [r["sys_id"] for r in exact.json()["result"]] == [wanted]
    assert typo.headers["X-Total-Count"] == "2"


async def test_no_rows_is_404_on_v1_and_an_empty_result_on_v2(client: httpx.AsyncClient) -> None:
    query = {"sysparm_query": "name=nobody"}
    assert_failure(
        await client.get(f"/api/now/v1/table/{ACCOUNT}", params=query), 404, "No Record found"
    )
    empty = await client.get(f"/api/now/v2/table/{ACCOUNT}", params=query)
    assert empty.json() == {"result": []}


async def test_sys_id_in_reads_a_batch_of_records_in_one_call(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    ids = [fake.insert(ACCOUNT, {"name": f"A{n}"}) for n in range(5)]
    params = {"sysparm_query": f"sys_idIN{ids[1]},{ids[3]},{'0' * 32}", "sysparm_fields": "name"}
    response = await client.get(TABLE, params=params)
    assert sorted(r["name"] for r in response.json()["result"]) == ["A1", "A3"]
    assert fake.requests[-1] == ("GET", TABLE)
    assert len(fake.requests) == 1


async def test_a_missing_record_is_404_no_record_found(client: httpx.AsyncClient) -> None:
    assert_failure(await client.get(f"{TABLE}/{'0' * 32}"), 404, "No Record found")


# ---- catalog ------------------------------------------------------------------------------------


async def test_custom_columns_come_from_sys_dictionary_and_choices_from_sys_choice(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    fake.define_column(ACCOUNT, "u_deal_terms", "string", 4_000, label="Deal terms")
    fake.define_column(ACCOUNT, "u_tier", "choice", 40)
    fake.add_choice(ACCOUNT, "u_tier", "gold", "Gold")
    fake.add_choice(ACCOUNT, "u_tier", "silver", "Silver")
    columns = await client.get(
        "/api/now/table/sys_dictionary",
        params={
            "sysparm_query": f"name={ACCOUNT}^elementSTARTSWITHu_",
            "sysparm_fields": "element,internal_type,max_length,column_label",
        },
    )
    assert columns.json()["result"] == [
        {
            "element": "u_deal_terms",
            "internal_type": "string",
            "max_length": "4000",
            "column_label": "Deal terms",
        },
        {
            "element": "u_tier",
            "internal_type": "choice",
            "max_length": "40",
            "column_label": "u_tier",
        },
    ]
    choices = await client.get(
        "/api/now/table/sys_choice",
        params={"sysparm_query": f"name={ACCOUNT}^element=u_tier^inactive=false"},
    )
    assert sorted(c["value"] for c in choices.json()["result"]) == ["gold", "silver"]


# ---- writing ------------------------------------------------------------------------------------


async def test_patch_returns_the_record_and_moves_sys_mod_count_only_when_something_changes(
    client: httpx.AsyncClient, fake: ServiceNowFake, clock: FakeClock
) -> None:
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    clock.advance(5)
    changed = await client.patch(f"{TABLE}/{sys_id}", json={"notes": "10% off"})
    assert changed.json()["result"]["notes"] == "10% off"
    assert changed.json()["result"]["sys_mod_count"] == "1"
    clock.advance(5)
    same = await client.patch(f"{TABLE}/{sys_id}", json={"notes": "10% off"})
    assert same.json()["result"]["sys_mod_count"] == "1"
    assert same.json()["result"]["sys_updated_on"] == changed.json()["result"]["sys_updated_on"]


async def test_an_agent_save_between_read_and_write_shows_in_sys_mod_count(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    sys_id = fake.insert(ACCOUNT, {"notes": "dealbridge block"})
    fields = {"sysparm_fields": "notes,sys_mod_count"}
    base = (await client.get(f"{TABLE}/{sys_id}", params=fields)).json()["result"]
    fake.agent_edit(ACCOUNT, sys_id, {"notes": "dealbridge block\nagent: call back Monday"})
    now = (await client.get(f"{TABLE}/{sys_id}", params=fields)).json()["result"]
    assert int(now["sys_mod_count"]) == int(base["sys_mod_count"]) + 1


async def test_patch_skips_system_and_unknown_fields_and_cuts_strings_at_max_length(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    body = {"sys_mod_count": "99", "u_missing": "x", "notes": "n" * 4_100}
    result = (await client.patch(f"{TABLE}/{sys_id}", json=body)).json()["result"]
    assert result["sys_mod_count"] == "1"
    assert "u_missing" not in result
    assert len(result["notes"]) == 4_000


async def test_a_choice_value_missing_from_sys_choice_is_stored_anyway(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    fake.define_column(ACCOUNT, "u_tier", "choice", 40)
    fake.add_choice(ACCOUNT, "u_tier", "gold", "Gold")
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    response = await client.patch(f"{TABLE}/{sys_id}", json={"u_tier": "platinum"})
    assert response.json()["result"]["u_tier"] == "platinum"


async def test_writes_need_accept_and_content_type(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    response = await client.patch(f"{TABLE}/{sys_id}", content=b'{"notes": "x"}')
    assert_failure(response, 400, "Accept and Content-Type headers are required")


async def test_patch_on_a_deleted_record_is_404(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    del fake.tables[ACCOUNT][sys_id]
    assert_failure(
        await client.patch(f"{TABLE}/{sys_id}", json={"notes": "x"}), 404, "No Record found"
    )


async def test_work_notes_append_journal_entries_and_read_back_empty(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    account = fake.insert(ACCOUNT, {"name": "Acme"})
    created = await client.post(
        "/api/now/table/sn_customerservice_case",
        json={"account": account, "short_description": "Deal conflict", "work_notes": "first"},
    )
    assert created.status_code == 201
    case = created.json()["result"]
    assert case["work_notes"] == ""
    assert case["number"].startswith("CS")
    await client.patch(
        f"/api/now/table/sn_customerservice_case/{case['sys_id']}", json={"work_notes": "second"}
    )
    assert [j["value"] for j in fake.journal(case["sys_id"])] == ["first", "second"]


# ---- Batch API ----------------------------------------------------------------------------------


def patch_item(item_id: str, sys_id: str, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id,
        "method": "PATCH",
        "url": f"{TABLE}/{sys_id}",
        "headers": [
            {"name": "Content-Type", "value": "application/json"},
            {"name": "Accept", "value": "application/json"},
        ],
        "body": base64.b64encode(json.dumps(values).encode()).decode(),
        "exclude_response_headers": True,
    }


async def test_a_batch_runs_each_item_with_its_own_status_and_base64_body(
    client: httpx.AsyncClient, fake: ServiceNowFake
) -> None:
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    items = [patch_item("1", sys_id, {"notes": "terms"}), patch_item("2", "0" * 32, {"notes": "x"})]
    response = await client.post(
        "/api/now/v1/batch", json={"batch_request_id": "b1", "rest_requests": items}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["batch_request_id"] == "b1"
    assert body["unserviced_requests"] == []
    served = {s["id"]: s for s in body["serviced_requests"]}
    assert served["1"]["status_code"] == 200
    assert json.loads(base64.b64decode(served["1"]["body"]))["result"]["notes"] == "terms"
    assert served["2"]["status_code"] == 404
    assert "headers" not in served["1"]
    assert fake.tables[ACCOUNT][sys_id]["notes"] == "terms"


@given(costs=st.lists(st.floats(0.5, 20.0), min_size=1, max_size=12))
@settings(max_examples=30, deadline=None)
def test_items_past_the_30_second_quota_come_back_unserviced_and_a_retry_finishes_them(
    costs: list[float],
) -> None:
    clock = FakeClock()
    ids = [f"item{n}" for n in range(len(costs))]
    cost_of: dict[str, float] = {}

    def item_seconds(method: str, url: str) -> float:
        return cost_of[url]

    fake = ServiceNowFake(clock, batch_item_seconds=item_seconds)
    records: dict[str, int] = {}
    for n in range(len(costs)):
        sys_id = fake.insert(ACCOUNT, {"name": str(n)})
        records[sys_id] = n
        cost_of[f"{TABLE}/{sys_id}"] = costs[n]

    async def scenario(client: httpx.AsyncClient) -> None:
        pending = {f"item{n}": sys_id for sys_id, n in records.items()}
        writes: list[str] = []
        while pending:
            items = [patch_item(i, s, {"notes": f"v-{i}"}) for i, s in pending.items()]
            body = (await client.post("/api/now/v1/batch", json={"rest_requests": items})).json()
            served = [s["id"] for s in body["serviced_requests"]]
            assert served + body["unserviced_requests"] == list(pending)
            spent = [costs[int(i.removeprefix("item"))] for i in served]
            assert sum(spent) <= 30.0
            assert served, "the first item always fits: no item here costs over 30 s"
            writes += served
            pending = {i: pending[i] for i in body["unserviced_requests"]}
        assert sorted(writes) == sorted(ids)
        for sys_id, n in records.items():
            assert fake.tables[ACCOUNT][sys_id]["sys_mod_count"] == "1", f"item{n} written twice"

    run(fake, scenario)


async def test_without_the_batch_api_the_batch_url_is_400_and_single_patches_still_work(
    clock: FakeClock,
) -> None:
    fake = ServiceNowFake(clock, batch_enabled=False)
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    async with basic_client(fake) as client:
        refused = await client.post(
            "/api/now/v1/batch", json={"rest_requests": [patch_item("1", sys_id, {"notes": "x"})]}
        )
        assert_failure(refused, 400, "Requested URI does not represent any resource")
        assert (await client.patch(f"{TABLE}/{sys_id}", json={"notes": "x"})).status_code == 200


# ---- rate limits --------------------------------------------------------------------------------


async def test_an_hourly_rule_bites_only_after_the_30_second_commit_then_429_until_the_hour_ends(
    clock: FakeClock,
) -> None:
    rule = RateRule(sys_id="r" * 32, api="Table API", per_hour=5)
    fake = ServiceNowFake(clock, rate_rules=[rule])
    async with basic_client(fake) as client:
        burst = [await client.get(TABLE) for _ in range(8)]
        assert [r.status_code for r in burst] == [200] * 8  # counts not committed yet
        assert burst[0].headers["X-RateLimit-Limit"] == "5"
        assert burst[0].headers["X-RateLimit-Rule"] == "r" * 32
        assert "X-RateLimit-Remaining" not in burst[0].headers
        clock.advance(30)
        refused = await client.get(TABLE)
        assert_failure(refused, 429, "Rate limit exceeded")
        detail = refused.json()["error"]["detail"]
        assert detail == "Rate limit of 5 requests per hour for Table API exceeded"
        reset = int(refused.headers["X-RateLimit-Reset"])
        assert int(refused.headers["Retry-After"]) == reset - int(clock.now())
        clock.advance(reset - clock.now())
        assert (await client.get(TABLE)).status_code == 200


async def test_a_batch_is_counted_by_the_batch_api_rule_not_the_table_api_rule(
    clock: FakeClock,
) -> None:
    rule = RateRule(sys_id="t" * 32, api="Table API", per_hour=1)
    fake = ServiceNowFake(clock, rate_rules=[rule])
    sys_id = fake.insert(ACCOUNT, {"name": "Acme"})
    items = [patch_item(str(n), sys_id, {"notes": str(n)}) for n in range(3)]
    async with basic_client(fake) as client:
        for _ in range(3):
            clock.advance(30)
            answer = await client.post("/api/now/v1/batch", json={"rest_requests": items})
            assert answer.status_code == 200
            assert "X-RateLimit-Rule" not in answer.headers
