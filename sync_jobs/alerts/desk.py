"""Service-desk tickets: an alert opens a ticket; its updates become internal notes on it.

``send(alert, *, reference=None)``: the channel cannot remember ticket ids, so it returns
``Delivery(reference=<ticket id>)`` and the outbox hands that id back as ``reference`` for the
alert's follow-ups. With a reference, a follow-up (any phase) is added as a private note;
without one, a new ticket is opened. When the referenced ticket is gone (404) or closed, a
new ticket is opened and its id returned, so the outbox must store the returned reference.

Zendesk (developer.zendesk.com Tickets API, "Creating and updating tickets", "Idempotency"):

- open: ``POST /api/v2/tickets.json`` ``{"ticket": {"subject", "comment": {"body", "public":
  false}, "priority", "tags": ["dealbridge", kind], "external_id": key}}`` -> 201
  ``{"ticket": {"id"}}``; sent with ``Idempotency-Key`` so a retried create cannot duplicate;
- follow-up: ``PUT /api/v2/tickets/{id}.json`` ``{"ticket": {"comment": {"body", "public":
  false}}}``. A closed ticket cannot be updated (422); a follow-up ticket is opened with
  ``via_followup_source_id`` instead;
- auth: Basic ``{email}/token:{api_token}``; errors ``{"error", "description", "details"}``.

Freshdesk (developers.freshdesk.com API v2 "Tickets", "Conversations"):

- open: ``POST /api/v2/tickets`` ``{"subject", "description" (HTML), "email" or
  "requester_id", "priority" 1-4, "status": 2, "tags"}`` -> 201 ``{"id"}``. No idempotency key
  exists, so a create retried after a lost answer may duplicate a ticket;
- follow-up: ``POST /api/v2/tickets/{id}/notes`` ``{"body" (HTML), "private": true}``;
- auth: Basic with the API key as user and ``X`` as password; errors ``{"description",
  "errors": [{"field", "message", "code"}]}`` or ``{"code", "message"}``.

Both: 429 with Retry-After is transient; 401/403/other 4xx are permanent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

import httpx
import structlog
from pydantic import Field, field_validator, model_validator

from connectors.auth import StaticHeaderAuth
from connectors.base import Frozen
from connectors.settings import Secret
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery, DeliveryError
from sync_jobs.alerts.desk_errors import vendor_message
from sync_jobs.alerts.ids import key_hash
from sync_jobs.alerts.posting import make_client, refused, send_once

log = structlog.get_logger("dealbridge.alerts.desk")

ZENDESK_PRIORITY = {"info": "low", "warning": "normal", "critical": "urgent"}
FRESHDESK_PRIORITY = {"info": 1, "warning": 2, "critical": 4}
FRESHDESK_OPEN = 2


class _DeskConfig(Frozen):
    base_url: str
    group_id: int | None = Field(None, description="assign new tickets to this group")
    tags: tuple[str, ...] = Field((), description="extra tags on every ticket")
    timeout: float = Field(30.0, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("write the account URL, e.g. https://acme.zendesk.com")
        return value.rstrip("/")


class ZendeskTicketConfig(_DeskConfig):
    """``type: zendesk_ticket``: https://{subdomain}.zendesk.com, agent email and API token."""

    type: Literal["zendesk_ticket"]
    email: str
    api_token: Secret
    requester_email: str | None = Field(None, description="requester; default: the API user")


class FreshdeskTicketConfig(_DeskConfig):
    """``type: freshdesk_ticket``: https://{domain}.freshdesk.com, API key, and a requester."""

    type: Literal["freshdesk_ticket"]
    api_key: Secret
    requester_email: str | None = None
    requester_id: int | None = None

    @model_validator(mode="after")
    def _one_requester(self) -> FreshdeskTicketConfig:
        if (self.requester_email is None) == (self.requester_id is None):
            raise ValueError("Freshdesk needs exactly one of requester_email or requester_id")
        return self


class _TicketChannel(ABC):
    """What both desks share: open-or-note, gone/closed handling, error wording."""

    vendor = ""

    def __init__(self, name: str, client: httpx.AsyncClient) -> None:
        self.name = name
        self._client = client

    async def send(self, alert: Alert, *, reference: str | None = None) -> Delivery:
        """Open a ticket, or add a private note to ``reference`` (an id a send returned)."""
        if reference is None:
            ticket = await self._open(alert)
        else:
            ticket = await self._follow_up(alert, reference)
        log.info(
            "channel_delivered",
            channel=self.name,
            key=alert.key,
            ticket=ticket,
            new=ticket != reference,
        )
        return Delivery(channel=self.name, reference=ticket)

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self._client.aclose()

    @abstractmethod
    async def _open(self, alert: Alert, *, follows: str | None = None) -> str:
        """Create a ticket (a follow-up of the closed ticket ``follows``); return its id."""

    @abstractmethod
    async def _note(self, alert: Alert, ticket: str) -> httpx.Response:
        """Add the alert as a private note to ``ticket``; return the desk's answer."""

    def _is_closed(self, response: httpx.Response) -> bool:  # noqa: ARG002 - vendor hook
        """Whether a refused note means the ticket is closed for good (vendor-specific)."""
        return False

    async def _follow_up(self, alert: Alert, ticket: str) -> str:
        response = await self._note(alert, ticket)
        if response.is_success:
            return ticket
        if response.status_code == 404:
            log.warning("channel_ticket_gone", channel=self.name, ticket=ticket)
            return await self._open(alert)
        if self._is_closed(response):
            log.info("channel_ticket_closed", channel=self.name, ticket=ticket)
            return await self._open(alert, follows=ticket)
        raise self._refusal(response)

    def _refusal(self, response: httpx.Response) -> DeliveryError:
        error = refused(self.name, response, f"{self.vendor} said {vendor_message(response)}")
        log.warning("channel_refused", channel=self.name, error=str(error))
        return error

    def _ticket_id(self, response: httpx.Response, *path: str) -> str:
        try:
            found: Any = response.json()
            for step in path:
                found = found[step]
        except (ValueError, KeyError, TypeError):
            found = None
        if not isinstance(found, int | str) or str(found) == "":
            raise DeliveryError(
                f"{self.name}: {self.vendor} answered {response.status_code} without a ticket id",
                permanent=False,
            )
        return str(found)


class ZendeskTicketChannel(_TicketChannel):
    """Zendesk Support tickets with private comments."""

    vendor = "Zendesk"

    def __init__(
        self,
        name: str,
        config: ZendeskTicketConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        auth = StaticHeaderAuth.basic(f"{config.email}/token", config.api_token.get_secret_value())
        client = make_client(
            timeout=config.timeout, transport=transport, auth=auth, base_url=config.base_url
        )
        super().__init__(name, client)
        self._config = config

    async def _open(self, alert: Alert, *, follows: str | None = None) -> str:
        ticket: dict[str, Any] = {
            "subject": render.headline(alert),
            "comment": {"body": render.plain_text(alert), "public": False},
            "priority": ZENDESK_PRIORITY[alert.severity],
            "tags": ticket_tags(alert, self._config.tags),
            "external_id": alert.key,
        }
        if self._config.group_id is not None:
            ticket["group_id"] = self._config.group_id
        if self._config.requester_email:
            ticket["requester"] = {"email": self._config.requester_email}
        if follows is not None:
            ticket["via_followup_source_id"] = int(follows) if follows.isdigit() else follows
        headers = {"Idempotency-Key": idempotency_key(alert, follows)}
        response = await send_once(
            self._client,
            "POST",
            "/api/v2/tickets.json",
            channel=self.name,
            json_body={"ticket": ticket},
            headers=headers,
        )
        if not response.is_success:
            raise self._refusal(response)
        return self._ticket_id(response, "ticket", "id")

    async def _note(self, alert: Alert, ticket: str) -> httpx.Response:
        comment = {"body": render.plain_text(alert), "public": False}
        return await send_once(
            self._client,
            "PUT",
            f"/api/v2/tickets/{ticket}.json",
            channel=self.name,
            json_body={"ticket": {"comment": comment}},
        )

    def _is_closed(self, response: httpx.Response) -> bool:
        # Zendesk: "Status: closed prevents ticket update" (422 RecordInvalid).
        return response.status_code == 422 and "closed" in response.text.lower()


class FreshdeskTicketChannel(_TicketChannel):
    """Freshdesk tickets with private notes."""

    vendor = "Freshdesk"

    def __init__(
        self,
        name: str,
        config: FreshdeskTicketConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        auth = StaticHeaderAuth.basic(config.api_key.get_secret_value(), "X")
        client = make_client(
            timeout=config.timeout, transport=transport, auth=auth, base_url=config.base_url
        )
        super().__init__(name, client)
        self._config = config

    async def _open(
        self,
        alert: Alert,
        *,
        follows: str | None = None,  # noqa: ARG002 - Freshdesk takes notes on closed tickets
    ) -> str:
        ticket: dict[str, Any] = {
            "subject": render.headline(alert),
            "description": render.html_body(alert),
            "priority": FRESHDESK_PRIORITY[alert.severity],
            "status": FRESHDESK_OPEN,
            "tags": ticket_tags(alert, self._config.tags),
        }
        if self._config.requester_id is not None:
            ticket["requester_id"] = self._config.requester_id
        else:
            ticket["email"] = self._config.requester_email
        if self._config.group_id is not None:
            ticket["group_id"] = self._config.group_id
        response = await send_once(
            self._client, "POST", "/api/v2/tickets", channel=self.name, json_body=ticket
        )
        if not response.is_success:
            raise self._refusal(response)
        return self._ticket_id(response, "id")

    async def _note(self, alert: Alert, ticket: str) -> httpx.Response:
        note = {"body": render.html_body(alert), "private": True}
        return await send_once(
            self._client,
            "POST",
            f"/api/v2/tickets/{ticket}/notes",
            channel=self.name,
            json_body=note,
        )


def ticket_tags(alert: Alert, extra: tuple[str, ...]) -> list[str]:
    """``dealbridge``, the alert kind, then configured tags; lower-case, no spaces, no repeats."""
    tags = ["dealbridge", alert.kind, *extra]
    cleaned = ["_".join(tag.lower().split()) for tag in tags if tag.strip()]
    return list(dict.fromkeys(cleaned))


def idempotency_key(alert: Alert, follows: str | None = None) -> str:
    """Same alert -> same key, so Zendesk answers a retried create with the first ticket."""
    tail = f"-after-{follows}" if follows else ""
    return f"dealbridge-{key_hash(alert.key)}{tail}"
