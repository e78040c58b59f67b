"""Microsoft Entra ID's token endpoint, client credentials only (FACTS.md §2).

``POST /{tenant}/oauth2/v2.0/token`` (form-encoded). Answers:

* 200 ``{"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}`` (§2.4);
* ``invalid_client`` / AADSTS7000215 for a wrong secret (HTTP 401: unverified, §2.4);
* ``invalid_scope`` / AADSTS1002012 when the scope lacks ``/.default`` (§2.3), and for a scope
  naming another resource (the AADSTS500011 code for that is unverified);
* ``unauthorized_client`` for an unknown client id and ``invalid_request`` for an unknown
  tenant (codes AADSTS700016 and AADSTS90002: unverified).

Error bodies carry ``error``, ``error_description``, ``error_codes``, ``timestamp``,
``trace_id`` and ``correlation_id`` (§2.4). Tokens are random strings the API side looks up;
they stop working after ``token_seconds`` on the simulator's clock, or at once when revoked.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class EntraSettings:
    """The one app registration the simulated tenant knows."""

    tenant_id: str
    client_id: str
    client_secret: str
    resource: str
    """The environment URL; the scope must be ``<resource>/.default``."""
    token_seconds: int = 3599


@dataclass
class Issued:
    """A token the API accepts until ``expires`` (simulator clock, epoch seconds)."""

    client_id: str
    expires: float


@dataclass
class TokenServer:
    """Grants tokens and checks them on API calls."""

    settings: EntraSettings
    clock: Callable[[], datetime]
    tokens: dict[str, Issued] = field(default_factory=dict)
    grants: int = 0

    def grant(self, tenant: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one token request: (status, body)."""
        refused = self._refusal(tenant, form)
        if refused is not None:
            return refused
        token = "eyJ0eXAi." + secrets.token_urlsafe(24)
        seconds = self.settings.token_seconds
        self.tokens[token] = Issued(self.settings.client_id, self._now() + seconds)
        self.grants += 1
        return 200, {
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": token,
        }

    def _refusal(  # noqa: PLR0911 - one answer per documented refusal
        self, tenant: str, form: Mapping[str, str]
    ) -> tuple[int, dict[str, Any]] | None:
        config = self.settings
        if tenant.lower() != config.tenant_id.lower():
            return self._error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return self._error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != config.client_id:
            return self._error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id')}' was not found in the "
                "directory.",
            )
        if form.get("client_secret") != config.client_secret:
            return self._error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID.",
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return self._error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if scope.removesuffix("/.default").rstrip("/") != config.resource.rstrip("/"):
            return self._error(
                400,
                "invalid_scope",
                500011,
                f"The resource principal named {scope.removesuffix('/.default')} was not found "
                "in the tenant.",
            )
        return None

    def user_of(self, authorization: str | None) -> str | None:
        """The client id a valid bearer token belongs to (None: refuse with 401)."""
        if not authorization or not authorization.startswith("Bearer "):
            return None
        issued = self.tokens.get(authorization.removeprefix("Bearer ").strip())
        if issued is None or issued.expires <= self._now():
            return None
        return issued.client_id

    def revoke_all(self) -> None:
        """Every issued token stops working (the next call answers 401)."""
        self.tokens.clear()

    def _now(self) -> float:
        return self.clock().timestamp()

    def _error(
        self, status: int, error: str, code: int, description: str
    ) -> tuple[int, dict[str, Any]]:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        stamp = self.clock().strftime("%Y-%m-%d %H:%M:%SZ")
        return status, {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
        }
