"""HubSpot OAuth: the refresh grant, renewal ahead of expiry, one refresh on 401, refusals."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from connectors.base import DealQuery
from connectors.errors import AuthError
from connectors.sales.hubspot import HubSpotSource
from tests.fixtures.hubspot.builders import BASE, SEARCH, Sleeps, load, source

pytestmark = pytest.mark.anyio

TOKEN_URL = f"{BASE}/oauth/v1/token"
CLIENT_SECRET = "oauth-unit-secret-9f8e7d6c"
REFRESH_TOKEN = "na1-unit-refresh-1a2b3c4d5e"
EMPTY_SEARCH = {"total": 0, "results": []}
QUERY = DealQuery(fields=("properties.dealname",))


@pytest.fixture(autouse=True)
def oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("HS_REFRESH_TOKEN", REFRESH_TOKEN)


def oauth_source(sleeps: Sleeps | None = None) -> HubSpotSource:
    return source(
        sleeps,
        access_token=None,
        client_id="5c1f-unit-client",
        client_secret="${HS_CLIENT_SECRET}",
        refresh_token="${HS_REFRESH_TOKEN}",
        read_archived=False,
    )


def token(value: str, expires_in: int = 1800) -> httpx.Response:
    body = load("oauth_token.json") | {"access_token": value, "expires_in": expires_in}
    return httpx.Response(200, json=body)


async def read(src: HubSpotSource) -> None:
    [p async for p in src.changed_deals(QUERY, None)]


async def test_first_call_trades_the_refresh_token_for_an_access_token(
    respx_mock: respx.MockRouter,
) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(return_value=token("access-one-2f3e4d"))
    search = respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json=EMPTY_SEARCH))
    src = oauth_source()
    await read(src)
    await src.aclose()
    form = parse_qs(grant.calls[0].request.content.decode())
    assert form == {
        "grant_type": ["refresh_token"],
        "client_id": ["5c1f-unit-client"],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH_TOKEN],
    }
    assert grant.calls[0].request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert search.calls[0].request.headers["authorization"] == "Bearer access-one-2f3e4d"


async def test_token_is_renewed_before_it_expires_not_after_a_401(
    respx_mock: respx.MockRouter,
) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token("access-one-2f3e4d"), token("access-two-8a9b0c")]
    )
    search = respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json=EMPTY_SEARCH))
    src = oauth_source()
    await read(src)
    await src.timing.sleep(1600)  # 200 s before expiry: inside the renewal margin
    await read(src)
    await src.aclose()
    assert grant.call_count == 2
    assert [c.request.headers["authorization"] for c in search.calls] == [
        "Bearer access-one-2f3e4d",
        "Bearer access-two-8a9b0c",
    ]


async def test_token_is_reused_while_it_is_fresh(respx_mock: respx.MockRouter) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(return_value=token("access-one-2f3e4d"))
    respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json=EMPTY_SEARCH))
    src = oauth_source()
    await read(src)
    await src.timing.sleep(600)
    await read(src)
    await src.aclose()
    assert grant.call_count == 1


async def test_a_401_refreshes_once_and_replays_the_request(respx_mock: respx.MockRouter) -> None:
    grant = respx_mock.post(TOKEN_URL).mock(
        side_effect=[token("access-one-2f3e4d"), token("access-two-8a9b0c")]
    )
    search = respx_mock.post(SEARCH).mock(
        side_effect=[
            httpx.Response(401, json=load("error_401_expired.json")),
            httpx.Response(200, json=EMPTY_SEARCH),
        ]
    )
    src = oauth_source()
    await read(src)
    await src.aclose()
    assert grant.call_count == 2
    assert search.calls[1].request.headers["authorization"] == "Bearer access-two-8a9b0c"
    assert json.loads(search.calls[1].request.content)["limit"] == 200


async def test_a_refused_refresh_token_is_an_auth_error_for_the_admin(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, json=load("oauth_bad_refresh_token.json"))
    )
    src = oauth_source()
    with pytest.raises(AuthError, match="missing or unknown refresh token") as caught:
        await read(src)
    await src.aclose()
    assert caught.value.vendor_code == "BAD_REFRESH_TOKEN"
    assert caught.value.who_acts == "admin"


async def test_no_oauth_secret_reaches_logs_or_errors(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(TOKEN_URL).mock(return_value=token("access-one-2f3e4d"))
    echo = load("error_401_invalid.json") | {
        "message": f"token access-one-2f3e4d / {REFRESH_TOKEN} refused"
    }
    respx_mock.post(SEARCH).mock(return_value=httpx.Response(401, json=echo))
    src = oauth_source(Sleeps())
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await read(src)
    await src.aclose()
    text = str(caught.value) + json.dumps(logs, default=str)
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, "access-one-2f3e4d"):
        assert secret not in text
