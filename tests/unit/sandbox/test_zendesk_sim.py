"""The Zendesk simulator answers like Zendesk, driven by the real connector in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.base import RecordChange, RecordRef
from connectors.errors import AuthError, RateLimited
from connectors.service.zendesk import ZendeskConfig, ZendeskTarget
from connectors.service.zendesk.simulator import (
    DEMO_API_TOKEN,
    DEMO_BASE_URL,
    DEMO_EMAIL,
    ZendeskSimulator,
    contract_harness,
    demo_app,
)
from connectors.service.zendesk.simulator.store import USER
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio
TOKEN_ENV = "ZD_SIM_TOKEN"


async def no_sleep(_seconds: float) -> None:
    return None


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, DEMO_API_TOKEN)


def connect(sim: ZendeskSimulator, **overrides: Any) -> ZendeskTarget:
    raw = {
        "kind": "zendesk",
        "base_url": DEMO_BASE_URL,
        "email": DEMO_EMAIL,
        "api_token": "${" + TOKEN_ENV + "}",
        "rate_per_second": 1000,
        "incremental_per_minute": 10_000,
    } | overrides
    transport = httpx.ASGITransport(app=sim.app)
    return ZendeskTarget(
        "zendesk", ZendeskConfig.model_validate(raw), ConnectorOptions(transport, no_sleep)
    )


@pytest.fixture
def sim() -> ZendeskSimulator:
    return ZendeskSimulator(incremental_per_minute=10_000, job_delay=0.0).seed_demo()


@pytest.fixture
async def target(sim: ZendeskSimulator) -> AsyncIterator[ZendeskTarget]:
    connector = connect(sim)
    yield connector
    await connector.aclose()


def org_ref(sim: ZendeskSimulator, key: str) -> RecordRef:
    return RecordRef(kind="organization", id=str(sim.customers[key][0]))


async def test_seed_demo_is_chainable_and_holds_one_org_and_end_user_per_customer(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    records = [r async for page in target.customers(None) for r in page.records]
    orgs = {r.name: r for r in records if r.ref.kind == "organization"}
    users = [r for r in records if r.ref.kind == "user"]
    assert len(orgs) == len(users) == 9, "the dealbridge agent is not a customer"
    acme = orgs["Acme Corporation"]
    assert (acme.external_id, acme.domains) == ("CUST-1001", ("acme.example",))
    assert acme.fields["notes"] == "VIP: always escalate to Tier 2"
    assert orgs["Initech"].fields["notes"] is None
    assert "ops@acme.example" in {e for u in users for e in u.emails}
    assert callable(demo_app())


async def test_exports_page_with_small_pages_and_resume_from_the_checkpoint(
    sim: ZendeskSimulator,
) -> None:
    target = connect(sim, per_page=2)
    pages = [page async for page in target.customers(None)]
    assert len(pages) >= 8, "9 orgs and 9 users at 2 a page"
    assert sim.requests("GET", "/incremental/users/cursor") >= 5
    later = datetime.now(UTC) - timedelta(minutes=5)
    fresh = sim.add_organization("Newco", domain_names=["newco.example"], updated_at=later)
    again = [r async for page in target.customers(pages[-1].checkpoint) for r in page.records]
    assert str(fresh["id"]) in {r.ref.id for r in again}
    assert len(again) < 9, "only what changed since the checkpoint is exported again"


async def test_records_sharing_one_second_span_pages_without_loss_or_repeats(
    sim: ZendeskSimulator,
) -> None:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    added = {str(sim.add_organization(f"Tie {n}", updated_at=moment)["id"]) for n in range(7)}
    target = connect(sim, per_page=3, record_kinds=["organization"])
    seen = [r.ref.id async for page in target.customers(None) for r in page.records]
    assert added <= set(seen)
    assert len(seen) == len(set(seen))


async def test_too_recent_start_time_is_refused_like_zendesk(sim: ZendeskSimulator) -> None:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL) as client:
        answer = await client.get(
            "/api/v2/incremental/organizations.json",
            params={"start_time": int(datetime.now(UTC).timestamp())},
            auth=(f"{DEMO_EMAIL}/token", DEMO_API_TOKEN),
        )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than one minute",
    }


async def test_write_runs_a_job_that_applies_values_and_bumps_updated_at(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    ref = org_ref(sim, "globex")
    before = sim.record("organization", int(ref.id))["updated_at"]
    sim.set_updated_at("organization", int(ref.id), datetime(2024, 1, 1, tzinfo=UTC))
    fields = {
        "notes": "[dealbridge] 10% until 2027",
        "organization_fields.special_discount": "10",
        "organization_fields.payment_terms": "net45",
        "organization_fields.terms_valid_until": "2027-03-01",
    }
    (result,) = await target.write([RecordChange(ref=ref, fields=fields)])
    assert result.ok, result.error
    assert result.fields == fields, "a record the job reported Updated holds what was sent"
    stored = sim.record("organization", int(ref.id))
    assert stored["organization_fields"]["special_discount"] == 10.0
    assert stored["organization_fields"]["payment_terms"] == "net45"
    assert stored["updated_at"] >= before
    assert sim.requests("PUT", "/organizations/update_many") == 1
    assert sim.requests("GET", "/job_statuses/") >= 1
    assert sim.requests("GET", "/organizations/show_many") == 0, "no read-back when reported"


async def test_date_fields_are_printed_as_midnight_utc_timestamps_and_read_as_the_day(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    # Zendesk's Organizations API examples print a date field as "2018-11-04T00:00:00+00:00".
    ref = org_ref(sim, "globex")
    path = "organization_fields.terms_valid_until"
    (result,) = await target.write([RecordChange(ref=ref, fields={path: "2027-03-01"})])
    assert result.ok, result.error
    stored = sim.record("organization", int(ref.id))
    assert stored["organization_fields"]["terms_valid_until"] == "2027-03-01T00:00:00+00:00"
    (after,) = await target.read([ref])
    assert after.fields[path] == result.fields[path] == "2027-03-01"


async def test_bad_dropdown_date_and_decimal_values_fail_per_record_naming_the_field(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    changes = [
        RecordChange(
            ref=org_ref(sim, "acme"), fields={"organization_fields.payment_terms": "net90"}
        ),
        RecordChange(
            ref=org_ref(sim, "globex"), fields={"organization_fields.terms_valid_until": "soon"}
        ),
        RecordChange(
            ref=org_ref(sim, "initech"), fields={"organization_fields.special_discount": "lots"}
        ),
        RecordChange(ref=org_ref(sim, "hooli"), fields={"notes": "x" * 70_000}),
        RecordChange(ref=org_ref(sim, "stark"), fields={"notes": "fine"}),
    ]
    results = await target.write(changes)
    assert [r.ok for r in results] == [False, False, False, False, True]
    assert "organization_fields.payment_terms" in (results[0].error or "")
    assert "organization_fields.terms_valid_until" in (results[1].error or "")
    assert "organization_fields.special_discount" in (results[2].error or "")
    assert "too long" in (results[3].error or "")
    assert sim.record("organization", sim.customers["acme"][0])["notes"] == (
        "VIP: always escalate to Tier 2"
    ), "a failed record is left as it was"


async def test_bulk_403_toggle_makes_the_connector_fall_back_to_single_puts(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    sim.forbid_bulk_updates("user")
    ref = RecordRef(kind="user", id=str(sim.customers["acme"][1]))
    (result,) = await target.write(
        [RecordChange(ref=ref, fields={"notes": "deal", "user_fields.payment_terms": "net30"})]
    )
    assert result.ok, result.error
    assert result.fields == {"notes": "deal", "user_fields.payment_terms": "net30"}
    assert sim.requests("PUT", f"/api/v2/users/{ref.id}") == 1
    assert any("403" in notice for notice in target.notices())


async def test_single_record_updates_are_limited_to_five_a_minute_with_a_plain_text_429(
    sim: ZendeskSimulator,
) -> None:
    record = sim.customers["acme"][1]
    transport = httpx.ASGITransport(app=sim.app)
    auth = (f"{DEMO_EMAIL}/token", DEMO_API_TOKEN)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL, auth=auth) as client:
        statuses = [
            (await client.put(f"/api/v2/users/{record}.json", json={"user": {"notes": "n"}}))
            for _ in range(6)
        ]
    assert [s.status_code for s in statuses] == [200] * 5 + [429]
    assert statuses[-1].headers["content-type"].startswith("text/plain")
    assert int(statuses[-1].headers["retry-after"]) >= 1


async def test_too_many_jobs_answer_429_with_the_current_job_ids(sim: ZendeskSimulator) -> None:
    slow = ZendeskSimulator(job_delay=3600).seed_demo()
    transport = httpx.ASGITransport(app=slow.app)
    auth = (f"{DEMO_EMAIL}/token", DEMO_API_TOKEN)
    body = {"organizations": [{"id": slow.customers["acme"][0], "notes": "x"}]}
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL, auth=auth) as client:
        answers = [
            await client.put("/api/v2/organizations/update_many.json", json=body) for _ in range(31)
        ]
    assert (
        answers[0].headers["zendesk-ratelimit-inflight-jobs"].startswith("total=30; remaining=29")
    )
    assert answers[-1].status_code == 429
    assert answers[-1].json()["error"] == "TooManyJobs"
    assert len(answers[-1].json()["current_job_ids"]) == 30


async def test_show_many_job_statuses_answers_known_jobs_and_leaves_out_the_rest(
    sim: ZendeskSimulator,
) -> None:
    first = sim.jobs.submit("organization", [{"id": 1, "notes": "a"}])
    second = sim.jobs.submit("organization", [{"id": 2, "notes": "b"}])
    transport = httpx.ASGITransport(app=sim.app)
    auth = (f"{DEMO_EMAIL}/token", DEMO_API_TOKEN)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL, auth=auth) as client:
        url = "/api/v2/job_statuses/show_many.json"
        answer = await client.get(url, params={"ids": f"{first.id},gone,{second.id}"})
        too_many = await client.get(url, params={"ids": ",".join(["x"] * 101)})
    assert answer.status_code == 200
    assert [s["id"] for s in answer.json()["job_statuses"]] == [first.id, second.id]
    assert too_many.status_code == 400


async def test_show_many_reads_ids_listed_with_plain_or_encoded_commas(
    sim: ZendeskSimulator,
) -> None:
    """The docs write ``?ids=1,2`` (what the connector sends for numeric and hex ids); httpx's
    ``params`` send the commas as ``%2C``: both are the same list to the server."""
    job = sim.jobs.submit("organization", [{"id": 1, "notes": "a"}])
    orgs = sorted(sim.store.records["organization"])[:3]
    transport = httpx.ASGITransport(app=sim.app)
    auth = (f"{DEMO_EMAIL}/token", DEMO_API_TOKEN)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL, auth=auth) as client:
        answers = []
        for path, ids in [
            ("/api/v2/organizations/show_many.json", ",".join(map(str, orgs))),
            ("/api/v2/job_statuses/show_many.json", f"{job.id},gone"),
        ]:
            plain = await client.get(f"{path}?ids={ids}")
            encoded = await client.get(path, params={"ids": ids})
            assert plain.request.url.query == f"ids={ids}".encode()
            assert plain.status_code == encoded.status_code == 200
            assert plain.json() == encoded.json()
            answers.append(plain.json())
    assert [o["id"] for o in answers[0]["organizations"]] == orgs
    assert [s["id"] for s in answers[1]["job_statuses"]] == [job.id]


async def test_expired_job_statuses_answer_404_and_the_read_back_decides(
    sim: ZendeskSimulator,
) -> None:
    slow = ZendeskSimulator(job_delay=0.0, incremental_per_minute=1000).seed_demo()
    target = connect(slow)
    original = slow.jobs.submit

    def submit_then_forget(kind: str, rows: list[dict[str, Any]]) -> Any:
        job = original(kind, rows)
        slow.jobs.complete_due()
        slow.expire_jobs()
        return job

    slow.jobs.submit = submit_then_forget  # type: ignore[method-assign]
    ref = org_ref(slow, "globex")
    (result,) = await target.write([RecordChange(ref=ref, fields={"notes": "applied"})])
    assert result.ok, "the record holds the written value, so the unknown job did apply"


async def test_account_budget_exhausted_answers_429_with_retry_after_and_headers() -> None:
    sim = ZendeskSimulator(requests_per_minute=2).seed_demo()
    target = connect(sim, rate_per_second=1000)
    await target.read([org_ref(sim, "acme")])
    await target.read([org_ref(sim, "acme")])
    with pytest.raises(RateLimited):
        await target.read([org_ref(sim, "acme")])
    assert target.notices()[-1].startswith("account limit is 2/min")


async def test_wrong_token_is_refused_with_zendesks_401_body(sim: ZendeskSimulator) -> None:
    sim.settings.api_token = "something-else"
    target = connect(sim)
    with pytest.raises(AuthError, match="Couldn't authenticate you"):
        await target.read([org_ref(sim, "acme")])
    assert not (await target.check()).ok


async def test_field_catalog_has_every_field_the_west_mapping_writes(target: ZendeskTarget) -> None:
    catalog = {f.path: f for f in await target.field_catalog()}
    for path in (
        "notes",
        "organization_fields.special_discount",
        "organization_fields.payment_terms",
        "organization_fields.terms_valid_until",
        "organization_fields.sla_promise",
        "organization_fields.free_services",
    ):
        assert path in catalog
    assert catalog["organization_fields.payment_terms"].choices == ("net30", "net45", "net60")
    assert catalog["organization_fields.special_discount"].type == "decimal"


async def test_deleted_orgs_and_deactivated_users_export_as_deleted(
    target: ZendeskTarget, sim: ZendeskSimulator
) -> None:
    sim.delete("organization", sim.customers["hooli"][0])
    sim.delete("user", sim.customers["hooli"][1])
    sim.pass_time(61)  # exports leave out the last minute's changes
    records = [r async for page in target.customers(None) for r in page.records]
    gone = {r.ref.key for r in records if r.deleted}
    assert gone == {
        f"organization:{sim.customers['hooli'][0]}",
        f"user:{sim.customers['hooli'][1]}",
    }
    assert await target.read([org_ref(sim, "hooli")]) == []


async def test_seed_bulk_creates_many_orgs_quickly_and_the_harness_is_small_paged() -> None:
    sim = ZendeskSimulator().seed_bulk(2_000)
    assert len(sim.store.records["organization"]) == 2_000
    harness = contract_harness()
    assert harness.page_size == harness.config["per_page"] == 5
    assert harness.secret == DEMO_API_TOKEN


async def test_organizations_are_searched_by_external_id_ignoring_case(
    sim: ZendeskSimulator,
) -> None:
    org = sim.add_organization("Search Me Ltd", external_id="CUST-SEARCH-1")
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL) as client:
        found = await client.get(
            "/api/v2/organizations/search.json",
            params={"external_id": "cust-search-1"},
            auth=(f"{DEMO_EMAIL}/token", DEMO_API_TOKEN),
        )
        missing = await client.get(
            "/api/v2/organizations/search.json",
            params={"external_id": "CUST-NOBODY"},
            auth=(f"{DEMO_EMAIL}/token", DEMO_API_TOKEN),
        )
    assert [o["id"] for o in found.json()["organizations"]] == [org["id"]]
    assert missing.json() == {"organizations": [], "next_page": None, "count": 0}


# --- documented timing ------------------------------------------------------------------------


def raw_client(sim: ZendeskSimulator) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sim.app),
        base_url=DEMO_BASE_URL,
        auth=(f"{DEMO_EMAIL}/token", DEMO_API_TOKEN),
    )


async def test_exports_leave_out_the_minute_before_the_request_then_include_it(
    sim: ZendeskSimulator,
) -> None:
    newco = sim.add_organization("Newco", external_id="CUST-NEW")  # created just now
    user = sim.add_user("Nia New", "nia@newco.example")
    start = int((datetime.now(UTC) - timedelta(hours=1)).timestamp())
    async with raw_client(sim) as client:
        orgs = (
            await client.get("/api/v2/incremental/organizations.json", params={"start_time": start})
        ).json()
        users = (
            await client.get("/api/v2/incremental/users/cursor.json", params={"start_time": start})
        ).json()
        assert newco["id"] not in {o["id"] for o in orgs["organizations"]}
        assert user["id"] not in {u["id"] for u in users["users"]}
        assert orgs["end_of_stream"] is True, "all there is up to a minute ago"
        sim.pass_time(61)
        later = await client.get(
            "/api/v2/incremental/organizations.json", params={"start_time": orgs["end_time"]}
        )
        more = await client.get(
            "/api/v2/incremental/users/cursor.json", params={"cursor": users["after_cursor"]}
        )
    assert newco["id"] in {o["id"] for o in later.json()["organizations"]}
    assert user["id"] in {u["id"] for u in more.json()["users"]}


async def test_a_time_based_page_ends_on_a_second_the_next_page_starts_with_again(
    sim: ZendeskSimulator,
) -> None:
    moment = (datetime.now(UTC) - timedelta(minutes=20)).replace(microsecond=0)
    early = sim.add_organization("Early", updated_at=moment - timedelta(seconds=5))
    tied = [sim.add_organization(f"Tie {n}", updated_at=moment)["id"] for n in range(2)]
    start = int((moment - timedelta(minutes=1)).timestamp())
    async with raw_client(sim) as client:
        first = (
            await client.get(
                "/api/v2/incremental/organizations.json",
                params={"start_time": start, "per_page": 1},
            )
        ).json()
        second = (
            await client.get(
                "/api/v2/incremental/organizations.json",
                params={"start_time": first["end_time"], "per_page": 1},
            )
        ).json()
    assert [o["id"] for o in first["organizations"]] == [early["id"]]
    assert first["end_time"] == int((moment - timedelta(seconds=5)).timestamp())
    assert second["organizations"][0]["id"] == early["id"], "the boundary second comes again"
    assert {o["id"] for o in second["organizations"][1:]} == set(tied), "never ends mid-second"


async def test_job_statuses_expire_an_hour_after_the_job_finished(sim: ZendeskSimulator) -> None:
    async with raw_client(sim) as client:
        body = {"organizations": [{"id": sim.customers["acme"][0], "notes": "x"}]}
        job = (await client.put("/api/v2/organizations/update_many.json", json=body)).json()
        url = f"/api/v2/job_statuses/{job['job_status']['id']}.json"
        assert (await client.get(url)).json()["job_status"]["status"] == "completed"
        sim.pass_time(3599)
        assert (await client.get(url)).status_code == 200
        sim.pass_time(2)
        gone = await client.get(url)
    assert gone.status_code == 404
    assert gone.json() == {"error": "RecordNotFound", "description": "Not found"}


async def test_only_the_last_hundred_job_statuses_are_kept(sim: ZendeskSimulator) -> None:
    jobs = [sim.jobs.submit("organization", [{"id": 1, "notes": str(n)}]) for n in range(101)]
    sim.jobs.complete_due()
    assert jobs[0].id not in sim.jobs.jobs
    assert all(job.id in sim.jobs.jobs for job in jobs[1:])


async def test_searches_see_a_change_only_after_the_search_lag(sim: ZendeskSimulator) -> None:
    person = sim.add_user("Nia New", "nia@newco.example")
    org = sim.add_organization("Newco", domain_names=["newco.example"])
    async with raw_client(sim) as client:

        async def users(email: str) -> list[int]:
            answer = await client.get(
                "/api/v2/users/search.json", params={"query": f"email:{email}"}
            )
            return [u["id"] for u in answer.json()["users"]]

        async def orgs(domain: str) -> list[int]:
            answer = await client.get(
                "/api/v2/search.json", params={"query": f"type:organization domain:{domain}"}
            )
            return [o["id"] for o in answer.json()["results"]]

        assert (await users("nia@newco.example"), await orgs("newco.example")) == ([], [])
        sim.pass_time(sim.store.search[USER].lag)
        assert await users("nia@newco.example") == [person["id"]]
        assert await orgs("newco.example") == [org["id"]]
        sim.agent_edit("organization", org["id"], domain_names=["newco.example.org"])
        assert await orgs("newco.example") == [org["id"]], "the old copy is still indexed"
        assert await orgs("acme.example") == [sim.customers["acme"][0]], "seed data is indexed"


async def test_show_many_answers_external_ids_ignoring_case_at_once(sim: ZendeskSimulator) -> None:
    fresh = sim.add_organization("Just Now Ltd", external_id="CUST-NOW")
    async with raw_client(sim) as client:
        answer = await client.get(
            "/api/v2/organizations/show_many.json",
            params={"external_ids": "cust-now,CUST-1001,cust-nobody"},
        )
        too_many = await client.get(
            "/api/v2/organizations/show_many.json",
            params={"external_ids": ",".join(f"x{n}" for n in range(101))},
        )
    assert {o["id"] for o in answer.json()["organizations"]} == {
        fresh["id"],
        sim.customers["acme"][0],
    }
    assert too_many.status_code == 400


async def test_search_refuses_pages_past_its_thousand_results(sim: ZendeskSimulator) -> None:
    async with raw_client(sim) as client:
        answer = await client.get(
            "/api/v2/users/search.json",
            params={"query": "email:ops@acme.example", "per_page": 100, "page": 11},
        )
    assert answer.status_code == 422
    assert answer.json()["error"] == "InsufficientResourcesError"
