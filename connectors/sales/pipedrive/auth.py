"""Pipedrive authentication: the ``x-api-token`` header, or OAuth 2 with refresh (FACTS.md §2).

OAuth facts used (PD-OAUTH, PD-OAUTHCODES; SDK-CONF):

* ``POST https://oauth.pipedrive.com/oauth/token``, form-encoded (anything else is refused),
  ``grant_type=refresh_token&refresh_token=...``, client authenticated by HTTP Basic
  ``client_id:client_secret`` (credentials in the body are "not recommended").
* The answer carries ``access_token``, ``expires_in`` (the token lives 60 minutes; follow
  ``expires_in``, not a constant), ``refresh_token`` (the same one: no rotation; a different
  one is adopted anyway) and ``api_domain``, the company's host for every API call.
* An expired or revoked access token answers 401 "Invalid token: `access_token` is invalid".

So the token is renewed a margin before it expires, and a 401 renews once and replays.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import structlog

from connectors.auth import StaticHeaderAuth
from connectors.errors import AuthError
from connectors.http import VendorClient
from connectors.ratelimit import Clock
from connectors.redact import register_secret
from connectors.sales.pipedrive.config import ApiTokenAuth, OAuthAuth

log = structlog.get_logger("dealbridge.pipedrive")

REFRESH_MARGIN_SECONDS = 120.0
"""Renew an access token this long before ``expires_in`` runs out."""
DEFAULT_TTL_SECONDS = 3600.0
"""PD-OAUTH: access tokens expire after 60 minutes (used only when ``expires_in`` is absent)."""


def api_token_auth(auth: ApiTokenAuth) -> httpx.Auth:
    """``x-api-token: <token>`` on every request (never the ``?api_token=`` query parameter,
    which would land in access logs)."""
    return StaticHeaderAuth("x-api-token", auth.api_token.get_secret_value())


class OAuthGrant:
    """Trades the refresh token for access tokens; knows the current token and ``api_domain``."""

    def __init__(self, client: VendorClient, auth: OAuthAuth, *, clock: Clock) -> None:
        self._client = client
        self._url = auth.token_url
        secret = auth.client_secret.get_secret_value()
        basic = base64.b64encode(f"{auth.client_id}:{secret}".encode()).decode()
        register_secret(basic)
        self._basic = f"Basic {basic}"
        self._refresh_token = auth.refresh_token.get_secret_value()
        self._clock = clock
        self._lock = asyncio.Lock()
        self.access_token: str | None = None
        self.api_domain: str | None = None
        self.expires_at = 0.0
        self.refreshes = 0

    async def token(self, *, stale: str | None = None) -> str:
        """A live access token: the current one, or a new one if it is missing, about to
        expire, or the one a 401 just refused (``stale``). Many callers share one refresh."""
        async with self._lock:
            current = self.access_token
            expiring = self._clock() >= self.expires_at - REFRESH_MARGIN_SECONDS
            if current is None or current == stale or expiring:
                current = await self._refresh()
            return current

    async def host(self) -> str | None:
        """The company host the token answer named (a token is fetched first if need be)."""
        if self.access_token is None:
            await self.token()
        return self.api_domain

    async def _refresh(self) -> str:
        response = await self._client.request(
            "POST",
            self._url,
            operation="oauth refresh",
            data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
            headers={"Authorization": self._basic},
            idempotent=True,
        )
        self.refreshes += 1
        body = self._client.decode(response, "oauth refresh")
        return self._accept(body if isinstance(body, dict) else {})

    def _accept(self, body: dict[str, Any]) -> str:
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError(
                "Pipedrive's token endpoint answered without an access_token",
                operation="oauth refresh",
            )
        register_secret(token)
        self.access_token = token
        self.expires_at = self._clock() + _seconds(body.get("expires_in"))
        domain = body.get("api_domain")
        if isinstance(domain, str) and domain.startswith(("https://", "http://")):
            self.api_domain = domain.rstrip("/")
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            register_secret(rotated)
            self._refresh_token = rotated
            log.warning("pipedrive_refresh_token_changed", hint="store the new refresh_token")
        return token


class OAuthBearer(httpx.Auth):
    """``Authorization: Bearer`` with a token renewed ahead of expiry, and once after a 401."""

    requires_response_body = True

    def __init__(self, grant: OAuthGrant) -> None:
        self.grant = grant

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.grant.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            token = await self.grant.token(stale=token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request


def _seconds(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return DEFAULT_TTL_SECONDS
    return value if value > 0 else DEFAULT_TTL_SECONDS
