"""Optional single sign-on: OpenID Connect's code flow with PKCE, against ``web.oidc``.

The provider says who the person is; the console still decides what they may do: the claim
named by ``web.oidc.claim`` (``email`` by default) must be the name of a console user (added
with ``dealbridge users add``), whose role applies. Nothing else about the person is kept.

The attempt's state, nonce and PKCE verifier travel in a signed cookie that lives ten minutes
and is ``SameSite=Lax`` (the provider sends the browser back with a cross-site navigation,
which a Strict cookie would not survive). The ID token is checked against the provider's
published keys: signature, issuer, audience, expiry and nonce.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sync_jobs.app.web.guard import Refused, client_address, over_https
from sync_jobs.app.web.pages.login import safe_next, start_session
from sync_jobs.app.web.state import ConsoleState, console_state
from sync_jobs.config.app import OidcConfig
from sync_jobs.store.console import get_user
from sync_jobs.store.db import read_tx

FLOW_COOKIE = "dealbridge_oidc"
FLOW_SECONDS = 600
TRANSPORT = "oidc"
"""The name under which tests hand the console a transport to a simulated provider."""
ALGORITHMS = ["RS256", "ES256", "PS256"]


def _oidc(state: ConsoleState) -> OidcConfig:
    config = state.current_config().web.oidc
    if config is None:
        raise HTTPException(404, "single sign-on is not configured (web.oidc)")
    return config


async def _get_json(state: ConsoleState, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    async with httpx.AsyncClient(transport=state.transports.get(TRANSPORT), timeout=10) as client:
        answer = await client.request(method, url, **kwargs)
    if answer.status_code != 200:
        raise Refused(f"the identity provider answered {answer.status_code}; try again later")
    data = answer.json()
    if not isinstance(data, dict):
        raise Refused("the identity provider's answer was not understood")
    return data


async def _discovery(state: ConsoleState, config: OidcConfig) -> dict[str, Any]:
    return await _get_json(state, "GET", f"{config.issuer}/.well-known/openid-configuration")


def _callback_url(request: Request) -> str:
    base = console_state(request).current_config().web.base_url
    if base is None:
        scheme = "https" if over_https(request) else request.url.scheme
        base = f"{scheme}://{request.url.netloc}"
    return f"{base}/login/oidc/callback"


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def begin(request: Request) -> Response:
    """GET /login/oidc: send the browser to the provider."""
    state = console_state(request)
    config = _oidc(state)
    endpoints = await _discovery(state, config)
    verifier = secrets.token_urlsafe(48)
    flow = {
        "s": secrets.token_urlsafe(24),
        "n": secrets.token_urlsafe(24),
        "v": verifier,
        "t": state.clock().timestamp(),
        "next": safe_next(request.query_params.get("next")),
    }
    query = urlencode(
        {
            "response_type": "code",
            "client_id": config.client_id,
            "redirect_uri": _callback_url(request),
            "scope": "openid email profile",
            "state": flow["s"],
            "nonce": flow["n"],
            "code_challenge": _challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    response = RedirectResponse(f"{endpoints['authorization_endpoint']}?{query}", status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        state.sessions.sign_flow(flow),
        max_age=FLOW_SECONDS,
        httponly=True,
        samesite="lax",
        secure=over_https(request),
    )
    return response


async def finish(request: Request) -> Response:
    """GET /login/oidc/callback: check everything, then sign the named console user in."""
    state = console_state(request)
    config = _oidc(state)
    flow = state.sessions.read_flow(request.cookies.get(FLOW_COOKIE))
    sent = request.query_params.get("state", "")
    if flow is None or not secrets.compare_digest(str(flow.get("s", "")), sent):
        raise Refused("this sign-in was not started here, or was started twice: start again")
    if state.clock().timestamp() - float(flow.get("t", 0)) > FLOW_SECONDS:
        raise Refused("this sign-in took longer than ten minutes: start again")
    code = request.query_params.get("code")
    if not code:
        raise Refused("the identity provider did not sign you in")
    claims = await _verified_claims(request, state, config, code, flow)
    name = claims.get(config.claim)
    async with read_tx(state.store) as conn:
        user = await get_user(conn, str(name)) if isinstance(name, str) else None
    if user is None:
        raise Refused(
            f"{name or 'this account'} is not a console user: an admin adds it with "
            "dealbridge users add NAME --role viewer|lead|admin"
        )
    response = await start_session(
        request, user.name, {"from": client_address(request), "via": "oidc"}, flow.get("next")
    )
    response.delete_cookie(FLOW_COOKIE)
    return response


async def _verified_claims(
    request: Request, state: ConsoleState, config: OidcConfig, code: str, flow: dict[str, Any]
) -> dict[str, Any]:
    endpoints = await _discovery(state, config)
    tokens = await _get_json(
        state,
        "POST",
        endpoints["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": _callback_url(request),
            "client_id": config.client_id,
            "client_secret": config.client_secret.get_secret_value(),
            "code_verifier": flow["v"],
        },
    )
    keys = await _get_json(state, "GET", endpoints["jwks_uri"])
    token = tokens.get("id_token")
    try:
        header = jwt.get_unverified_header(str(token))
        jwk = next(k for k in keys.get("keys", []) if k.get("kid") == header.get("kid"))
        claims: dict[str, Any] = jwt.decode(
            str(token),
            jwt.PyJWK(jwk).key,
            algorithms=ALGORITHMS,
            audience=config.client_id,
            issuer=endpoints.get("issuer", config.issuer),
        )
    except (jwt.PyJWTError, StopIteration, ValueError, TypeError):
        raise Refused("the identity provider's token did not check out: start again") from None
    if not secrets.compare_digest(str(claims.get("nonce", "")), str(flow["n"])):
        raise Refused("the identity provider's token is not for this sign-in: start again")
    return claims
