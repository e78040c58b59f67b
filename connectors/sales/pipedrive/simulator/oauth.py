"""OAuth 2 as Pipedrive runs it (FACTS.md §2.2-2.4; PD-OAUTH, PD-OAUTHCODES).

* ``POST /oauth/token``: ``application/x-www-form-urlencoded`` only; the client authenticates by
  HTTP Basic (body credentials are accepted too); ``grant_type=refresh_token`` answers
  ``{access_token, token_type: "Bearer", expires_in: 3600, refresh_token, scope, api_domain}``
  with the *same* refresh token (no rotation).
* A refresh token unused for 60 days expires; each use resets that.
* API calls with an unknown or expired access token: 401 "Invalid token: `access_token` is
  invalid"; an ``Authorization`` header that is not ``Bearer <token>``: 400 "Invalid request:
  malformed authorization header"; a token without the scope the URL needs: 403 "Scope and URL
  mismatch".
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.sales.pipedrive.simulator import bodies

ACCESS_TTL = 3600
REFRESH_IDLE_SECONDS = 60 * 24 * 3600
GRANTS = ("authorization_code", "refresh_token", "exchange_api_token")
FORM = "application/x-www-form-urlencoded"
DEFAULT_SCOPES = ("base", "deals:read", "contacts:read", "users:read")


@dataclass
class AccessToken:
    """An issued access token: when it expires and what it may read."""

    expires_at: float
    scopes: frozenset[str]


@dataclass
class OAuthApp:
    """One installed app: its client credentials, its refresh token and the tokens issued."""

    client_id: str
    client_secret: str
    refresh_token: str
    api_domain: str
    clock: Callable[[], float]
    scopes: tuple[str, ...] = DEFAULT_SCOPES
    access_ttl: int = ACCESS_TTL
    refresh_last_used: float | None = None
    tokens: dict[str, AccessToken] = field(default_factory=dict)

    async def token_endpoint(self, request: Request) -> Response:
        """``POST /oauth/token``."""
        if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
            return bodies.oauth_error(
                "Invalid request: content must be application/x-www-form-urlencoded"
            )
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items() if v}
        refusal = self._refusal(request.headers.get("authorization", ""), form)
        if refusal is not None:
            return bodies.oauth_error(refusal)
        now = self.clock()
        self.refresh_last_used = now
        token = f"v1u:{secrets.token_urlsafe(24)}"
        self.tokens[token] = AccessToken(now + self.access_ttl, frozenset(self.scopes))
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": self.access_ttl,
                "refresh_token": self.refresh_token,
                "scope": ",".join(self.scopes),
                "api_domain": self.api_domain,
            }
        )

    def _refusal(self, authorization: str, form: dict[str, str]) -> str | None:
        """The documented message for a refused token request, or None (FACTS.md §2.3)."""
        client = _basic(authorization) or (form.get("client_id"), form.get("client_secret"))
        if client[0] is None or client[1] is None:
            return "Invalid client: cannot retrieve client credentials"
        if client != (self.client_id, self.client_secret):
            return "Invalid client: client is invalid"
        grant = form.get("grant_type")
        if grant is None:
            return "Missing parameter: `grant_type`"
        if grant not in GRANTS or grant != "refresh_token":
            return "Unsupported grant type: `grant_type` is invalid"
        idle = self.refresh_last_used is not None and (
            self.clock() - self.refresh_last_used >= REFRESH_IDLE_SECONDS
        )
        if form.get("refresh_token") != self.refresh_token or idle:
            return "Invalid grant: `refresh_token` is invalid"
        return None

    def check(self, header: str) -> tuple[Response | None, frozenset[str]]:
        """An error answer for a bad ``Authorization`` header, or None and the token's scopes."""
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token.strip():
            return bodies.error(400, "Invalid request: malformed authorization header"), frozenset()
        found = self.tokens.get(token.strip())
        if found is None or self.clock() >= found.expires_at:
            return bodies.error(401, "Invalid token: `access_token` is invalid"), frozenset()
        return None, found.scopes

    def expire_tokens(self) -> None:
        """Every access token issued so far expires now."""
        now = self.clock()
        for token in self.tokens.values():
            token.expires_at = min(token.expires_at, now)


def _basic(header: str) -> tuple[str | None, str | None] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme != "Basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except ValueError:
        return None
    return user, password
