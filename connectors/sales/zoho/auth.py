"""OAuth 2 for Zoho CRM: refresh-token grant per data centre, ``Zoho-oauthtoken`` header.

Facts (FACTS.md §1, §2):

* ``POST {accounts}/oauth/v2/token`` with ``grant_type=refresh_token``, ``client_id``,
  ``client_secret``, ``refresh_token`` (a form body, as Zoho's SDK sends it). The answer carries
  ``access_token``, ``expires_in`` (3,600 s) and ``api_domain``: "use this domain in all API
  endpoints" (§1.2), so the API host is taken from it, never from config.
* The header is ``Authorization: Zoho-oauthtoken <token>``, not Bearer (§2.1).
* At most 10 access tokens per refresh token per 10 minutes (§2.4): the token is cached for its
  hour (renewed 5 minutes ahead), concurrent callers share one refresh, and a token younger
  than 30 s is never refreshed again because of a 401.
* A refusal comes back without ``access_token`` (often HTTP 200, ``{"error": "invalid_code"}``;
  §2.3). Each data centre holds its own users' tokens (§1.1), so a refresh token refused by the
  configured data centre may simply belong to another: with ``probe_data_centres`` the other
  accounts servers (a fixed list of Zoho's own hosts) are asked, and the error names the one
  that accepts it (§2.5, an inference marked as such in FACTS.md).
* A just-issued token refused with 401 ``INVALID_TOKEN`` means the token and the API domain are
  from different data centres (§2.5): :meth:`ZohoTokens.diagnose` says so.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from connectors.errors import AuthError, ConnectorError
from connectors.http import VendorClient
from connectors.redact import register_secret
from connectors.responses import json_object
from connectors.sales.zoho.config import ZohoConfig
from connectors.sales.zoho.datacentres import (
    DATA_CENTRES,
    DataCentre,
    by_accounts_url,
    by_api_domain,
)

log = structlog.get_logger("dealbridge.zoho")

TOKEN_PATH = "/oauth/v2/token"  # noqa: S105 - a URL path, not a secret
HEADER_PREFIX = "Zoho-oauthtoken "
DEFAULT_TTL = 3600.0
RENEW_AHEAD = 300.0
"""Renew this long before the access token expires."""
MIN_REFRESH_GAP = 30.0
"""A token younger than this is not refreshed again on a 401: the 401 has another cause."""
REFUSED_GRANT_CODES = frozenset({"invalid_code", "invalid_client", "invalid_token"})


@dataclass(frozen=True)
class Session:
    """A usable access token, the API host it is for, and when it was issued and expires."""

    access_token: str
    api_domain: str
    issued_at: float
    expires_at: float


class ZohoTokens:
    """Refreshes and caches the access token; diagnoses refusals by data centre."""

    def __init__(
        self,
        config: ZohoConfig,
        client: VendorClient,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._dc = DATA_CENTRES[config.data_centre]
        self._session: Session | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    @property
    def data_centre(self) -> DataCentre:
        """The configured data centre."""
        return self._dc

    async def current(self) -> Session:
        """A token good for at least a few minutes, refreshing first when needed."""
        async with self._lock:
            session = self._session
            if session is None or self._clock() >= session.expires_at - RENEW_AHEAD:
                session = self._session = await self._refresh()
            return session

    async def renew(self, stale: str) -> Session:
        """After a 401 with ``stale``: a new token, unless one is already newer or very young."""
        async with self._lock:
            session = self._session
            if session is not None and (
                session.access_token != stale or self._clock() - session.issued_at < MIN_REFRESH_GAP
            ):
                return session
            session = self._session = await self._refresh()
            return session

    def diagnose(self, response: httpx.Response) -> str | None:
        """Why Zoho refused a token it issued moments ago (None when the token is not young)."""
        session = self._session
        sent = response.request.headers.get("authorization", "").removeprefix(HEADER_PREFIX)
        if session is None or sent != session.access_token:
            return None
        age = self._clock() - session.issued_at
        if age >= MIN_REFRESH_GAP:
            return None
        api_dc = by_api_domain(session.api_domain)
        token_dc = by_accounts_url(self._config.base_url)
        where = f" ({api_dc.name} data centre)" if api_dc else ""
        issuer = f"{token_dc.name} data centre's " if token_dc else ""
        return (
            f"Zoho's API at {session.api_domain}{where} refused an access token the "
            f"{issuer}accounts server ({self._config.base_url}) issued {age:.0f} s ago: most "
            "likely the token and the API domain belong to different data centres (or the token "
            "was revoked at once). Set data_centre to the data centre where the org lives (the "
            "domain of its Zoho login page) and generate the refresh token there"
        )

    async def _refresh(self) -> Session:
        started = self._clock()
        try:
            body = await self._grant(f"{self._config.base_url}{TOKEN_PATH}")
        except AuthError as exc:
            raise await self._explain(exc) from None
        self.refreshes += 1
        return self._session_from(body, started)

    async def _grant(self, url: str) -> dict[str, Any]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._config.client_id,
            "client_secret": self._config.client_secret.get_secret_value(),
            "refresh_token": self._config.refresh_token.get_secret_value(),
        }
        response = await self._client.request(
            "POST", url, operation="oauth refresh", data=form, idempotent=True
        )
        body = self._client.decode(response, "oauth refresh")
        return body if isinstance(body, dict) else {}

    def _session_from(self, body: dict[str, Any], started: float) -> Session:
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("Zoho's token endpoint answered without an access_token")
        register_secret(token)
        domain = body.get("api_domain")
        if not isinstance(domain, str) or not domain.startswith(("https://", "http://")):
            log.warning("zoho_token_without_api_domain", fallback=self._dc.api_domain)
            domain = self._dc.api_domain
        ttl = _seconds(body.get("expires_in_sec") or body.get("expires_in"))
        return Session(
            access_token=token,
            api_domain=domain.rstrip("/"),
            issued_at=started,
            expires_at=started + ttl,
        )

    async def _explain(self, refused: AuthError) -> ConnectorError:
        """The refusal, with the data centre that does accept the refresh token if one does."""
        configured = by_accounts_url(self._config.base_url)
        if (
            configured is None
            or not self._config.probe_data_centres
            or refused.vendor_code not in REFUSED_GRANT_CODES
        ):
            return self._refused(refused, configured)
        for dc in DATA_CENTRES.values():
            if dc.code == configured.code:
                continue
            if await self._accepts(dc):
                return AuthError(
                    f"the refresh token belongs to Zoho's {dc.name} data centre "
                    f"({dc.accounts_url}), not the configured {configured.name} one "
                    f"({configured.accounts_url}): set data_centre: {dc.code} for this connector",
                    operation="oauth refresh",
                    vendor_code=refused.vendor_code,
                )
        return self._refused(refused, configured)

    async def _accepts(self, dc: DataCentre) -> bool:
        try:
            body = await self._grant(f"{dc.accounts_url}{TOKEN_PATH}")
        except ConnectorError:
            return False
        token = body.get("access_token")
        if isinstance(token, str):
            register_secret(token)  # minted by the probe; never used, expires within the hour
        return isinstance(token, str) and bool(token)

    def _refused(self, refused: AuthError, configured: DataCentre | None) -> ConnectorError:
        if refused.vendor_code not in REFUSED_GRANT_CODES:
            return refused
        where = (
            f"{configured.name} data centre ({configured.accounts_url})"
            if configured
            else (self._config.base_url)
        )
        return AuthError(
            f"{refused.message} at the {where}: the refresh token is revoked, mistyped, or was "
            "generated for another client; generate a new one in the Zoho API console of the "
            "org's data centre and check data_centre",
            operation="oauth refresh",
            status=refused.status,
            vendor_code=refused.vendor_code,
        )


class ZohoAuth(httpx.Auth):
    """Adds ``Zoho-oauthtoken``; on 401 INVALID_TOKEN renews once and replays the request."""

    def __init__(self, tokens: ZohoTokens) -> None:
        self._tokens = tokens

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        session = await self._tokens.current()
        request.headers["Authorization"] = HEADER_PREFIX + session.access_token
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            await response.aread()  # the code in the body says whether a refresh can help
        if response.status_code != httpx.codes.UNAUTHORIZED or _code(response) not in (
            "INVALID_TOKEN",
            "",
        ):
            return
        fresh = await self._tokens.renew(session.access_token)
        if fresh.access_token != session.access_token:
            request.headers["Authorization"] = HEADER_PREFIX + fresh.access_token
            yield request


def _code(response: httpx.Response) -> str:
    return str(json_object(response).get("code") or "")


def _seconds(raw: object) -> float:
    try:
        value = float(str(raw))
    except ValueError:
        return DEFAULT_TTL
    return value if value > 0 else DEFAULT_TTL
