"""Salesforce source: OAuth grants, session expiry, config and secrets (respx)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.base import DealQuery
from connectors.errors import AuthError, PermanentError
from connectors.sales.salesforce import SalesforceConfig, SalesforceSource
from connectors.settings import ConnectorOptions
from tests.fixtures.salesforce.support import (
    ACCESS_TOKEN,
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    INSTANCE,
    LOGIN,
    REFRESH_TOKEN,
    SECOND_TOKEN,
    TOKEN_URL,
    FakeSleep,
    load,
    make_source,
    mock_login,
    refresh_config,
    token_body,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(fields=("Name",))
EMPTY = {"totalSize": 0, "done": True, "records": []}
EXPIRED = load("expired_session_response.json")


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    """A throwaway RSA key pair: (private PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@pytest.fixture
def jwt_source(key_pair: tuple[str, str], tmp_path: Path) -> SalesforceSource:
    key_file = tmp_path / "salesforce.key"
    key_file.write_text(key_pair[0])
    config = SalesforceConfig.model_validate(
        {
            "kind": "salesforce",
            "base_url": LOGIN,
            "auth": {
                "flow": "jwt_bearer",
                "client_id": CLIENT_ID,
                "username": "integration@acme.example",
                "private_key": f"file:{key_file}",
            },
        }
    )
    return SalesforceSource("west", config, ConnectorOptions(sleep=FakeSleep()))


def form_of(route: respx.Route, call: int = -1) -> dict[str, str]:
    body = route.calls[call].request.content.decode()
    return {k: v[0] for k, v in parse_qs(body).items()}


async def drain(source: SalesforceSource) -> None:
    async for _ in source.changed_deals(QUERY, None):
        pass


# -- client credentials flow (shared with the Service Cloud target) ---------------------------


async def test_client_credentials_flow_posts_id_and_secret_and_asks_again_on_expiry(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SF_TEST_CLIENT_SECRET", CLIENT_SECRET)
    my_domain = "https://acme.my.salesforce.test"
    login = respx_mock.post(f"{my_domain}/services/oauth2/token").mock(
        side_effect=[
            httpx.Response(200, json=token_body(ACCESS_TOKEN)),
            httpx.Response(200, json=token_body(SECOND_TOKEN)),
        ]
    )
    query = respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[httpx.Response(401, json=EXPIRED), httpx.Response(200, json=EMPTY)]
    )
    auth = {
        "flow": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": "${SF_TEST_CLIENT_SECRET}",
    }
    source = make_source(monkeypatch, base_url=my_domain, auth=auth)
    await drain(source)
    await source.aclose()
    assert form_of(login, 0) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert login.call_count == 2  # no refresh token exists: the grant itself is asked again
    assert query.calls.last.request.headers["Authorization"] == f"Bearer {SECOND_TOKEN}"


def test_client_credentials_on_the_shared_login_host_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SF_TEST_CLIENT_SECRET", CLIENT_SECRET)
    auth = {
        "flow": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": "${SF_TEST_CLIENT_SECRET}",
    }
    with pytest.raises(ValidationError, match="My Domain URL"):
        refresh_config(monkeypatch, base_url="https://login.salesforce.com", auth=auth)


# -- refresh-token flow ------------------------------------------------------------------------


async def test_refresh_token_flow_posts_the_grant_and_calls_the_instance_url(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = mock_login(respx_mock)
    query = respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, json=EMPTY))
    source = make_source(monkeypatch)
    await drain(source)
    assert form_of(login) == {
        "grant_type": "refresh_token",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "refresh_token": REFRESH_TOKEN,
    }
    sent = query.calls.last.request
    assert sent.url.host == "acme.my.salesforce.test"
    assert sent.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert login.call_count == 1
    await source.aclose()


async def test_rotated_refresh_token_replaces_the_old_one(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    rotated = "5Aep861RotatedRefreshToken77aa"
    login = respx_mock.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=token_body(ACCESS_TOKEN, refresh_token=rotated)),
            httpx.Response(200, json=token_body(SECOND_TOKEN)),
        ]
    )
    respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[httpx.Response(401, json=EXPIRED), httpx.Response(200, json=EMPTY)]
    )
    source = make_source(monkeypatch)
    with capture_logs() as logs:
        await drain(source)
    assert form_of(login, 1)["refresh_token"] == rotated
    assert any(e["event"] == "salesforce_refresh_token_rotated" for e in logs)
    await source.aclose()


async def test_refused_refresh_grant_is_an_auth_error_naming_the_flow(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(400, json=load("refresh_error_response.json"))
    )
    source = make_source(monkeypatch)
    with pytest.raises(AuthError) as caught:
        await drain(source)
    text = str(caught.value)
    assert "Salesforce refused the refresh_token grant: invalid_grant" in text
    assert "expired access/refresh token" in text
    assert CLIENT_SECRET not in text
    assert REFRESH_TOKEN not in text
    assert caught.value.who_acts == "admin"
    await source.aclose()


async def test_a_token_answer_without_an_access_token_is_a_developer_error(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    respx_mock.post(TOKEN_URL).mock(
        return_value=httpx.Response(200, json={"instance_url": INSTANCE})
    )
    source = make_source(monkeypatch)
    with pytest.raises(PermanentError, match="without an access_token"):
        await drain(source)
    await source.aclose()


# -- session expiry ----------------------------------------------------------------------------


async def test_expired_session_triggers_exactly_one_new_login(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = mock_login(respx_mock, ACCESS_TOKEN, SECOND_TOKEN)
    query = respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(401, json=EXPIRED),
            httpx.Response(200, json=load("opportunities_page2.json")),
        ]
    )
    source = make_source(monkeypatch)
    pages = [p async for p in source.changed_deals(QUERY, None)]
    assert len(pages[0].deals) == 2
    assert login.call_count == 2
    assert query.calls.last.request.headers["Authorization"] == f"Bearer {SECOND_TOKEN}"
    await source.aclose()


async def test_a_second_401_after_logging_in_again_is_an_auth_error(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    login = mock_login(respx_mock, ACCESS_TOKEN, SECOND_TOKEN)
    query = respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(401, json=EXPIRED))
    source = make_source(monkeypatch)
    with pytest.raises(AuthError, match="Session expired or invalid") as caught:
        await drain(source)
    assert caught.value.vendor_code == "INVALID_SESSION_ID"
    assert (login.call_count, query.call_count) == (2, 2)
    await source.aclose()


# -- JWT bearer flow ---------------------------------------------------------------------------


async def test_jwt_bearer_assertion_is_rs256_with_iss_sub_aud_and_a_short_exp(
    respx_mock: respx.MockRouter, jwt_source: SalesforceSource, key_pair: tuple[str, str]
) -> None:
    login = mock_login(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, json=EMPTY))
    await drain(jwt_source)
    form = form_of(login)
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims: dict[str, Any] = jwt.decode(
        form["assertion"],
        key_pair[1],
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert claims["iss"] == CLIENT_ID
    assert claims["sub"] == "integration@acme.example"
    assert 0 < claims["exp"] - time.time() <= 180
    assert jwt.get_unverified_header(form["assertion"])["alg"] == "RS256"
    await jwt_source.aclose()


async def test_jwt_bearer_signs_a_new_assertion_when_the_session_expires(
    respx_mock: respx.MockRouter, jwt_source: SalesforceSource
) -> None:
    login = mock_login(respx_mock, ACCESS_TOKEN, SECOND_TOKEN)
    respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[httpx.Response(401, json=EXPIRED), httpx.Response(200, json=EMPTY)]
    )
    await drain(jwt_source)
    assert login.call_count == 2
    assert all(form_of(login, n)["grant_type"].endswith("jwt-bearer") for n in (0, 1))
    await jwt_source.aclose()


async def test_refused_jwt_grant_is_an_auth_error_naming_the_flow(
    respx_mock: respx.MockRouter, jwt_source: SalesforceSource
) -> None:
    refusal = {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(400, json=refusal))
    with pytest.raises(AuthError, match="refused the jwt_bearer grant: invalid_grant"):
        await drain(jwt_source)
    await jwt_source.aclose()


async def test_an_unusable_private_key_is_an_auth_error_without_key_material(
    respx_mock: respx.MockRouter, tmp_path: Path
) -> None:
    key_file = tmp_path / "bad.key"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----")
    config = SalesforceConfig.model_validate(
        {
            "kind": "salesforce",
            "base_url": LOGIN,
            "auth": {
                "flow": "jwt_bearer",
                "client_id": CLIENT_ID,
                "username": "integration@acme.example",
                "private_key": f"file:{key_file}",
            },
        }
    )
    source = SalesforceSource("west", config, ConnectorOptions(sleep=FakeSleep()))
    with pytest.raises(
        AuthError, match="private_key is not a usable PEM RSA private key"
    ) as caught:
        await drain(source)
    assert "not-a-key" not in str(caught.value)
    await source.aclose()


# -- secrets never leak ------------------------------------------------------------------------


async def test_no_secret_reaches_the_logs_or_error_text(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    third_token = "00Dx0000000BV7z!AR8AQtestAccessTokenThree"
    mock_login(respx_mock, ACCESS_TOKEN, SECOND_TOKEN, third_token)
    leaky = [
        {
            "message": f"bad token {ACCESS_TOKEN} for {REFRESH_TOKEN}",
            "errorCode": "INVALID_SESSION_ID",
        }
    ]
    respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(401, json=EXPIRED),
            httpx.Response(403, json=load("concurrent_limit_exceeded_response.json")),
            httpx.Response(401, json=leaky),
            httpx.Response(401, json=leaky),
        ]
    )
    source = make_source(monkeypatch)
    with capture_logs() as logs, pytest.raises(AuthError) as caught:
        await drain(source)
    text = repr(logs) + str(caught.value)
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, ACCESS_TOKEN, SECOND_TOKEN, third_token):
        assert secret not in text
    assert "***" in str(caught.value)
    await source.aclose()


# -- configuration -----------------------------------------------------------------------------


def test_inline_secrets_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        refresh_config(
            monkeypatch,
            auth={
                "flow": "refresh_token",
                "client_id": CLIENT_ID,
                "client_secret": "plain-text-secret",
                "refresh_token": "${SF_TEST_REFRESH_TOKEN}",
            },
        )


@pytest.mark.parametrize("size", [199, 2001])
def test_page_size_must_be_a_batch_size_salesforce_accepts(
    monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    with pytest.raises(ValidationError, match="page_size"):
        refresh_config(monkeypatch, page_size=size)


def test_defaults_follow_the_issue(monkeypatch: pytest.MonkeyPatch) -> None:
    config = refresh_config(monkeypatch, page_size=2000)
    assert config.api_version == "v61.0"
    assert config.object == "Opportunity"
    assert config.overlap_seconds == 300
    assert config.child_relationships == ("OpportunityContactRoles",)
    assert config.throttle_retry_after == 60.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"auth": {"flow": "password", "client_id": "x"}},
            "does not match any of the expected tags",
        ),
        ({"object": "Opportunity; DROP"}, "not a Salesforce object API name"),
        ({"api_version": "61"}, "api_version"),
        ({"child_relationships": ["Opportunity Contact Roles"]}, "not child relationship names"),
        ({"base_url": "login.salesforce.com"}, "must start with https://"),
    ],
)
def test_config_mistakes_are_explained(
    monkeypatch: pytest.MonkeyPatch, override: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        refresh_config(monkeypatch, **override)
