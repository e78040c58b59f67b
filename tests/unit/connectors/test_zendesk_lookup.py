"""ZendeskTarget.lookup: identity-index misses asked of Zendesk directly, in batches."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from connectors.base import IdentityKey
from connectors.errors import AuthError
from tests.unit.connectors.test_zendesk import (
    BASE,
    TOKEN,
    TOKEN_ENV,
    Sleeps,
    make_target,
    org,
    user,
)

pytestmark = pytest.mark.anyio

ORGS = f"{BASE}/api/v2/organizations/show_many.json"
USERS = f"{BASE}/api/v2/users/show_many.json"
USER_SEARCH = f"{BASE}/api/v2/users/search.json"
SEARCH = f"{BASE}/api/v2/search.json"


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def key(match: str, value: str, kind: str = "organization") -> IdentityKey:
    return IdentityKey(match=match, value=value, kind=kind)  # type: ignore[arg-type]


def answer(plural: str, rows: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={plural: rows, "next_page": None, "count": len(rows)} | extra)


def asked(route: respx.Route, param: str) -> list[list[str]]:
    return [c.request.url.params[param].split(",") for c in route.calls]


async def test_external_ids_go_100_to_a_show_many_call(respx_mock: respx.MockRouter) -> None:
    numbers = [f"cust-{n:03d}" for n in range(250)]
    route = respx_mock.get(ORGS).mock(
        side_effect=lambda request: answer(
            "organizations",
            [
                org(1000 + int(v.removeprefix("cust-")), external_id=v.upper())
                for v in request.url.params["external_ids"].split(",")
                if v.endswith("7")
            ],
        )
    )
    found = await make_target().lookup([key("external_id", v) for v in numbers])
    assert [len(batch) for batch in asked(route, "external_ids")] == [100, 100, 50]
    every = [v for batch in asked(route, "external_ids") for v in batch]
    assert sorted(every) == numbers, "each key asked once"
    assert {r.external_id for r in found} == {v.upper() for v in numbers if v.endswith("7")}


async def test_user_external_ids_use_the_users_show_many(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(USERS).mock(
        return_value=answer("users", [user(7, "a@x.example", external_id="U-7")])
    )
    found = await make_target().lookup([key("external_id", "u-7", "user")])
    assert asked(route, "external_ids") == [["u-7"]]
    assert [(r.ref.key, r.external_id) for r in found] == [("user:7", "U-7")]


async def test_emails_are_searched_one_by_one_and_hits_read_again(
    respx_mock: respx.MockRouter,
) -> None:
    searched = respx_mock.get(USER_SEARCH).mock(
        side_effect=lambda request: answer(
            "users",
            [user(8, "stale@x.example")] if "ann@x.example" in request.url.params["query"] else [],
        )
    )
    reread = respx_mock.get(USERS).mock(return_value=answer("users", [user(8, "ann@x.example")]))
    found = await make_target().lookup(
        [key("email", "ann@x.example", "user"), key("email", "bob@x.example", "user")]
    )
    queries = sorted(c.request.url.params["query"] for c in searched.calls)
    assert queries == ["email:ann@x.example", "email:bob@x.example"]
    assert reread.calls.last.request.url.params["ids"] == "8"
    assert [r.emails for r in found] == [("ann@x.example",)], "the current record, not the copy"


async def test_domains_are_searched_as_organizations_and_other_result_types_ignored(
    respx_mock: respx.MockRouter,
) -> None:
    search = respx_mock.get(SEARCH).mock(
        return_value=answer(
            "results",
            [
                org(5, domain_names=["acme.example"]) | {"result_type": "organization"},
                user(6, "x@acme.example") | {"result_type": "user"},
            ],
        )
    )
    respx_mock.get(ORGS).mock(
        return_value=answer("organizations", [org(5, domain_names=["acme.example"])])
    )
    found = await make_target().lookup([key("domain", "acme.example")])
    assert search.calls.last.request.url.params["query"] == "type:organization domain:acme.example"
    assert [r.ref.key for r in found] == ["organization:5"]


async def test_search_hits_of_the_kind_asked_that_cannot_be_read_again_are_reported(
    respx_mock: respx.MockRouter,
) -> None:
    """A hit that is not an object, or names no readable id, is reported to the run by its
    position; a hit of another result type is no concern of this lookup; the good hit is
    read again and found."""
    hits: list[Any] = [
        7,
        org(5, domain_names=["acme.example"]) | {"result_type": "organization"},
        {"id": None, "result_type": "organization"},
        {"id": None, "result_type": "ticket"},
    ]
    respx_mock.get(SEARCH).mock(return_value=answer("results", hits))
    reread = respx_mock.get(ORGS).mock(
        return_value=answer("organizations", [org(5, domain_names=["acme.example"])])
    )
    problems: list[str] = []
    found = await make_target().lookup([key("domain", "acme.example")], problems)
    assert [r.ref.key for r in found] == ["organization:5"]
    assert asked(reread, "ids") == [["5"]]
    left_out = "; the record was left out (correct it at Zendesk: the next read takes it)"
    assert problems == [
        "Zendesk organization #1 of the page: is 7, not an object" + left_out,
        "Zendesk organization #3 of the page: field id is None, not a record id (a whole "
        "number or text)" + left_out,
    ]


async def test_search_pages_are_followed_on_the_configured_host_only(
    respx_mock: respx.MockRouter,
) -> None:
    elsewhere = "https://evil.example/api/v2/users/search.json?query=email%3Aa%40x.example&page=2"
    pages = iter(
        [
            answer("users", [user(1, "a@x.example")], next_page=elsewhere),
            answer("users", [user(2, "a@x.example")]),
        ]
    )
    search = respx_mock.get(USER_SEARCH).mock(side_effect=lambda _request: next(pages))
    respx_mock.get(USERS).mock(
        return_value=answer("users", [user(1, "a@x.example"), user(2, "a@x.example")])
    )
    found = await make_target().lookup([key("email", "a@x.example", "user")])
    assert [c.request.url.host for c in search.calls] == ["acme.zendesk.com"] * 2
    assert search.calls.last.request.url.params["page"] == "2"
    assert {r.ref.id for r in found} == {"1", "2"}


async def test_keys_a_kind_cannot_carry_cost_no_request(respx_mock: respx.MockRouter) -> None:
    found = await make_target().lookup(
        [key("email", "ops@acme.example"), key("domain", "acme.example", "user")]
    )
    assert found == []
    assert respx_mock.calls.call_count == 0


async def test_an_external_id_with_a_comma_is_asked_through_the_exact_search(
    respx_mock: respx.MockRouter,
) -> None:
    exact = respx_mock.get(f"{BASE}/api/v2/organizations/search.json").mock(
        return_value=answer("organizations", [org(9, external_id="A,B")])
    )
    found = await make_target().lookup([key("external_id", "a,b")])
    assert exact.calls.last.request.url.params["external_id"] == "a,b"
    assert [r.ref.id for r in found] == ["9"]


async def test_deleted_inactive_and_staff_records_are_not_returned(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(ORGS).mock(
        return_value=answer(
            "organizations", [org(1, external_id="X", deleted_at="2024-05-01T00:00:00Z")]
        )
    )
    respx_mock.get(USERS).mock(
        return_value=answer(
            "users",
            [
                user(2, "a@x.example", external_id="X", active=False),
                user(3, "b@x.example", external_id="X", role="agent"),
                user(4, "c@x.example", external_id="X"),
            ],
        )
    )
    found = await make_target().lookup([key("external_id", "x"), key("external_id", "x", "user")])
    assert [r.ref.key for r in found] == ["user:4"]


async def test_a_throttled_lookup_waits_the_retry_after_and_is_answered(
    respx_mock: respx.MockRouter,
) -> None:
    sleeps = Sleeps()
    limited = httpx.Response(
        429,
        json={"error": "APIRateLimitExceeded", "description": "Number of allowed API requests"},
        headers={"Retry-After": "7"},
    )
    respx_mock.get(ORGS).mock(
        side_effect=[limited, answer("organizations", [org(1, external_id="CUST-1")])]
    )
    found = await make_target(sleeps).lookup([key("external_id", "cust-1")])
    assert [r.ref.id for r in found] == ["1"]
    assert 7.0 in sleeps.calls


async def test_a_refused_search_skips_that_key_and_answers_the_others(
    respx_mock: respx.MockRouter,
) -> None:
    refused = httpx.Response(
        422, json={"error": "InvalidValue", "description": "query could not be parsed"}
    )
    respx_mock.get(USER_SEARCH).mock(
        side_effect=lambda request: refused
        if "bad" in request.url.params["query"]
        else answer("users", [user(3, "good@x.example")])
    )
    respx_mock.get(USERS).mock(return_value=answer("users", [user(3, "good@x.example")]))
    found = await make_target().lookup(
        [key("email", "bad@x.example", "user"), key("email", "good@x.example", "user")]
    )
    assert [r.ref.id for r in found] == ["3"]


async def test_values_search_syntax_would_read_differently_are_never_sent(
    respx_mock: respx.MockRouter,
) -> None:
    found = await make_target().lookup([key("email", 'a@x.example" OR role:admin', "user")])
    assert found == []
    assert respx_mock.calls.call_count == 0


async def test_refused_credentials_stop_the_lookup_with_an_auth_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(ORGS).mock(
        return_value=httpx.Response(401, json={"error": "Couldn't authenticate you"})
    )
    with pytest.raises(AuthError):
        await make_target().lookup([key("external_id", "cust-1")])
