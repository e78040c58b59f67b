"""Alerts as Freshdesk tickets (TicketDesk): an open ticket whose HTML description is the alert,
follow-ups as private notes, a new ticket after a deleted one, and refusals in Freshdesk's own
words through the connector's error taxonomy."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from connectors.base import DeskTicket, TicketDesk
from connectors.errors import AuthError, PermanentError, RateLimited
from connectors.service.freshdesk.simulator import FreshdeskSimulator, auth_fault, throttle_fault
from connectors.service.freshdesk.target import FreshdeskTarget
from tests.unit.connectors.desk_support import desk_target

pytestmark = pytest.mark.anyio

ALERT = DeskTicket(
    key="9f2c4e1a7b3d5f60aa",
    subject="Held for review: Acme discount 25% exceeds the 20% limit",
    body="West deal <006A> asks for 25%.\nApprove with: dealbridge conflicts resolve 12",
    severity="critical",
    tags=("dealbridge", "out_of_policy"),
    group="12",
    requester_email="ops@contact-center.example",
)


@dataclass
class Desk:
    sim: FreshdeskSimulator
    target: FreshdeskTarget


@pytest.fixture
async def desk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    sim, target = desk_target("freshdesk", monkeypatch)
    yield Desk(sim, target)
    await target.aclose()


async def test_an_alert_opens_an_open_ticket_with_an_escaped_html_description(
    desk: Desk,
) -> None:
    assert isinstance(desk.target, TicketDesk)
    ticket_id = await desk.target.open_ticket(ALERT)
    ticket = desk.sim.tickets.tickets[int(ticket_id)]
    assert ticket["subject"] == ALERT.subject
    assert ticket["description"] == (
        "West deal &lt;006A&gt; asks for 25%.<br>Approve with: dealbridge conflicts resolve 12"
    )
    assert (ticket["priority"], ticket["status"]) == (4, 2)
    assert ticket["email"] == "ops@contact-center.example"
    assert ticket["tags"] == ["dealbridge", "out_of_policy"]
    assert ticket["group_id"] == 12


async def test_an_update_is_a_private_note_on_the_same_ticket(desk: Desk) -> None:
    ticket_id = await desk.target.open_ticket(ALERT)
    update = ALERT.model_copy(update={"body": "Resolved: the source value was taken."})
    assert await desk.target.add_internal_note(ticket_id, update) == ticket_id
    notes = desk.sim.tickets.tickets[int(ticket_id)]["notes"]
    assert [(n["body"], n["private"]) for n in notes] == [
        ("Resolved: the source value was taken.", True)
    ]


async def test_a_deleted_ticket_is_replaced_by_a_new_one_naming_it(desk: Desk) -> None:
    ticket_id = await desk.target.open_ticket(ALERT)
    desk.sim.tickets.delete(int(ticket_id))
    replacement = await desk.target.add_internal_note(ticket_id, ALERT)
    assert replacement != ticket_id
    description = desk.sim.tickets.tickets[int(replacement)]["description"]
    assert description.startswith(f"Follows alert ticket {ticket_id}, which is gone.")


async def test_without_a_requester_the_admin_is_told_before_any_request(desk: Desk) -> None:
    with pytest.raises(PermanentError) as caught:
        await desk.target.open_ticket(ALERT.model_copy(update={"requester_email": None}))
    assert caught.value.who_acts == "admin"
    assert "requester_email" in str(caught.value)
    assert desk.sim.controls.count("POST", "/tickets") == 0


async def test_refused_credentials_are_an_auth_error_without_the_key(desk: Desk) -> None:
    desk.sim.controls.inject(auth_fault())
    with pytest.raises(AuthError) as caught:
        await desk.target.open_ticket(ALERT)
    assert "fd-demo-key" not in str(caught.value)


async def test_persistent_throttling_is_rate_limited_with_the_wait(desk: Desk) -> None:
    desk.sim.controls.inject(dataclasses.replace(throttle_fault(), times=100))
    with pytest.raises(RateLimited) as caught:
        await desk.target.open_ticket(ALERT)
    assert caught.value.retry_after is not None
    assert desk.sim.tickets.tickets == {}
