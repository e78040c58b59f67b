"""The ticket channel: alerts reach a desk only through a target connector's TicketDesk, with
the connectors' error taxonomy; the first message of a thread opens a ticket, the rest are
internal notes on the ticket the last delivery named."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.base import DeskTicket
from connectors.errors import ConnectorError, PermanentError, RateLimited
from sync_jobs.alerts.channels import build_channel, parse_channel_config
from sync_jobs.alerts.ids import key_hash
from sync_jobs.alerts.ticket import TicketConfig
from tests.unit.alerts.helpers import ACME_EDIT, follow_up

pytestmark = pytest.mark.anyio


class FakeDesk:
    """A TicketDesk that records calls, answers ids in turn, or fails as told."""

    def __init__(self, *, fail: ConnectorError | None = None, replace_with: str = "") -> None:
        self.opened: list[tuple[DeskTicket, str | None]] = []
        self.notes: list[tuple[str, DeskTicket]] = []
        self._fail = fail
        self._replace_with = replace_with

    async def open_ticket(self, ticket: DeskTicket, *, follows: str | None = None) -> str:
        if self._fail is not None:
            raise self._fail
        self.opened.append((ticket, follows))
        return f"T{len(self.opened)}"

    async def add_internal_note(self, ticket_id: str, ticket: DeskTicket) -> str:
        self.notes.append((ticket_id, ticket))
        return self._replace_with or ticket_id


class NotADesk:
    """A connector without the TicketDesk capability."""


def channel(connectors: dict[str, Any], **settings: Any) -> Any:
    raw = {"type": "ticket", "connector": "desk", **settings}
    config = parse_channel_config(raw)
    assert isinstance(config, TicketConfig)
    return build_channel("tickets", config, connectors=connectors.__getitem__)


async def test_the_first_message_opens_a_ticket_with_the_whole_alert() -> None:
    desk = FakeDesk()
    sender = channel({"desk": desk}, group="42", tags=["Deal Desk"], requester_email="o@x.example")

    delivery = await sender.send(ACME_EDIT)

    assert delivery.reference == "T1"
    ((ticket, follows),) = desk.opened
    assert follows is None
    assert ticket.key == key_hash(ACME_EDIT.key)
    assert ticket.subject.endswith(ACME_EDIT.title)
    assert "dealbridge conflicts show 12" in ticket.body
    assert ticket.severity == "warning"
    assert ticket.tags == ("dealbridge", "target_edited", "deal_desk")
    assert (ticket.group, ticket.requester_email) == ("42", "o@x.example")


async def test_a_follow_up_is_a_note_on_the_referenced_ticket() -> None:
    desk = FakeDesk()
    sender = channel({"desk": desk})

    delivery = await sender.send(follow_up(ACME_EDIT, "updated"), reference="77")

    assert delivery.reference == "77"
    assert [ticket_id for ticket_id, _ in desk.notes] == ["77"]
    assert desk.opened == []


async def test_a_replacement_ticket_becomes_the_reference() -> None:
    sender = channel({"desk": FakeDesk(replace_with="78")})

    delivery = await sender.send(follow_up(ACME_EDIT, "closed"), reference="77")

    assert delivery.reference == "78"


async def test_the_desks_errors_reach_the_outbox_unchanged() -> None:
    throttled = RateLimited("slow down", retry_after=30.0, status=429)
    sender = channel({"desk": FakeDesk(fail=throttled)})

    with pytest.raises(RateLimited) as caught:
        await sender.send(ACME_EDIT)

    assert caught.value is throttled


async def test_a_connector_without_tickets_is_refused_for_an_admin() -> None:
    sender = channel({"desk": NotADesk()})

    with pytest.raises(PermanentError) as caught:
        await sender.send(ACME_EDIT)

    assert caught.value.who_acts == "admin"
    assert "cannot open tickets" in str(caught.value)


async def test_an_unknown_connector_is_refused_for_an_admin() -> None:
    sender = channel({})

    with pytest.raises(PermanentError, match="no connector 'desk'"):
        await sender.send(ACME_EDIT)
