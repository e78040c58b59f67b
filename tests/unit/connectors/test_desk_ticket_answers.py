"""The desk connectors read the vendors' own ticket answers (client-library fixtures in
tests/fixtures/alerts), not only their simulators', and say so when an answer lacks the id."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from connectors.base import DeskTicket
from connectors.errors import PermanentError
from tests.unit.connectors import test_freshdesk as freshdesk
from tests.unit.connectors import test_zendesk as zendesk

pytestmark = pytest.mark.anyio
FIXTURES = Path(__file__).parents[2] / "fixtures" / "alerts"
ALERT = DeskTicket(
    key="9f2c4e1a7b3d5f60aa",
    subject="Agent edit held: Acme Corporation / special_discount",
    body="The deal's new value is held until someone decides.",
    requester_email="service-leads@example.com",
)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(zendesk.TOKEN_ENV, zendesk.TOKEN)
    monkeypatch.setenv(freshdesk.KEY_ENV, freshdesk.API_KEY)


async def test_zendesk_reads_the_ticket_id_from_its_create_answer(
    respx_mock: respx.MockRouter,
) -> None:
    answer = fixture("zendesk_ticket_created.json")
    respx_mock.post(f"{zendesk.BASE}/api/v2/tickets.json").respond(201, json=answer)
    target = zendesk.make_target()
    try:
        assert await target.open_ticket(ALERT) == str(answer["ticket"]["id"])
    finally:
        await target.aclose()


async def test_freshdesk_reads_the_ticket_id_and_takes_the_note_answer(
    respx_mock: respx.MockRouter,
) -> None:
    answer = fixture("freshdesk_ticket_created.json")
    ticket_id = str(answer["id"])
    respx_mock.post(f"{freshdesk.BASE}/api/v2/tickets").respond(201, json=answer)
    noted = respx_mock.post(f"{freshdesk.BASE}/api/v2/tickets/{ticket_id}/notes").respond(
        201, json=fixture("freshdesk_note_created.json")
    )
    target = freshdesk.make_target()
    try:
        assert await target.open_ticket(ALERT) == ticket_id
        assert await target.add_internal_note(ticket_id, ALERT) == ticket_id
    finally:
        await target.aclose()
    assert json.loads(noted.calls.last.request.content)["private"] is True


@pytest.mark.parametrize(
    ("desk", "url", "answer"),
    [
        ("zendesk", f"{zendesk.BASE}/api/v2/tickets.json", {"ticket": {"subject": "x"}}),
        ("freshdesk", f"{freshdesk.BASE}/api/v2/tickets", {"subject": "x"}),
    ],
)
async def test_a_create_answered_without_an_id_is_a_permanent_error_not_retried(
    desk: str, url: str, answer: dict[str, Any], respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.post(url).mock(return_value=httpx.Response(201, json=answer))
    target = zendesk.make_target() if desk == "zendesk" else freshdesk.make_target()
    try:
        with pytest.raises(PermanentError, match="created the ticket without returning its id"):
            await target.open_ticket(ALERT)
    finally:
        await target.aclose()
    assert route.call_count == 1
