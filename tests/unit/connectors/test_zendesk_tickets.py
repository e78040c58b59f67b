"""Alerts as Zendesk tickets (TicketDesk): a ticket with the alert as a private first comment,
follow-ups as private comments, a follow-up ticket after a closed one, a new one after a
deleted one, and no second ticket for a create retried after a lost answer."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from connectors.base import DeskTicket, TicketDesk
from connectors.errors import AuthError, RateLimited
from connectors.service.zendesk.simulator import (
    DEMO_API_TOKEN,
    DEMO_BASE_URL,
    DEMO_EMAIL,
    ZendeskSimulator,
    auth_fault,
    throttle_fault,
)
from connectors.service.zendesk.target import ZendeskTarget
from tests.unit.connectors.desk_support import desk_target

pytestmark = pytest.mark.anyio

ALERT = DeskTicket(
    key="9f2c4e1a7b3d5f60aa",
    subject="Held for review: Acme discount 25% exceeds the 20% limit",
    body="West deal 006A asks for 25%.\nApprove with: dealbridge conflicts resolve 12",
    severity="critical",
    tags=("dealbridge", "Out of policy"),
    group="360004077472",
    requester_email="ops@contact-center.example",
)


@dataclass
class Desk:
    sim: ZendeskSimulator
    target: ZendeskTarget


@pytest.fixture
async def desk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    sim, target = desk_target("zendesk", monkeypatch)
    yield Desk(sim, target)
    await target.aclose()


async def test_an_alert_opens_a_ticket_with_a_private_first_comment(desk: Desk) -> None:
    assert isinstance(desk.target, TicketDesk)
    ticket_id = await desk.target.open_ticket(ALERT)
    ticket = desk.sim.tickets.tickets[int(ticket_id)]
    assert ticket["subject"] == ALERT.subject
    assert ticket["comments"] == [{"body": ALERT.body, "public": False}]
    assert ticket["priority"] == "urgent"
    assert ticket["tags"] == ["dealbridge", "out_of_policy"]
    assert ticket["external_id"] == ALERT.key
    assert ticket["group_id"] == 360004077472
    assert ticket["requester"] == {"email": "ops@contact-center.example"}


async def test_a_create_retried_after_a_lost_answer_gets_the_first_ticket_back(
    desk: Desk,
) -> None:
    first = await desk.target.open_ticket(ALERT)
    again = await desk.target.open_ticket(ALERT)
    assert again == first
    assert len(desk.sim.tickets.tickets) == 1


async def test_an_update_is_a_private_comment_on_the_same_ticket(desk: Desk) -> None:
    ticket_id = await desk.target.open_ticket(ALERT)
    update = ALERT.model_copy(update={"body": "Resolved: the source value was taken."})
    assert await desk.target.add_internal_note(ticket_id, update) == ticket_id
    comments = desk.sim.tickets.tickets[int(ticket_id)]["comments"]
    assert comments[-1] == {"body": "Resolved: the source value was taken.", "public": False}


async def test_a_closed_ticket_gets_a_follow_up_ticket_naming_it(desk: Desk) -> None:
    ticket_id = await desk.target.open_ticket(ALERT)
    desk.sim.tickets.close(int(ticket_id))
    follow_up = await desk.target.add_internal_note(ticket_id, ALERT)
    assert follow_up != ticket_id
    assert desk.sim.tickets.tickets[int(follow_up)]["via_followup_source_id"] == int(ticket_id)


async def test_a_deleted_ticket_is_replaced_by_a_new_one(desk: Desk) -> None:
    ticket_id = await desk.target.open_ticket(ALERT)
    desk.sim.tickets.delete(int(ticket_id))
    replacement = await desk.target.add_internal_note(ticket_id, ALERT)
    assert replacement != ticket_id
    assert int(replacement) in desk.sim.tickets.tickets


async def test_refused_credentials_are_an_auth_error_without_the_token(desk: Desk) -> None:
    desk.sim.controls.inject(auth_fault())
    with pytest.raises(AuthError) as caught:
        await desk.target.open_ticket(ALERT)
    assert "Couldn't authenticate you" in str(caught.value)
    assert "zd-demo-token" not in str(caught.value)


async def test_throttling_is_waited_out_and_the_ticket_still_opens_once(desk: Desk) -> None:
    desk.sim.controls.inject(throttle_fault())
    ticket_id = await desk.target.open_ticket(ALERT)
    assert list(desk.sim.tickets.tickets) == [int(ticket_id)]


async def test_persistent_throttling_is_rate_limited_with_the_wait(desk: Desk) -> None:
    fault = throttle_fault()
    desk.sim.controls.inject(dataclasses.replace(fault, times=100))
    with pytest.raises(RateLimited) as caught:
        await desk.target.open_ticket(ALERT)
    assert caught.value.retry_after == 2


async def test_the_simulator_refuses_a_reused_idempotency_key_with_another_body(
    desk: Desk,
) -> None:
    auth = httpx.BasicAuth(f"{DEMO_EMAIL}/token", DEMO_API_TOKEN)
    transport = httpx.ASGITransport(app=desk.sim.app)
    async with httpx.AsyncClient(transport=transport, base_url=DEMO_BASE_URL, auth=auth) as http:
        headers = {"Idempotency-Key": "k-1"}
        ticket = {"subject": "a", "comment": {"body": "b", "public": False}}
        first = await http.post("/api/v2/tickets.json", json={"ticket": ticket}, headers=headers)
        again = await http.post("/api/v2/tickets.json", json={"ticket": ticket}, headers=headers)
        other = await http.post(
            "/api/v2/tickets.json", json={"ticket": {**ticket, "subject": "c"}}, headers=headers
        )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["x-idempotency-lookup"] == "hit"
    assert (other.status_code, other.json()["error"]) == (400, "IdempotentRequestError")
