"""FreshdeskTarget.lookup: identity-index misses asked of Freshdesk directly."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.base import IdentityKey
from tests.unit.connectors.test_freshdesk import (
    API_KEY,
    BASE,
    COMPANIES,
    CONTACTS,
    KEY_ENV,
    SEARCH,
    Sleeps,
    contact,
    listing,
    load,
    make_target,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def api_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)


def key(match: str, value: str, kind: str = "company") -> IdentityKey:
    return IdentityKey(match=match, value=value, kind=kind)  # type: ignore[arg-type]


def company(company_id: int, number: str | None = None, *domains: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(load("company.json"))
    return body | {
        "id": company_id,
        "domains": list(domains),
        "custom_fields": {"cf_customer_number": number},
    }


def found(total: int, rows: list[dict[str, Any]]) -> httpx.Response:
    return listing({"total": total, "results": rows})


async def test_customer_numbers_are_or_ed_into_queries_of_at_most_512_characters(
    respx_mock: respx.MockRouter,
) -> None:
    numbers = [f"cust-{n:04d}" for n in range(60)]
    search = respx_mock.get(SEARCH).mock(return_value=found(0, []))
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    await make_target().lookup([key("external_id", v) for v in numbers])
    queries = [c.request.url.params["query"] for c in search.calls]
    assert all(len(q) <= 512 and q.startswith('"') and q.endswith('"') for q in queries)
    asked = [part.split(":")[1].strip("'") for q in queries for part in q.strip('"').split(" OR ")]
    assert asked == numbers, "every number asked, once, in order"
    assert len(queries) < len(numbers) / 10, "batched, not one query per number"
    assert queries[0].startswith("\"cf_customer_number:'cust-0000' OR cf_customer_number:")


async def test_hits_are_read_again_and_only_current_holders_count(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(SEARCH).mock(return_value=found(1, [company(11, "CUST-1")]))
    reread = respx_mock.get(f"{COMPANIES}/11").mock(return_value=listing(company(11, None)))
    listed = respx_mock.get(COMPANIES).mock(return_value=listing([company(12, "CUST-1")]))
    records = await make_target().lookup([key("external_id", "cust-1")])
    assert reread.call_count == 1, "the filter API's copy is not trusted"
    assert listed.call_count == 1, "the copy was stale: the companies are listed to be sure"
    holders = [r.ref.key for r in records if r.external_id == "CUST-1"]
    assert holders == ["company:12"]


async def test_a_company_the_filter_api_finds_costs_no_listing(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(SEARCH).mock(return_value=found(1, [company(11, None, "lexcorp.org")]))
    respx_mock.get(f"{COMPANIES}/11").mock(return_value=listing(company(11, None, "lexcorp.org")))
    listed = respx_mock.get(COMPANIES).mock(return_value=listing([]))
    records = await make_target().lookup([key("domain", "lexcorp.org")])
    assert [r.domains for r in records] == [("lexcorp.org",)]
    assert listed.call_count == 0


async def test_the_listing_fallback_can_be_turned_off_for_very_large_books(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(SEARCH).mock(return_value=found(0, []))
    listed = respx_mock.get(COMPANIES).mock(return_value=listing([company(12, "CUST-1")]))
    records = await make_target(company_lookup_listing=False).lookup([key("external_id", "cust-1")])
    assert (records, listed.call_count) == ([], 0)


async def test_the_listing_fallback_follows_every_page(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(SEARCH).mock(return_value=found(0, []))
    respx_mock.get(COMPANIES, params={"page": "2"}).mock(
        return_value=listing([company(30, None, "late.example")])
    )
    respx_mock.get(COMPANIES).mock(
        return_value=listing(
            [company(29, None, "early.example")],
            next_url=f"{COMPANIES}?per_page=100&page=2",
        )
    )
    records = await make_target().lookup([key("domain", "late.example")])
    assert [r.ref.key for r in records] == ["company:30"]


async def test_filter_api_pages_are_followed_up_to_its_ten_page_limit(
    respx_mock: respx.MockRouter,
) -> None:
    page = [company(100 + n, None, "wayne.example") for n in range(30)]
    search = respx_mock.get(SEARCH).mock(return_value=found(300, page))
    respx_mock.get(url__regex=rf"{COMPANIES}/\d+").mock(
        side_effect=lambda request: listing(
            company(int(request.url.path.rsplit("/", 1)[1]), None, "wayne.example")
        )
    )
    records = await make_target().lookup([key("domain", "wayne.example")])
    assert [c.request.url.params["page"] for c in search.calls] == [str(n) for n in range(1, 11)]
    assert len(records) == 30, "each company once"


async def test_contact_emails_and_external_ids_use_the_contact_list_filters(
    respx_mock: respx.MockRouter,
) -> None:
    by_email = respx_mock.get(CONTACTS, params={"email": "rachel@freshdesk.com"}).mock(
        return_value=listing([contact(1, "rachel@freshdesk.com")])
    )
    by_id = respx_mock.get(CONTACTS, params={"unique_external_id": "c-77"}).mock(
        return_value=listing([contact(2, "joe@x.example", unique_external_id="C-77")])
    )
    records = await make_target().lookup(
        [key("email", "rachel@freshdesk.com", "contact"), key("external_id", "c-77", "contact")]
    )
    assert (by_email.call_count, by_id.call_count) == (1, 1)
    assert [r.ref.key for r in records] == ["contact:1", "contact:2"]


async def test_a_refused_contact_filter_skips_that_key_only(respx_mock: respx.MockRouter) -> None:
    invalid = httpx.Response(
        400,
        json={
            "description": "Validation failed",
            "errors": [
                {
                    "field": "unique_external_id",
                    "message": "Unexpected/invalid field in request",
                    "code": "invalid_field",
                }
            ],
        },
    )
    respx_mock.get(CONTACTS, params={"unique_external_id": "c-1"}).mock(return_value=invalid)
    respx_mock.get(CONTACTS, params={"email": "a@x.example"}).mock(
        return_value=listing([contact(3, "a@x.example")])
    )
    records = await make_target().lookup(
        [key("external_id", "c-1", "contact"), key("email", "a@x.example", "contact")]
    )
    assert [r.ref.key for r in records] == ["contact:3"]


async def test_keys_a_kind_cannot_carry_and_unsafe_values_cost_no_request(
    respx_mock: respx.MockRouter,
) -> None:
    records = await make_target(company_lookup_listing=False).lookup(
        [
            key("email", "ops@acme.example"),  # companies carry no emails
            key("domain", "x' OR name:'y"),  # would read as another query
            key("external_id", "it's"),
        ]
    )
    assert records == []
    assert respx_mock.calls.call_count == 0


async def test_a_throttled_search_waits_the_retry_after_and_is_answered(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    throttled = httpx.Response(429, headers={"Retry-After": "9"})
    respx_mock.get(SEARCH).mock(side_effect=[throttled, found(1, [company(11, "CUST-1")])])
    respx_mock.get(f"{COMPANIES}/11").mock(return_value=listing(company(11, "CUST-1")))
    records = await make_target(sleeps).lookup([key("external_id", "cust-1")])
    assert [r.ref.key for r in records] == ["company:11"]
    assert 9.0 in sleeps.calls


async def test_requests_go_to_the_configured_host(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(SEARCH).mock(return_value=found(0, []))
    respx_mock.get(COMPANIES).mock(return_value=listing([]))
    await make_target().lookup([key("domain", "acme.example")])
    assert {c.request.url.host for c in respx_mock.calls} == {httpx.URL(BASE).host}
