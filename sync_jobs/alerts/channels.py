"""Channel configuration as one tagged union, and the factory that builds a channel from it.

``alerts.channels.<name>`` in config.yaml is one of the models below, chosen by ``type``
(``slack``, ``teams``, ``email``, ``webhook``, ``ticket``), so only the matching model is tried
and its errors name the right fields. Secrets are ``${ENV}`` or ``file:`` references, never
inline. A ``ticket`` channel names a service target connector and reaches its desk through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import httpx
from pydantic import Field, TypeAdapter

from sync_jobs.alerts.base import Channel
from sync_jobs.alerts.email import EmailChannel, EmailConfig
from sync_jobs.alerts.slack import SlackChannel, SlackConfig
from sync_jobs.alerts.teams import TeamsChannel, TeamsConfig
from sync_jobs.alerts.ticket import Connectors, TicketChannel, TicketConfig
from sync_jobs.alerts.webhook import WebhookChannel, WebhookConfig

ChannelConfig = Annotated[
    SlackConfig | TeamsConfig | EmailConfig | WebhookConfig | TicketConfig,
    Field(discriminator="type"),
]
"""One channel's settings; ``type`` picks the model."""

CHANNEL_TYPES = ("slack", "teams", "email", "webhook", "ticket")

_ADAPTER: TypeAdapter[ChannelConfig] = TypeAdapter(ChannelConfig)


def parse_channel_config(raw: Mapping[str, Any]) -> ChannelConfig:
    """Validate one channel section; raises pydantic's ``ValidationError`` listing every problem."""
    return _ADAPTER.validate_python(dict(raw))


def build_channel(
    name: str,
    config: ChannelConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    connectors: Connectors | None = None,
) -> Channel:
    """The channel for ``config``. ``transport`` is the HTTP test seam of the webhook-style
    channels; ``connectors`` gives ticket channels their connector by name."""
    match config:
        case SlackConfig():
            return SlackChannel(name, config, transport=transport)
        case TeamsConfig():
            return TeamsChannel(name, config, transport=transport)
        case EmailConfig():
            return EmailChannel(name, config)
        case WebhookConfig():
            return WebhookChannel(name, config, transport=transport)
        case TicketConfig():
            return TicketChannel(name, config, connectors)
