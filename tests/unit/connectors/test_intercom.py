"""Intercom target: config, auth and version headers, the error table, budget headers, payloads,
the attribute catalog's checks and the contact note's text form (respx and Intercom's own
example payloads from tests/fixtures/intercom)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import RecordRef, ServiceTarget, TicketDesk
from connectors.errors import AuthError, PermanentError, RateLimited, RecordError, TransientError
from connectors.registry import get_spec, known_kinds
from connectors.service.intercom import IntercomConfig, IntercomTarget
from connectors.service.intercom.catalog import (
    AttributeCatalog,
    AttributeProblem,
    MissingAttribute,
    parse_attributes,
)
from connectors.service.intercom.contact_notes import CLEARED, current_note, to_html, to_text
from connectors.service.intercom.errors import ScrollBusy, ScrollLost, classify, read_limits
from connectors.service.intercom.payloads import (
    company_record,
    contact_record,
    version_of,
    website_domain,
)
from connectors.settings import ConnectorOptions
from tests.unit.connectors.intercom_support import (
    BASE,
    DEMO_TOKEN,
    TOKEN_ENV,
    Sleeps,
    example,
    intercom_token,
)

pytestmark = pytest.mark.anyio
__all__ = ["intercom_token"]  # autouse: the token in the environment
VENDOR_DATE = "Mon, 04 Mar 2024 10:00:00 GMT"
VENDOR_NOW = 1709546400


def make_target(sleeps: Sleeps | None = None, **overrides: Any) -> IntercomTarget:
    raw = {"kind": "intercom", "access_token": "${" + TOKEN_ENV + "}", **overrides}
    return IntercomTarget(
        "intercom", IntercomConfig.model_validate(raw), ConnectorOptions(sleep=sleeps or Sleeps())
    )


def answer(
    status: int, body: Any, path: str = "/companies/1", method: str = "GET", **headers: str
) -> httpx.Response:
    request = httpx.Request(method, f"{BASE}{path}")
    return httpx.Response(
        status, json=body, headers={"Date": VENDOR_DATE, **headers}, request=request
    )


def error_list(code: str, message: str = "m", field: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "message": message}
    if field:
        item["field"] = field
    return {"type": "error.list", "request_id": None, "errors": [item]}


# -- registration and config ----------------------------------------------------------------


def test_intercom_is_listed_as_a_target_with_its_simulator_and_harness() -> None:
    spec = get_spec("intercom")
    assert "intercom" in known_kinds()
    assert spec.role == "target"
    assert spec.config_model is IntercomConfig
    assert spec.simulator == "connectors.service.intercom.simulator:demo_app"
    assert spec.contract_harness == "connectors.service.intercom.simulator:contract_harness"


def test_target_satisfies_service_target_and_ticket_desk() -> None:
    target: ServiceTarget = make_target()
    desk: TicketDesk = make_target()
    assert isinstance(target, ServiceTarget)
    assert isinstance(desk, TicketDesk)
    assert target.system == "intercom"
    assert target.text_limit == 255  # a string custom attribute (FACTS.md §6.4)


def test_config_defaults_plan_a_sixth_of_the_minute_per_ten_seconds() -> None:
    config = IntercomConfig.model_validate(
        {"kind": "intercom", "access_token": "${" + TOKEN_ENV + "}"}
    )
    assert config.base_url == "https://api.intercom.io"
    assert config.intercom_version == "2.15"
    assert config.requests_per_minute == 1000
    assert config.window_limit == 167  # Intercom's own example: 1,000 a minute, 167 per 10 s
    faster = config.model_copy(update={"rate_per_second": 50.0})
    assert faster.window_limit == 500


def test_config_refuses_an_unknown_version_an_inline_token_and_notes_without_contacts() -> None:
    base = {"kind": "intercom", "access_token": "${" + TOKEN_ENV + "}"}
    with pytest.raises(ValueError, match="Intercom-Version must be one of"):
        IntercomConfig.model_validate(base | {"intercom_version": "3.0"})
    with pytest.raises(ValueError, match="inline secrets are refused"):
        IntercomConfig.model_validate(base | {"access_token": "plain"})
    with pytest.raises(ValueError, match="contact_note needs contact"):
        IntercomConfig.model_validate(
            base | {"note_place": "contact_note", "record_kinds": ["company"]}
        )


def test_contact_notes_take_their_own_limit() -> None:
    target = make_target(note_place="contact_note", note_max_length=4000)
    assert target.text_limit == 4000


async def test_every_request_sends_the_bearer_token_and_the_pinned_version(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(f"{BASE}/me").mock(
        return_value=httpx.Response(200, json={"type": "admin", "id": "7"})
    )
    health = await make_target(intercom_version="2.14").check()
    sent = route.calls.last.request.headers
    assert sent["Authorization"] == f"Bearer {DEMO_TOKEN}"
    assert sent["Intercom-Version"] == "2.14"
    assert health.ok


async def test_a_refused_token_is_an_unhealthy_check_naming_the_token(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{BASE}/me").mock(
        return_value=httpx.Response(401, json=error_list("unauthorized", "Access Token Invalid"))
    )
    health = await make_target().check()
    assert not health.ok
    assert "Access Token Invalid" in health.detail
    assert "access token" in health.detail


# -- errors (FACTS.md §2, §3, §4.7) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "path", "method", "expected"),
    [
        (401, "unauthorized", "/me", "GET", AuthError),
        (403, "api_plan_restricted", "/contacts/search", "POST", PermanentError),
        (404, "company_not_found", "/companies/65c0", "PUT", RecordError),
        (404, "not_found", "/contacts/65d0/notes", "POST", RecordError),
        (400, "parameter_invalid", "/contacts/65d0", "PUT", RecordError),
        (400, "parameter_invalid", "/contacts/search", "POST", PermanentError),
        (500, "server_error", "/contacts/65d0", "GET", TransientError),
        (503, "service_unavailable", "/me", "GET", TransientError),
    ],
)
def test_error_table(
    status: int, code: str, path: str, method: str, expected: type[Exception]
) -> None:
    error = classify(answer(status, error_list(code, "why", "custom_attributes"), path, method))
    assert type(error) is expected
    assert error is not None
    assert error.vendor_code == code
    assert "why" in str(error)


def test_a_plan_restriction_is_for_an_admin_and_a_bad_search_for_a_developer() -> None:
    restricted = classify(answer(403, error_list("api_plan_restricted"), "/tickets", "POST"))
    bad_query = classify(answer(400, error_list("parameter_invalid"), "/contacts/search", "POST"))
    assert isinstance(restricted, PermanentError)
    assert restricted.who_acts == "admin"
    assert isinstance(bad_query, PermanentError)
    assert bad_query.who_acts == "developer"


def test_a_404_without_intercoms_error_body_means_base_url_is_wrong() -> None:
    request = httpx.Request("GET", f"{BASE}/companies/1")
    error = classify(httpx.Response(404, text="<html>nginx</html>", request=request))
    assert isinstance(error, PermanentError)
    assert error.who_acts == "admin"


def test_a_429_waits_until_the_window_resets_by_intercoms_clock() -> None:
    response = answer(
        429,
        error_list("rate_limit_exceeded", "Exceeded rate limit of 167 in 10_seconds"),
        **{"X-RateLimit-Reset": str(VENDOR_NOW + 7), "X-RateLimit-Remaining": "0"},
    )
    error = classify(response)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7
    signal = read_limits(response)
    assert signal.retry_after == 7
    assert signal.remaining == 0


def test_a_reset_far_from_our_clock_never_holds_longer_than_a_window() -> None:
    far = answer(
        200,
        {},
        **{
            "X-RateLimit-Reset": str(VENDOR_NOW + 3600),
            "X-RateLimit-Limit": "167",
            "X-RateLimit-Remaining": "1",
        },
    )
    past = answer(
        429, error_list("rate_limit_exceeded"), **{"X-RateLimit-Reset": str(VENDOR_NOW - 30)}
    )
    assert read_limits(far).reset_after == 10.0
    error = classify(past)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 1.0


def test_the_scrolls_own_answers_are_typed_so_the_feed_can_start_again() -> None:
    busy = classify(answer(400, error_list("scroll_exists"), "/companies/scroll"))
    expired = classify(answer(404, error_list("not_found"), "/companies/scroll?scroll_param=abc"))
    broken = classify(
        answer(
            500,
            error_list("server_error", "Please restart the scroll operation."),
            "/companies/scroll?scroll_param=abc",
        )
    )
    assert isinstance(busy, ScrollBusy)
    assert isinstance(expired, ScrollLost)
    assert isinstance(broken, ScrollLost)


async def test_throttling_waits_for_the_reset_and_then_succeeds(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    throttled = httpx.Response(
        429,
        json=error_list("rate_limit_exceeded"),
        headers={
            "Date": VENDOR_DATE,
            "X-RateLimit-Reset": str(VENDOR_NOW + 4),
            "X-RateLimit-Remaining": "0",
        },
    )
    company = example("company_get.json")
    respx_mock.get(f"{BASE}/companies/{company['id']}").mock(
        side_effect=[throttled, httpx.Response(200, json=company)]
    )
    records = await make_target(sleeps).read([RecordRef(kind="company", id=company["id"])])
    assert [r.external_id for r in records] == ["1"]
    assert any(3.9 <= s <= 10 for s in sleeps.calls), sleeps.calls


# -- payloads (FACTS.md §4.1, §5.1) ----------------------------------------------------------


def test_a_company_is_indexed_by_company_id_and_its_websites_host() -> None:
    raw = example("company_get.json") | {
        "website": "https://www.Acme.example/about",
        "custom_attributes": {"tier": "gold"},
    }
    record = company_record(raw)
    assert record.ref == RecordRef(kind="company", id="6762f07f1bb69f9f2193baf5")
    assert record.external_id == "1"
    assert record.domains == ("acme.example",)
    assert record.fields == {"custom_attributes.tier": "gold"}
    assert record.updated_at is not None
    assert int(record.updated_at.timestamp()) == raw["updated_at"]


def test_a_contact_is_indexed_by_external_id_and_lower_cased_email() -> None:
    raw = example("contact_get.json") | {"email": "Joe@Bloggs.com"}
    record = contact_record(raw)
    assert record.external_id == "70"
    assert record.emails == ("joe@bloggs.com",)
    assert record.domains == ()


def test_the_version_moves_with_custom_attributes_and_only_with_them() -> None:
    raw = example("company_get.json") | {"custom_attributes": {"a": "1"}}
    seen_later = raw | {"updated_at": raw["updated_at"] + 50, "session_count": 9}
    edited = raw | {"custom_attributes": {"a": "2"}}
    assert version_of(raw) == version_of(seen_later)
    assert version_of(raw) != version_of(edited)


@pytest.mark.parametrize(
    ("website", "domain"),
    [
        ("acme.example", "acme.example"),
        ("http://WWW.acme.example:8080/x?y", "acme.example"),
        ("", None),
        (None, None),
    ],
)
def test_website_domains(website: str | None, domain: str | None) -> None:
    assert website_domain(website) == domain


# -- the attribute catalog (FACTS.md §6) -----------------------------------------------------


def catalog() -> AttributeCatalog:
    listed = example("data_attributes_list.json")
    company = parse_attributes("company", listed)
    extra = {
        "type": "list",
        "data": [
            {
                "type": "data_attribute",
                "name": "terms",
                "full_name": "custom_attributes.terms",
                "data_type": "string",
                "api_writable": True,
                "custom": True,
                "archived": False,
            },
            {
                "type": "data_attribute",
                "name": "payment",
                "full_name": "custom_attributes.payment",
                "data_type": "string",
                "options": ["Net 30", "Net 60"],
                "api_writable": True,
                "custom": True,
            },
            {
                "type": "data_attribute",
                "name": "seats",
                "full_name": "custom_attributes.seats",
                "data_type": "integer",
                "api_writable": True,
                "custom": True,
            },
            {
                "type": "data_attribute",
                "name": "discount",
                "full_name": "custom_attributes.discount",
                "data_type": "float",
                "api_writable": True,
                "custom": True,
            },
            {
                "type": "data_attribute",
                "name": "vip",
                "full_name": "custom_attributes.vip",
                "data_type": "boolean",
                "api_writable": True,
                "custom": True,
            },
            {
                "type": "data_attribute",
                "name": "renews",
                "full_name": "custom_attributes.renews",
                "data_type": "date",
                "api_writable": True,
                "custom": True,
            },
            {
                "type": "data_attribute",
                "name": "old",
                "full_name": "custom_attributes.old",
                "data_type": "string",
                "api_writable": True,
                "custom": True,
                "archived": True,
            },
        ],
    }
    company |= parse_attributes("company", extra)
    return AttributeCatalog({"company": company}, text_max_length=255, contact_notes=None)


def test_the_catalog_lists_built_ins_read_only_and_typed_custom_attributes_writable() -> None:
    infos = {f.path: f for f in catalog().field_infos()}
    assert not infos["name"].writable
    assert not infos["plan.name"].writable
    assert infos["custom_attributes.The One Ring"].writable  # from Intercom's own example
    assert infos["custom_attributes.terms"].max_length == 255
    assert infos["custom_attributes.payment"].choices == ("Net 30", "Net 60")
    assert not infos["custom_attributes.renews"].writable  # dates: format not documented
    assert not infos["custom_attributes.old"].writable  # archived


@pytest.mark.parametrize(
    ("name", "value", "sent"),
    [
        ("terms", "15% off", "15% off"),
        ("terms", 15, "15"),
        ("terms", None, ""),
        ("payment", "Net 60", "Net 60"),
        ("seats", Decimal("12"), 12),
        ("seats", "12", 12),
        ("discount", Decimal("12.5"), 12.5),
        ("discount", None, None),
        ("vip", "true", True),
        ("vip", False, False),
    ],
)
def test_values_are_sent_in_the_attributes_type(name: str, value: Any, sent: Any) -> None:
    assert catalog().prepare("company", name, value) == sent


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("missing", "x", "is not a company data attribute"),
        ("payment", "Net 90", "is not one of its options (Net 30, Net 60)"),
        (
            "terms",
            "x" * 256,
            "would be 256 characters; Intercom string attributes hold at most 255",
        ),
        ("seats", "2.5", "is not whole"),
        ("discount", "lots", "is not a number"),
        ("vip", "maybe", "is not true or false"),
        ("renews", "2027-01-01", "use a string attribute for dates"),
        ("old", "x", "archived"),
    ],
)
def test_a_value_that_does_not_fit_its_attribute_is_refused_saying_what_to_do(
    name: str, value: Any, says: str
) -> None:
    with pytest.raises(AttributeProblem, match=says.replace("(", r"\(").replace(")", r"\)")):
        catalog().prepare("company", name, value)


def test_a_missing_attribute_is_told_apart_so_a_fresh_catalog_can_be_asked() -> None:
    with pytest.raises(MissingAttribute):
        catalog().prepare("company", "created_yesterday", "x")


# -- the contact note's text form (FACTS.md §7) ----------------------------------------------


@given(st.text(max_size=300))
def test_a_note_written_reads_back_as_the_same_text(text: str) -> None:
    assert to_text(to_html(text)) == text


def test_the_cleared_note_reads_back_empty_and_intercoms_own_html_reads_as_text() -> None:
    assert to_html("") == f"<p>{CLEARED}</p>"
    assert to_text(to_html("")) == ""
    assert to_text(example("contact_note_create.json")["body"]) == "Hello"
    assert to_text("line one<br>line &amp; two") == "line one\nline & two"


def test_the_current_note_is_the_newest_one_our_admin_wrote() -> None:
    listed = example("contact_notes_list.json")["data"]
    admin = listed[0]["author"]["id"]
    ours = [
        n | {"body": f"<p>v{i}</p>", "created_at": 100 + i, "id": str(10 + i)}
        for i, n in enumerate(listed)
    ]
    theirs = listed[0] | {
        "author": listed[0]["author"] | {"id": "other"},
        "created_at": 999,
        "body": "<p>agent</p>",
    }
    assert current_note([*ours, theirs], admin) == f"v{len(ours) - 1}"
    assert current_note([theirs], admin) is None


async def test_without_a_date_header_the_contact_cursor_follows_the_newest_change_not_our_clock(
    respx_mock: respx.MockRouter,
) -> None:
    newest = 1_700_000_000
    contact = example("contact_get.json")
    body = {
        "type": "list",
        "data": [
            contact | {"updated_at": newest - 50},
            contact | {"id": "b", "updated_at": newest},
        ],
        "total_count": 2,
        "pages": {"type": "pages", "page": 1, "per_page": 150, "total_pages": 1},
    }
    respx_mock.post(f"{BASE}/contacts/search").mock(return_value=httpx.Response(200, json=body))
    raw = {"kind": "intercom", "access_token": "${" + TOKEN_ENV + "}", "search_lag_seconds": 600}
    target = IntercomTarget(
        "intercom",
        IntercomConfig.model_validate(raw | {"record_kinds": ["contact"]}),
        ConnectorOptions(sleep=Sleeps()),
        wall_clock=lambda: 4_000_000_000.0,  # our clock far ahead: it must not matter
    )
    checkpoint = None
    async for page in target.customers(None):
        checkpoint = page.checkpoint
    assert checkpoint is not None
    assert json.loads(checkpoint.value) == {"contacts": {"since": newest - 600}}
