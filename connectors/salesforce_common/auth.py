"""OAuth 2.0 for Salesforce orgs (both sides of dealbridge), as a ``TokenProvider``.

Every grant POSTs a form to ``{base_url}/services/oauth2/token`` and gets back ``access_token``
and ``instance_url`` (the org's API host, used for every later call) [help.salesforce.com
``remoteaccess_oauth_jwt_flow.htm``, ``remoteaccess_oauth_refresh_token_flow.htm``; restforce
fixture ``auth_success_response.json``; shared/vendor-apis/sales-apis.md section 1 "Client
credentials"]:

* Client credentials: ``grant_type=client_credentials`` with ``client_id`` and
  ``client_secret``, against the org's My Domain URL; the session runs as the External Client
  App's "Run As" user. No refresh token: expiry simply means asking again.
* JWT bearer: ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and ``assertion`` =
  an RS256 JWT with ``iss`` (client id), ``sub`` (username), ``aud`` (login URL) and an
  ``exp`` three minutes ahead, the lifetime simple-salesforce uses. No refresh token exists.
* Refresh token: ``grant_type=refresh_token`` with ``client_id``, ``client_secret`` and
  ``refresh_token``; with rotation enabled the answer carries a new ``refresh_token`` that
  replaces the old one (tap-salesforce's rotation tests show the shape).

An expired session answers 401 ``INVALID_SESSION_ID``; ``connectors.auth.TokenAuth`` then asks
:meth:`SalesforceLogin.fetch` for a new token once and replays the request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import structlog

from connectors.errors import AuthError, PermanentError
from connectors.http import VendorClient
from connectors.redact import register_secret
from connectors.salesforce_common.config import (
    ClientCredentialsAuth,
    JwtBearerAuth,
    RefreshTokenAuth,
    SalesforceOrgConfig,
)

log = structlog.get_logger("dealbridge.salesforce")

TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a URL path, not a secret
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME_SECONDS = 180


@dataclass(frozen=True)
class Session:
    """What a successful grant gives: the bearer token and the org's API host."""

    access_token: str
    instance_url: str


class SalesforceLogin:
    """Runs the configured grant; hands the first token to ``TokenAuth`` without a second grant.

    The connector needs ``instance_url`` before its first API call, and ``TokenAuth`` needs a
    token for that call: :meth:`session` logs in once and parks the token, which the next
    :meth:`fetch` returns instead of logging in again.
    """

    def __init__(
        self,
        config: SalesforceOrgConfig,
        client: VendorClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._auth = config.auth
        self._client = client
        self._clock = clock
        self._fallback_instance = config.base_url
        self._refresh_token = (
            config.auth.refresh_token.get_secret_value()
            if isinstance(config.auth, RefreshTokenAuth)
            else None
        )
        self._current: Session | None = None
        self._parked: str | None = None
        self._lock = asyncio.Lock()
        self.grants = 0

    @property
    def flow(self) -> str:
        """The configured flow's name, for messages (``client_credentials``, ``jwt_bearer`` or
        ``refresh_token``)."""
        return self._auth.flow

    async def session(self) -> Session:
        """The current session, logging in first if there is none yet."""
        async with self._lock:
            if self._current is None:
                self._current = await self._grant()
                self._parked = self._current.access_token
            return self._current

    async def fetch(self) -> str:
        """A fresh access token (``TokenProvider``); raises AuthError if the grant is refused."""
        async with self._lock:
            if self._parked is not None:
                token, self._parked = self._parked, None
                return token
            self._current = await self._grant()
            return self._current.access_token

    async def _grant(self) -> Session:
        form = self._form()
        response = await self._client.request(
            "POST",
            TOKEN_PATH,
            operation=f"oauth {self.flow}",
            data=form,
            idempotent=True,
            changes=False,  # a token request changes no vendor data
        )
        self.grants += 1
        body = self._client.decode(response, f"oauth {self.flow}")
        return self._session_from(body if isinstance(body, dict) else {})

    def _form(self) -> dict[str, str]:
        if isinstance(self._auth, ClientCredentialsAuth):
            return {
                "grant_type": "client_credentials",
                "client_id": self._auth.client_id,
                "client_secret": self._auth.client_secret.get_secret_value(),
            }
        if isinstance(self._auth, JwtBearerAuth):
            return self._jwt_form()
        return self._refresh_form()

    def _jwt_form(self) -> dict[str, str]:
        assert isinstance(self._auth, JwtBearerAuth)
        claims = {
            "iss": self._auth.client_id,
            "sub": self._auth.username,
            "aud": self._auth.audience,
            "exp": int(self._clock()) + JWT_LIFETIME_SECONDS,
        }
        try:
            assertion = jwt.encode(
                claims, self._auth.private_key.get_secret_value(), algorithm="RS256"
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise AuthError(
                "jwt_bearer: private_key is not a usable PEM RSA private key "
                f"({type(exc).__name__})",
                operation="oauth jwt_bearer",
            ) from None
        register_secret(assertion)
        return {"grant_type": JWT_GRANT, "assertion": assertion}

    def _refresh_form(self) -> dict[str, str]:
        assert isinstance(self._auth, RefreshTokenAuth)
        assert self._refresh_token is not None
        return {
            "grant_type": "refresh_token",
            "client_id": self._auth.client_id,
            "client_secret": self._auth.client_secret.get_secret_value(),
            "refresh_token": self._refresh_token,
        }

    def _session_from(self, body: dict[str, Any]) -> Session:
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError(
                f"the {self.flow} grant answered without an access_token",
                operation=f"oauth {self.flow}",
            )
        register_secret(token)
        self._adopt_rotated(body.get("refresh_token"))
        instance = body.get("instance_url")
        if not isinstance(instance, str) or not instance.startswith(("https://", "http://")):
            instance = self._fallback_instance
        return Session(access_token=token, instance_url=instance.rstrip("/"))

    def _adopt_rotated(self, rotated: object) -> None:
        if not isinstance(rotated, str) or not rotated or rotated == self._refresh_token:
            return
        register_secret(rotated)
        self._refresh_token = rotated
        log.warning(
            "salesforce_refresh_token_rotated",
            detail="Salesforce issued a new refresh token; it is used from now on, but the "
            "configured secret still holds the old one: update it before the next restart",
        )
