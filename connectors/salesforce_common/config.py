"""What every Salesforce org connection is configured with, on either side of dealbridge.

The territories' Sales Cloud (``kind: salesforce``, a source) and the contact center's Service
Cloud (``kind: servicecloud``, a target) are the same platform and REST API, so they share the
login flows, the org URL and API version, and how to behave when the org's API allocation runs
out. Each connector kind extends :class:`SalesforceOrgConfig` with its own settings; each org is
its own connector instance with its own credentials (the Service Cloud org is often a different
org from a territory's).

Authentication is one of three OAuth 2.0 flows, chosen by ``auth.flow``
[shared/vendor-apis/sales-apis.md section 1; help.salesforce.com OAuth flow pages]:

* ``client_credentials``: an External Client App with the client credentials flow enabled; it
  runs as the app's "Run As" integration user. The token endpoint must be the org's My Domain
  URL (``https://acme.my.salesforce.com``), not the shared login host;
* ``jwt_bearer``: a connected app / External Client App with a certificate; the connector signs
  a short-lived RS256 JWT with the private key and trades it for an access token (no refresh
  token is issued, so expiry simply means signing a new JWT);
* ``refresh_token``: a refresh token issued to the app; the connector trades it for access
  tokens and adopts a rotated refresh token when Salesforce returns one.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from connectors.base import Frozen
from connectors.settings import ConnectorConfig, Secret

API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
"""Salesforce API names: a letter, then letters, digits, underscores (``Special_Discount__c``)."""

SHARED_LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


class ClientCredentialsAuth(Frozen):
    """OAuth 2.0 client credentials: the app's consumer key and secret, no user in the loop."""

    flow: Literal["client_credentials"]
    client_id: str = Field(min_length=1, description="Consumer key of the External Client App")
    client_secret: Secret = Field(description="Consumer secret of the External Client App")


class JwtBearerAuth(Frozen):
    """OAuth 2.0 JWT bearer flow: ``iss`` = client id, ``sub`` = username, ``aud`` = login URL."""

    flow: Literal["jwt_bearer"]
    client_id: str = Field(min_length=1, description="Consumer key of the connected app")
    username: str = Field(min_length=1, description="Salesforce user the integration acts as")
    private_key: Secret = Field(description="PEM private key matching the app's certificate")
    audience: str = Field(
        "https://login.salesforce.com",
        description="JWT aud: https://login.salesforce.com, or https://test.salesforce.com for "
        "sandboxes (some orgs use their My Domain URL)",
    )


class RefreshTokenAuth(Frozen):
    """OAuth 2.0 refresh-token flow (with optional refresh-token rotation)."""

    flow: Literal["refresh_token"]
    client_id: str = Field(min_length=1, description="Consumer key of the connected app")
    client_secret: Secret = Field(description="Consumer secret of the connected app")
    refresh_token: Secret = Field(description="Refresh token issued to the app for the user")


SalesforceAuth = Annotated[
    ClientCredentialsAuth | JwtBearerAuth | RefreshTokenAuth, Field(discriminator="flow")
]


class SalesforceOrgConfig(ConnectorConfig):
    """One Salesforce org: where to log in, how, which API version, and the throttle waits."""

    base_url: str = Field(
        description="Login or My Domain URL that issues tokens, e.g. https://acme.my.salesforce.com"
    )
    api_version: str = Field("v61.0", pattern=r"^v\d{2,3}\.\d$", description="REST API version")
    auth: SalesforceAuth
    throttle_retry_after: float = Field(
        60.0,
        gt=0,
        description="Seconds to wait after 403 REQUEST_LIMIT_EXCEEDED on the concurrent-request "
        "limit (Salesforce sends no Retry-After)",
    )
    daily_limit_recheck: float = Field(
        3600.0,
        gt=0,
        description="After the org's 24-hour API allocation is spent, seconds before a job on "
        "this org is tried again (the window rolls: capacity returns as old calls age out)",
    )

    @field_validator("base_url")
    @classmethod
    def _login_root(cls, value: str) -> str:
        root = value.strip().rstrip("/")
        if not root.startswith(("https://", "http://")):
            raise ValueError(
                "base_url must start with https:// (e.g. https://login.salesforce.com)"
            )
        return root

    @model_validator(mode="after")
    def _client_credentials_need_my_domain(self) -> SalesforceOrgConfig:
        host = self.base_url.split("://", 1)[-1].split("/", 1)[0].lower()
        if isinstance(self.auth, ClientCredentialsAuth) and host in SHARED_LOGIN_HOSTS:
            raise ValueError(
                "the client_credentials flow is served by the org's own My Domain URL: set "
                "base_url to https://<your-domain>.my.salesforce.com, not " + host
            )
        return self

    @property
    def api_root(self) -> str:
        """Path prefix of every REST call, e.g. ``/services/data/v61.0``."""
        return f"/services/data/{self.api_version}"
