"""The alert value every channel renders, and the contract a channel implements.

An alert is what a person needs to act: what happened, to which customer and deal, the values
involved, and exactly what to do. Channels only render and deliver it; routing, deduplication
and retries live in the outbox, so a channel is small and easy to test. Channels fail with the
connectors' error taxonomy, so alerts and connectors sort failures the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Severity = Literal["info", "warning", "critical"]
Phase = Literal["opened", "updated", "closed"]


@dataclass(frozen=True)
class Alert:
    """One notification, stable across retries (``key`` is its idempotency identity)."""

    key: str
    """Dedupe key: the same key is the same alert (a retry or an update), never a new one."""
    kind: str
    """``target_edited``, ``territory_disagreement``, ``out_of_policy``, ``unmatched``,
    ``ambiguous``, ``expired_terms_present``, ``run_failed``, ``connector_unhealthy``,
    ``auth_expired``, ``rate_limited``, ``config_invalid``, ``test``."""
    severity: Severity
    title: str
    """One line: what happened, e.g. "Agent edit held: Acme Corporation discount"."""
    summary: str
    """Two or three sentences of plain text: what happened and why it matters."""
    action: str
    """Exactly what to do, e.g. "dealbridge conflicts resolve 12 --take source"."""
    phase: Phase = "opened"
    customer: str | None = None
    deal: str | None = None
    territory: str | None = None
    job: str | None = None
    facts: tuple[tuple[str, str], ...] = ()
    """Labelled values shown as a small table (base / agent value / deal value...)."""
    link: str | None = None
    """A URL to the conflict or record when a base URL is configured."""
    recipients: tuple[str, ...] = ()
    """Email addresses resolved by routing (e.g. the deal owner); channels may ignore them."""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """What the channel reports back (kept on the outbox row)."""

    channel: str
    reference: str | None = None
    """The receiver's id for the message when it gives one (ticket id, Message-ID...)."""


class Channel(Protocol):
    """A delivery channel (Slack, Teams, email, webhook, service-desk ticket)."""

    name: str

    async def send(self, alert: Alert, *, reference: str | None = None) -> Delivery:
        """Deliver once. ``reference`` is what the thread's first delivery returned (a ticket
        id, a Message-ID), for channels that continue a thread; others ignore it. A failure
        raises the connectors' taxonomy (``connectors.errors``): ``TransientError`` (and
        ``RateLimited``) is retried later, any other ``ConnectorError`` parks the alert."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
