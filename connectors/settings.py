"""Config building blocks shared by every connector: the common fields and secret references.

Secrets are never written inline in config.yaml: a secret field takes ``${ENV_VAR}`` or
``file:/path/to/secret``. The resolved value is registered for redaction at once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, ClassVar

import httpx
from pydantic import BeforeValidator, Field, SecretStr, field_validator

from connectors.base import Frozen
from connectors.ratelimit import Sleep
from connectors.redact import register_secret

_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


def resolve_secret_ref(value: object) -> object:
    """Turn ``${ENV}`` or ``file:PATH`` into the secret's value; refuse anything inline."""
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret must be a string reference: ${ENV_VAR} or file:/path")
    match = _ENV_REF.match(value.strip())
    if match:
        name = match.group(1)
        if name not in os.environ:
            raise ValueError(f"environment variable {name} is not set; export it or use file:")
        secret = os.environ[name]
    elif value.startswith("file:"):
        written = value.removeprefix("file:")
        try:
            path = Path(written).expanduser()
        except RuntimeError:  # ~user of a user this machine does not have
            raise ValueError(f"cannot find the home folder in secret file {written!r}") from None
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"cannot read secret file {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ValueError(f"secret file {path} is not UTF-8 text") from None
    else:
        raise ValueError(
            "inline secrets are refused; write ${ENV_VAR} or file:/path/to/secret instead"
        )
    register_secret(secret)
    return SecretStr(secret)


Secret = Annotated[SecretStr, BeforeValidator(resolve_secret_ref)]
"""A credential given by reference (``${ENV_VAR}`` or ``file:PATH``), never inline."""

WriteConcurrency = Annotated[
    int,
    Field(ge=1, le=50, description="Records updated at once (one PUT each: no bulk endpoint)"),
]
"""``write_concurrency`` of a desk without a bulk update (Freshdesk, Intercom)."""


class WebhookSettings(Frozen):
    """``connectors.<name>.webhook``: what the vendor's change notifications are checked with.

    Which fields a connector needs is its verifier's business (``dealbridge hooks show`` says
    which, and a missing one refuses every notification with 401, never a crash). Secrets are
    references like every other secret, so they never appear in config.yaml or a log."""

    secret: Secret | None = Field(
        None, description="signing secret / app client secret / shared key, by reference"
    )
    username: str | None = Field(None, description="HTTP basic auth user the vendor sends")
    password: Secret | None = Field(None, description="HTTP basic auth password the vendor sends")
    header: str | None = Field(
        None, description="name of the header that carries the shared key (header-key schemes)"
    )
    organization_id: str | None = Field(
        None, description="Salesforce: the 18-character org id Outbound Messages must carry"
    )


class ConnectorConfig(Frozen):
    """Fields every connector instance has; vendor configs extend it with ``kind`` and auth."""

    kind: str
    base_url: str = Field(description="API root, e.g. https://acme.zendesk.com")
    timeout: float = Field(30.0, gt=0, description="Seconds before one request times out")
    rate_per_second: float | None = Field(
        None, gt=0, description="Steady request rate; defaults to the vendor's documented limit"
    )
    max_in_flight: int = Field(8, ge=1, le=100)
    webhook: WebhookSettings | None = Field(
        None, description="change notifications from the vendor (docs/webhooks.md)"
    )


class DeskConfig(ConnectorConfig):
    """A service desk's config: ``base_url`` is read as its API root (see :func:`api_root`),
    so a desk names only the example an admin is shown and the API path it may be pasted
    with."""

    base_url_example: ClassVar[str]
    """A right ``base_url`` for this desk, shown when a configured one has no scheme."""
    api_suffix: ClassVar[str] = ""
    """The API path admins often paste after the root (``/api/v2``); trimmed off."""

    @field_validator("base_url")
    @classmethod
    def _api_root(cls, value: str) -> str:
        return api_root(value, example=cls.base_url_example, api_suffix=cls.api_suffix)


@dataclass(frozen=True)
class ConnectorOptions:
    """Run-time seams for a connector: the HTTP transport (simulator or respx) and the sleeper."""

    transport: httpx.AsyncBaseTransport | None = None
    sleep: Sleep | None = None
    budget_share: float = 1.0
    """This process's share of the vendor's request budgets (``engine.workers``: N processes
    write to one desk, each spends 1/N of its per-minute budget and bulk-job slots, so that
    together they never exceed it; a gate only the lead process uses keeps its whole budget)."""


def api_root(value: str, *, example: str, api_suffix: str = "") -> str:
    """A configured ``base_url`` as the root requests are made under: trimmed, without a
    trailing slash or the API path admins often paste with it (``api_suffix``, e.g.
    ``/api/v2``); a URL without a scheme is refused with an ``example`` of the right form."""
    root = value.strip().rstrip("/")
    if api_suffix:
        root = root.removesuffix(api_suffix)
    if not root.startswith(("https://", "http://")):
        raise ValueError(f"base_url must start with https:// (e.g. {example})")
    return root
