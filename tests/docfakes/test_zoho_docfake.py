"""The Zoho CRM doc-fake behaves as connectors/sales/zoho/FACTS.md says (plain httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.crm_common import ManualClock
from tests.docfakes.zoho import ZohoFake

pytestmark = pytest.mark.anyio
ACCOUNTS_EU = "https://accounts.zoho.eu"
API_EU = "https://www.zohoapis.eu"
FEW = settings(max_examples=20, deadline=None)


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def client(fake: ZohoFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))


async def refresh(http: httpx.AsyncClient, refresh_token: str, accounts: str = ACCOUNTS_EU) -> Any:
    answer = await http.post(
        f"{accounts}/oauth/v2/token",
        data={
            "refresh_token": refresh_token,
            "client_id": "1000.CLIENT",
            "client_secret": "secret",
            "grant_type": "refresh_token",
        },
    )
    return answer.json()


async def signed_in(fake: ZohoFake, http: httpx.AsyncClient) -> dict[str, str]:
    token = await refresh(http, fake.add_client("1000.CLIENT", "secret"))
    return {"Authorization": f"Zoho-oauthtoken {token['access_token']}"}


def seeded(count: int, **options: Any) -> ZohoFake:
    fake = ZohoFake(ManualClock(), **options)
    for n in range(count):
        fake.add_deal(f"deal {n}")
    return fake


async def test_refresh_at_the_home_data_centre_returns_the_api_domain() -> None:
    fake = ZohoFake(ManualClock(), dc="eu")
    refresh_token = fake.add_client("1000.CLIENT", "secret")
    async with client(fake) as http:
        token = await refresh(http, refresh_token)
    assert token["api_domain"] == "https://www.zohoapis.eu"
    assert token["expires_in"] == 3600
    assert token["token_type"] == "Bearer"
    assert token["access_token"].startswith("1000.")


async def test_the_wrong_data_centre_fails_at_refresh_and_at_the_api() -> None:
    fake = ZohoFake(ManualClock(), dc="eu")
    refresh_token = fake.add_client("1000.CLIENT", "secret")
    async with client(fake) as http:
        at_us = await refresh(http, refresh_token, accounts="https://accounts.zoho.com")
        token = (await refresh(http, refresh_token))["access_token"]
        headers = {"Authorization": f"Zoho-oauthtoken {token}"}
        us_api = await http.get(
            "https://www.zohoapis.com/crm/v8/Deals?fields=Deal_Name", headers=headers
        )
        as_bearer = await http.get(
            f"{API_EU}/crm/v8/Deals?fields=Deal_Name", headers={"Authorization": f"Bearer {token}"}
        )
    assert at_us == {"error": "invalid_code"}
    for answer in (us_api, as_bearer):
        assert answer.status_code == 401
        assert answer.json() == {
            "code": "INVALID_TOKEN",
            "details": {},
            "message": "invalid oauth token",
            "status": "error",
        }


async def test_more_than_ten_access_tokens_per_refresh_token_in_ten_minutes_are_refused() -> None:
    fake = ZohoFake(ManualClock())
    refresh_token = fake.add_client("1000.CLIENT", "secret")
    async with client(fake) as http:
        answers = [await refresh(http, refresh_token) for _ in range(11)]
        fake.clock.advance(600)
        later = await refresh(http, refresh_token)
    assert all("access_token" in a for a in answers[:10])
    assert answers[10]["error"] == "Access Denied"
    assert "access_token" in later


async def test_fields_is_mandatory_for_listing_and_capped_at_50() -> None:
    fake = seeded(1)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        missing = await http.get(f"{API_EU}/crm/v8/Deals", headers=headers)
        too_many = await http.get(
            f"{API_EU}/crm/v8/Deals",
            params={"fields": ",".join(["Deal_Name"] * 51)},
            headers=headers,
        )
    assert missing.status_code == 400
    assert missing.json()["code"] == "REQUIRED_PARAM_MISSING"
    assert missing.json()["details"] == {"param_name": "fields"}
    assert too_many.status_code == 400
    assert too_many.json()["code"] == "LIMIT_EXCEEDED"


async def test_page_numbers_stop_at_2000_records_and_page_tokens_go_beyond() -> None:
    fake = seeded(2100)
    params = {"fields": "Deal_Name", "per_page": "200", "sort_by": "id", "sort_order": "asc"}
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        page_ten = await http.get(
            f"{API_EU}/crm/v8/Deals", params={**params, "page": "10"}, headers=headers
        )
        page_eleven = await http.get(
            f"{API_EU}/crm/v8/Deals", params={**params, "page": "11"}, headers=headers
        )
        ids: list[str] = []
        answer = await http.get(f"{API_EU}/crm/v8/Deals", params=params, headers=headers)
        while True:
            body = answer.json()
            ids.extend(row["id"] for row in body["data"])
            if not body["info"]["more_records"]:
                break
            answer = await http.get(
                f"{API_EU}/crm/v8/Deals",
                params={**params, "page_token": body["info"]["next_page_token"]},
                headers=headers,
            )
    assert page_ten.status_code == 200
    assert page_eleven.status_code == 400
    assert page_eleven.json()["code"] == "DISCRETE_PAGINATION_LIMIT_EXCEEDED"
    assert len(ids) == len(set(ids)) == 2100
    assert ids == sorted(ids, key=int)


async def test_a_page_token_is_bound_to_its_parameters_exclusive_with_page_and_lasts_24_hours() -> (
    None
):
    fake = seeded(5)
    params = {"fields": "Deal_Name", "per_page": "2"}
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        first = (await http.get(f"{API_EU}/crm/v8/Deals", params=params, headers=headers)).json()
        token = first["info"]["next_page_token"]
        altered = await http.get(
            f"{API_EU}/crm/v8/Deals",
            params={**params, "fields": "Deal_Name,Stage", "page_token": token},
            headers=headers,
        )
        both = await http.get(
            f"{API_EU}/crm/v8/Deals",
            params={**params, "page": "2", "page_token": token},
            headers=headers,
        )
        fake.clock.advance(24 * 3600)
        headers = await signed_in(fake, http)
        expired = await http.get(
            f"{API_EU}/crm/v8/Deals", params={**params, "page_token": token}, headers=headers
        )
    assert first["info"]["page_token_expiry"] is not None
    assert altered.json()["code"] == "TOKEN_BOUND_DATA_MISMATCH"
    assert both.json()["code"] == "AMBIGUITY_DURING_PROCESSING"
    assert expired.json()["code"] == "EXPIRED_VALUE"
    assert expired.status_code == 400


@FEW
@given(offsets=st.lists(st.integers(0, 30), min_size=1, max_size=20), cut=st.integers(0, 30))
def test_if_modified_since_returns_exactly_the_records_modified_after_it(
    offsets: list[int], cut: int
) -> None:
    async def body() -> None:
        fake = ZohoFake(ManualClock(), utc_offset_minutes=330)
        start = fake.clock.now()
        for n, offset in enumerate(sorted(offsets)):
            fake.clock.advance(offset - (fake.clock.now() - start).total_seconds())
            fake.add_deal(f"deal {n}")
        since = (start + timedelta(seconds=cut)).isoformat()
        async with client(fake) as http:
            headers = {**await signed_in(fake, http), "If-Modified-Since": since}
            answer = await http.get(
                f"{API_EU}/crm/v8/Deals",
                params={"fields": "Modified_Time", "sort_by": "Modified_Time", "sort_order": "asc"},
                headers=headers,
            )
        expected = {
            key
            for key, row in fake.modules["Deals"].records.items()
            if row["Modified_Time"] > start + timedelta(seconds=cut)
        }
        if not expected:
            assert answer.status_code == 304
            return
        rows = answer.json()["data"]
        assert {row["id"] for row in rows} == expected
        times = [datetime.fromisoformat(row["Modified_Time"]) for row in rows]
        assert times == sorted(times)
        assert all(row["Modified_Time"].endswith("+05:30") for row in rows)

    run(body)


async def test_records_carry_lookups_as_name_and_id_and_picklists_as_values() -> None:
    fake = ZohoFake(ManualClock())
    fake.add_field("Payment_Terms", "Payment Terms", "picklist", picklist=["Net 30", "Net 60"])
    acme = fake.add_account("Acme", "https://acme.example")
    fake.add_deal("Big deal", account=acme, Stage="Qualification", Payment_Terms="Net 60")
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        answer = await http.get(
            f"{API_EU}/crm/v8/Deals",
            params={"fields": "Deal_Name,Account_Name,Payment_Terms"},
            headers=headers,
        )
        empty = await http.get(
            f"{API_EU}/crm/v8/Accounts",
            params={"fields": "Account_Name", "ids": "1"},
            headers=headers,
        )
    row = answer.json()["data"][0]
    assert row["Account_Name"] == {"name": "Acme", "id": acme}
    assert row["Payment_Terms"] == "Net 60"
    assert set(row) == {"id", "Deal_Name", "Account_Name", "Payment_Terms"}
    assert answer.json()["info"]["sort_order"] == "desc"
    assert empty.status_code == 204


async def test_deleted_records_by_type_since_a_time_and_within_retention() -> None:
    fake = seeded(3)
    recycled, purged, kept = sorted(fake.modules["Deals"].records)
    fake.clock.advance(10)
    fake.delete_deal(recycled)
    fake.delete_deal(purged, permanent=True)
    since = fake.clock.now() - timedelta(seconds=5)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        everything = await http.get(f"{API_EU}/crm/v8/Deals/deleted", headers=headers)
        recycle = await http.get(f"{API_EU}/crm/v8/Deals/deleted?type=recycle", headers=headers)
        recent = await http.get(
            f"{API_EU}/crm/v8/Deals/deleted",
            headers={**headers, "If-Modified-Since": since.isoformat()},
        )
        bad_type = await http.get(f"{API_EU}/crm/v8/Deals/deleted?type=soft", headers=headers)
        fake.clock.advance(61 * 86_400)
        headers = await signed_in(fake, http)
        after_60_days = await http.get(f"{API_EU}/crm/v8/Deals/deleted", headers=headers)
        fake.clock.advance(60 * 86_400)
        headers = await signed_in(fake, http)
        after_121_days = await http.get(f"{API_EU}/crm/v8/Deals/deleted", headers=headers)
    assert {row["id"] for row in everything.json()["data"]} == {recycled, purged}
    assert [row["type"] for row in recycle.json()["data"]] == ["recycle"]
    assert set(everything.json()["data"][0]) == {
        "deleted_by",
        "id",
        "display_name",
        "type",
        "created_by",
        "deleted_time",
    }
    assert len(recent.json()["data"]) == 2
    assert bad_type.json()["code"] == "PATTERN_NOT_MATCHED"
    assert [row["id"] for row in after_60_days.json()["data"]] == [purged]
    assert after_121_days.status_code == 204
    assert kept in fake.modules["Deals"].records


async def coql(http: httpx.AsyncClient, headers: dict[str, str], query: str) -> httpx.Response:
    return await http.post(f"{API_EU}/crm/v8/coql", json={"select_query": query}, headers=headers)


async def test_coql_needs_where_caps_limit_at_2000_and_total_at_100000() -> None:
    fake = seeded(1)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        no_where = await coql(http, headers, "select Deal_Name from Deals limit 10")
        at_cap = await coql(
            http, headers, "select Deal_Name from Deals where id is not null limit 2000"
        )
        over_cap = await coql(
            http, headers, "select Deal_Name from Deals where id is not null limit 2001"
        )
        too_far = await coql(
            http,
            headers,
            "select Deal_Name from Deals where id is not null limit 2000 offset 98001",
        )
        unknown = await coql(http, headers, "select Nope from Deals where id is not null")
    assert no_where.json()["code"] == "SYNTAX_ERROR"
    assert at_cap.status_code == 200
    assert over_cap.json()["code"] == "LIMIT_EXCEEDED"
    assert too_far.json()["code"] == "LIMIT_EXCEEDED"
    assert unknown.json()["code"] == "INVALID_QUERY"
    assert unknown.json()["details"] == {"column_name": "Nope"}


async def test_coql_follows_the_account_lookup_in_the_same_call() -> None:
    fake = ZohoFake(ManualClock())
    acme = fake.add_account("Acme", "https://acme.example")
    fake.add_deal("Big deal", account=acme)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        answer = await coql(
            http,
            headers,
            "select Deal_Name, Account_Name, Account_Name.Account_Name, Account_Name.Website "
            "from Deals where Account_Name is not null",
        )
    row = answer.json()["data"][0]
    assert row["Account_Name"] == {"id": acme}
    assert row["Account_Name.Account_Name"] == "Acme"
    assert row["Account_Name.Website"] == "https://acme.example"
    assert answer.json()["info"] == {"count": 1, "more_records": False}


@FEW
@given(count=st.integers(1, 30), limit=st.integers(1, 9), spread=st.integers(0, 2))
def test_coql_offset_pages_ordered_by_modified_time_then_id_return_each_deal_once(
    count: int, limit: int, spread: int
) -> None:
    async def body() -> None:
        fake = ZohoFake(ManualClock())
        for n in range(count):
            fake.add_deal(f"deal {n}")
            fake.clock.advance(n % (spread + 1))
        rows: list[dict[str, Any]] = []
        async with client(fake) as http:
            headers = await signed_in(fake, http)
            offset = 0
            while True:
                answer = await coql(
                    http,
                    headers,
                    "select Modified_Time from Deals "
                    "where Modified_Time >= '2026-01-01T00:00:00+00:00' "
                    f"order by Modified_Time asc, id asc limit {limit} offset {offset}",
                )
                if answer.status_code == 204:
                    break
                rows.extend(answer.json()["data"])
                if not answer.json()["info"]["more_records"]:
                    break
                offset += limit
        assert sorted(row["id"] for row in rows) == sorted(fake.modules["Deals"].records)
        keys = [(datetime.fromisoformat(row["Modified_Time"]), int(row["id"])) for row in rows]
        assert keys == sorted(keys)

    run(body)


async def test_the_field_catalog_names_api_names_custom_flags_and_picklist_values() -> None:
    fake = ZohoFake(ManualClock())
    fake.add_field("Special_Discount", "Special Discount", "double")
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        answer = await http.get(f"{API_EU}/crm/v8/settings/fields?module=Deals", headers=headers)
        no_module = await http.get(f"{API_EU}/crm/v8/settings/fields", headers=headers)
    fields = {f["api_name"]: f for f in answer.json()["fields"]}
    assert fields["Special_Discount"]["custom_field"] is True
    assert fields["Deal_Name"]["custom_field"] is False
    assert fields["Account_Name"]["data_type"] == "lookup"
    assert fields["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert [v["actual_value"] for v in fields["Stage"]["pick_list_values"]] == [
        "Qualification",
        "Closed Won",
    ]
    assert no_module.json()["code"] == "REQUIRED_PARAM_MISSING"


async def test_accounts_come_by_ids_and_a_deleted_account_is_left_out() -> None:
    fake = ZohoFake(ManualClock())
    acme, gone = fake.add_account("Acme"), fake.add_account("Gone")
    deal = fake.add_deal("deal", account=gone)
    fake.delete_account(gone)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        accounts = await http.get(
            f"{API_EU}/crm/v8/Accounts",
            params={"ids": f"{acme},{gone}", "fields": "Account_Name"},
            headers=headers,
        )
        deals = await http.get(
            f"{API_EU}/crm/v8/Deals",
            params={"ids": deal, "fields": "Account_Name"},
            headers=headers,
        )
    assert [row["id"] for row in accounts.json()["data"]] == [acme]
    assert deals.json()["data"][0]["Account_Name"]["id"] == gone  # dangling lookup (§7.2)


async def test_credits_run_out_with_429_and_the_remaining_header_shows_from_half_way() -> None:
    fake = seeded(1, credits_per_day=4)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        answers = [
            await http.get(
                f"{API_EU}/crm/v8/Deals", params={"fields": "Deal_Name"}, headers=headers
            )
            for _ in range(5)
        ]
        fake.clock.advance(86_400)
        headers = await signed_in(fake, http)
        next_day = await http.get(
            f"{API_EU}/crm/v8/Deals", params={"fields": "Deal_Name"}, headers=headers
        )
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    assert "X-API-CREDITS-REMAINING" not in answers[0].headers
    assert [a.headers["X-API-CREDITS-REMAINING"] for a in answers[1:4]] == ["2", "1", "0"]
    assert answers[4].json()["code"] == "TOO_MANY_REQUESTS"
    assert answers[4].json()["status"] == "error"
    assert "Retry-After" not in answers[4].headers
    assert next_day.status_code == 200


async def test_coql_credits_grow_with_the_limit() -> None:
    fake = seeded(1, credits_per_day=5)
    query = "select Deal_Name from Deals where id is not null limit {}"
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        big = await coql(http, headers, query.format(2000))  # 3 credits
        medium = await coql(http, headers, query.format(500))  # 2 credits: now 5 of 5
        small = await coql(http, headers, query.format(10))  # 1 more: refused
    assert [big.status_code, medium.status_code, small.status_code] == [200, 200, 429]


async def test_calls_over_the_concurrency_limit_get_429() -> None:
    fake = seeded(1, concurrency=1)
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        fake.in_flight.hold()
        held = asyncio.create_task(
            http.get(f"{API_EU}/crm/v8/Deals", params={"fields": "Deal_Name"}, headers=headers)
        )
        await fake.in_flight.until(1)
        refused = await http.get(
            f"{API_EU}/crm/v8/Deals", params={"fields": "Deal_Name"}, headers=headers
        )
        fake.in_flight.release()
        done = await held
    assert refused.status_code == 429
    assert refused.json()["code"] == "TOO_MANY_REQUESTS"
    assert done.status_code == 200


def test_credits_and_concurrency_follow_the_edition_table() -> None:
    assert ZohoFake(edition="Standard", users=10).credits_per_day == 52_500
    assert ZohoFake(edition="Standard", users=500).credits_per_day == 100_000  # the maximum
    assert ZohoFake(edition="Ultimate", users=1000).credits_per_day == 2_050_000  # no maximum
    assert ZohoFake(edition="Free").credits_per_day == 5_000
    assert ZohoFake(edition="Enterprise").concurrency == 20


async def test_unknown_paths_and_modules_get_the_documented_codes() -> None:
    fake = ZohoFake(ManualClock())
    async with client(fake) as http:
        headers = await signed_in(fake, http)
        path = await http.get(f"{API_EU}/crm/v8/Deals/x/y/z", headers=headers)
        module = await http.get(f"{API_EU}/crm/v8/Potentials?fields=Deal_Name", headers=headers)
    assert path.status_code == 404
    assert path.json()["code"] == "INVALID_URL_PATTERN"
    assert module.status_code == 400
    assert module.json()["code"] == "INVALID_MODULE"
