"""The fakes themselves keep the documented behaviours the connector tests lean on.

A connector test only means something if the fake is as strict as the vendor; these checks talk
to the fakes over plain HTTP, the way any client would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.docfakes.clock import FakeClock
from tests.docfakes.hubspot import HubSpotAccount
from tests.docfakes.hubspot_http import hubspot_app
from tests.docfakes.salesforce import SalesforceOrg
from tests.docfakes.salesforce_http import INSTANCE_URL, LOGIN_URL, salesforce_app

pytestmark = pytest.mark.anyio

API = "/services/data/v61.0"


# --- Salesforce -----------------------------------------------------------------------------


@pytest.fixture
def org() -> SalesforceOrg:
    return SalesforceOrg(FakeClock(follow_real_time=False))


@pytest.fixture
async def sf(org: SalesforceOrg) -> AsyncIterator[httpx.AsyncClient]:
    token = org.add_refresh_token_client("cid", "secret")
    transport = httpx.ASGITransport(app=salesforce_app(org))
    async with httpx.AsyncClient(transport=transport, base_url=INSTANCE_URL) as client:
        answer = await client.post(
            f"{LOGIN_URL}/services/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "cid",
                "client_secret": "secret",
                "refresh_token": token,
            },
        )
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield client


async def _soql(
    client: httpx.AsyncClient, q: str, resource: str = "query", **headers: str
) -> httpx.Response:
    return await client.get(f"{API}/{resource}", params={"q": q}, headers=headers)


async def test_sf_query_hides_deleted_rows_and_query_all_shows_them(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    gone = org.create("Opportunity", Name="Gone")
    org.create("Opportunity", Name="Kept")
    org.delete("Opportunity", gone)

    plain = await _soql(sf, "SELECT Id, IsDeleted FROM Opportunity")
    every = await _soql(sf, "SELECT Id, IsDeleted FROM Opportunity", "queryAll")

    assert [r["IsDeleted"] for r in plain.json()["records"]] == [False]
    assert sorted(r["IsDeleted"] for r in every.json()["records"]) == [False, True]


async def test_sf_batches_count_child_rows_and_locators_serve_the_original_result(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    org.max_batch = 4
    deals = [org.create("Opportunity", Name=f"D{i}", Amount=float(i)) for i in range(3)]
    contact = org.create("Contact", Name="C", Email="c@x.example")
    for _ in range(2):
        org.create("OpportunityContactRole", OpportunityId=deals[0], ContactId=contact)

    first = await _soql(
        sf,
        "SELECT Id, Amount, (SELECT Contact.Email FROM OpportunityContactRoles) FROM Opportunity "
        "ORDER BY Amount",
    )
    org.update("Opportunity", deals[2], Amount=99.0)
    rest = await sf.get(first.json()["nextRecordsUrl"])

    again = await sf.get(first.json()["nextRecordsUrl"])

    assert [r["Id"] for r in first.json()["records"]] == deals[:2]  # 1 + 2 children, then 1
    assert rest.json()["done"] is True
    assert rest.json()["records"][0]["Amount"] == 2.0, "the cursor holds the query-time result"
    assert again.json() == rest.json(), "a locator names a position, so a retry is harmless"


async def test_sf_dates_in_quotes_and_unknown_columns_are_refused(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    quoted = await _soql(
        sf, "SELECT Id FROM Opportunity WHERE SystemModstamp > '2025-01-01T00:00:00Z'"
    )
    unknown = await _soql(sf, "SELECT Id, Nope__c FROM Opportunity")
    garbage = await _soql(sf, "SELECT FROM WHERE")

    assert quoted.status_code == unknown.status_code == garbage.status_code == 400
    assert quoted.json()[0]["errorCode"] == "INVALID_QUERY_FILTER_OPERATOR"
    assert unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    assert garbage.json()[0]["errorCode"] == "MALFORMED_QUERY"


async def test_sf_datetime_filters_compare_instants_across_offsets(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    deal = org.create("Opportunity", Name="Noon", at=at)

    same = await _soql(
        sf, "SELECT Id FROM Opportunity WHERE SystemModstamp = 2026-03-01T13:00:00+01:00"
    )
    later = await _soql(
        sf, "SELECT Id FROM Opportunity WHERE SystemModstamp > 2026-03-01T12:00:00Z"
    )

    assert [r["Id"] for r in same.json()["records"]] == [deal]
    assert later.json()["records"] == []


async def test_sf_spent_allocation_answers_403_with_the_usage_header(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    org.consume_api(org.api_max)

    answer = await _soql(sf, "SELECT Id FROM Opportunity")

    assert answer.status_code == 403
    assert answer.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert answer.headers["Sforce-Limit-Info"] == f"api-usage={org.api_max}/{org.api_max}"
    assert "retry-after" not in answer.headers


async def test_sf_session_ends_after_two_idle_hours(
    org: SalesforceOrg, sf: httpx.AsyncClient
) -> None:
    assert (await _soql(sf, "SELECT Id FROM Opportunity")).status_code == 200
    org.clock.advance(3600)
    assert (await _soql(sf, "SELECT Id FROM Opportunity")).status_code == 200, "activity resets it"
    org.clock.advance(2 * 3600 + 1)

    answer = await _soql(sf, "SELECT Id FROM Opportunity")

    assert answer.status_code == 401
    assert answer.json()[0]["errorCode"] == "INVALID_SESSION_ID"


async def test_sf_rotation_invalidates_the_used_refresh_token(org: SalesforceOrg) -> None:
    org.rotate_refresh_tokens = True
    token = org.add_refresh_token_client("cid", "secret")
    form = {"grant_type": "refresh_token", "client_id": "cid", "client_secret": "secret"}
    transport = httpx.ASGITransport(app=salesforce_app(org))
    async with httpx.AsyncClient(transport=transport, base_url=LOGIN_URL) as client:
        first = await client.post("/services/oauth2/token", data={**form, "refresh_token": token})
        reuse = await client.post("/services/oauth2/token", data={**form, "refresh_token": token})
        rotated = first.json()["refresh_token"]
        second = await client.post(
            "/services/oauth2/token", data={**form, "refresh_token": rotated}
        )

    assert first.status_code == second.status_code == 200
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"


# --- HubSpot --------------------------------------------------------------------------------


@pytest.fixture
def account() -> HubSpotAccount:
    hubspot = HubSpotAccount(
        FakeClock(datetime.now(UTC) - timedelta(hours=1), follow_real_time=False)
    )
    hubspot.add_private_app("pat")
    return hubspot


@pytest.fixture
async def hs(account: HubSpotAccount) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=hubspot_app(account))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="https://api.hubapi.example",
        headers={"Authorization": "Bearer pat"},
    ) as client:
        yield client


async def _search(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/crm/v3/objects/deals/search", json=body)


async def test_hs_search_sees_writes_after_the_lag_and_never_archived_deals(
    account: HubSpotAccount, hs: httpx.AsyncClient
) -> None:
    deal = account.create("deals", dealname="New")

    before = await _search(hs, limit=10)
    account.clock.advance(6)
    after = await _search(hs, limit=10)
    account.archive("deals", deal)
    account.clock.advance(6)
    archived = await _search(hs, limit=10)

    assert before.json()["total"] == 0
    assert [r["id"] for r in after.json()["results"]] == [deal]
    assert archived.json()["total"] == 0


async def test_hs_search_refuses_big_pages_and_paging_past_the_cap(hs: httpx.AsyncClient) -> None:
    too_big = await _search(hs, limit=201)
    past_cap = await _search(hs, limit=10, after="10000")
    bad_property = await _search(
        hs, filterGroups=[{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]
    )

    assert too_big.status_code == past_cap.status_code == bad_property.status_code == 400
    assert bad_property.json()["message"] == "Property 'nope' does not exist"


async def test_hs_search_limit_is_five_per_second_without_rate_limit_headers(
    hs: httpx.AsyncClient,
) -> None:
    answers = [await _search(hs, limit=1) for _ in range(6)]

    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[-1].json()["policyName"] == "SECONDLY"
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in answers[0].headers)


async def test_hs_burst_and_daily_limits_answer_429_with_their_policy(
    account: HubSpotAccount, hs: httpx.AsyncClient
) -> None:
    account.limits.burst_max = 2
    ok = [await hs.get("/crm/v3/owners") for _ in range(2)]
    burst = await hs.get("/crm/v3/owners")
    account.clock.advance(10)
    account.limits.spend_daily(account.limits.daily_max, account.clock.now())
    daily = await hs.get("/crm/v3/owners")

    assert ok[0].headers["X-HubSpot-RateLimit-Max"] == "2"
    assert ok[1].headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert burst.status_code == daily.status_code == 429
    assert burst.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert daily.json()["policyName"] == "DAILY"
    assert "retry-after" not in daily.headers


async def test_hs_batches_over_their_limits_are_refused_and_gaps_are_207(
    account: HubSpotAccount, hs: httpx.AsyncClient
) -> None:
    deal = account.create("deals", dealname="Lonely")
    too_many = await hs.post(
        "/crm/v3/objects/companies/batch/read",
        json={"inputs": [{"id": str(i)} for i in range(101)]},
    )
    no_company = await hs.post(
        "/crm/v4/associations/deals/companies/batch/read", json={"inputs": [{"id": deal}]}
    )

    assert too_many.status_code == 400
    assert no_company.status_code == 207
    assert no_company.json()["errors"][0]["subCategory"] == "crm.associations.NO_ASSOCIATIONS_FOUND"


async def test_hs_oauth_tokens_expire_after_expires_in(account: HubSpotAccount) -> None:
    account.add_oauth_install("cid", "secret", "refresh")
    transport = httpx.ASGITransport(app=hubspot_app(account))
    async with httpx.AsyncClient(
        transport=transport, base_url="https://api.hubapi.example"
    ) as client:
        token = await client.post(
            "/oauth/v1/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "cid",
                "client_secret": "secret",
                "refresh_token": "refresh",
            },
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        fresh = await client.get("/crm/v3/owners", headers=headers)
        account.clock.advance(token.json()["expires_in"] + 1)
        stale = await client.get("/crm/v3/owners", headers=headers)

    assert token.json()["expires_in"] == 1800
    assert fresh.status_code == 200
    assert "X-HubSpot-RateLimit-Daily" not in fresh.headers, "OAuth calls have no daily limit"
    assert stale.status_code == 401
    assert stale.json()["category"] == "EXPIRED_AUTHENTICATION"
