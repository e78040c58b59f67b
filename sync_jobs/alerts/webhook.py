"""Generic webhook: the alert as JSON, signed the Standard Webhooks way, posted once.

Request: ``POST <url>`` with ``Content-Type: application/json`` and the body::

    {"id", "thread", "kind", "phase", "severity", "title", "summary", "action", "customer",
     "deal", "territory", "job", "facts": {label: value}, "link", "sent_at"}

``id`` is the alert key (one per message: the outbox keys every phase and version apart);
``thread`` is shared by an alert and its follow-ups, so receivers can group them. Headers
(Standard Webhooks, www.standardwebhooks.com, "Signature scheme"):

- ``webhook-id``: the alert key; a retry repeats it, so receivers can drop duplicates;
- ``webhook-timestamp``: Unix seconds when signed (receivers refuse stale ones: replay guard);
- ``webhook-signature``: ``v1,<base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))>``, where the
  key is the base64-decoded part of a ``whsec_…`` secret, or the secret's UTF-8 bytes otherwise.

Answers: any 2xx is delivered; 410 means the receiver retired the endpoint (park, as the
specification asks senders to stop); 408/429/5xx and network errors are retried by the outbox.
:func:`verify_signature` is what a receiver runs (also documented in docs/alerts.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import structlog
from pydantic import Field, field_validator

from connectors.base import Frozen
from connectors.errors import ConnectorError
from connectors.http import error_for_status, plain_client, send_once, short_body
from connectors.ratelimit import parse_retry_after
from connectors.settings import Secret
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery
from sync_jobs.alerts.ids import thread_of

log = structlog.get_logger("dealbridge.alerts.webhook")

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format marker, not a secret
DEFAULT_TOLERANCE = 300.0
Clock = Callable[[], float]


class WebhookConfig(Frozen):
    """``type: webhook``: where to post and the shared signing secret (``${ENV}``/``file:``)."""

    type: Literal["webhook"]
    url: str = Field(description="https://receiver.example.com/dealbridge")
    secret: Secret = Field(description="signing secret: whsec_<base64> or any long random string")
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("the receiver URL must start with https://")
        return value


def signing_key(secret: str | bytes) -> bytes:
    """The HMAC key: ``whsec_<base64>`` decoded as Standard Webhooks defines, else the bytes."""
    if isinstance(secret, bytes):
        return secret
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
        except binascii.Error:
            pass
    return secret.encode("utf-8")


def sign(secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` and the base64 HMAC-SHA256 of the signed content."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def verify_signature(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``body`` was signed with ``secret`` less than ``tolerance`` seconds from now.

    ``headers`` may be any mapping (names are matched case-insensitively); ``body`` must be the
    raw bytes received, before any JSON parsing. Any of several space-separated ``v1,``
    signatures may match (secret rotation). Comparison is constant-time; a timestamp further
    than ``tolerance`` in the past or the future fails (replay protection).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and stamp and signatures):
        return False
    try:
        timestamp = int(stamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    raw = body.encode("utf-8") if isinstance(body, str) else body
    expected = sign(secret, message_id, timestamp, raw).encode("ascii")
    for entry in signatures.split():
        if entry.startswith("v1,") and hmac.compare_digest(
            entry.encode("ascii", "replace"), expected
        ):
            return True
    return False


def webhook_payload(alert: Alert, sent_at: datetime) -> dict[str, Any]:
    """The JSON document receivers get (field list in the module docstring)."""
    facts = {
        render.one_line(label, render.LABEL_LIMIT): render.truncate(value, render.VALUE_LIMIT)
        for label, value in alert.facts
    }
    return {
        "id": alert.key,
        "thread": thread_of(alert),
        "kind": alert.kind,
        "phase": alert.phase,
        "severity": alert.severity,
        "title": render.one_line(alert.title, render.TITLE_LIMIT),
        "summary": render.summary(alert),
        "action": render.action(alert),
        "customer": alert.customer,
        "deal": alert.deal,
        "territory": alert.territory,
        "job": alert.job,
        "facts": facts,
        "link": render.safe_link(alert),
        "sent_at": sent_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    }


class WebhookChannel:
    """Posts signed alerts to one receiver."""

    def __init__(
        self,
        name: str,
        config: WebhookConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self._url = config.url
        self._secret = config.secret.get_secret_value()
        self._clock = clock
        self._client = plain_client(config.timeout, transport)

    async def send(
        self,
        alert: Alert,
        *,
        reference: str | None = None,  # noqa: ARG002 - the alert key threads it
    ) -> Delivery:
        """Sign and post once; 2xx is delivered and the reference is the ``webhook-id``."""
        now = self._clock()
        body = json.dumps(
            webhook_payload(alert, datetime.fromtimestamp(now, UTC)),
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode("utf-8")
        msg_id = alert.key
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": sign(self._secret, msg_id, int(now), body),
        }
        response = await send_once(
            self._client,
            "POST",
            self._url,
            connector=self.name,
            operation="post",
            content=body,
            headers=headers,
        )
        if response.is_success:
            log.info("channel_delivered", channel=self.name, key=alert.key, host=response.url.host)
            return Delivery(channel=self.name, reference=msg_id)
        error = _webhook_refusal(self.name, response)
        log.warning("channel_refused", channel=self.name, key=alert.key, error=str(error))
        raise error

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


def _webhook_refusal(channel: str, response: httpx.Response) -> ConnectorError:
    status = response.status_code
    if status == 410:
        said = "the receiver retired this endpoint; remove the channel or point it at the new URL"
    elif 300 <= status < 400:
        said = "the receiver redirects; configure its final URL"
    else:
        said = f"the receiver refused the alert: {short_body(response) or 'no body'}"
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    error = error_for_status(status, said, retry_after=retry_after)
    error.connector, error.operation = channel, "post"
    return error
