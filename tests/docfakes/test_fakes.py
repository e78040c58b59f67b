"""The fakes themselves keep the documented behaviours they claim (checked over plain HTTP).

These pin the fakes, not the connectors: a connector test can only be as right as its fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.docfakes.freshdesk import FreshdeskFake
from tests.docfakes.freshdesk_account import FdField
from tests.docfakes.zendesk import ZendeskFake

pytestmark = pytest.mark.anyio


@pytest.fixture
def zendesk() -> ZendeskFake:
    return ZendeskFake()


@pytest.fixture
async def zd(zendesk: ZendeskFake) -> AsyncIterator[httpx.AsyncClient]:
    auth = (f"{zendesk.account.email}/token", zendesk.account.token)
    transport = httpx.ASGITransport(app=zendesk.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://z.example", auth=auth) as c:
        yield c


@pytest.fixture
def freshdesk() -> FreshdeskFake:
    fake = FreshdeskFake(index_lag_seconds=120)
    fake.account.fields["company"].append(
        FdField("cf_terms", "Terms", "custom_dropdown", ("Net 30", "Net 60"))
    )
    return fake


@pytest.fixture
async def fd(freshdesk: FreshdeskFake) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=freshdesk.app)
    auth = (freshdesk.account.api_key, "X")
    async with httpx.AsyncClient(transport=transport, base_url="https://f.example", auth=auth) as c:
        yield c


# -- Zendesk -------------------------------------------------------------------------------


async def test_zendesk_refuses_bad_credentials_with_its_401_body(zendesk: ZendeskFake) -> None:
    transport = httpx.ASGITransport(app=zendesk.app)
    async with httpx.AsyncClient(transport=transport, base_url="https://z.example") as client:
        response = await client.get("/api/v2/users/me.json", auth=("x/token", "nope"))
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


async def test_zendesk_export_leaves_out_the_last_minute_and_refuses_a_recent_start(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    zendesk.account.add("organization", "Old", seconds_ago=120)
    zendesk.account.add("organization", "New", seconds_ago=30)
    page = (await zd.get("/api/v2/incremental/organizations.json", params={"start_time": 0})).json()
    assert [o["name"] for o in page["organizations"]] == ["Old"]
    recent = int(zendesk.clock.now()) - 30
    refused = await zd.get("/api/v2/incremental/organizations", params={"start_time": recent})
    assert refused.status_code == 422
    assert refused.json()["description"].startswith("Too recent start_time.")


async def test_zendesk_time_pages_keep_a_second_whole_and_repeat_the_boundary(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    for n in range(3):
        zendesk.account.add("organization", f"Tie {n}", seconds_ago=500)
    zendesk.account.add("organization", "After", seconds_ago=400)
    zendesk.account.add("organization", "Last", seconds_ago=300)
    url = "/api/v2/incremental/organizations"
    first = (await zd.get(url, params={"start_time": 0, "per_page": 2})).json()
    assert first["count"] == 3  # exceeds per_page: the tie second stays whole
    assert not first["end_of_stream"]
    second = (await zd.get(url, params={"start_time": first["end_time"], "per_page": 2})).json()
    assert [o["name"] for o in second["organizations"]][:3] == ["Tie 0", "Tie 1", "Tie 2"]


async def test_zendesk_show_many_matches_external_ids_case_insensitively_up_to_100(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    zendesk.account.add("organization", "Acme", external_id="ACME-1")
    found = await zd.get("/api/v2/organizations/show_many", params={"external_ids": "acme-1"})
    assert [o["name"] for o in found.json()["organizations"]] == ["Acme"]
    too_many = ",".join(str(n) for n in range(101))
    refused = await zd.get("/api/v2/organizations/show_many", params={"ids": too_many})
    assert refused.status_code == 400
    assert zendesk.log.violations


async def test_zendesk_jobs_go_queued_working_completed_then_expire(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    acme = zendesk.account.add("organization", "Acme")
    body = {"organizations": [{"id": acme.id, "notes": "n"}, {"id": 1, "notes": "m"}]}
    job = (await zd.put("/api/v2/organizations/update_many.json", json=body)).json()["job_status"]
    states = []
    for _ in range(3):
        states.append((await zd.get(f"/api/v2/job_statuses/{job['id']}")).json()["job_status"])
        zendesk.clock.advance(0.8)
    assert [s["status"] for s in states] == ["queued", "working", "completed"]
    assert states[-1]["results"][0] == {
        "id": acme.id,
        "action": "update",
        "success": True,
        "status": "Updated",
    }
    assert states[-1]["results"][1]["success"] is False
    zendesk.clock.advance(3600)
    assert (await zd.get(f"/api/v2/job_statuses/{job['id']}")).status_code == 404


async def test_zendesk_refuses_a_31st_job_in_flight(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    zendesk.account.occupy_job_slots(30, seconds=60)
    body = {"organizations": [{"id": 1, "notes": "n"}]}
    refused = await zd.put("/api/v2/organizations/update_many", json=body)
    assert refused.status_code == 429
    assert refused.json()["error"] == "TooManyJobs"
    assert len(refused.json()["current_job_ids"]) == 30
    assert "remaining=0" in refused.headers["zendesk-ratelimit-inflight-jobs"]


async def test_zendesk_allows_ten_exports_a_minute(
    zendesk: ZendeskFake, zd: httpx.AsyncClient
) -> None:
    statuses = [
        (await zd.get("/api/v2/incremental/organizations", params={"start_time": 0})).status_code
        for _ in range(11)
    ]
    assert statuses == [200] * 10 + [429]
    assert zendesk.log.calls[-1].status == 429


# -- Freshdesk -----------------------------------------------------------------------------


async def test_freshdesk_link_header_names_the_next_page_until_the_last(
    freshdesk: FreshdeskFake, fd: httpx.AsyncClient
) -> None:
    for n in range(3):
        freshdesk.account.add("company", f"Co {n}")
    first = await fd.get("/api/v2/companies", params={"per_page": 2})
    assert 'rel="next"' in first.headers["link"]
    last = await fd.get("/api/v2/companies", params={"per_page": 2, "page": 2})
    assert "link" not in last.headers
    assert len(first.json()) + len(last.json()) == 3


async def test_freshdesk_filter_lags_excludes_deleted_and_stops_at_page_ten(
    freshdesk: FreshdeskFake, fd: httpx.AsyncClient
) -> None:
    freshdesk.account.add("company", "Indexed", seconds_ago=600)
    freshdesk.account.add("company", "Too new", seconds_ago=10)
    gone = freshdesk.account.add("contact", "Gone", email="g@x.example", seconds_ago=600)
    freshdesk.clock.advance(200)
    freshdesk.account.soft_delete(gone)
    query = "\"updated_at:>'2000-01-01'\""
    found = (await fd.get("/api/v2/search/companies", params={"query": query})).json()
    assert [c["name"] for c in found["results"]] == ["Indexed", "Too new"]
    freshdesk.clock.advance(200)
    contacts = (await fd.get("/api/v2/search/contacts", params={"query": query})).json()
    assert contacts == {"total": 0, "results": []}
    beyond = await fd.get("/api/v2/search/companies", params={"query": query, "page": 11})
    assert beyond.status_code == 400
    unquoted = await fd.get(
        "/api/v2/search/companies", params={"query": "updated_at:>'2000-01-01'"}
    )
    assert unquoted.status_code == 400


async def test_freshdesk_validation_errors_use_the_documented_envelope(
    freshdesk: FreshdeskFake, fd: httpx.AsyncClient
) -> None:
    acme = freshdesk.account.add("company", "Acme")
    response = await fd.put(
        f"/api/v2/companies/{acme.id}", json={"custom_fields": {"cf_terms": "net30"}}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["description"] == "Validation failed"
    assert body["errors"][0]["field"] == "cf_terms"
    assert (await fd.get("/api/v2/companies/1")).content == b""  # 404 without a body


async def test_freshdesk_contact_listing_has_its_own_minute_cap(
    freshdesk: FreshdeskFake, fd: httpx.AsyncClient
) -> None:
    statuses = [(await fd.get("/api/v2/contacts")).status_code for _ in range(21)]
    assert statuses == [200] * 20 + [429]
    assert (await fd.get("/api/v2/companies")).status_code == 200
    refused = await fd.get("/api/v2/contacts")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["X-RateLimit-Total"] == "200"
