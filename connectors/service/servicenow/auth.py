"""Authentication: HTTP Basic, or OAuth 2.0 client credentials as an ``httpx.Auth`` flow.

Client credentials (FACTS.md 1.2-1.3): ``POST /oauth_token.do`` with the form fields
``grant_type=client_credentials``, ``client_id``, ``client_secret`` (and ``scope`` when
configured) answers ``{"access_token", "token_type": "Bearer", "expires_in": 1799, ...}``; the
token goes on every call as ``Authorization: Bearer <token>``. It lives 1,800 s by default and
no refresh token is expected, so an expired token is simply replaced: the instance answers 401
and ``connectors.auth.TokenAuth`` asks for a new token once and replays the request.

The token endpoint's error body is not documented; the RFC 6749 shape ``{"error":
"invalid_client", "error_description": ...}`` is assumed (FACTS.md 1.4), and every 4xx from it
is an admin's problem.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.auth import StaticHeaderAuth, TokenAuth
from connectors.errors import AuthError, ConnectorError, RateLimited, TransientError
from connectors.http import VendorClient
from connectors.ratelimit import parse_retry_after
from connectors.service.servicenow.config import BasicAuth, ClientCredentialsAuth, ServiceNowConfig
from connectors.service.servicenow.errors import describe

TOKEN_PATH = "/oauth_token.do"  # noqa: S105 - a URL path, not a secret


class ClientCredentialsGrant:
    """Fetches access tokens for an OAuth client (a ``connectors.auth.TokenProvider``)."""

    def __init__(self, auth: ClientCredentialsAuth, client: VendorClient) -> None:
        self._auth = auth
        self._client = client
        self.grants = 0
        self.expires_in: float | None = None

    async def fetch(self) -> str:
        """A new access token; raises ``AuthError`` when the instance refuses the client."""
        form = {
            "grant_type": "client_credentials",
            "client_id": self._auth.client_id,
            "client_secret": self._auth.client_secret.get_secret_value(),
        }
        if self._auth.scope:
            form["scope"] = self._auth.scope
        operation = "oauth client_credentials"
        response = await self._client.request(
            "POST", TOKEN_PATH, operation=operation, data=form, idempotent=True, changes=False
        )
        self.grants += 1
        body: Any = self._client.decode(response, operation)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(
                "ServiceNow's token endpoint answered without an access_token; check that the "
                "OAuth client has the client credentials grant enabled",
                connector=self._client.connector,
                operation=operation,
            )
        expires = body.get("expires_in")
        self.expires_in = float(expires) if isinstance(expires, int | float | str) else None
        return token


def classify_token(response: httpx.Response) -> ConnectorError | None:
    """Token-endpoint answers: any refusal is the OAuth client's configuration."""
    status = response.status_code
    if status < 400:
        return None
    message, code, _ = describe(response)
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return RateLimited(message, retry_after=retry_after, status=status)
    if status >= 500:
        return TransientError(message, status=status, vendor_code=code)
    return AuthError(
        f"{message} (check client_id and client_secret, and that the OAuth client in the "
        "Application Registry allows the client credentials grant)",
        status=status,
        vendor_code=code,
    )


def build_auth(
    config: ServiceNowConfig, token_client: VendorClient
) -> tuple[httpx.Auth, ClientCredentialsGrant | None]:
    """The request auth for ``config`` and, for OAuth, the grant (to count token fetches)."""
    auth = config.auth
    if isinstance(auth, BasicAuth):
        return StaticHeaderAuth.basic(auth.username, auth.password.get_secret_value()), None
    grant = ClientCredentialsGrant(auth, token_client)
    return TokenAuth(grant), grant
