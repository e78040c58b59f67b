"""Zendesk target: config, auth, the identity feed from incremental exports, read, catalog,
and how Zendesk's throttling and error answers become dealbridge errors."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.base import Cursor, CustomerPage, RecordRef, ServiceTarget
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.paging import Boundary
from connectors.registry import get_spec
from connectors.service.zendesk import ZendeskConfig, ZendeskTarget
from connectors.service.zendesk.identity import _second, _version
from connectors.service.zendesk.payloads import organization_record
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zendesk"
BASE = "https://acme.zendesk.com"
ORG_EXPORT = f"{BASE}/api/v2/incremental/organizations.json"
USER_EXPORT = f"{BASE}/api/v2/incremental/users/cursor.json"
TOKEN = "zd-unit-token-9f8e7d6c5b4a"
TOKEN_ENV = "ZD_UNIT_TOKEN"
EMAIL = "bot@acme.example"


def load(name: str) -> Any:
    """A fixture derived from go-zendesk (see tests/fixtures/zendesk/README.md)."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Sleeps:
    """A fake async sleep that records what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def make_target(sleeps: Sleeps | None = None, **overrides: Any) -> ZendeskTarget:
    raw = {
        "kind": "zendesk",
        "base_url": BASE,
        "email": EMAIL,
        "api_token": "${" + TOKEN_ENV + "}",
    } | overrides
    config = ZendeskConfig.model_validate(raw)
    return ZendeskTarget("desk", config, ConnectorOptions(sleep=sleeps or Sleeps()))


def org(org_id: int, updated: str = "2024-05-01T10:00:00Z", **extra: Any) -> dict[str, Any]:
    """An organization shaped like go-zendesk's organizations.json, with the fields we read."""
    base = dict(load("organizations.json")["organizations"][0])
    return base | {"id": org_id, "updated_at": updated, "external_id": None} | extra


def user(user_id: int, email: str, **extra: Any) -> dict[str, Any]:
    """An end-user shaped like go-zendesk's user.json."""
    base = dict(load("user.json")["user"])
    return base | {"id": user_id, "email": email, "updated_at": "2024-05-01T10:00:00Z"} | extra


def org_page(rows: list[dict[str, Any]], end_time: int, *, end: bool) -> httpx.Response:
    body = {
        "organizations": rows,
        "count": len(rows),
        "end_time": end_time,
        "end_of_stream": end,
        "next_page": None if end else f"{ORG_EXPORT}?start_time={end_time}",
    }
    return httpx.Response(200, json=body)


def user_page(rows: list[dict[str, Any]], after: str, *, end: bool, **extra: Any) -> httpx.Response:
    body = {"users": rows, "after_cursor": after, "before_cursor": None, "end_of_stream": end}
    return httpx.Response(200, json=body | extra)


async def collect(target: ZendeskTarget, since: Cursor | None = None) -> list[CustomerPage]:
    return [page async for page in target.customers(since)]


def test_zendesk_is_registered_as_a_target_with_its_simulator() -> None:
    spec = get_spec("zendesk")
    assert (spec.role, spec.config_model, spec.simulator) == (
        "target",
        ZendeskConfig,
        "connectors.service.zendesk.simulator:demo_app",
    )


def test_target_satisfies_the_service_target_protocol() -> None:
    target = make_target()
    assert isinstance(target, ServiceTarget)
    assert (target.write_batch_size, target.system) == (100, "zendesk")


def test_config_refuses_an_inline_api_token() -> None:
    with pytest.raises(ValueError, match="inline secrets are refused"):
        ZendeskConfig.model_validate(
            {"kind": "zendesk", "base_url": BASE, "email": EMAIL, "api_token": TOKEN}
        )


def test_config_strips_api_suffix_and_derives_the_rate_from_the_plan() -> None:
    target = make_target(base_url=f"{BASE}/api/v2/", plan_rpm=400)
    assert target.config.base_url == BASE
    assert target.config.steady_rate == pytest.approx(400 / 60)


async def test_requests_send_email_slash_token_and_the_api_token_as_basic_auth(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(f"{BASE}/api/v2/users/me.json").mock(
        return_value=httpx.Response(200, json=load("user.json"))
    )
    health = await make_target().check()
    sent = route.calls.last.request.headers["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == f"{EMAIL}/token:{TOKEN}"
    assert health.ok


async def test_first_run_exports_organizations_by_end_time_then_users_by_cursor(
    respx_mock: respx.MockRouter,
) -> None:
    second = respx_mock.get(ORG_EXPORT, params={"start_time": "1714557600"}).mock(
        return_value=org_page([org(2, "2024-05-01T11:00:00Z")], 1714561200, end=True)
    )
    first = respx_mock.get(ORG_EXPORT, params={"start_time": "0"}).mock(
        return_value=org_page([org(1, external_id="CUST-1")], 1714557600, end=False)
    )
    users = respx_mock.get(USER_EXPORT, params={"start_time": "0"}).mock(
        return_value=user_page([user(7, "Ops@Acme.example")], "c1", end=True)
    )
    pages = await collect(make_target())
    records = [r for page in pages for r in page.records]
    assert [r.ref.key for r in records] == ["organization:1", "organization:2", "user:7"]
    assert records[0].external_id == "CUST-1"
    assert records[0].domains == ("hoth.com", "dantooine.com")
    assert records[2].emails == ("ops@acme.example",)
    assert [first.call_count, second.call_count, users.call_count] == [1, 1, 1]
    final = json.loads(pages[-1].checkpoint.value)
    assert final == {
        "organization": {"start_time": 1714561200},
        "user": {"cursor": "c1", "start_time": 0},
    }


async def test_organizations_sharing_the_end_time_are_yielded_once_per_read(
    respx_mock: respx.MockRouter,
) -> None:
    shared = org(2, "2024-05-01T10:00:00Z")
    respx_mock.get(ORG_EXPORT, params={"start_time": "1714557600"}).mock(
        return_value=org_page([shared, org(3, "2024-05-01T10:00:00Z")], 1714557600, end=True)
    )
    respx_mock.get(ORG_EXPORT, params={"start_time": "0"}).mock(
        return_value=org_page([org(1, "2024-05-01T09:00:00Z"), shared], 1714557600, end=False)
    )
    respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c0", end=True))
    pages = await collect(make_target())
    keys = [r.ref.id for page in pages for r in page.records]
    assert keys == ["1", "2", "3"]


def test_an_export_remembers_only_the_records_at_the_edge_of_its_last_page() -> None:
    seen = Boundary(_second, _version)
    page = [organization_record(org(n, "2024-05-01T09:00:00Z")) for n in range(1000)]
    page.append(organization_record(org(1000, "2024-05-01T10:00:00Z")))
    assert len(seen.fresh(page, 1714557600)) == 1001
    edge = ("1000", page[-1].updated_at)
    assert seen.remembered == [edge], "only records at end_time can come again"


async def test_resuming_uses_the_stored_start_time_and_after_cursor(
    respx_mock: respx.MockRouter,
) -> None:
    orgs = respx_mock.get(ORG_EXPORT).mock(return_value=org_page([], 1714557600, end=True))
    users = respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c9", end=True))
    stored = {"organization": {"start_time": 1714557600}, "user": {"cursor": "c8"}}
    await collect(make_target(), Cursor(value=json.dumps(stored)))
    assert orgs.calls.last.request.url.params["start_time"] == "1714557600"
    assert users.calls.last.request.url.params["cursor"] == "c8"
    assert "start_time" not in users.calls.last.request.url.params


async def test_a_start_time_within_the_last_minute_is_pulled_back_before_asking(
    respx_mock: respx.MockRouter,
) -> None:
    orgs = respx_mock.get(ORG_EXPORT).mock(return_value=org_page([], 0, end=True))
    respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c1", end=True))
    recent = {"organization": {"start_time": int(time.time())}, "user": {}}
    await collect(make_target(), Cursor(value=json.dumps(recent)))
    asked = int(orgs.calls.last.request.url.params["start_time"])
    assert asked <= time.time() - 60


async def test_unreadable_cursor_means_a_full_export(respx_mock: respx.MockRouter) -> None:
    orgs = respx_mock.get(ORG_EXPORT).mock(return_value=org_page([], 0, end=True))
    respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c1", end=True))
    await collect(make_target(), Cursor(value="not json"))
    assert orgs.calls.last.request.url.params["start_time"] == "0"


async def test_deleted_orgs_and_inactive_users_are_marked_deleted_and_agents_left_out(
    respx_mock: respx.MockRouter,
) -> None:
    gone = org(1, deleted_at="2024-05-02T08:00:00Z")
    respx_mock.get(ORG_EXPORT).mock(return_value=org_page([gone], 1714636800, end=True))
    rows = [
        user(7, "old@acme.example", active=False),
        user(8, "agent@desk.example", role="agent"),
        user(9, "new@acme.example"),
    ]
    respx_mock.get(USER_EXPORT).mock(return_value=user_page(rows, "c1", end=True))
    records = [r for page in await collect(make_target()) for r in page.records]
    assert [(r.ref.key, r.deleted) for r in records] == [
        ("organization:1", True),
        ("user:7", True),
        ("user:9", False),
    ]


async def test_odd_payloads_string_ids_null_fields_and_side_loaded_identities(
    respx_mock: respx.MockRouter,
) -> None:
    odd = org(0) | {
        "id": "361898904439",
        "organization_fields": None,
        "domain_names": None,
        "updated_at": "yesterday",
        "external_id": 1001,
    }
    respx_mock.get(ORG_EXPORT).mock(return_value=org_page([odd], 1714557600, end=True))
    identities = [
        {"user_id": 7, "type": "email", "value": "second@acme.example"},
        {"user_id": 7, "type": "phone_number", "value": "+15551234"},
    ]
    respx_mock.get(USER_EXPORT).mock(
        return_value=user_page(
            [user(7, "first@acme.example", user_fields=None)], "c", end=True, identities=identities
        )
    )
    company, person = [r for page in await collect(make_target()) for r in page.records]
    assert (company.ref.id, company.external_id, company.domains) == ("361898904439", "1001", ())
    assert company.updated_at is None
    assert company.fields == {"notes": None, "details": None}
    assert person.emails == ("first@acme.example", "second@acme.example")


async def test_throttle_429_with_plain_text_body_waits_retry_after_and_retries(
    respx_mock: respx.MockRouter,
) -> None:
    throttled = httpx.Response(
        429, text="Too Many Requests", headers={"Retry-After": "37", "X-Rate-Limit": "700"}
    )
    respx_mock.get(ORG_EXPORT).mock(
        side_effect=[throttled, org_page([org(1)], 1714557600, end=True)]
    )
    respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c", end=True))
    sleeps = Sleeps()
    records = [r for page in await collect(make_target(sleeps)) for r in page.records]
    assert [r.ref.id for r in records] == ["1"]
    assert max(sleeps.calls) >= 37


async def test_incremental_exports_are_paced_to_ten_a_minute(
    respx_mock: respx.MockRouter,
) -> None:
    pages = [org_page([org(n)], n + 1, end=n == 12) for n in range(1, 13)]
    respx_mock.get(ORG_EXPORT).mock(side_effect=pages)
    sleeps = Sleeps()
    await collect(make_target(sleeps, record_kinds=["organization"]))
    # 12 exports: the first 10 at once, the 11th and 12th once the first leave the window
    # (60 s after its answer: Zendesk counted it before), so no minute Zendesk may count
    # holds more than 10.
    assert sum(sleeps.calls) == pytest.approx(60.0, abs=0.5)


async def test_unauthenticated_401_is_an_auth_error_with_the_vendor_message_and_no_secret(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(ORG_EXPORT).mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
    )
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await collect(make_target())
    assert "Couldn't authenticate you" in str(caught.value)
    assert caught.value.who_acts == "admin"
    assert TOKEN not in str(caught.value) + repr(logs)


async def test_forbidden_403_is_an_auth_error_for_an_admin(respx_mock: respx.MockRouter) -> None:
    body = {"error": "Forbidden", "description": "You do not have access to this page."}
    respx_mock.get(ORG_EXPORT).mock(return_value=httpx.Response(403, json=body))
    with pytest.raises(AuthError, match="You do not have access"):
        await collect(make_target())


async def test_server_errors_are_transient_and_retried(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(ORG_EXPORT).mock(
        side_effect=[
            httpx.Response(503, text="Service Unavailable"),
            org_page([], 0, end=True),
        ]
    )
    respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c", end=True))
    assert await collect(make_target()) is not None


async def test_persistent_server_errors_surface_as_transient_errors(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(ORG_EXPORT).mock(return_value=httpx.Response(502, text="Bad Gateway"))
    with pytest.raises(TransientError, match="Bad Gateway"):
        await collect(make_target())


async def test_non_json_answer_on_a_list_is_reported_not_crashed_on(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(ORG_EXPORT).mock(return_value=httpx.Response(200, json=["not", "an object"]))
    with pytest.raises(PermanentError, match="where an object was expected"):
        await collect(make_target())


async def test_read_uses_show_many_in_batches_of_100_and_flattens_custom_fields(
    respx_mock: respx.MockRouter,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        ids = [int(i) for i in request.url.params["ids"].split(",")]
        rows = [
            org(i, notes="VIP", organization_fields={"payment_terms": "net30"})
            for i in ids
            if i != 5
        ]
        return httpx.Response(200, json={"organizations": rows})

    route = respx_mock.get(f"{BASE}/api/v2/organizations/show_many.json").mock(side_effect=answer)
    refs = [RecordRef(kind="organization", id=str(n)) for n in range(1, 151)]
    records = await make_target().read(refs)
    assert route.call_count == 2
    assert len(records) == 149, "the missing record is left out"
    assert records[0].fields == {
        "notes": "VIP",
        "details": None,
        "organization_fields.payment_terms": "net30",
    }


async def test_field_catalog_lists_notes_details_and_custom_fields_with_choices(
    respx_mock: respx.MockRouter,
) -> None:
    first = load("organization_fields.json") | {
        "next_page": f"{BASE}/api/v2/organization_fields.json?page=2"
    }
    dropdown = {
        "key": "payment_terms",
        "type": "dropdown",
        "title": "Payment terms",
        "active": True,
        "custom_field_options": [
            {"name": "Net 30", "value": "net30"},
            {"name": "Net 60", "value": "net60"},
        ],
    }
    inactive = {"key": "old", "type": "text", "title": "Old", "active": False}
    respx_mock.get(f"{BASE}/api/v2/organization_fields.json", params={"page": "2"}).mock(
        return_value=httpx.Response(200, json={"organization_fields": [dropdown, inactive]})
    )
    respx_mock.get(f"{BASE}/api/v2/organization_fields.json").mock(
        return_value=httpx.Response(200, json=first)
    )
    respx_mock.get(f"{BASE}/api/v2/user_fields.json").mock(
        return_value=httpx.Response(200, json=load("user_fields.json"))
    )
    catalog = {f.path: f for f in await make_target().field_catalog()}
    assert set(catalog) == {
        "notes",
        "details",
        "organization_fields.test_key",
        "organization_fields.test_external_id",
        "organization_fields.payment_terms",
        "user_fields.custom_field_1",
    }
    assert catalog["organization_fields.payment_terms"].choices == ("net30", "net60")
    assert catalog["notes"].max_length == 30_000
    assert all(f.writable for f in catalog.values())


async def test_an_export_that_reaches_the_last_minute_stops_and_resumes_next_run(
    respx_mock: respx.MockRouter,
) -> None:
    """Zendesk refuses a start_time under a minute old, so paging stops there (no 400)."""
    recent = int(time.time()) - 5
    route = respx_mock.get(ORG_EXPORT).mock(
        return_value=org_page([org(1), org(2)], recent, end=False)
    )
    target = make_target(record_kinds=["organization"])
    pages = [page async for page in target.customers(None)]
    assert route.call_count == 1
    assert [r.ref.id for p in pages for r in p.records] == ["1", "2"]
    position = json.loads(pages[-1].checkpoint.value)
    assert position["organization"]["start_time"] == recent
    await target.aclose()


async def test_a_too_recent_start_time_answer_ends_the_read_where_it_stood(
    respx_mock: respx.MockRouter,
) -> None:
    """Should our clock run ahead of Zendesk's, it refuses the pulled-back start_time (422)."""
    too_recent = httpx.Response(
        422,
        json={
            "error": "InvalidValue",
            "description": "Too recent start_time. Use a start_time older than one minute",
        },
    )
    respx_mock.get(ORG_EXPORT).mock(return_value=too_recent)
    users = respx_mock.get(USER_EXPORT).mock(return_value=user_page([], "c1", end=True))
    stored = {"organization": {"start_time": 1714557600}, "user": {}}
    pages = await collect(make_target(), Cursor(value=json.dumps(stored)))
    assert users.call_count == 1, "the users export still ran"
    assert json.loads(pages[-1].checkpoint.value)["organization"]["start_time"] == 1714557600


async def test_other_export_refusals_still_stop_the_run(respx_mock: respx.MockRouter) -> None:
    invalid = httpx.Response(422, json={"error": "InvalidValue", "description": "per_page"})
    respx_mock.get(ORG_EXPORT).mock(return_value=invalid)
    with pytest.raises(PermanentError):
        await collect(make_target())
