"""Pipedrive authentication: the API token as a header, OAuth refresh with Basic client auth,
calls to the token answer's api_domain, renewal ahead of expiry and once after a 401, and
every documented token-endpoint refusal."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.base import DealQuery
from connectors.errors import AuthError, PermanentError
from connectors.sales.pipedrive import PipedriveConfig, PipedriveSource
from connectors.settings import ConnectorOptions
from tests.fixtures.pipedrive.builders import (
    BASE,
    DEALS,
    NOW,
    TOKEN,
    TOKEN_ENV,
    Sleeps,
    load,
    source,
)

pytestmark = pytest.mark.anyio

TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
API_DOMAIN = load("oauth_token.json")["api_domain"]
SECRET = "unit-client-secret-9e1d"
REFRESH = "unit-refresh-token-0001"
EMPTY = load("deals_empty.json")


@pytest.fixture(autouse=True)
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    monkeypatch.setenv("PD_UNIT_SECRET", SECRET)
    monkeypatch.setenv("PD_UNIT_REFRESH", REFRESH)


def oauth_source(sleeps: Sleeps | None = None, **auth: Any) -> PipedriveSource:
    raw = {
        "kind": "pipedrive",
        "auth": {
            "flow": "oauth",
            "client_id": "unit-client",
            "client_secret": "${PD_UNIT_SECRET}",
            "refresh_token": "${PD_UNIT_REFRESH}",
            **auth,
        },
    }
    options = ConnectorOptions(sleep=sleeps or Sleeps())
    return PipedriveSource("nordics", PipedriveConfig.model_validate(raw), options, now=lambda: NOW)


def token_answer(access: str = "v1u:first", **extra: Any) -> httpx.Response:
    return httpx.Response(200, json=load("oauth_token.json") | {"access_token": access} | extra)


async def test_the_api_token_travels_in_the_x_api_token_header_never_the_query(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.get(DEALS).respond(json=EMPTY)
    await source().client.get("/api/v2/deals", operation="check")
    request = route.calls.last.request
    assert request.headers["x-api-token"] == TOKEN
    assert "api_token" not in str(request.url)
    assert "authorization" not in request.headers


async def test_oauth_refreshes_with_a_form_and_basic_client_auth_then_calls_the_api_domain(
    respx_mock: respx.MockRouter,
) -> None:
    token = respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    deals = respx_mock.get(f"{API_DOMAIN}/api/v2/deals").respond(json=EMPTY)
    src = oauth_source()
    await src.client.get("/api/v2/deals", operation="check")
    sent = token.calls.last.request
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(sent.content.decode()) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH],
    }
    expected = base64.b64encode(f"unit-client:{SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected}"
    assert deals.calls.last.request.headers["authorization"] == "Bearer v1u:first"
    assert src.client.grant is not None
    assert src.client.grant.refreshes == 1


async def test_the_v1_users_list_goes_to_the_company_hosts_api_v1(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    users = respx_mock.get(f"{API_DOMAIN}/api/v1/users").respond(json=load("users.json"))
    src = oauth_source()
    await src.client.get("/users", operation="list users", endpoint="users", v1=True)
    assert users.called


async def test_a_401_refreshes_once_and_replays_the_request(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("v1u:first"), token_answer("v1u:second")]
    )
    deals = respx_mock.get(f"{API_DOMAIN}/api/v2/deals").mock(
        side_effect=[
            httpx.Response(401, json=load("error_401_oauth.json")),
            httpx.Response(200, json=EMPTY),
        ]
    )
    src = oauth_source()
    await src.client.get("/api/v2/deals", operation="check")
    assert [c.request.headers["authorization"] for c in deals.calls] == [
        "Bearer v1u:first",
        "Bearer v1u:second",
    ]


async def test_a_token_about_to_expire_is_renewed_before_the_call(
    respx_mock: respx.MockRouter,
) -> None:
    token = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("v1u:first", expires_in=3600), token_answer("v1u:second")]
    )
    deals = respx_mock.get(f"{API_DOMAIN}/api/v2/deals").respond(json=EMPTY)
    sleeps = Sleeps()
    src = oauth_source(sleeps)
    await src.client.get("/api/v2/deals", operation="check")
    await src.client.timing.sleep(3600 - 60)  # virtual time: a minute before expiry
    await src.client.get("/api/v2/deals", operation="check")
    assert token.call_count == 2
    assert deals.calls.last.request.headers["authorization"] == "Bearer v1u:second"


async def test_a_live_token_is_reused(respx_mock: respx.MockRouter) -> None:
    token = respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    respx_mock.get(f"{API_DOMAIN}/api/v2/deals").respond(json=EMPTY)
    src = oauth_source()
    for _ in range(3):
        await src.client.get("/api/v2/deals", operation="check")
    assert token.call_count == 1


async def test_a_changed_refresh_token_is_used_for_the_next_refresh(
    respx_mock: respx.MockRouter,
) -> None:
    token = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token_answer("v1u:first", refresh_token="rotated-1"), token_answer("v1u:2")]
    )
    respx_mock.get(f"{API_DOMAIN}/api/v2/deals").mock(
        side_effect=[
            httpx.Response(401, json=load("error_401_oauth.json")),
            httpx.Response(200, json=EMPTY),
        ]
    )
    await oauth_source().client.get("/api/v2/deals", operation="check")
    second = parse_qs(token.calls[1].request.content.decode())
    assert second["refresh_token"] == ["rotated-1"]


async def test_an_invalid_refresh_token_is_an_auth_error_saying_to_reinstall(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).respond(400, json=load("oauth_invalid_grant.json"))
    with pytest.raises(AuthError) as caught:
        await oauth_source().client.get("/api/v2/deals", operation="check")
    message = str(caught.value)
    assert "Invalid grant" in message
    assert "60 days unused" in message
    assert REFRESH not in message
    assert SECRET not in message


async def test_an_unsupported_grant_is_a_bug_for_developers(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).respond(400, json=load("oauth_unsupported_grant.json"))
    with pytest.raises(PermanentError) as caught:
        await oauth_source().client.get("/api/v2/deals", operation="check")
    assert not isinstance(caught.value, AuthError)
    assert caught.value.who_acts == "developer"


async def test_a_token_answer_without_a_token_is_refused(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).respond(json={"token_type": "Bearer"})
    with pytest.raises(AuthError, match="without an access_token"):
        await oauth_source().client.get("/api/v2/deals", operation="check")


async def test_without_an_api_domain_the_configured_host_is_used(
    respx_mock: respx.MockRouter,
) -> None:
    body = load("oauth_token.json")
    del body["api_domain"]
    respx_mock.post(TOKEN_URL).respond(json=body)
    route = respx_mock.get("https://api.pipedrive.com/api/v2/deals").respond(json=EMPTY)
    await oauth_source().client.get("/api/v2/deals", operation="check")
    assert route.called


async def test_the_deal_link_uses_the_company_host_from_oauth(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token_answer())
    page = load("deals_page1.json")
    page["additional_data"]["next_cursor"] = None
    respx_mock.get(f"{API_DOMAIN}/api/v2/deals").respond(json=page)
    respx_mock.get(f"{API_DOMAIN}/api/v2/deals/archived").respond(json=EMPTY)
    src = oauth_source()
    pages = [p async for p in src.changed_deals(DealQuery(fields=("title",)), None)]
    assert pages[0].deals[0].url == f"{API_DOMAIN}/deal/7"


def test_oauth_config_needs_every_part() -> None:
    with pytest.raises(ValidationError, match="refresh_token"):
        PipedriveConfig.model_validate(
            {
                "kind": "pipedrive",
                "auth": {"flow": "oauth", "client_id": "x", "client_secret": "${PD_UNIT_SECRET}"},
            }
        )


def test_an_unknown_auth_flow_names_the_choices() -> None:
    with pytest.raises(ValidationError, match="api_token"):
        PipedriveConfig.model_validate({"kind": "pipedrive", "auth": {"flow": "password"}})


async def test_the_base_url_host_serves_api_token_calls(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{BASE}/api/v2/deals").respond(json=EMPTY)
    await source().client.get("/api/v2/deals", operation="check")
    assert route.called
