"""Logging in to the Service Cloud org: the shared Salesforce login, wired for this connector.

The grants themselves (client credentials, JWT bearer, refresh token) and their error table
live once in :mod:`connectors.salesforce_common` (FACTS.md 1.1-1.3); this module gives the
target its own token client and ``TokenAuth``, so that an expired session (401
``INVALID_SESSION_ID``, FACTS.md 1.4) is answered with one new grant and a replay.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from connectors.auth import TokenAuth
from connectors.clock import VirtualClock
from connectors.http import VendorClient
from connectors.ratelimit import Sleep
from connectors.salesforce_common.auth import SalesforceLogin
from connectors.salesforce_common.errors import token_classifier
from connectors.service.servicecloud.config import ServiceCloudConfig


def session_expired(response: httpx.Response) -> bool:
    """Salesforce says "log in again" with 401 (errorCode INVALID_SESSION_ID)."""
    return response.status_code == httpx.codes.UNAUTHORIZED


@dataclass(frozen=True)
class OrgLogin:
    """The token endpoint's client, the login that runs the grant, and the bearer auth."""

    token_client: VendorClient
    login: SalesforceLogin
    auth: TokenAuth


def org_login(
    name: str,
    config: ServiceCloudConfig,
    *,
    transport: httpx.AsyncBaseTransport | None,
    sleep: Sleep | None,
) -> OrgLogin:
    """The login for ``config``'s org.

    The token endpoint has a gate of its own: a grant runs inside an API request's auth flow,
    while that request holds a slot of the API gate, so sharing one could wait on itself."""
    token_client = VendorClient(
        connector=name,
        base_url=config.base_url,
        classify=token_classifier(config.auth.flow),
        gate=VirtualClock(sleep).gate(max_in_flight=1, shared=False),
        transport=transport,
        timeout=config.timeout,
        headers={"Accept": "application/json"},
        sleep=sleep,
    )
    login = SalesforceLogin(config, token_client)
    return OrgLogin(token_client, login, TokenAuth(login, is_expired=session_expired))
