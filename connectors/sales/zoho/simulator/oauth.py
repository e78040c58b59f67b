"""The accounts server of each data centre: the refresh-token grant (FACTS.md §2).

``POST /oauth/v2/token`` with ``grant_type=refresh_token``, ``client_id``, ``client_secret``,
``refresh_token`` (form body or query parameters, §2.2). Success: ``access_token``, ``scope``,
``api_domain``, ``token_type``, ``expires_in`` 3,600 (§2.2). Failure comes without
``access_token``: HTTP 200 ``{"error": "invalid_code"}`` for a refresh token this data centre
does not know, ``invalid_client`` for a wrong client (§2.3, status and codes unverified, as the
doc-fake models them). Limits (§2.4): 10 access tokens per refresh token per 10 minutes (then
400 "Access Denied", unverified text), 30 live access tokens per refresh token (the oldest
stops working).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

MINT_WINDOW = timedelta(minutes=10)
MINTS_PER_WINDOW = 10
LIVE_TOKENS = 30
TOO_MANY = {
    "error": "Access Denied",
    "error_description": "You have made too many requests continuously. Please try again after "
    "some time.",
}


@dataclass
class Grant:
    """The Self Client and the refresh token an admin generated for it."""

    client_id: str
    client_secret: str
    refresh_token: str
    data_centre: str
    scopes: tuple[str, ...] = (
        "ZohoCRM.modules.ALL",
        "ZohoCRM.settings.fields.READ",
        "ZohoCRM.coql.READ",
    )


@dataclass
class AccessToken:
    """An issued access token."""

    value: str
    expires: datetime
    scopes: tuple[str, ...]


@dataclass
class AccountsServer:
    """Issues access tokens for one org's grant; answers for every data centre's host."""

    grant: Grant
    clock: Callable[[], datetime]
    api_domain: str
    ttl: int = 3600
    live: list[AccessToken] = field(default_factory=list)
    minted: list[datetime] = field(default_factory=list)
    revoked: bool = False

    def token(self, form: dict[str, str], data_centre: str) -> tuple[int, dict[str, Any]]:
        """Answer a token request made to ``data_centre``'s accounts server."""
        if form.get("grant_type") != "refresh_token":
            return 200, {"error": "unsupported_grant_type"}
        if data_centre != self.grant.data_centre:
            return 200, {"error": "invalid_code"}  # that data centre never issued this token
        if (
            form.get("client_id") != self.grant.client_id
            or form.get("client_secret") != self.grant.client_secret
        ):
            return 200, {"error": "invalid_client"}
        if form.get("refresh_token") != self.grant.refresh_token or self.revoked:
            return 200, {"error": "invalid_code"}
        now = self.clock()
        self.minted = [t for t in self.minted if now - t < MINT_WINDOW]
        if len(self.minted) >= MINTS_PER_WINDOW:
            return 400, dict(TOO_MANY)
        self.minted.append(now)
        issued = AccessToken(
            value=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
            expires=now + timedelta(seconds=self.ttl),
            scopes=self.grant.scopes,
        )
        self.live = [*self.live, issued][-LIVE_TOKENS:]
        return 200, {
            "access_token": issued.value,
            "scope": " ".join(self.grant.scopes),
            "api_domain": self.api_domain,
            "token_type": "Bearer",
            "expires_in": self.ttl,
        }

    def check(self, value: str) -> AccessToken | None:
        """The live, unexpired token with this value."""
        now = self.clock()
        return next((t for t in self.live if t.value == value and t.expires > now), None)

    def expire_all(self) -> None:
        """Make every issued access token expired (the refresh token stays good)."""
        now = self.clock()
        self.live = [
            AccessToken(t.value, min(t.expires, now - timedelta(seconds=1)), t.scopes)
            for t in self.live
        ]
