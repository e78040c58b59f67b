"""Service-desk tickets: an alert opens a ticket on a target's desk; its updates become
internal notes on it.

The channel names a service target connector of config.yaml (``connector: <name>``) and speaks
to the desk only through that connector's ``TicketDesk`` capability
(:class:`connectors.base.TicketDesk`): its client, auth, pacing and error taxonomy. Which
desks take tickets, and how (an idempotency key, a search for the alert key, work notes...),
is the connector's business; this module knows no vendor.

The channel cannot remember ticket ids: it returns ``Delivery(reference=<ticket id>)`` and the
outbox hands that id back as ``reference`` for the alert's follow-ups, which are added as
internal notes. A desk whose ticket is gone or closed opens a new one and returns its id, so
the outbox keeps the newest reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import structlog
from pydantic import Field

from connectors.base import DeskTicket, Frozen, TicketDesk
from connectors.errors import PermanentError
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery
from sync_jobs.alerts.ids import key_hash

log = structlog.get_logger("dealbridge.alerts.ticket")

Connectors = Callable[[str], Any]
"""A configured connector by name (``Connections.target``)."""


class TicketConfig(Frozen):
    """``type: ticket``: alerts become tickets on the desk of a service target connector."""

    type: Literal["ticket"]
    connector: str = Field(description="a service target connector in config.yaml")
    group: str | None = Field(None, description="the desk's queue or group id for new tickets")
    tags: tuple[str, ...] = Field((), description="extra tags on every ticket")
    requester_email: str | None = Field(
        None, description="the ticket's requester, for desks that need one"
    )


class TicketChannel:
    """Opens a ticket per alert thread and adds its follow-ups as internal notes."""

    def __init__(self, name: str, config: TicketConfig, connectors: Connectors | None) -> None:
        self.name = name
        self._config = config
        self._connectors = connectors

    async def send(self, alert: Alert, *, reference: str | None = None) -> Delivery:
        """Open a ticket, or add an internal note to ``reference`` (an id a send returned)."""
        desk = self._desk()
        ticket = desk_ticket(alert, self._config)
        if reference is None:
            ticket_id = await desk.open_ticket(ticket)
        else:
            ticket_id = await desk.add_internal_note(reference, ticket)
        log.info(
            "channel_delivered",
            channel=self.name,
            key=alert.key,
            ticket=ticket_id,
            new=ticket_id != reference,
        )
        return Delivery(channel=self.name, reference=ticket_id)

    async def aclose(self) -> None:
        """Nothing to release: the connector belongs to the connections that built it."""

    def _desk(self) -> TicketDesk:
        name = self._config.connector
        try:
            target = self._connectors(name) if self._connectors is not None else None
        except KeyError:
            target = None
        if target is None:
            raise PermanentError(
                f"no connector {name!r} is configured for ticket channel {self.name!r}",
                who_acts="admin",
                connector=self.name,
                operation="ticket",
            )
        if not isinstance(target, TicketDesk):
            raise PermanentError(
                f"connector {name!r} cannot open tickets; name a service target connector "
                "whose kind takes alert tickets (docs/alerts.md lists them)",
                who_acts="admin",
                connector=self.name,
                operation="ticket",
            )
        return target


def desk_ticket(alert: Alert, config: TicketConfig) -> DeskTicket:
    """The alert as a desk takes it: headline, the whole alert as plain text, and its tags."""
    return DeskTicket(
        key=key_hash(alert.key),
        subject=render.headline(alert),
        body=render.plain_text(alert),
        severity=alert.severity,
        tags=ticket_tags(alert, config.tags),
        requester_email=config.requester_email,
        group=config.group,
    )


def ticket_tags(alert: Alert, extra: tuple[str, ...]) -> tuple[str, ...]:
    """``dealbridge``, the alert kind, then configured tags; lower-case, no spaces, no repeats."""
    tags = ["dealbridge", alert.kind, *extra]
    cleaned = ["_".join(tag.lower().split()) for tag in tags if tag.strip()]
    return tuple(dict.fromkeys(cleaned))
