"""The Pipedrive simulator answers like Pipedrive, driven by the real connector over ASGI: the
demo territory, incremental reads with ties and writes during a walk, deletions and their
30-day window, archived deals, renamed fields and deleted options and organizations, the
burst window and the daily budget, OAuth, and the v2 list semantics over plain HTTP."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from bench.pipedrive_backfill import measure
from connectors.base import Cursor, DealPage, DealQuery, unreadable_reason
from connectors.errors import AuthError, BudgetExhausted, PermanentError
from connectors.sales.pipedrive import PipedriveConfig, PipedriveSource
from connectors.sales.pipedrive.simulator import (
    DEMO_API_TOKEN,
    DEMO_CLIENT_SECRET,
    DEMO_REFRESH_TOKEN,
    SANDBOX_URL,
    PipedriveSimulator,
)
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

START = datetime(2026, 12, 6, 10, 0, tzinfo=UTC).timestamp()
HEADERS = {"x-api-token": DEMO_API_TOKEN}
MAPPED = (
    "title",
    "status",
    "custom_fields.special_discount",
    "custom_fields.payment_terms",
    "custom_fields.free_services",
    "organization.custom_fields.customer_number",
    "person.emails.value",
    "owner.email",
)


class FakeTime:
    """One clock for the simulator and the connector; the connector's sleeps move it."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=UTC)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_SIM_TOKEN", DEMO_API_TOKEN)
    monkeypatch.setenv("PD_SIM_SECRET", DEMO_CLIENT_SECRET)
    monkeypatch.setenv("PD_SIM_REFRESH", DEMO_REFRESH_TOKEN)


def simulator(**knobs: Any) -> tuple[PipedriveSimulator, FakeTime]:
    time = FakeTime()
    return PipedriveSimulator(clock=time.clock, **knobs), time


def connect(sim: PipedriveSimulator, time: FakeTime, **overrides: Any) -> PipedriveSource:
    raw: dict[str, Any] = {
        "kind": "pipedrive",
        "base_url": SANDBOX_URL,
        "auth": {"flow": "api_token", "api_token": "${PD_SIM_TOKEN}"},
        **overrides,
    }
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=time.sleep)
    return PipedriveSource("nordics", PipedriveConfig.model_validate(raw), options, now=time.moment)


def oauth(sim: PipedriveSimulator, time: FakeTime) -> PipedriveSource:
    auth = {
        "flow": "oauth",
        "client_id": sim.oauth.client_id,
        "client_secret": "${PD_SIM_SECRET}",
        "refresh_token": "${PD_SIM_REFRESH}",
        "token_url": f"{SANDBOX_URL}/oauth/token",
    }
    return connect(sim, time, base_url="https://api.pipedrive.com", auth=auth)


async def read(
    src: PipedriveSource, since: Cursor | None = None, fields: tuple[str, ...] = MAPPED
) -> list[DealPage]:
    return [p async for p in src.changed_deals(DealQuery(fields=fields), since)]


def deals(pages: list[DealPage]) -> dict[str, Any]:
    return {d.id: d for p in pages for d in p.deals}


async def raw_get(sim: PipedriveSimulator, path: str, **params: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL) as client:
        return await client.get(path, params=params, headers=HEADERS)


# --- the demo territory --------------------------------------------------------------------------


async def test_the_demo_territory_reads_with_labels_organizations_people_and_owners() -> None:
    sim, time = simulator()
    found = deals(await read(connect(sim, time)))
    assert len(found) == 5
    acme = next(d.payload for d in found.values() if d.payload["title"] == "Acme Nordic rollout")
    assert acme["custom_fields"]["payment_terms"] == "Net 45"
    assert acme["custom_fields"]["free_services"] == ["Onsite training"]
    assert acme["organization"]["custom_fields"]["customer_number"] == "CUST-1001"
    assert acme["person"]["emails"][0]["value"] == "ops@acme.example"
    assert acme["owner"]["email"] == "sigrid.berg@seller.example"


async def test_field_catalog_of_the_demo_company_lists_its_custom_fields() -> None:
    sim, time = simulator()
    paths = {f.path for f in await connect(sim, time).field_catalog()}
    assert {
        "custom_fields.special_discount",
        "custom_fields.payment_terms",
        "custom_fields.contract_value_net.value",
        "organization.custom_fields.customer_number",
        "organization.custom_fields.website",
        "person.custom_fields.contact_role",
    } <= paths


# --- incremental reads ---------------------------------------------------------------------------


async def test_the_next_run_reads_only_what_changed() -> None:
    sim, time = simulator()
    src = connect(sim, time)
    first = await read(src)
    time.now += 60
    changed = next(iter(sim.store.records["deal"]))
    sim.update_deal(changed, custom={"Special discount (%)": 19})
    time.now += 5
    second = await read(src, first[-1].checkpoint)
    assert list(deals(second)) == [str(changed)]
    assert deals(second)[str(changed)].payload["custom_fields"]["special_discount"] == 19
    time.now += 60
    assert await read(src, second[-1].checkpoint) == []


async def test_ties_across_pages_are_all_read_whichever_checkpoint_a_run_resumes_from() -> None:
    sim, time = simulator(seed_demo=False)
    tied = {str(i) for i in sim.seed_equal_timestamps(23)}
    src = connect(sim, time, page_size=5)
    pages = await read(src)
    assert {d.id for p in pages for d in p.deals} == tied
    for index, page in enumerate(pages[:-1]):
        before = {d.id for p in pages[: index + 1] for d in p.deals}
        after = set(deals(await read(src, page.checkpoint)))
        assert before | after == tied
        assert not before & after, "a version already read is not handed out again"


async def test_a_deal_updated_while_the_walk_pages_is_read_by_the_next_run_never_lost() -> None:
    sim, time = simulator(seed_demo=False)
    created = [sim.add_deal(f"Deal {i}", at=START - 100 + i) for i in range(9)]
    src = connect(sim, time, page_size=3)
    first: list[DealPage] = []
    async for page in src.changed_deals(DealQuery(fields=("title",)), None):
        first.append(page)
        if len(first) == 1:
            time.now += 5  # between two pages, somebody edits a read deal and an unread one
            sim.update_deal(created[0], title="Deal 0 edited")
            sim.update_deal(created[5], title="Deal 5 edited")
    time.now += 5
    second = deals(await read(src, first[-1].checkpoint, fields=("title",)))
    assert set(deals(first)) | set(second) == {str(i) for i in created}
    assert second[str(created[0])].payload["title"] == "Deal 0 edited"
    assert second[str(created[5])].payload["title"] == "Deal 5 edited"


async def test_a_deal_deleted_while_a_long_run_pages_is_not_lost_behind_its_checkpoint() -> None:
    """The deleted walk was fetched before the deletion; later live pages hold deals edited
    after it. The run stops at the server's clock, so the next run still sees the deletion."""
    sim, time = simulator(seed_demo=False)
    created = [sim.add_deal(f"Deal {i}", at=START - 100 + i) for i in range(9)]
    src = connect(sim, time, page_size=3)
    first: list[DealPage] = []
    async for page in src.changed_deals(DealQuery(fields=("title",)), None):
        first.append(page)
        if len(first) == 1:
            time.now += 2
            sim.delete_deal(created[1])
            time.now += 2
            sim.update_deal(created[8], title="edited after the deletion")
    time.now += 5
    second = deals(await read(src, first[-1].checkpoint, fields=("title",)))
    assert second[str(created[1])].deleted is True


async def test_overlap_seconds_finds_a_version_the_list_showed_late() -> None:
    sim, time = simulator(seed_demo=False)
    early = sim.add_deal("Written first, listed late", at=START - 5)
    sim.delay_listing(early, 10)
    sim.add_deal("Written second, listed at once", at=START - 3)
    for overlap, found in ((0, False), (10, True)):
        src = connect(sim, time, overlap_seconds=overlap)
        first = await read(src, fields=("title",))
        time.now += 20
        later = await read(src, first[-1].checkpoint, fields=("title",))
        assert (str(early) in deals(later)) is found
        time.now -= 20
        sim.delay_listing(early, 10)


# --- deletions and archiving ---------------------------------------------------------------------


async def test_a_deleted_deal_arrives_as_a_deletion_and_leaves_after_30_days() -> None:
    sim, time = simulator()
    src = connect(sim, time)
    first = await read(src)
    gone = next(iter(sim.store.records["deal"]))
    time.now += 60
    sim.delete_deal(gone)
    time.now += 5
    second = deals(await read(src, first[-1].checkpoint))
    assert second[str(gone)].deleted is True
    time.now += 31 * 86_400
    response = await raw_get(sim, "/api/v2/deals", status="deleted")
    assert response.json()["data"] == []


async def test_an_archived_deal_moves_to_the_archived_list_and_stays_live() -> None:
    sim, time = simulator()
    src = connect(sim, time)
    first = await read(src)
    stored = next(iter(sim.store.records["deal"]))
    time.now += 60
    sim.archive_deal(stored)
    time.now += 5
    again = deals(await read(src, first[-1].checkpoint))[str(stored)]
    assert again.deleted is False
    assert again.payload["is_archived"] is True
    listed = (await raw_get(sim, "/api/v2/deals")).json()["data"]
    assert stored not in [d["id"] for d in listed]


# --- bad input -----------------------------------------------------------------------------------


async def test_a_deleted_organization_and_a_deleted_option_fail_only_their_deals() -> None:
    sim, time = simulator()
    acme, globex = list(sim.store.records["deal"])[:2]
    sim.delete_organization(sim.deal(acme).data["org_id"])
    sim.delete_option("deal", "Payment terms", "Net 30")  # Globex's terms
    found = deals(await read(connect(sim, time)))
    assert unreadable_reason(found[str(acme)].payload["organization"]) is not None
    reason = unreadable_reason(found[str(globex)].payload["custom_fields"]["payment_terms"])
    assert reason is not None
    assert "was deleted" in reason
    healthy = [d for i, d in found.items() if i not in (str(acme), str(globex))]
    assert all(unreadable_reason(d.payload["organization"]) is None for d in healthy)


async def test_a_field_renamed_between_runs_stops_the_job_with_the_new_path() -> None:
    sim, time = simulator()
    src = connect(sim, time)
    first = await read(src)
    time.now += 60
    sim.rename_field("deal", "Payment terms", "Payment conditions")
    sim.update_deal(next(iter(sim.store.records["deal"])), title="touched")
    time.now += 5
    with pytest.raises(PermanentError, match=r"custom_fields\.payment_conditions"):
        await read(src, first[-1].checkpoint)


async def test_the_removed_v1_lists_answer_410_and_unknown_paths_404() -> None:
    sim, _ = simulator()
    for path in ("/v1/deals", "/api/v1/persons", "/v1/organizations/collection", "/v1/deals/7"):
        response = await raw_get(sim, path)
        assert response.status_code == 410
        assert response.json()["success"] is False
    response = await raw_get(sim, "/api/v2/nothing")
    assert response.status_code == 404
    assert response.json()["error_info"].startswith("Please check developers.pipedrive.com")


# --- limits --------------------------------------------------------------------------------------


async def test_the_connector_paces_itself_inside_the_burst_window() -> None:
    sim, time = simulator(seed_demo=False)
    sim.seed_bulk(60, organizations=60)
    src = connect(sim, time, page_size=2)
    pages = await read(src, fields=("organization.name", "person.emails.value"))
    assert len(deals(pages)) == 60
    assert src.client.api.stats.by_status[429] == 0
    assert src.requests_sent > 40  # more than two windows' worth, so pacing had to happen
    assert time.sleeps


async def test_a_client_that_ignores_the_window_gets_429_with_retry_after() -> None:
    sim, _ = simulator()
    answers = [await raw_get(sim, "/api/v2/deals", limit=1) for _ in range(21)]
    assert [a.status_code for a in answers[:20]] == [200] * 20
    last = answers[20]
    assert last.status_code == 429
    assert last.json()["error"] == "Request over limit"
    assert last.headers["x-ratelimit-remaining"] == "0"
    assert int(last.headers["retry-after"]) >= 1
    assert answers[0].headers["x-ratelimit-limit"] == "20"
    assert answers[0].headers["x-daily-requests-left"] == "10000"


async def test_a_spent_daily_budget_stops_the_job_until_midnight() -> None:
    sim, time = simulator()
    sim.budget.tokens = 65  # the four walks cost 60; the deal catalog would take it to 70
    src = connect(sim, time)
    with pytest.raises(BudgetExhausted, match="daily API token budget") as caught:
        await read(src)
    assert caught.value.until.isoformat() == "2026-12-07T00:00:00+00:00"
    assert "2026-12-07 00:00 UTC, in 14 h 0 min" in str(caught.value)
    time.now += 15 * 3600  # past midnight UTC
    assert len(deals(await read(connect(sim, time), fields=("title",)))) == 5


async def test_an_integration_that_keeps_going_after_429s_is_blocked_with_html() -> None:
    sim, _ = simulator(edge_block_after=3)
    codes = [(await raw_get(sim, "/api/v2/deals")).status_code for _ in range(24)]
    assert codes[20:23] == [429, 429, 429]
    blocked = await raw_get(sim, "/api/v2/deals")
    assert blocked.status_code == 403
    assert blocked.headers["content-type"].startswith("text/html")


# --- OAuth ---------------------------------------------------------------------------------------


async def test_oauth_reads_through_the_api_domain_and_survives_token_expiry() -> None:
    sim, time = simulator()
    src = oauth(sim, time)
    first = await read(src)
    assert len(deals(first)) == 5
    sim.oauth.expire_tokens()
    time.now += 60
    sim.update_deal(next(iter(sim.store.records["deal"])), title="after expiry")
    time.now += 5
    again = await read(src, first[-1].checkpoint)
    assert [d.payload["title"] for d in deals(again).values()] == ["after expiry"]
    assert src.client.grant is not None
    assert src.client.grant.refreshes == 2


async def test_a_token_without_the_contacts_scope_is_an_auth_error() -> None:
    sim, time = simulator()
    sim.oauth.scopes = ("base", "deals:read", "users:read")
    with pytest.raises(AuthError, match="contacts:read"):
        await read(oauth(sim, time))


async def test_the_token_endpoint_refuses_what_pipedrive_refuses() -> None:
    sim, time = simulator()
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL) as client:
        as_json = await client.post("/oauth/token", json={"grant_type": "refresh_token"})
        no_client = await client.post("/oauth/token", data={"grant_type": "refresh_token"})
        good = {"grant_type": "refresh_token", "refresh_token": DEMO_REFRESH_TOKEN}
        basic = (sim.oauth.client_id, DEMO_CLIENT_SECRET)
        first = await client.post("/oauth/token", data=good, auth=basic)
        time.now += 61 * 86_400
        idle = await client.post("/oauth/token", data=good, auth=basic)
    assert "x-www-form-urlencoded" in as_json.json()["error"]
    assert no_client.json()["error"] == "Invalid client: cannot retrieve client credentials"
    assert first.json()["refresh_token"] == DEMO_REFRESH_TOKEN  # the same one: no rotation
    assert first.json()["api_domain"] == SANDBOX_URL
    assert idle.json()["error"] == "Invalid grant: `refresh_token` is invalid"


# --- v2 list semantics over plain HTTP -----------------------------------------------------------


async def test_updated_since_is_inclusive_and_updated_until_exclusive() -> None:
    sim, _ = simulator(seed_demo=False)
    at = [sim.add_deal(f"D{i}", at=START - 30 + i * 10) for i in range(3)]  # -30, -20, -10
    since = datetime.fromtimestamp(START - 20, tz=UTC).isoformat().replace("+00:00", "Z")
    until = datetime.fromtimestamp(START - 10, tz=UTC).isoformat().replace("+00:00", "Z")
    body = (await raw_get(sim, "/api/v2/deals", updated_since=since, updated_until=until)).json()
    assert [d["id"] for d in body["data"]] == [at[1]]


async def test_the_cursor_is_the_documented_keyset_of_the_next_item() -> None:
    sim, _ = simulator(seed_demo=False)
    made = [sim.add_deal(f"D{i}", at=START - 10) for i in range(3)]
    body = (await raw_get(sim, "/api/v2/deals", sort_by="update_time", limit=2)).json()
    token = body["additional_data"]["next_cursor"]
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded == {
        "field": "update_time",
        "fieldValue": "2026-12-06T09:59:50Z",
        "sortDirection": "asc",
        "id": made[2],
    }
    rest = (
        await raw_get(sim, "/api/v2/deals", sort_by="update_time", limit=2, cursor=token)
    ).json()
    assert [d["id"] for d in rest["data"]] == [made[2]]
    assert rest["additional_data"]["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"limit": "501"}, "limit"),
        ({"ids": ",".join(str(i) for i in range(101))}, "100"),
        ({"sort_by": "title"}, "sort_by"),
        ({"status": "open,closed"}, "status"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"custom_fields": ",".join("k" * 40 for _ in range(16))}, "15"),
        ({"sort_by": "id", "cursor": "eyJmaWVsZCI6InVwZGF0ZV90aW1lIn0"}, "cursor"),
    ],
)
async def test_bad_list_parameters_answer_400_naming_the_parameter(
    params: dict[str, str], words: str
) -> None:
    sim, _ = simulator()
    response = await raw_get(sim, "/api/v2/deals", **params)
    assert response.status_code == 400
    assert words in response.json()["error"]


async def test_ids_leave_out_unknown_and_deleted_records() -> None:
    sim, _ = simulator()
    orgs = list(sim.store.records["organization"])
    sim.delete_organization(orgs[0])
    wanted = ",".join(str(i) for i in [*orgs[:3], 999_999])
    body = (await raw_get(sim, "/api/v2/organizations", ids=wanted)).json()
    assert [o["id"] for o in body["data"]] == orgs[1:3]


async def test_requests_without_a_valid_token_get_the_documented_401() -> None:
    sim, _ = simulator()
    transport = httpx.ASGITransport(app=sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL) as client:
        wrong = await client.get("/api/v2/deals", headers={"x-api-token": "nope"})
        malformed = await client.get("/api/v2/deals", headers={"authorization": "Token x"})
        expired = await client.get("/api/v2/deals", headers={"authorization": "Bearer x"})
    assert wrong.json() == {"success": False, "error": "unauthorized access", "errorCode": 401}
    assert malformed.status_code == 400
    assert expired.json()["error"] == "Invalid token: `access_token` is invalid"


# --- what a backfill costs ---------------------------------------------------------------------


async def test_a_backfill_costs_one_call_per_page_and_per_100_related_records() -> None:
    result = await measure(1200, 1200)  # every deal its own organization and person
    # 3 pages of deals + deleted + archived + deleted archived + deal and organization field
    # lists + users + 12 organization and 12 person batches (500 + 500 + 200 distinct ids)
    assert result.requests == 3 + 1 + 1 + 1 + 2 + 1 + 12 + 12
    assert result.throttled == 0
    assert result.tokens == 3 * 10 + 10 + 20 + 20 + 2 * 10 + 20 + 24 * 10


async def test_users_are_read_in_v1_offset_pages() -> None:
    sim, time = simulator()
    for i in range(600):
        sim.add_user(f"Rep {i}", f"rep{i}@seller.example")
    found = deals(await read(connect(sim, time), fields=("owner.email",)))
    assert all(d.payload["owner"]["email"].endswith("@seller.example") for d in found.values())
    pages = [r.query for r in sim.controls.requests if r.path.endswith("/users")]
    assert pages == ["start=0&limit=500", "start=500&limit=500"]
    first = (await raw_get(sim, "/api/v1/users", start=0, limit=500)).json()["additional_data"]
    assert first["pagination"] == {
        "start": 0,
        "limit": 500,
        "more_items_in_collection": True,
        "next_start": 500,
    }
