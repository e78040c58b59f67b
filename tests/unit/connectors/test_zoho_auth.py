"""Zoho CRM source: OAuth per data centre, the api_domain, token reuse and refusals, config."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.base import DealQuery
from connectors.errors import AuthError
from connectors.sales.zoho import ZohoConfig, ZohoSource
from tests.fixtures.zoho.support import (
    ACCESS_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    COQL,
    REFRESH_TOKEN,
    TOKEN_URL,
    Sleeps,
    config,
    load,
    mock_fields,
    mock_token,
    source,
    use_env,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(fields=("Deal_Name",))
INVALID_TOKEN = load("error_invalid_token.json")


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch)


async def read(src: ZohoSource) -> None:
    async for _page in src.changed_deals(QUERY, None):
        pass


def token(
    api_domain: str = "https://www.zohoapis.eu", value: str = ACCESS_TOKEN, ttl: int = 3600
) -> dict[str, Any]:
    answer = {"api_domain": api_domain, "access_token": value, "expires_in": ttl}
    return {**load("token.json"), **answer}


async def test_refresh_posts_the_grant_to_the_data_centres_accounts_server() -> None:
    with respx.mock(assert_all_called=False) as router:
        grant = mock_token(router)
        mock_fields(router)
        coql = router.post(COQL).mock(return_value=httpx.Response(204))
        await read(source())
    form = {k: v[0] for k, v in parse_qs(grant.calls[0].request.content.decode()).items()}
    assert form == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    assert coql.calls[0].request.headers["Authorization"] == f"Zoho-oauthtoken {ACCESS_TOKEN}"


async def test_api_calls_go_to_the_api_domain_the_token_names() -> None:
    sandbox = "https://sandbox.zohoapis.com"
    with respx.mock(assert_all_called=False) as router:
        router.post("https://accounts.zoho.com/oauth/v2/token").mock(
            return_value=httpx.Response(200, json=token(api_domain=sandbox))
        )
        fields = router.get(f"{sandbox}/crm/v8/settings/fields").mock(
            return_value=httpx.Response(200, json=load("fields_deals.json"))
        )
        coql = router.post(f"{sandbox}/crm/v8/coql").mock(return_value=httpx.Response(204))
        await read(source(data_centre="us"))
    assert fields.called
    assert coql.called


async def test_one_token_serves_every_call_of_its_hour() -> None:
    with respx.mock(assert_all_called=False) as router:
        grant = mock_token(router)
        mock_fields(router)
        router.post(COQL).mock(return_value=httpx.Response(204))
        src = source()
        await read(src)
        await read(src)
    assert grant.call_count == 1, "10 tokens per 10 minutes at most: never one per call"


async def test_the_token_is_renewed_ahead_of_its_expiry() -> None:
    with respx.mock(assert_all_called=False) as router:
        first, second = token(value="1000.first.token", ttl=600), token(value="1000.second.token")
        grant = mock_token(router, first, second)
        mock_fields(router)
        coql = router.post(COQL).mock(return_value=httpx.Response(204))
        src = source()
        await read(src)
        await src.api.timing.sleep(400)  # within five minutes of the 600 s expiry
        await read(src)
    assert grant.call_count == 2
    assert coql.calls[-1].request.headers["Authorization"] == "Zoho-oauthtoken 1000.second.token"


async def test_an_expired_token_is_refreshed_once_and_the_call_replayed() -> None:
    with respx.mock(assert_all_called=False) as router:
        grant = mock_token(router, token(value="1000.old.token"), token(value="1000.new.token"))
        mock_fields(router)

        def answer(request: httpx.Request) -> httpx.Response:
            if request.headers["Authorization"].endswith("old.token"):
                return httpx.Response(401, json=INVALID_TOKEN)
            return httpx.Response(204)

        coql = router.post(COQL).mock(side_effect=answer)
        src = source()
        await src.api.tokens.current()
        await src.api.timing.sleep(120)  # the token is no longer brand new
        await read(src)
    assert grant.call_count == 2
    assert [c.response.status_code for c in coql.calls] == [401, 204]


async def test_a_token_refused_right_after_it_was_issued_names_the_data_centre_mismatch() -> None:
    with respx.mock(assert_all_called=False) as router:
        grant = mock_token(router)
        router.get("https://www.zohoapis.eu/crm/v8/settings/fields").mock(
            return_value=httpx.Response(401, json=INVALID_TOKEN)
        )
        with pytest.raises(AuthError) as caught:
            await read(source())
    assert grant.call_count == 1, "a young token is not refreshed again (10 per 10 minutes)"
    text = str(caught.value)
    assert "different data centres" in text
    assert "https://www.zohoapis.eu (EU data centre)" in text


async def test_a_refresh_token_from_another_data_centre_is_named_in_the_error() -> None:
    with respx.mock(assert_all_called=False) as router:
        us = router.post("https://accounts.zoho.com/oauth/v2/token").mock(
            return_value=httpx.Response(200, json=load("token_invalid_code.json"))
        )
        eu = router.post(TOKEN_URL).mock(return_value=httpx.Response(200, json=token()))
        india = router.post("https://accounts.zoho.in/oauth/v2/token")
        with pytest.raises(AuthError) as caught:
            await read(source(data_centre="us"))
    assert us.call_count == 1
    assert eu.call_count == 1
    assert not india.called, "probing stops at the data centre that accepts the token"
    text = str(caught.value)
    assert "belongs to Zoho's EU data centre (https://accounts.zoho.eu)" in text
    assert "set data_centre: eu" in text


async def test_a_refused_refresh_token_without_probing_says_what_to_check() -> None:
    with respx.mock(assert_all_called=False) as router:
        refused = httpx.Response(200, json=load("token_invalid_code.json"))
        router.post(TOKEN_URL).mock(return_value=refused)
        other = router.post("https://accounts.zoho.com/oauth/v2/token")
        with pytest.raises(AuthError) as caught:
            await read(source(probe_data_centres=False))
    assert not other.called
    text = str(caught.value)
    assert "invalid_code" in text
    assert "EU data centre (https://accounts.zoho.eu)" in text
    assert "revoked, mistyped" in text


async def test_a_refresh_token_no_data_centre_knows_is_reported_as_refused() -> None:
    with respx.mock(assert_all_called=False) as router:
        refused = router.post(url__regex=r"^https://accounts\.zoho[a-z.]*/oauth/v2/token$").mock(
            return_value=httpx.Response(200, json=load("token_invalid_code.json"))
        )
        with pytest.raises(AuthError, match="revoked, mistyped"):
            await read(source())
    hosts = {call.request.url.host for call in refused.calls}
    assert len(hosts) == 8, "the configured data centre, then each of the seven others once"


async def test_too_many_refreshes_are_waited_out() -> None:
    sleeps = Sleeps()
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).mock(
            side_effect=[
                httpx.Response(400, json=load("token_too_many.json")),
                httpx.Response(200, json=token()),
            ]
        )
        mock_fields(router)
        router.post(COQL).mock(return_value=httpx.Response(204))
        await read(source(sleeps))
    assert 60.0 in sleeps.calls


async def test_no_secret_reaches_logs_or_errors() -> None:
    with capture_logs() as logs, respx.mock(assert_all_called=False) as router:
        mock_token(router)
        router.get("https://www.zohoapis.eu/crm/v8/settings/fields").mock(
            return_value=httpx.Response(401, json=INVALID_TOKEN)
        )
        with pytest.raises(AuthError) as caught:
            await read(source())
    text = repr(logs) + str(caught.value) + repr(caught.value.args)
    for secret in (REFRESH_TOKEN, CLIENT_SECRET, ACCESS_TOKEN):
        assert secret not in text


def test_the_accounts_server_follows_the_data_centre() -> None:
    assert config(data_centre="au").base_url == "https://accounts.zoho.com.au"
    assert config(data_centre="ca").base_url == "https://accounts.zohocloud.ca"
    assert config().base_url == "https://accounts.zoho.eu"


def test_a_known_accounts_url_sets_the_data_centre_and_a_contradiction_is_refused() -> None:
    raw = {
        "kind": "zoho",
        "base_url": "https://accounts.zoho.jp",
        "client_id": CLIENT_ID,
        "client_secret": "${ZOHO_UNIT_CLIENT_SECRET}",
        "refresh_token": "${ZOHO_UNIT_REFRESH_TOKEN}",
    }
    assert ZohoConfig.model_validate(raw).data_centre == "jp"
    with pytest.raises(ValidationError, match="set data_centre: in"):
        config(base_url="https://accounts.zoho.in")


def test_inline_secrets_are_refused() -> None:
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        config(refresh_token=REFRESH_TOKEN)


def test_record_url_needs_an_id_placeholder() -> None:
    with pytest.raises(ValidationError, match=r"\{id\}"):
        config(record_url="https://crm.zoho.eu/crm/tab/Potentials/")
