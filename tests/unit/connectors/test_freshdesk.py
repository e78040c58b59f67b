"""Freshdesk target: identity paging, incremental filters, throttling, auth and error bodies.

Payloads come from tests/fixtures/freshdesk (python-freshdesk's recorded bodies, BSD-2).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.base import Cursor, CustomerPage, RecordRef, ServiceTarget
from connectors.errors import AuthError, PermanentError, RateLimited, RecordError, TransientError
from connectors.paging import next_link
from connectors.registry import get_spec
from connectors.service.freshdesk import FreshdeskConfig, FreshdeskTarget
from connectors.service.freshdesk.errors import classify
from connectors.service.freshdesk.paging import IdentityCursor
from connectors.settings import ConnectorOptions

pytestmark = pytest.mark.anyio

BASE = "https://acme.freshdesk.com"
API_KEY = "fd-unit-key-Rt5Wq8Zp3"
KEY_ENV = "FD_UNIT_API_KEY"
FIXTURES = Path(__file__).parents[2] / "fixtures" / "freshdesk"
COMPANIES = f"{BASE}/api/v2/companies"
CONTACTS = f"{BASE}/api/v2/contacts"
SEARCH = f"{BASE}/api/v2/search/companies"
VENDOR_DATE = "Mon, 04 Mar 2024 10:00:00 GMT"
VENDOR_NOW = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)


def load(name: str) -> Any:
    """A fixture body from tests/fixtures/freshdesk."""
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


class Sleeps:
    """Fake sleep: records every wait and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture(autouse=True)
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API key reaches config as ``${FD_UNIT_API_KEY}``, as an admin would write it."""
    monkeypatch.setenv(KEY_ENV, API_KEY)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_target(sleeps: Sleeps | None = None, **overrides: Any) -> FreshdeskTarget:
    """A target on BASE with fast pacing unless a test asks for the real budgets."""
    raw = {
        "kind": "freshdesk",
        "base_url": BASE,
        "api_key": "${" + KEY_ENV + "}",
        "rate_per_second": 1000,
        "contact_list_per_minute": 60_000,
        **overrides,
    }
    config = FreshdeskConfig.model_validate(raw)
    return FreshdeskTarget("helpdesk", config, ConnectorOptions(sleep=sleeps or Sleeps()))


def listing(body: Any, *, next_url: str | None = None, date: str = VENDOR_DATE) -> httpx.Response:
    """A list answer with Freshdesk's budget headers, Date and (maybe) a next link."""
    headers = {
        "X-Ratelimit-Total": "200",
        "X-Ratelimit-Remaining": "150",
        "X-Ratelimit-Used-CurrentRequest": "1",
        "Date": date,
    }
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    return httpx.Response(200, json=body, headers=headers)


def contact(contact_id: int, email: str, **extra: Any) -> dict[str, Any]:
    """A contact shaped like tests/fixtures/freshdesk/contact.json."""
    body: dict[str, Any] = load("contact.json") | {"id": contact_id, "email": email}
    return body | extra


async def collect(target: FreshdeskTarget, since: Cursor | None = None) -> list[CustomerPage]:
    return [page async for page in target.customers(since)]


def test_freshdesk_is_registered_as_a_target_with_its_simulator() -> None:
    spec = get_spec("freshdesk")
    assert spec.role == "target"
    assert spec.config_model is FreshdeskConfig
    assert spec.simulator == "connectors.service.freshdesk.simulator:demo_app"


def test_target_satisfies_the_service_target_protocol() -> None:
    target: ServiceTarget = make_target()  # mypy --strict checks the protocol here
    assert isinstance(target, ServiceTarget)
    assert target.system == "freshdesk"
    assert target.write_batch_size == 10


def test_config_refuses_an_inline_api_key() -> None:
    with pytest.raises(ValueError, match="inline secrets are refused"):
        FreshdeskConfig.model_validate(
            {"kind": "freshdesk", "base_url": BASE, "api_key": "plain-text-key"}
        )


def test_config_accepts_base_url_with_api_suffix_and_derives_budgets() -> None:
    config = FreshdeskConfig.model_validate(
        {"kind": "freshdesk", "base_url": f"{BASE}/api/v2/", "api_key": "${" + KEY_ENV + "}"}
    )
    assert config.base_url == BASE
    assert config.steady_rate == pytest.approx(200 / 60)  # Growth plan account budget
    assert config.contact_list_rate == pytest.approx(20 / 60)  # Growth plan contact lists


async def test_requests_send_the_api_key_as_basic_user_with_password_x(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(COMPANIES).mock(return_value=listing([]))
    health = await make_target().check()
    expected = base64.b64encode(f"{API_KEY}:X".encode()).decode()
    assert route.calls.last.request.headers["Authorization"] == f"Basic {expected}"
    assert health.ok
    assert health.api_usage == "50/200 requests used this minute"


async def test_first_run_lists_every_company_and_contact_following_link_headers(
    respx_mock: respx.MockRouter,
) -> None:
    second = f"{COMPANIES}?page=2&per_page=100"
    respx_mock.get(COMPANIES, params={"page": "2"}).mock(
        return_value=listing([load("company.json") | {"id": 3}])
    )
    first = respx_mock.get(COMPANIES, params={"page": "1"}).mock(
        return_value=listing(load("companies.json"), next_url=second)
    )
    contacts = respx_mock.get(CONTACTS).mock(
        return_value=listing([contact(7, "Rachel@Freshdesk.com")])
    )
    pages = await collect(make_target())
    keys = [r.ref.key for p in pages for r in p.records]
    assert keys == ["company:1", "company:2", "company:3", "contact:7"]
    assert "_updated_since" not in contacts.calls.last.request.url.params
    assert first.calls.last.request.url.params["per_page"] == "100"
    acme = pages[0].records[0]
    assert acme.domains == ("supernova", "nova", "super")
    assert acme.fields["custom_fields.website"] == "https://www.supernova.org"
    assert pages[-1].records[0].emails == ("rachel@freshdesk.com",)


async def test_checkpoint_moves_only_when_a_kind_has_been_listed_completely(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(COMPANIES, params={"page": "2"}).mock(
        return_value=listing([load("company.json")])
    )
    respx_mock.get(COMPANIES, params={"page": "1"}).mock(
        return_value=listing(load("companies.json"), next_url=f"{COMPANIES}?page=2")
    )
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    pages = await collect(make_target())
    cursors = [IdentityCursor.decode(p.checkpoint) for p in pages]
    assert cursors[0] == IdentityCursor()  # mid-listing: a crash must re-list companies
    assert cursors[1] == IdentityCursor(companies=VENDOR_NOW)
    assert cursors[2] == IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW)


async def test_incremental_run_reads_contacts_updated_since_the_watermark_minus_overlap(
    respx_mock: respx.MockRouter,
) -> None:
    watermark = datetime(2024, 3, 1, 12, 0, 5, tzinfo=UTC)
    since = IdentityCursor(companies=watermark, contacts=watermark).encode()
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    deleted = respx_mock.get(CONTACTS, params={"state": "deleted"}).mock(return_value=listing([]))
    changed = respx_mock.get(CONTACTS).mock(
        return_value=listing([contact(8, "sam@globex.example")])
    )
    await collect(make_target(), since)
    params = changed.calls.last.request.url.params
    assert params["_updated_since"] == "2024-03-01T11:55:05Z"  # 300 s overlap, inclusive
    assert deleted.calls.last.request.url.params["_updated_since"] == "2024-03-01T11:55:05Z"


async def test_two_contacts_sharing_the_watermark_second_are_both_read_again(
    respx_mock: respx.MockRouter,
) -> None:
    tie = "2024-03-04T10:00:00Z"
    since = IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW).encode()
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    respx_mock.get(CONTACTS, params={"state": "deleted"}).mock(return_value=listing([]))
    respx_mock.get(CONTACTS).mock(
        return_value=listing(
            [contact(1, "a@x.example", updated_at=tie), contact(2, "b@x.example", updated_at=tie)]
        )
    )
    pages = await collect(make_target(), since)
    contacts = [r for p in pages for r in p.records if r.ref.kind == "contact"]
    assert [r.ref.id for r in contacts] == ["1", "2"]
    assert {r.updated_at for r in contacts} == {VENDOR_NOW}


async def test_incremental_run_finds_changed_companies_through_the_filter_api_by_day(
    respx_mock: respx.MockRouter,
) -> None:
    watermark = datetime(2024, 3, 1, 0, 2, tzinfo=UTC)  # minus overlap falls on Feb 29
    since = IdentityCursor(companies=watermark, contacts=watermark).encode()
    search = respx_mock.get(SEARCH).mock(return_value=listing(load("search_companies.json")))
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    pages = await collect(make_target(company_search=True), since)
    assert search.calls.last.request.url.params["query"] == "\"updated_at:>'2024-02-29'\""
    assert [r.name for r in pages[0].records] == ["Lex Corp", "Daily Planet"]
    assert pages[0].records[0].domains == ("lexcorp.org", "lexcorp.us")
    assert IdentityCursor.decode(pages[0].checkpoint).companies == VENDOR_NOW


async def test_more_than_300_changed_companies_fall_back_to_the_full_list(
    respx_mock: respx.MockRouter,
) -> None:
    since = IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW).encode()
    respx_mock.get(SEARCH).mock(return_value=listing({"total": 301, "results": []}))
    full = respx_mock.get(COMPANIES).mock(return_value=listing(load("companies.json")))
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    target = make_target(company_search=True)
    pages = await collect(target, since)
    assert full.call_count == 1
    assert len(pages[0].records) == 2
    assert any("listed in full" in n for n in target.notices())


async def test_soft_deleted_contacts_leave_the_index_as_deleted_records(
    respx_mock: respx.MockRouter,
) -> None:
    since = IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW).encode()
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    respx_mock.get(CONTACTS, params={"state": "deleted"}).mock(
        return_value=listing([contact(9, "gone@x.example", deleted=True)])
    )
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    pages = await collect(make_target(), since)
    gone = pages[-1].records[0]
    assert (gone.ref.key, gone.deleted) == ("contact:9", True)


async def test_an_unreadable_cursor_means_listing_everything_again(
    respx_mock: respx.MockRouter,
) -> None:
    companies = respx_mock.get(COMPANIES).mock(return_value=listing([]))
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    await collect(make_target(), Cursor(value="not json"))
    assert companies.call_count == 1


async def test_the_same_next_link_twice_stops_with_a_permanent_error(
    respx_mock: respx.MockRouter,
) -> None:
    loop = f"{COMPANIES}?page=2"
    respx_mock.get(COMPANIES).mock(return_value=listing([load("company.json")], next_url=loop))
    with pytest.raises(PermanentError, match="same next-page link"):
        await collect(make_target())


def test_next_link_keeps_only_path_and_query_so_the_key_never_leaves_the_host() -> None:
    link = '<https://evil.example/api/v2/contacts?page=3&per_page=100>; rel="next", <x>; rel="prev"'
    assert next_link(link) == "/api/v2/contacts?page=3&per_page=100"
    assert next_link('<https://a.example/api/v2/contacts?page=1>; rel="prev"') is None
    assert next_link(None) is None


async def test_contact_listings_are_spaced_by_the_contact_list_budget(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    pages = 22
    respx_mock.get(CONTACTS, params={"page": str(pages)}).mock(return_value=listing([]))
    for page in range(1, pages):
        respx_mock.get(CONTACTS, params={"page": str(page)}).mock(
            return_value=listing(
                [contact(page, f"c{page}@x.example")], next_url=f"{CONTACTS}?page={page + 1}"
            )
        )
    target = make_target(sleeps, contact_list_per_minute=20)  # Growth plan
    started = time.monotonic()
    await collect(target)
    elapsed = time.monotonic() - started
    # 20 listings spend the fresh minute at once; the 21st waits for the first to leave it
    # (60 s plus the window's margin), the 22nd does not wait again. The gates' clock is real
    # time plus the time slept, so real time spent on a loaded machine shortens the wait.
    assert 61.0 - elapsed - 0.01 <= sum(sleeps.calls) <= 61.0 + 0.01


async def test_throttle_429_waits_the_retry_after_seconds_and_retries(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    throttled = httpx.Response(
        429, headers={"Retry-After": "37", "X-Ratelimit-Total": "200", "X-Ratelimit-Remaining": "0"}
    )
    route = respx_mock.get(f"{COMPANIES}/1").mock(
        side_effect=[throttled, listing(load("company.json"))]
    )
    records = await make_target(sleeps).read([_ref("company", "1")])
    assert route.call_count == 2
    assert max(sleeps.calls) == pytest.approx(37, abs=0.5)
    assert records[0].name == "Super Nova"


async def test_throttle_that_never_ends_surfaces_as_rate_limited(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    respx_mock.get(f"{COMPANIES}/1").mock(
        return_value=httpx.Response(429, headers={"Retry-After": "5"})
    )
    with pytest.raises(RateLimited) as caught:
        await make_target(sleeps).read([_ref("company", "1")])
    assert caught.value.retry_after == 5


async def test_server_error_is_retried_then_succeeds(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    route = respx_mock.get(f"{COMPANIES}/1").mock(
        side_effect=[httpx.Response(502), listing(load("company.json"))]
    )
    assert len(await make_target(sleeps).read([_ref("company", "1")])) == 1
    assert route.call_count == 2


async def test_invalid_credentials_raise_auth_error_with_the_vendor_message(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(COMPANIES).mock(
        return_value=httpx.Response(401, json=load("invalid_credentials.json"))
    )
    with pytest.raises(AuthError) as caught:
        await collect(make_target())
    assert "You have to be logged in to perform this action." in str(caught.value)
    assert caught.value.vendor_code == "invalid_credentials"
    assert caught.value.who_acts == "admin"


async def test_check_reports_refused_credentials_without_raising(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(COMPANIES).mock(
        return_value=httpx.Response(403, json=load("access_denied.json"))
    )
    health = await make_target().check()
    assert not health.ok
    assert "You are not authorized to perform this action." in health.detail


async def test_a_redirect_names_the_base_url_as_the_problem(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(COMPANIES).mock(
        return_value=httpx.Response(302, headers={"Location": "https://freshdesk.com/signup"})
    )
    with pytest.raises(PermanentError, match="base_url") as caught:
        await collect(make_target())
    assert caught.value.who_acts == "admin"


def _response(status: int, path: str, body: Any = None, method: str = "GET") -> httpx.Response:
    request = httpx.Request(method, f"{BASE}{path}")
    if body is None:
        return httpx.Response(status, request=request)
    return httpx.Response(status, json=body, request=request)


@pytest.mark.parametrize(
    ("status", "path", "body", "expected", "code"),
    [
        (400, "/api/v2/companies/5", load("validation_error.json"), RecordError, "invalid_value"),
        (400, "/api/v2/contacts", load("validation_error.json"), PermanentError, "invalid_value"),
        (
            401,
            "/api/v2/contacts",
            load("invalid_credentials.json"),
            AuthError,
            "invalid_credentials",
        ),
        (403, "/api/v2/companies/5", load("access_denied.json"), AuthError, "access_denied"),
        (
            403,
            "/api/v2/companies",
            {"code": "account_suspended", "message": "x"},
            PermanentError,
            "account_suspended",
        ),
        (404, "/api/v2/contacts/5", None, RecordError, None),
        (404, "/api/v2/companies", None, PermanentError, None),
        (
            409,
            "/api/v2/contacts/5",
            {"code": "inconsistent_state", "message": "x"},
            RecordError,
            "inconsistent_state",
        ),
        (
            415,
            "/api/v2/contacts/5",
            {"code": "invalid_content_type", "message": "x"},
            PermanentError,
            "invalid_content_type",
        ),
        (500, "/api/v2/contacts", None, TransientError, None),
        (503, "/api/v2/contacts/5", None, TransientError, None),
    ],
)
def test_error_table_sorts_freshdesk_answers_by_what_must_happen_next(
    status: int, path: str, body: Any, expected: type[Exception], code: str | None
) -> None:
    error = classify(_response(status, path, body))
    assert type(error) is expected
    assert error is not None
    assert error.vendor_code == code


def test_validation_error_names_the_field_and_keeps_the_vendor_message() -> None:
    error = classify(_response(400, "/api/v2/companies/5", load("validation_error.json"), "PUT"))
    assert isinstance(error, RecordError)
    assert error.field == "cf_payment_terms"
    assert "It should be one of these values: 'Net 30,Net 60'" in error.message


async def test_a_list_answer_that_is_not_a_list_is_a_permanent_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(COMPANIES).mock(return_value=listing({"companies": []}))
    with pytest.raises(PermanentError, match="where a list was expected"):
        await collect(make_target())


async def test_a_non_json_body_is_a_transient_error(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    respx_mock.get(COMPANIES).mock(
        return_value=httpx.Response(200, text="<html>maintenance</html>")
    )
    with pytest.raises(TransientError, match="expected JSON"):
        await collect(make_target(sleeps))


async def test_odd_payloads_are_read_defensively(respx_mock: respx.MockRouter) -> None:
    odd_company = load("company.json") | {
        "id": "42",
        "domains": None,
        "custom_fields": None,
        "updated_at": None,
        "name": None,
    }
    odd_contact = load("contact.json") | {  # legacy "custom_field" spelling, ids as strings
        "id": 77.0,
        "other_emails": ["Second@X.example", None],
        "custom_field": {"cf_vip": True},
        "unique_external_id": 12345,
        "updated_at": "2014-12-31T12:27:09+10:00",
    }
    respx_mock.get(COMPANIES).mock(return_value=listing([odd_company, {"name": "no id"}]))
    respx_mock.get(CONTACTS).mock(return_value=listing([odd_contact]))
    pages = await collect(make_target())
    company, person = pages[0].records[0], pages[1].records[0]
    assert (company.ref.id, company.domains, company.external_id) == ("42", (), None)
    assert company.updated_at is None
    assert len(pages[0].records) == 1  # the row without an id is skipped, not fatal
    assert person.ref.id == "77"
    assert person.emails == ("rachel@freshdesk.com", "second@x.example")
    assert person.external_id == "12345"
    assert person.fields["custom_fields.cf_vip"] is True
    assert person.updated_at == datetime(2014, 12, 31, 2, 27, 9, tzinfo=UTC)


async def test_company_customer_number_becomes_the_external_id(
    respx_mock: respx.MockRouter,
) -> None:
    numbered = load("company.json") | {"custom_fields": {"cf_customer_number": 1001}}
    respx_mock.get(COMPANIES).mock(return_value=listing([numbered]))
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    pages = await collect(make_target())
    assert pages[0].records[0].external_id == "1001"


async def test_the_api_key_never_appears_in_logs_or_errors(
    respx_mock: respx.MockRouter, sleeps: Sleeps
) -> None:
    echo = {"code": "invalid_credentials", "message": f"key {API_KEY} is not valid"}
    respx_mock.get(f"{COMPANIES}/1").mock(
        side_effect=[httpx.Response(500, text=f"boom {API_KEY}"), httpx.Response(401, json=echo)]
    )
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await make_target(sleeps).read([_ref("company", "1")])
    assert API_KEY not in str(caught.value)
    assert API_KEY not in repr(logs)
    encoded = base64.b64encode(f"{API_KEY}:X".encode()).decode()
    assert encoded not in repr(logs)


async def test_notices_warn_when_the_account_limit_is_below_the_configured_pace(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    target = make_target(requests_per_minute=400)  # the account answers X-Ratelimit-Total: 200
    await target.check()
    assert any("account limit is 200/min" in n for n in target.notices())


async def test_every_refresh_lists_all_companies_and_never_asks_the_lagging_filter_api(
    respx_mock: respx.MockRouter,
) -> None:
    since = IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW).encode()
    search = respx_mock.get(SEARCH).mock(return_value=listing({"total": 0, "results": []}))
    full = respx_mock.get(COMPANIES).mock(return_value=listing(load("companies.json")))
    respx_mock.get(CONTACTS).mock(return_value=listing([]))
    target = make_target()
    pages = await collect(target, since)
    assert (full.call_count, search.call_count) == (1, 0)
    assert [r.name for r in pages[0].records] == [r["name"] for r in load("companies.json")]
    assert IdentityCursor.decode(pages[0].checkpoint).companies == VENDOR_NOW
    assert any("listed in full at every identity refresh" in n for n in target.notices())


def _ref(kind: str, record_id: str) -> RecordRef:
    return RecordRef(kind=kind, id=record_id)


def test_cursor_round_trips_through_json() -> None:
    cursor = IdentityCursor(companies=VENDOR_NOW, contacts=VENDOR_NOW - timedelta(hours=1))
    assert IdentityCursor.decode(cursor.encode()) == cursor
    assert json.loads(cursor.encode().value)["contacts"]["ts"] == "2024-03-04T09:00:00+00:00"
