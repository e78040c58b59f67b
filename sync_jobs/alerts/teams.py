"""Microsoft Teams: one Adaptive Card per alert, posted once to a Workflows (or legacy) webhook.

Request: ``POST <webhook URL>`` with ``{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "contentUrl": null, "content": <AdaptiveCard 1.4>}]}``.
The card holds a bold TextBlock headline, the summary (wrapped), a FactSet of the facts, the
action in a monospace TextBlock, a subtle footer with the dedupe key, and an ``Action.OpenUrl``
button when the alert has a link.

Teams facts this relies on (learn.microsoft.com "Create incoming webhooks with Workflows for
Microsoft Teams" and "Send Adaptive Cards using Incoming Webhooks"; MicrosoftDocs/msteams-docs
issues #400, #1810, #4145, #7425):

- the Workflows template "Post to a channel when a webhook request is received" takes exactly
  this message envelope and answers ``202 Accepted``; legacy Office 365 connector webhooks
  answer ``200`` with the body ``1``. Both count as delivered;
- legacy connectors answer ``200`` even when Teams refused the card, with a text body
  "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error
  429 ..."; the embedded status is read and classified like a real one;
- Workflows errors are JSON ``{"error": {"code", "message"}}`` with a real status; throttling
  is 429 with Retry-After; a message is limited to 28 KB, so every value is cut (see render).

The webhook URL (its ``sig`` query parameter for Workflows) is the credential: a ``Secret``,
never logged.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
import structlog
from pydantic import Field, field_validator
from pydantic.types import SecretStr

from connectors.base import Frozen
from connectors.errors import ConnectorError
from connectors.http import (
    error_for_status,
    is_transient_status,
    plain_client,
    send_once,
    short_body,
)
from connectors.ratelimit import parse_retry_after
from connectors.redact import redact, register_url_secret
from connectors.settings import Secret
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery

log = structlog.get_logger("dealbridge.alerts.teams")

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"
SEVERITY_COLOR = {"info": "Default", "warning": "Warning", "critical": "Attention"}
_LEGACY_FAILURE = re.compile(r"Webhook message delivery failed.*?HTTP error (\d{3})", re.I | re.S)


class TeamsConfig(Frozen):
    """``type: teams``: a Workflows (or legacy connector) webhook URL, as ``${ENV}``/``file:``."""

    type: Literal["teams"]
    webhook_url: Secret = Field(description="Workflows trigger URL, including its sig parameter")
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("the webhook URL must start with https://")
        return value


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def adaptive_card(alert: Alert) -> dict[str, Any]:
    """The Adaptive Card (schema 1.4) for one alert."""
    body: list[dict[str, Any]] = [
        _text(
            render.headline(alert),
            size="Large",
            weight="Bolder",
            color=SEVERITY_COLOR[alert.severity],
        ),
        _text(render.summary(alert)),
    ]
    facts = [{"title": label, "value": value} for label, value in render.facts(alert)]
    if facts:
        body.append({"type": "FactSet", "facts": facts})
    body += [
        _text("What to do", weight="Bolder", spacing="Medium"),
        _text(render.action(alert), fontType="Monospace"),
        _text(render.footer(alert), isSubtle=True, size="Small"),
    ]
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    link = render.safe_link(alert)
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in dealbridge", "url": link}]
    return card


def teams_message(alert: Alert) -> dict[str, Any]:
    """The webhook body: a ``message`` with the card as its one attachment."""
    attachment = {"contentType": ADAPTIVE_CARD, "contentUrl": None, "content": adaptive_card(alert)}
    return {"type": "message", "attachments": [attachment]}


class TeamsChannel:
    """Posts alerts to one Teams channel webhook."""

    def __init__(
        self, name: str, config: TeamsConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self._url = config.webhook_url.get_secret_value()
        register_url_secret(self._url)
        self._client = plain_client(config.timeout, transport)

    async def send(
        self,
        alert: Alert,
        *,
        reference: str | None = None,  # noqa: ARG002 - every card stands alone
    ) -> Delivery:
        """Post once; 200/202 are delivered unless the body reports a legacy failure."""
        response = await send_once(
            self._client,
            "POST",
            self._url,
            connector=self.name,
            operation="post",
            json=teams_message(alert),
        )
        error = teams_failure(self.name, response)
        if error is not None:
            log.warning("channel_refused", channel=self.name, key=alert.key, error=str(error))
            raise error
        log.info("channel_delivered", channel=self.name, key=alert.key, host=response.url.host)
        return Delivery(channel=self.name)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


def teams_failure(channel: str, response: httpx.Response) -> ConnectorError | None:
    """``None`` when Teams took the card; otherwise the classified refusal."""
    status = response.status_code
    if status in (200, 202):
        legacy = _LEGACY_FAILURE.search(response.text)
        if legacy is None:
            return None
        inner = int(legacy.group(1))
        reason = f"Teams accepted the request but could not post the card (HTTP {inner})"
        transient = is_transient_status(inner)
        hint = "; will retry" if transient else "; check the card size and the webhook"
        error = error_for_status(inner, reason + hint)
    else:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        said = f"Teams said {_error_detail(response)}"
        error = error_for_status(status, said, retry_after=retry_after)
    error.connector, error.operation = channel, "post"
    return error


def _error_detail(response: httpx.Response) -> str:
    """The Workflows error code and message when the body is JSON, else the body text."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        return redact(f"{error.get('code', 'error')}: {error.get('message', '')}".strip())
    return repr(short_body(response)) if response.content else "nothing"
