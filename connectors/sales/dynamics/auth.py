"""Microsoft Entra ID client credentials as an ``httpx.Auth`` flow (FACTS.md §2).

``POST {authority}/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials``,
``client_id``, ``client_secret`` and ``scope=<environment URL>/.default`` answers
``{"token_type": "Bearer", "expires_in": <s>, "ext_expires_in": <s>, "access_token": ...}``.
There is no refresh token: a new grant is made a little before ``expires_in`` runs out, and a
401 from Dataverse (expired or revoked token) triggers one new grant and a replay
(:class:`connectors.auth.TokenAuth`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx

from connectors.auth import TokenAuth
from connectors.errors import AuthError
from connectors.http import VendorClient
from connectors.ratelimit import Clock
from connectors.redact import register_secret
from connectors.sales.dynamics.config import DynamicsConfig

RENEW_MARGIN_SECONDS = 300.0
"""Ask for a new token this long before the current one expires (at most half its life)."""

DEFAULT_LIFETIME_SECONDS = 3599.0
"""Used when the answer names no ``expires_in`` (Entra issues tokens for about an hour)."""


class ClientCredentialsGrant:
    """Makes the grant and remembers when its token runs out (a ``TokenProvider``)."""

    def __init__(self, client: VendorClient, config: DynamicsConfig, *, clock: Clock) -> None:
        secret = config.auth.client_secret.get_secret_value()
        register_secret(secret)
        self._client = client
        self._url = config.auth.endpoint()
        self._form = {
            "grant_type": "client_credentials",
            "client_id": config.auth.client_id,
            "client_secret": secret,
            "scope": config.scope,
        }
        self._clock = clock
        self.expires_at = 0.0
        self.grants = 0

    def expiring(self) -> bool:
        """True when the current token is within the renewal margin of its expiry."""
        return self._clock() >= self.expires_at

    async def fetch(self) -> str:
        """A new access token; raises AuthError when Entra refuses the grant."""
        response = await self._client.request(
            "POST", self._url, operation="entra token", data=self._form, idempotent=True
        )
        self.grants += 1
        return self._accept(self._client.decode(response, "entra token"))

    def _accept(self, body: Any) -> str:
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(
                "Entra ID answered the token request without an access_token",
                operation="entra token",
            )
        register_secret(token)
        lifetime = _seconds(body.get("expires_in"))
        self.expires_at = self._clock() + lifetime - min(RENEW_MARGIN_SECONDS, lifetime / 2)
        return token


class RenewingTokenAuth(TokenAuth):
    """``TokenAuth`` that also renews ahead of expiry, so requests rarely meet a 401."""

    def __init__(self, grant: ClientCredentialsGrant) -> None:
        super().__init__(grant)
        self._grant = grant

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is not None and self._grant.expiring():
            await self._current(self._token)  # one renewal, however many callers wait
        flow = super().async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


def _seconds(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return DEFAULT_LIFETIME_SECONDS
    return value if value > 0 else DEFAULT_LIFETIME_SECONDS
