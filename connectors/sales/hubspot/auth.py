"""HubSpot authentication: a static private-app token, or OAuth with refresh before expiry.

OAuth facts (HubSpot OAuth spec, v1 and v3 token endpoints; usage guidelines):

* ``POST /oauth/v1/token`` (or ``/oauth/v3/token``), form-encoded ``grant_type=refresh_token``,
  ``client_id``, ``client_secret``, ``refresh_token``; the answer carries ``access_token``,
  ``refresh_token``, ``expires_in`` (seconds) and ``token_type``.
* Access tokens live 30 minutes; HubSpot asks apps to follow ``expires_in`` and says a 401
  "is not a valid indicator that a new access token must be retrieved". So the token is renewed
  *before* it expires (a margin ahead), and a 401 still triggers one refresh-and-replay as a
  safety net (via :class:`connectors.auth.TokenAuth`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import httpx
import structlog

from connectors.auth import StaticHeaderAuth, TokenAuth
from connectors.errors import AuthError, ConnectorError
from connectors.http import VendorClient
from connectors.ratelimit import Clock
from connectors.redact import register_secret
from connectors.responses import json_object
from connectors.sales.hubspot.config import HubSpotConfig
from connectors.sales.hubspot.errors import classify as classify_api
from connectors.sales.hubspot.errors import describe

log = structlog.get_logger("dealbridge.hubspot")

REFRESH_MARGIN_SECONDS = 300.0
"""Renew an access token this long before HubSpot says it expires."""

DEFAULT_TTL_SECONDS = 1800.0


def classify_token(response: httpx.Response) -> ConnectorError | None:
    """Any refusal at the token endpoint means the OAuth install is broken: the admin acts.

    The token endpoint answers ``{"status": "BAD_REFRESH_TOKEN" | "BAD_CLIENT_ID" | ...,
    "message": ...}`` with HTTP 400, not the API's ``category`` body.
    """
    status = response.status_code
    if status in (400, 401, 403):
        body = json_object(response)
        code = str(body.get("status") or "") or None
        return AuthError(
            f"HubSpot refused the OAuth refresh: {describe(body, response)}",
            status=status,
            vendor_code=code,
        )
    return classify_api(response)


class RefreshTokenGrant:
    """Trades the refresh token for an access token and remembers when that token expires."""

    def __init__(self, client: VendorClient, config: HubSpotConfig, *, clock: Clock) -> None:
        assert config.client_id is not None
        assert config.client_secret is not None
        assert config.refresh_token is not None
        self._client = client
        self._path = config.token_path
        self._client_id = config.client_id
        self._client_secret = config.client_secret.get_secret_value()
        self._refresh_token = config.refresh_token.get_secret_value()
        self._clock = clock
        self.expires_at = 0.0

    def expiring(self) -> bool:
        """True when the current access token is within the refresh margin of its expiry."""
        return self._clock() >= self.expires_at - REFRESH_MARGIN_SECONDS

    async def fetch(self) -> str:
        """POST the refresh grant; raise AuthError if HubSpot refuses it."""
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        response = await self._client.request(
            "POST", self._path, operation="oauth refresh", data=form, idempotent=True
        )
        return self._accept(self._client.decode(response, "oauth refresh"))

    def _accept(self, data: Any) -> str:
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("HubSpot's token endpoint answered without an access_token")
        register_secret(token)
        ttl = _seconds(data.get("expires_in"))
        self.expires_at = self._clock() + ttl
        rotated = data.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            register_secret(rotated)
            self._refresh_token = rotated  # kept for this process; config still holds the old
            log.warning("hubspot_refresh_token_rotated", hint="update the stored refresh_token")
        return token


class ExpiringTokenAuth(TokenAuth):
    """TokenAuth that also renews ahead of expiry, so requests rarely meet a 401 at all."""

    def __init__(self, grant: RefreshTokenGrant) -> None:
        super().__init__(grant)
        self._grant = grant

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is not None and self._grant.expiring():
            await self._current(self._token)  # refreshes once, even with many callers waiting
        flow = super().async_auth_flow(request)
        outgoing = await flow.__anext__()
        while True:
            response = yield outgoing
            try:
                outgoing = await flow.asend(response)
            except StopAsyncIteration:
                return


def build_auth(
    config: HubSpotConfig, token_client: VendorClient | None, *, clock: Clock
) -> httpx.Auth:
    """The auth flow the config asks for (a token client is needed for OAuth only)."""
    if not config.uses_oauth:
        assert config.access_token is not None
        return StaticHeaderAuth.bearer(config.access_token.get_secret_value())
    assert token_client is not None
    return ExpiringTokenAuth(RefreshTokenGrant(token_client, config, clock=clock))


def _seconds(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return DEFAULT_TTL_SECONDS
    return value if value > 0 else DEFAULT_TTL_SECONDS
