"""Slack incoming webhook: one Block Kit message per alert, posted once.

Request: ``POST <webhook URL>`` with JSON ``{"text": <fallback>, "blocks": [...]}``: a header
(the headline), a section with the mrkdwn summary and the facts as fields (at most 10 per
section, so more facts take more sections), a section with the action as a code span and the
link, and a context line with the kind, severity and dedupe key. ``text`` is what
notifications and screen readers show.

Slack facts this relies on (api.slack.com "Sending messages using incoming webhooks", the
2016-05-17 changelog "Improving error conditions for Incoming Webhooks", Block Kit reference):

- success is ``200`` with the body ``ok``; failures are a status plus a short code in a plain
  text body: 400 ``invalid_payload``/``user_not_found``/``no_service_id``, 403
  ``invalid_token``/``action_prohibited``, 404 ``channel_not_found``/``no_service``/``no_team``,
  410 ``channel_is_archived``/``team_disabled``, 500 ``rollup_error``; 429 with Retry-After
  when posting faster than about one message per second;
- mrkdwn treats ``&``, ``<`` and ``>`` as control characters: they are escaped as ``&amp;``,
  ``&lt;`` and ``&gt;`` in every value we did not write ourselves;
- a header block holds plain text of at most 150 characters, a section field at most 2000;
- incoming webhooks cannot edit or thread a message they posted, so ``updated`` and ``closed``
  phases post a new message whose headline starts with "Update:" or "Resolved:".

The webhook URL is the credential (anyone holding it can post), so it is a ``Secret`` and is
never logged: logs name the channel and the host only.
"""

from __future__ import annotations

from typing import Any, Literal

import httpx
import structlog
from pydantic import Field, field_validator
from pydantic.types import SecretStr

from connectors.base import Frozen
from connectors.errors import ConnectorError
from connectors.http import error_for_status, plain_client, send_once, short_body
from connectors.ratelimit import parse_retry_after
from connectors.redact import register_url_secret
from connectors.settings import Secret
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery

log = structlog.get_logger("dealbridge.alerts.slack")

FIELDS_PER_SECTION = 10
FALLBACK_LIMIT = 1000
SEVERITY_EMOJI = {
    "info": ":information_source:",
    "warning": ":warning:",
    "critical": ":rotating_light:",
}

ERROR_HINTS = {
    "invalid_payload": "Slack could not read the message; a dealbridge bug, please report it",
    "user_not_found": "the user this webhook posts to no longer exists; create a new webhook",
    "no_service_id": "the webhook URL is incomplete; copy it again from the Slack app settings",
    "invalid_token": "the webhook was revoked; create a new incoming webhook and update the secret",
    "action_prohibited": "a workspace admin restricted this webhook; ask them to allow it",
    "channel_not_found": "the channel no longer exists; point a new webhook at a live channel",
    "no_service": "the webhook was removed or disabled; create a new one and update the secret",
    "no_team": "the Slack workspace no longer exists; create a webhook in the current workspace",
    "channel_is_archived": "the channel is archived; unarchive it or use a webhook for another",
    "team_disabled": "the Slack workspace is disabled; use a webhook in an active workspace",
    "rate_limited": "Slack is throttling this webhook; the outbox will retry after Retry-After",
    "rollup_error": "Slack had an internal error; the outbox will retry",
}


class SlackConfig(Frozen):
    """``type: slack``: an incoming webhook URL as ``${ENV}`` or ``file:`` (it is a secret)."""

    type: Literal["slack"]
    webhook_url: Secret = Field(description="https://hooks.slack.com/services/T…/B…/…")
    timeout: float = Field(10.0, gt=0, le=120)

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("the webhook URL must start with https://")
        return value


def escape(text: str) -> str:
    """Escape Slack's three mrkdwn control characters (and nothing else, as Slack documents)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code_span(text: str) -> str:
    # mrkdwn has no escape for a backtick inside a code span; a quote keeps the command legible.
    return "`" + escape(text.replace("`", "'")) + "`"


def _link(url: str) -> str:
    # Inside <url|label>, "|" and ">" would end the URL early; percent-encode them.
    safe = url.replace("&", "&amp;").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{safe}|Open in dealbridge>"


def _fact_sections(alert: Alert) -> list[dict[str, Any]]:
    fields = [
        {"type": "mrkdwn", "text": f"*{escape(label)}*\n{escape(value)}"}
        for label, value in render.facts(alert)
    ]
    summary = {"type": "mrkdwn", "text": escape(render.summary(alert)) or " "}
    chunks = [fields[i : i + FIELDS_PER_SECTION] for i in range(0, len(fields), FIELDS_PER_SECTION)]
    sections: list[dict[str, Any]] = [{"type": "section", "text": summary}]
    if chunks:
        sections[0]["fields"] = chunks[0]
    sections += [{"type": "section", "fields": chunk} for chunk in chunks[1:]]
    return sections


def slack_message(alert: Alert) -> dict[str, Any]:
    """The webhook body: ``text`` fallback plus Block Kit ``blocks`` (see module docstring)."""
    header = render.one_line(
        f"{SEVERITY_EMOJI[alert.severity]} {render.headline(alert)}", render.TITLE_LIMIT
    )
    todo = f"*What to do:* {_code_span(render.action(alert))}"
    link = render.safe_link(alert)
    if link:
        todo += f"\n{_link(link)}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        *_fact_sections(alert),
        {"type": "section", "text": {"type": "mrkdwn", "text": todo}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": escape(render.footer(alert))}],
        },
    ]
    fallback = f"{render.headline(alert)}: {render.summary(alert)}"
    return {"text": escape(render.truncate(fallback, FALLBACK_LIMIT)), "blocks": blocks}


class SlackChannel:
    """Posts alerts to one Slack incoming webhook."""

    def __init__(
        self, name: str, config: SlackConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.name = name
        self._url = config.webhook_url.get_secret_value()
        register_url_secret(self._url)
        self._client = plain_client(config.timeout, transport)

    async def send(
        self,
        alert: Alert,
        *,
        reference: str | None = None,  # noqa: ARG002 - every Slack message stands alone
    ) -> Delivery:
        """Post once; ``200 ok`` is delivered, anything else raises a classified error."""
        response = await send_once(
            self._client,
            "POST",
            self._url,
            connector=self.name,
            operation="post",
            json=slack_message(alert),
        )
        if response.status_code == 200:
            log.info("channel_delivered", channel=self.name, key=alert.key, host=response.url.host)
            return Delivery(channel=self.name)
        error = _slack_refusal(self.name, response)
        log.warning("channel_refused", channel=self.name, key=alert.key, error=str(error))
        raise error

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()


def _slack_refusal(channel: str, response: httpx.Response) -> ConnectorError:
    code = short_body(response, 60) or "no error code"
    hint = ERROR_HINTS.get(code, "Slack refused the message")
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    error = error_for_status(
        response.status_code, f"Slack said {code!r}: {hint}", retry_after=retry_after
    )
    error.connector, error.operation = channel, "post"
    return error
