"""Optional single sign-on: a simulated OpenID Connect provider signs people in, the console
checks its token, and only console users get a session (with their console role)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_jobs.app.web import console_app
from tests.console.conftest import ConsoleWorld, run_sync
from tests.console.testclient import TestClient

ISSUER = "https://idp.example"
CLIENT = "dealbridge-console"


@dataclass
class Provider:
    """An identity provider that signs in whoever the test says, with its own RSA key."""

    key: Any = field(default_factory=lambda: rsa.generate_private_key(65537, 2048))
    email: str = "ada@example.com"
    codes: dict[str, str] = field(default_factory=dict)
    """Authorization code -> the nonce it was issued for."""
    audience: str = CLIENT

    def app(self) -> Starlette:
        async def discovery(_request: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": ISSUER,
                    "authorization_endpoint": f"{ISSUER}/authorize",
                    "token_endpoint": f"{ISSUER}/token",
                    "jwks_uri": f"{ISSUER}/jwks",
                }
            )

        async def token(request: Request) -> Response:
            form = await request.form()
            nonce = self.codes.pop(str(form["code"]), None)
            if nonce is None or form["client_secret"] != "idp-secret-value":
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": self.audience,
                "sub": "1",
                "iat": now,
                "exp": now + 300,
                "nonce": nonce,
                "email": self.email,
            }
            signed = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})
            return JSONResponse({"id_token": signed, "access_token": "x", "token_type": "Bearer"})

        async def jwks(_request: Request) -> Response:
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
            return JSONResponse({"keys": [public | {"kid": "k1", "alg": "RS256", "use": "sig"}]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )

    def authorize(self, location: str) -> str:
        """What the provider does after the person signs in: the callback with a code."""
        query = parse_qs(urlsplit(location).query)
        assert query["code_challenge_method"] == ["S256"]
        code = f"code-{len(self.codes)}"
        self.codes[code] = query["nonce"][0]
        return f"/login/oidc/callback?code={code}&state={query['state'][0]}"


@pytest.fixture
def provider(console_world: ConsoleWorld, monkeypatch: pytest.MonkeyPatch) -> Provider:
    monkeypatch.setenv("DEALBRIDGE_TEST_IDP_SECRET", "idp-secret-value")
    text = console_world.config_path.read_text() + (
        f"web:\n  oidc:\n    issuer: {ISSUER}\n    client_id: {CLIENT}\n"
        "    client_secret: ${DEALBRIDGE_TEST_IDP_SECRET}\n    label: Example SSO\n"
    )
    console_world.config_path.write_text(text)
    run_sync(_add(console_world, "ada@example.com", "lead"))
    return Provider()


async def _add(world: ConsoleWorld, name: str, role: str) -> None:
    from sync_jobs.app.web.users_admin import add_user
    from sync_jobs.config.app import load_config

    await add_user(load_config(world.config_path).state.url, name, role, "a long passphrase")


@pytest.fixture
def client(console_world: ConsoleWorld, provider: Provider) -> Iterator[TestClient]:
    transports = console_world.world.transports() | {
        "oidc": httpx.ASGITransport(app=provider.app())
    }
    app = console_app(console_world.config_path, transports=transports, clock=console_world.clock)
    with TestClient(app, base_url="https://testserver") as opened:
        yield opened


def test_the_sign_in_page_offers_the_provider(client: TestClient) -> None:
    assert "Sign in with Example SSO" in client.get("/login").text


def test_a_console_user_signs_in_through_the_provider_with_their_console_role(
    client: TestClient, provider: Provider
) -> None:
    start = client.get("/login/oidc?next=/conflicts", follow_redirects=False)
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{ISSUER}/authorize?")
    flow_cookie = start.headers["set-cookie"].lower()
    assert "samesite=lax" in flow_cookie
    assert "httponly" in flow_cookie
    back = client.get(provider.authorize(start.headers["location"]), follow_redirects=False)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/conflicts"
    page = client.get("/")
    assert "ada@example.com (lead)" in page.text
    assert "idp-secret-value" not in page.text
    assert "via=oidc" in client.get("/changes").text


def test_someone_the_provider_knows_but_the_console_does_not_is_refused(
    client: TestClient, provider: Provider
) -> None:
    provider.email = "mallory@example.com"
    start = client.get("/login/oidc", follow_redirects=False)
    back = client.get(provider.authorize(start.headers["location"]), follow_redirects=False)
    assert back.status_code == 403
    assert "is not a console user" in back.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_callback_not_started_here_or_with_a_foreign_token_is_refused(
    client: TestClient, provider: Provider
) -> None:
    start = client.get("/login/oidc", follow_redirects=False)
    forged = provider.authorize(start.headers["location"]).replace("state=", "state=x")
    assert client.get(forged, follow_redirects=False).status_code == 403
    provider.audience = "another-app"
    start = client.get("/login/oidc", follow_redirects=False)
    back = client.get(provider.authorize(start.headers["location"]), follow_redirects=False)
    assert back.status_code == 403
    assert "did not check out" in back.text


def test_without_web_oidc_there_is_no_single_sign_on(console_world: ConsoleWorld) -> None:
    with console_world.client() as plain:
        assert plain.get("/login/oidc").status_code == 404
        assert "Sign in with" not in plain.get("/login").text
