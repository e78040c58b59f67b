"""Authentication as ``httpx.Auth`` flows, so token refresh is invisible to connector code.

``StaticHeaderAuth`` covers API tokens and Basic; ``TokenAuth`` covers OAuth2 flows: it asks
its ``TokenProvider`` for a token, sends the request, and on a 401 (or a vendor-specific
"session expired" answer) fetches a new token once and replays the request.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Protocol

import httpx

from connectors.redact import register_secret


class StaticHeaderAuth(httpx.Auth):
    """Adds one fixed header (API key, bearer token, or Basic credentials)."""

    def __init__(self, header: str, value: str) -> None:
        register_secret(value)
        self._header = header
        self._value = value

    @classmethod
    def basic(cls, username: str, password: str) -> StaticHeaderAuth:
        """HTTP Basic, e.g. Zendesk's ``{email}/token:{api_token}``."""
        register_secret(password)
        raw = base64.b64encode(f"{username}:{password}".encode()).decode()
        return cls("Authorization", f"Basic {raw}")

    @classmethod
    def bearer(cls, token: str) -> StaticHeaderAuth:
        """``Authorization: Bearer <token>``, e.g. a HubSpot private-app token."""
        register_secret(token)
        return cls("Authorization", f"Bearer {token}")

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._header] = self._value
        yield request


class TokenProvider(Protocol):
    """Fetches a fresh access token (the OAuth2 grant of one vendor)."""

    async def fetch(self) -> str:
        """Return a new access token; raise ``AuthError`` if the grant is refused."""
        ...


class TokenAuth(httpx.Auth):
    """Bearer auth with a lazily fetched token, refreshed once when the vendor says it expired."""

    requires_response_body = True

    def __init__(
        self,
        provider: TokenProvider,
        *,
        is_expired: Callable[[httpx.Response], bool] | None = None,
    ) -> None:
        self._provider = provider
        self._token: str | None = None
        self._lock = asyncio.Lock()
        self._is_expired = is_expired or (lambda r: r.status_code == httpx.codes.UNAUTHORIZED)
        self.refreshes = 0

    async def _current(self, stale: str | None) -> str:
        async with self._lock:
            if self._token is None or self._token == stale:
                token = await self._provider.fetch()
                register_secret(token)
                self._token = token
                self.refreshes += 1
            return self._token

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._current(None)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if self._is_expired(response):
            token = await self._current(token)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
