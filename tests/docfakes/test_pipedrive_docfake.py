"""The Pipedrive doc-fake behaves as connectors/sales/pipedrive/FACTS.md says (plain httpx)."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.crm_common import ManualClock
from tests.docfakes.pipedrive import ERROR_INFO, PipedriveFake

pytestmark = pytest.mark.anyio
BASE = "https://acme.pipedrive.com"
FEW = settings(max_examples=25, deadline=None)


def client(fake: PipedriveFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app), base_url=BASE)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Hypothesis drives sync functions; each example runs its async body on a fresh loop."""
    asyncio.run(body())


async def walk(
    http: httpx.AsyncClient, token: str, path: str = "/api/v2/deals", **params: Any
) -> list[dict[str, Any]]:
    """Follows ``additional_data.next_cursor`` to the end (§3.2)."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get(path, params=query, headers={"x-api-token": token})
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["data"])
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return rows


@FEW
@given(
    count=st.integers(0, 30),
    limit=st.integers(1, 12),
    sort_by=st.sampled_from(["id", "update_time", "add_time"]),
    direction=st.sampled_from(["asc", "desc"]),
)
def test_cursor_walk_returns_every_live_deal_exactly_once(
    count: int, limit: int, sort_by: str, direction: str
) -> None:
    async def body() -> None:
        fake = PipedriveFake(ManualClock(), plan="Ultimate")  # 120 requests / 2 s: no 429 here
        token = fake.add_api_token()
        ids = []
        for n in range(count):
            ids.append(fake.add_deal(f"deal {n}"))
            fake.clock.advance(n % 3)  # some deals share a second
        async with client(fake) as http:
            rows = await walk(http, token, limit=limit, sort_by=sort_by, sort_direction=direction)
        assert sorted(row["id"] for row in rows) == sorted(ids)
        keys = [(row[sort_by] if sort_by != "id" else row["id"], row["id"]) for row in rows]
        assert keys == sorted(keys, reverse=direction == "desc")

    run(body)


@FEW
@given(offsets=st.lists(st.integers(0, 20), max_size=25), split=st.integers(0, 20))
def test_adjacent_update_windows_partition_the_deals_even_at_equal_seconds(
    offsets: list[int], split: int
) -> None:
    """§3.1: updated_since is inclusive, updated_until exclusive."""

    async def body() -> None:
        clock = ManualClock()
        start = clock.now()
        fake = PipedriveFake(clock)
        token = fake.add_api_token()
        for n, offset in enumerate(sorted(offsets)):
            clock.advance(offset - (clock.now() - start).total_seconds())
            fake.add_deal(f"deal {n}")
        t0, t1, t2 = (start.replace(second=s) for s in (0, split, 59))
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        async with client(fake) as http:
            before = await walk(
                http, token, updated_since=t0.strftime(fmt), updated_until=t1.strftime(fmt)
            )
            after = await walk(
                http, token, updated_since=t1.strftime(fmt), updated_until=t2.strftime(fmt)
            )
        before_ids = {row["id"] for row in before}
        after_ids = {row["id"] for row in after}
        assert not before_ids & after_ids
        assert before_ids | after_ids == set(fake.deals)
        assert all(fake.deals[i].update_time >= t1 for i in after_ids)

    run(body)


async def test_a_deal_updated_during_the_walk_is_read_again_later_not_lost() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    ids = [fake.add_deal(f"deal {n}") for n in range(6)]
    params: dict[str, str | int] = {"sort_by": "update_time", "sort_direction": "asc", "limit": 2}
    async with client(fake) as http:
        first = await http.get("/api/v2/deals", params=params, headers={"x-api-token": token})
        page = first.json()
        fake.clock.advance(5)
        fake.update_deal(ids[0], title="renamed")  # already read
        fake.update_deal(ids[3], title="moved")  # not read yet
        rest: list[dict[str, Any]] = []
        cursor = page["additional_data"]["next_cursor"]
        while cursor:
            body = (
                await http.get(
                    "/api/v2/deals",
                    params={**params, "cursor": cursor},
                    headers={"x-api-token": token},
                )
            ).json()
            rest.extend(body["data"])
            cursor = body["additional_data"]["next_cursor"]
    seen = [row["id"] for row in page["data"]] + [row["id"] for row in rest]
    assert set(seen) == set(ids)
    assert seen.count(ids[0]) == 2  # re-read with its new update_time
    assert seen.count(ids[3]) == 1
    assert [row["title"] for row in rest if row["id"] == ids[0]] == ["renamed"]


async def test_ties_at_one_second_are_ordered_by_id_and_the_cursor_is_keyset() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    ids = [fake.add_deal(f"same second {n}") for n in range(5)]
    async with client(fake) as http:
        response = await http.get(
            "/api/v2/deals",
            params={"sort_by": "update_time", "limit": 3},
            headers={"x-api-token": token},
        )
    body = response.json()
    assert [row["id"] for row in body["data"]] == ids[:3]
    cursor = body["additional_data"]["next_cursor"]
    decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    assert b'"id":%d' % ids[3] in decoded  # §3.3: names the next page's first item


async def test_deleted_deals_show_only_with_status_deleted_and_vanish_after_30_days() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    kept, gone = fake.add_deal("kept"), fake.add_deal("gone")
    fake.clock.advance(60)
    fake.delete_deal(gone)
    async with client(fake) as http:
        default = await walk(http, token)
        deleted = await walk(http, token, status="deleted")
        everything = await walk(http, token, status="open,won,lost,deleted", sort_by="update_time")
        fake.clock.advance(31 * 86_400)
        later = await walk(http, token, status="deleted")
    assert [row["id"] for row in default] == [kept]
    assert [(row["id"], row["is_deleted"]) for row in deleted] == [(gone, True)]
    assert [row["id"] for row in everything] == [kept, gone]  # deletion moved update_time
    assert later == []


async def test_archived_deals_leave_the_main_list_for_the_archived_endpoint() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    live, archived = fake.add_deal("live"), fake.add_deal("archived")
    fake.archive_deal(archived)
    async with client(fake) as http:
        main = await walk(http, token)
        side = await walk(http, token, path="/api/v2/deals/archived")
    assert [row["id"] for row in main] == [live]
    assert [(row["id"], row["is_archived"]) for row in side] == [(archived, True)]
    assert side[0]["archive_time"].endswith("Z")


async def test_custom_fields_use_40_character_keys_and_option_ids_from_the_catalog() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    terms = fake.add_deal_field("Payment terms", "enum", ["Net 30", "Net 60"])
    services = fake.add_deal_field("Free services", "set", ["Training", "Setup"])
    discount = fake.add_deal_field("Special discount", "double")
    fake.add_deal(
        "with terms",
        custom_fields={
            terms: fake.option_id(terms, "Net 60"),
            services: [fake.option_id(services, "Setup")],
            discount: 12.5,
        },
    )
    async with client(fake) as http:
        catalog = await walk(http, token, path="/api/v2/dealFields")
        only_terms = await walk(http, token, custom_fields=terms)
        too_many = await http.get(
            "/api/v2/deals",
            params={"custom_fields": ",".join([terms] * 16)},
            headers={"x-api-token": token},
        )
    assert all(re.fullmatch(r"[0-9a-f]{40}", key) for key in (terms, services, discount))
    by_code = {row["field_code"]: row for row in catalog}
    labels = {o["id"]: o["label"] for o in by_code[terms]["options"]}
    value = only_terms[0]["custom_fields"][terms]
    assert isinstance(value, int)
    assert labels[value] == "Net 60"
    assert list(only_terms[0]["custom_fields"]) == [terms]
    assert by_code[terms]["is_custom_field"] is True
    assert by_code["title"]["is_custom_field"] is False
    assert too_many.status_code == 400
    assert too_many.json()["success"] is False


async def test_v1_deal_fields_page_with_start_limit_and_next_start() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    for n in range(3):
        fake.add_deal_field(f"field {n}", "varchar")
    async with client(fake) as http:
        first = (
            await http.get("/v1/dealFields", params={"limit": 4}, headers={"x-api-token": token})
        ).json()
        second = (
            await http.get(
                "/v1/dealFields",
                params={"limit": 4, "start": first["additional_data"]["pagination"]["next_start"]},
                headers={"x-api-token": token},
            )
        ).json()
    assert first["additional_data"]["pagination"] == {
        "start": 0,
        "limit": 4,
        "more_items_in_collection": True,
        "next_start": 4,
    }
    assert second["additional_data"]["pagination"] == {
        "start": 4,
        "limit": 4,
        "more_items_in_collection": False,
    }
    keys = [row["key"] for row in first["data"] + second["data"]]
    assert len(keys) == 7
    assert [row["edit_flag"] for row in first["data"] + second["data"]] == [False] * 4 + [True] * 3


async def test_organizations_and_persons_come_in_batches_of_ids_without_unknown_or_deleted() -> (
    None
):
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    acme, gone = fake.add_organization("Acme"), fake.add_organization("Gone Ltd")
    ann = fake.add_person("Ann", "ann@acme.example", acme)
    fake.delete_organization(gone)
    ids = f"{acme},{gone},999999"
    async with client(fake) as http:
        orgs = await walk(http, token, path="/api/v2/organizations", ids=ids)
        persons = await walk(http, token, path="/api/v2/persons", ids=f"{ann}")
        too_many = await http.get(
            "/api/v2/organizations",
            params={"ids": ",".join(str(n) for n in range(101))},
            headers={"x-api-token": token},
        )
    assert [org["id"] for org in orgs] == [acme]
    assert persons[0]["emails"] == [{"value": "ann@acme.example", "primary": True, "label": "work"}]
    assert too_many.status_code == 400


async def test_burst_limit_is_per_token_per_2_seconds_with_headers_and_a_429_body() -> None:
    fake = PipedriveFake(ManualClock(), plan="Lite")
    token = fake.add_api_token()
    headers = {"x-api-token": token}
    async with client(fake) as http:
        answers = [await http.get("/api/v2/deals/1", headers=headers) for _ in range(21)]
        fake.clock.advance(2)
        after_window = await http.get("/api/v2/deals", headers=headers)
    first, last = answers[0], answers[-1]
    assert first.headers["x-ratelimit-limit"] == "20"
    assert first.headers["x-ratelimit-remaining"] == "19"
    assert first.headers["x-ratelimit-reset"] == "2"
    assert "x-daily-requests-left" in first.headers
    assert [a.status_code for a in answers[:20]] == [404] * 20  # deal 1 does not exist
    assert last.status_code == 429
    assert last.json() == {
        "success": False,
        "error": "Request over limit",
        "errorCode": 429,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    assert last.headers["x-ratelimit-remaining"] == "0"
    assert int(last.headers["retry-after"]) >= 1
    assert after_window.status_code == 200


async def test_daily_token_budget_refuses_with_429_until_midnight() -> None:
    clock = ManualClock()
    fake = PipedriveFake(clock, daily_budget=25)
    token = fake.add_api_token()
    headers = {"x-api-token": token}
    async with client(fake) as http:
        spent = [await http.get("/api/v2/deals", headers=headers) for _ in range(3)]  # 10 each
        clock.advance(86_400)
        next_day = await http.get("/api/v2/deals", headers=headers)
    assert [r.status_code for r in spent] == [200, 200, 429]
    assert "retry-after" not in spent[2].headers
    assert int(spent[2].headers["x-ratelimit-remaining"]) > 0  # so it was the daily budget
    assert next_day.status_code == 200


def test_daily_budget_is_30000_tokens_times_plan_multiplier_times_seats() -> None:
    assert PipedriveFake(plan="Premium", seats=3).daily_budget == 30_000 * 5 * 3
    assert PipedriveFake(plan="Ultimate", seats=2).daily_budget == 30_000 * 7 * 2


async def test_missing_or_malformed_credentials_get_the_documented_answers() -> None:
    fake = PipedriveFake(ManualClock())
    async with client(fake) as http:
        anonymous = await http.get("/api/v2/deals")
        malformed = await http.get("/api/v2/deals", headers={"Authorization": "Token abc"})
        wrong = await http.get("/api/v2/deals", headers={"x-api-token": "nope"})
    assert anonymous.status_code == 401
    assert anonymous.json() == {"success": False, "error": "unauthorized access", "errorCode": 401}
    assert wrong.status_code == 401
    assert malformed.status_code == 400
    assert malformed.json()["error"] == "Invalid request: malformed authorization header"


async def test_oauth_refresh_keeps_the_refresh_token_and_names_the_api_domain() -> None:
    clock = ManualClock()
    fake = PipedriveFake(clock, api_domain="https://acme.pipedrive.com")
    refresh = fake.add_oauth_client("cid", "secret")
    basic = "Basic " + base64.b64encode(b"cid:secret").decode()
    form = {"grant_type": "refresh_token", "refresh_token": refresh}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url="https://oauth.pipedrive.com"
    ) as oauth:
        granted = await oauth.post("/oauth/token", data=form, headers={"Authorization": basic})
        as_json = await oauth.post("/oauth/token", json=form, headers={"Authorization": basic})
        bad_secret = await oauth.post(
            "/oauth/token",
            data=form,
            headers={"Authorization": "Basic " + base64.b64encode(b"cid:wrong").decode()},
        )
    token = granted.json()
    assert token["refresh_token"] == refresh
    assert token["expires_in"] == 3600
    assert token["api_domain"] == "https://acme.pipedrive.com"
    assert as_json.status_code == 400
    assert "x-www-form-urlencoded" in as_json.json()["error"]
    assert bad_secret.json() == {"success": False, "error": "Invalid client: client is invalid"}
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    async with client(fake) as http:
        fresh = await http.get("/api/v2/deals", headers=bearer)
        clock.advance(3600)
        stale = await http.get("/api/v2/deals", headers=bearer)
    assert fresh.status_code == 200
    assert fresh.headers["x-ratelimit-limit"] == "80"  # OAuth burst limit on Lite
    assert "x-daily-requests-left" not in fresh.headers  # api_token requests only
    assert stale.status_code == 401
    assert stale.json()["error"] == "Invalid token: access_token is invalid"


async def test_a_refresh_token_idle_for_more_than_60_days_is_refused() -> None:
    clock = ManualClock()
    fake = PipedriveFake(clock)
    refresh = fake.add_oauth_client("cid", "secret")
    clock.advance(61 * 86_400)
    async with client(fake) as http:
        answer = await http.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=("cid", "secret"),
        )
    assert answer.status_code == 400
    assert answer.json()["error"] == "Invalid grant: refresh_token is invalid"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "501"},
        {"updated_since": "yesterday"},
        {"sort_by": "title"},
        {"status": "closed"},
        {"ids": ",".join(str(n) for n in range(101))},
        {"cursor": "not-a-cursor"},
    ],
)
async def test_out_of_range_parameters_get_400_in_the_error_envelope(
    params: dict[str, str],
) -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    async with client(fake) as http:
        answer = await http.get("/api/v2/deals", params=params, headers={"x-api-token": token})
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert body["data"] is None
    assert body["error_info"].startswith("Please check developers.pipedrive.com")


async def test_unknown_deal_and_unknown_path_answer_404_in_the_envelope() -> None:
    fake = PipedriveFake(ManualClock())
    token = fake.add_api_token()
    async with client(fake) as http:
        deal = await http.get("/api/v2/deals/424242", headers={"x-api-token": token})
        path = await http.get("/api/v2/nothing", headers={"x-api-token": token})
    assert (deal.status_code, deal.json()["success"]) == (404, False)
    assert (path.status_code, path.json()["success"]) == (404, False)
