"""Alerts as Intercom tickets (TicketDesk): a Back-office ticket with the alert as its first
internal note, follow-ups as notes, a new ticket after a closed or deleted one, no second ticket
for a create retried after a lost answer."""

from __future__ import annotations

import pytest

from connectors.base import DeskTicket, TicketDesk
from connectors.errors import PermanentError, TransientError
from connectors.service.intercom import IntercomTarget
from connectors.service.intercom.simulator import DEMO_ADMIN_ID
from sandbox.controls import Fault
from tests.unit.connectors.intercom_support import Desk, desk, intercom_token

pytestmark = pytest.mark.anyio
__all__ = ["intercom_token"]

ALERT = DeskTicket(
    key="9f2c4e1a7b3d5f60aa",
    subject="Held for review: Acme discount 25% exceeds the 20% limit",
    body=(
        "West deal 006A asks for 25%.\nApprove with: dealbridge conflicts resolve 12 --take source"
    ),
    severity="critical",
    tags=("dealbridge", "out_of_policy"),
    group="5",
)


def alerting(d: Desk) -> IntercomTarget:
    return d.target(
        ticket_type_id=d.sim.alert_type["id"], alert_contact_email="ops@contact-center.example"
    )


def notes(d: Desk, ticket_id: str) -> list[str]:
    parts = d.sim.tickets.get(ticket_id)["ticket_parts"]["ticket_parts"]
    return [p["body"] for p in parts if p["part_type"] == "note"]


async def test_an_alert_opens_a_back_office_ticket_with_its_body_as_the_first_internal_note() -> (
    None
):
    d = desk(search_lag=0.0)
    target = alerting(d)
    assert isinstance(target, TicketDesk)
    ticket_id = await target.open_ticket(ALERT)
    ticket = d.sim.tickets.get(ticket_id)
    assert (
        ticket["ticket_attributes"]["_default_title_"]
        == f"{ALERT.subject} [dealbridge 9f2c4e1a7b3d5f60]"
    )
    assert "severity critical" in ticket["ticket_attributes"]["_default_description_"]
    assert "Tags: dealbridge, out_of_policy" in ticket["ticket_attributes"]["_default_description_"]
    assert ticket["team_assignee_id"] == "5"
    assert ticket["is_shared"] is False
    assert notes(d, ticket_id) == [
        "West deal 006A asks for 25%.<br>Approve with: dealbridge conflicts resolve 12 --take "
        "source<br><br>[dealbridge 9f2c4e1a7b3d5f60]"
    ]
    parts = ticket["ticket_parts"]["ticket_parts"]
    assert parts[0]["author"]["id"] == DEMO_ADMIN_ID
    d.assert_spec_clean()


async def test_a_create_retried_after_a_lost_answer_finds_the_ticket_not_a_second() -> None:
    d = desk(search_lag=0.0)
    target = alerting(d)
    first = await target.open_ticket(ALERT)
    again = await target.open_ticket(ALERT)
    assert again == first
    assert len(d.sim.tickets.tickets) == 1
    assert len(notes(d, first)) == 1  # the note was there already


async def test_a_ticket_whose_first_note_was_lost_gets_it_when_the_create_is_retried() -> None:
    d = desk(search_lag=0.0)
    target = alerting(d)
    d.sim.controls.inject(
        Fault(
            status=503,
            body={"type": "error.list", "errors": [{"code": "service_unavailable"}]},
            path_contains="/reply",
        )
    )
    with pytest.raises(TransientError, match="HTTP 503"):  # a note is never re-sent
        await target.open_ticket(ALERT)
    [ticket_id] = d.sim.tickets.tickets
    assert notes(d, ticket_id) == []
    assert await target.open_ticket(ALERT) == ticket_id
    assert len(notes(d, ticket_id)) == 1


async def test_a_follow_up_is_an_internal_note_on_the_same_open_ticket() -> None:
    d = desk(search_lag=0.0)
    target = alerting(d)
    ticket_id = await target.open_ticket(ALERT)
    update = ALERT.model_copy(update={"body": "The deal changed: now 22%."})
    assert await target.add_internal_note(ticket_id, update) == ticket_id
    assert notes(d, ticket_id)[-1].startswith("The deal changed: now 22%.")


async def test_a_follow_up_to_a_closed_or_deleted_ticket_opens_a_new_one_that_names_it() -> None:
    d = desk(search_lag=0.0)
    target = alerting(d)
    closed = await target.open_ticket(ALERT)
    d.sim.tickets.update(closed, {"open": False})
    update = ALERT.model_copy(update={"key": "1111222233334444", "body": "Still open."})
    followed = await target.add_internal_note(closed, update)
    assert followed != closed
    description = d.sim.tickets.get(followed)["ticket_attributes"]["_default_description_"]
    assert f"Follows ticket {closed}" in description
    d.sim.tickets.tickets.pop(followed)
    again = await target.add_internal_note(
        followed, update.model_copy(update={"key": "5555666677778888"})
    )
    assert again not in (closed, followed)


async def test_without_a_ticket_type_or_a_contact_alerts_are_an_admins_problem() -> None:
    d = desk(search_lag=0.0)
    with pytest.raises(PermanentError, match="set ticket_type_id") as no_type:
        await d.target().open_ticket(ALERT)
    assert no_type.value.who_acts == "admin"
    no_contact = d.target(ticket_type_id=d.sim.alert_type["id"])
    with pytest.raises(PermanentError, match="set alert_contact_email"):
        await no_contact.open_ticket(ALERT)
    with_requester = ALERT.model_copy(update={"requester_email": "lead@contact-center.example"})
    assert await no_contact.open_ticket(with_requester)
