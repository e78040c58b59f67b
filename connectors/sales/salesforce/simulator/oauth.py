"""The simulated token endpoint (``POST /services/oauth2/token``) and the sessions it issues.

The three grants the Salesforce connectors use are honoured [help.salesforce.com OAuth JWT
bearer and refresh token flow pages; restforce ``auth_success_response.json`` /
``auth_error_response.json``; shared/vendor-apis/sales-apis.md section 1 "Client credentials"]:

* ``client_credentials``: client id and secret must match and the flow must be enabled for the
  app; the session runs as the app's "Run As" user; no refresh token is issued.
* ``urn:ietf:params:oauth:grant-type:jwt-bearer``: the RS256 ``assertion`` is verified with the
  public key given to the simulator; ``iss`` must be the client id, ``sub`` the username and
  ``aud`` an accepted login URL; ``exp`` must be in the future.
* ``refresh_token``: client id and secret must match, and the refresh token must be known; with
  rotation on, the answer carries a new refresh token and the old one stops working.

Refusals are ``400 {"error": ..., "error_description": ...}``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ORG_ID = "00DDx0000000001AAA"
USER_ID = "005Dx0000000001AAA"
LOGIN_URLS = ("https://login.salesforce.com", "https://test.salesforce.com")

Answer = tuple[int, dict[str, Any]]

_JWT_REFUSALS: dict[type[Exception], str] = {
    jwt.ExpiredSignatureError: "expired authorization code",
    jwt.InvalidAudienceError: "audience is invalid",
}


@dataclass
class OAuthSettings:
    """Who may log in, and how."""

    client_id: str
    client_secret: str
    username: str
    refresh_tokens: set[str]
    jwt_public_key: str | None = None
    audiences: tuple[str, ...] = LOGIN_URLS
    rotate_refresh_tokens: bool = False
    session_seconds: float = 7200.0
    client_credentials: bool = True
    """Whether the app has the client credentials flow enabled."""


@dataclass
class OAuthServer:
    """Issues access tokens and remembers until when each one is valid."""

    settings: OAuthSettings
    clock: Callable[[], float] = time.time
    sessions: dict[str, float] = field(default_factory=dict)
    grants: int = 0

    def is_valid(self, token: str) -> bool:
        """True while ``token`` was issued here and has not expired."""
        expires = self.sessions.get(token)
        return expires is not None and expires > self.clock()

    def expire_all(self) -> None:
        """End every session: the next API call answers 401 INVALID_SESSION_ID."""
        self.sessions.clear()

    def grant(self, form: dict[str, str], *, login_url: str, instance_url: str) -> Answer:
        """Answer one token request (``form`` is the decoded request body)."""
        grant_type = form.get("grant_type", "")
        if grant_type == JWT_GRANT:
            refusal = self._check_assertion(form.get("assertion", ""), login_url)
        elif grant_type == "refresh_token":
            refusal = self._check_refresh(form)
        elif grant_type == "client_credentials":
            refusal = self._check_client(form)
        else:
            refusal = ("unsupported_grant_type", "grant type not supported")
        if refusal is not None:
            return 400, {"error": refusal[0], "error_description": refusal[1]}
        rotate = grant_type == "refresh_token"
        return 200, self._issue(login_url, instance_url, rotate=rotate, form=form)

    def _check_assertion(self, assertion: str, login_url: str) -> tuple[str, str] | None:
        key = self.settings.jwt_public_key
        if key is None:
            return ("invalid_grant", "invalid assertion")
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=["RS256"],
                audience=[*self.settings.audiences, login_url],
                options={"require": ["iss", "sub", "aud", "exp"]},
            )
        except jwt.PyJWTError as exc:
            return ("invalid_grant", _JWT_REFUSALS.get(type(exc), "invalid assertion"))
        if claims.get("iss") != self.settings.client_id:
            return ("invalid_client_id", "client identifier invalid")
        if claims.get("sub") != self.settings.username:
            return ("invalid_grant", "user hasn't approved this consumer")
        return None

    def _check_client(self, form: dict[str, str]) -> tuple[str, str] | None:
        refusal = self._check_app(form)
        if refusal is None and not self.settings.client_credentials:
            return ("invalid_grant", "no client credentials user enabled")
        return refusal

    def _check_refresh(self, form: dict[str, str]) -> tuple[str, str] | None:
        refusal = self._check_app(form)
        if refusal is None and form.get("refresh_token") not in self.settings.refresh_tokens:
            return ("invalid_grant", "expired access/refresh token")
        return refusal

    def _check_app(self, form: dict[str, str]) -> tuple[str, str] | None:
        """The consumer key and secret of the app."""
        if form.get("client_id") != self.settings.client_id:
            return ("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(form.get("client_secret", ""), self.settings.client_secret):
            return ("invalid_client", "invalid client credentials")
        return None

    def _issue(
        self, login_url: str, instance_url: str, *, rotate: bool, form: dict[str, str]
    ) -> dict[str, Any]:
        self.grants += 1
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        self.sessions[token] = self.clock() + self.settings.session_seconds
        issued_at = str(int(self.clock() * 1000))
        identity = f"{login_url}/id/{ORG_ID}/{USER_ID}"
        body: dict[str, Any] = {
            "access_token": token,
            "scope": "api refresh_token",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": self._signature(identity, issued_at),
        }
        if rotate and self.settings.rotate_refresh_tokens:
            self.settings.refresh_tokens.discard(form.get("refresh_token", ""))
            fresh = f"5Aep861{secrets.token_urlsafe(40)}"
            self.settings.refresh_tokens.add(fresh)
            body["refresh_token"] = fresh
        return body

    def _signature(self, identity: str, issued_at: str) -> str:
        digest = hmac.new(
            self.settings.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256
        ).digest()
        return base64.b64encode(digest).decode()
