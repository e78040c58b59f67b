"""Service-desk ticket channels (Zendesk, Freshdesk): open a ticket, then private notes on it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError
from structlog.testing import capture_logs

from sync_jobs.alerts.base import DeliveryError
from sync_jobs.alerts.desk import (
    FreshdeskTicketChannel,
    FreshdeskTicketConfig,
    ZendeskTicketChannel,
    ZendeskTicketConfig,
)
from tests.unit.alerts.helpers import ACME_EDIT, follow_up

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parents[2] / "fixtures" / "alerts"
ZENDESK = "https://acme.zendesk.com"
FRESHDESK = "https://acme.freshdesk.com"
ZD_TOKEN = "zd-api-token-6wiIBWbGkBMo1mRDMuVwkw1EPsNkeUj95PIz2akv"
FD_KEY = "fd-api-key-sF3kLz9Qp0"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def basic_credentials(request: httpx.Request) -> str:
    scheme, _, raw = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    return base64.b64decode(raw).decode()


@pytest.fixture
def zendesk(
    env_secret: Callable[[str, str], str],
    closing: Callable[[ZendeskTicketChannel], ZendeskTicketChannel],
) -> ZendeskTicketChannel:
    config = ZendeskTicketConfig.model_validate(
        {
            "type": "zendesk_ticket",
            "base_url": ZENDESK,
            "email": "dealbridge@acme.com",
            "api_token": env_secret("ZD_TOKEN", ZD_TOKEN),
            "group_id": 360004077472,
            "tags": ["Deal Terms"],
        }
    )
    return closing(ZendeskTicketChannel("desk-zendesk", config))


@pytest.fixture
def freshdesk(
    env_secret: Callable[[str, str], str],
    closing: Callable[[FreshdeskTicketChannel], FreshdeskTicketChannel],
) -> FreshdeskTicketChannel:
    config = FreshdeskTicketConfig.model_validate(
        {
            "type": "freshdesk_ticket",
            "base_url": FRESHDESK,
            "api_key": env_secret("FD_KEY", FD_KEY),
            "requester_email": "service-leads@acme.com",
        }
    )
    return closing(FreshdeskTicketChannel("desk-freshdesk", config))


# --- Zendesk ---------------------------------------------------------------------------


async def test_zendesk_opens_a_ticket_with_private_comment_and_returns_its_id(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    route = respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(
        201, json=fixture("zendesk_ticket_created.json")
    )

    delivery = await zendesk.send(ACME_EDIT)

    assert delivery.reference == "4"
    request = route.calls.last.request
    assert basic_credentials(request) == f"dealbridge@acme.com/token:{ZD_TOKEN}"
    assert request.headers["idempotency-key"].startswith("dealbridge-")
    ticket = json.loads(request.content)["ticket"]
    assert ticket["subject"] == "Agent edit held: Acme Corporation / special_discount"
    assert ticket["comment"]["public"] is False
    assert "value the deal wants: 15%" in ticket["comment"]["body"]
    assert "What to do: dealbridge conflicts show 12" in ticket["comment"]["body"]
    assert ticket["priority"] == "normal"
    assert ticket["tags"] == ["dealbridge", "target_edited", "deal_terms"]
    assert ticket["external_id"] == "conflict:12:v1:opened"
    assert ticket["group_id"] == 360004077472


async def test_zendesk_retried_create_sends_the_same_idempotency_key(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    route = respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(
        201, json=fixture("zendesk_ticket_created.json")
    )

    await zendesk.send(ACME_EDIT)
    await zendesk.send(ACME_EDIT)

    keys = {call.request.headers["idempotency-key"] for call in route.calls}
    assert len(keys) == 1


async def test_zendesk_follow_up_adds_a_private_comment_to_the_referenced_ticket(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    route = respx_mock.put(f"{ZENDESK}/api/v2/tickets/4.json").respond(
        200, json=fixture("zendesk_ticket_created.json")
    )

    delivery = await zendesk.send(follow_up(ACME_EDIT, "updated"), reference="4")

    assert delivery.reference == "4"
    body = json.loads(route.calls.last.request.content)
    assert set(body["ticket"]) == {"comment"}
    assert body["ticket"]["comment"]["public"] is False
    assert body["ticket"]["comment"]["body"].startswith("Update: Agent edit held")


async def test_zendesk_closed_ticket_gets_a_follow_up_ticket_instead(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    closed = {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"status": [{"description": "Status: closed prevents ticket update"}]},
    }
    respx_mock.put(f"{ZENDESK}/api/v2/tickets/4.json").respond(422, json=closed)
    created = fixture("zendesk_ticket_created.json")
    created["ticket"]["id"] = 5
    route = respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(201, json=created)

    delivery = await zendesk.send(follow_up(ACME_EDIT, "closed"), reference="4")

    assert delivery.reference == "5"
    ticket = json.loads(route.calls.last.request.content)["ticket"]
    assert ticket["via_followup_source_id"] == 4
    assert ticket["subject"].startswith("Resolved: ")


async def test_zendesk_deleted_ticket_is_replaced_by_a_new_one(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    respx_mock.put(f"{ZENDESK}/api/v2/tickets/4.json").respond(
        404, json={"error": "RecordNotFound", "description": "Not found"}
    )
    route = respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(
        201, json=fixture("zendesk_ticket_created.json")
    )

    delivery = await zendesk.send(follow_up(ACME_EDIT, "updated"), reference="4")

    assert delivery.reference == "4"  # the fixture's new id
    assert "via_followup_source_id" not in json.loads(route.calls.last.request.content)["ticket"]


async def test_zendesk_bad_credentials_are_permanent_with_zendesk_message(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(
        401, json={"error": "Couldn't authenticate you"}
    )

    with capture_logs() as logs, pytest.raises(DeliveryError) as caught:
        await zendesk.send(ACME_EDIT)

    assert caught.value.permanent is True
    assert "HTTP 401" in str(caught.value)
    assert "Couldn't authenticate you" in str(caught.value)
    assert ZD_TOKEN not in str(caught.value) + repr(logs)


async def test_zendesk_validation_error_names_the_field(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    invalid = {
        "error": "RecordInvalid",
        "description": "Record validation errors",
        "details": {"group": [{"description": "Group: 360004077472 is not valid"}]},
    }
    respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(422, json=invalid)

    with pytest.raises(DeliveryError) as caught:
        await zendesk.send(ACME_EDIT)

    assert caught.value.permanent is True
    assert "group: Group: 360004077472 is not valid" in str(caught.value)


async def test_zendesk_forbidden_object_error_is_permanent_and_quoted(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    forbidden = {"error": {"title": "Forbidden", "message": "You do not have access to this page."}}
    respx_mock.put(f"{ZENDESK}/api/v2/tickets/4.json").respond(403, json=forbidden)

    with pytest.raises(DeliveryError) as caught:
        await zendesk.send(follow_up(ACME_EDIT, "updated"), reference="4")

    assert caught.value.permanent is True
    assert "Forbidden: You do not have access to this page." in str(caught.value)


async def test_zendesk_throttle_429_is_transient_with_retry_after(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    respx_mock.put(f"{ZENDESK}/api/v2/tickets/4.json").respond(
        429, text="Rate limit for ticket updates exceeded", headers={"Retry-After": "93"}
    )

    with pytest.raises(DeliveryError) as caught:
        await zendesk.send(follow_up(ACME_EDIT, "updated"), reference="4")

    assert (caught.value.permanent, caught.value.retry_after) == (False, 93.0)


async def test_zendesk_answer_without_ticket_id_is_transient(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").respond(201, json={"ticket": None})

    with pytest.raises(DeliveryError) as caught:
        await zendesk.send(ACME_EDIT)

    assert caught.value.permanent is False
    assert "without a ticket id" in str(caught.value)


async def test_zendesk_timeout_is_transient(
    respx_mock: respx.MockRouter, zendesk: ZendeskTicketChannel
) -> None:
    respx_mock.post(f"{ZENDESK}/api/v2/tickets.json").mock(
        side_effect=httpx.ReadTimeout("read timed out")
    )

    with pytest.raises(DeliveryError) as caught:
        await zendesk.send(ACME_EDIT)

    assert caught.value.permanent is False


# --- Freshdesk -------------------------------------------------------------------------


async def test_freshdesk_opens_an_open_ticket_with_html_description(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    route = respx_mock.post(f"{FRESHDESK}/api/v2/tickets").respond(
        201, json=fixture("freshdesk_ticket_created.json")
    )

    delivery = await freshdesk.send(ACME_EDIT)

    assert delivery.reference == "1"
    request = route.calls.last.request
    assert basic_credentials(request) == f"{FD_KEY}:X"
    ticket = json.loads(request.content)
    assert ticket["subject"] == "Agent edit held: Acme Corporation / special_discount"
    assert ticket["email"] == "service-leads@acme.com"
    assert (ticket["priority"], ticket["status"]) == (2, 2)
    assert ticket["tags"] == ["dealbridge", "target_edited"]
    assert "<code>dealbridge conflicts show 12</code>" in ticket["description"]
    assert "<td>15%</td>" in ticket["description"]


async def test_freshdesk_follow_up_is_a_private_note_on_the_ticket(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    route = respx_mock.post(f"{FRESHDESK}/api/v2/tickets/1/notes").respond(
        201, json=fixture("freshdesk_note_created.json")
    )

    delivery = await freshdesk.send(follow_up(ACME_EDIT, "closed"), reference="1")

    assert delivery.reference == "1"
    note = json.loads(route.calls.last.request.content)
    assert note["private"] is True
    assert note["body"].startswith("<h3>Resolved: Agent edit held")


async def test_freshdesk_note_on_a_deleted_ticket_opens_a_new_ticket(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    respx_mock.post(f"{FRESHDESK}/api/v2/tickets/9/notes").respond(404)
    respx_mock.post(f"{FRESHDESK}/api/v2/tickets").respond(
        201, json=fixture("freshdesk_ticket_created.json")
    )

    delivery = await freshdesk.send(follow_up(ACME_EDIT, "updated"), reference="9")

    assert delivery.reference == "1"


async def test_freshdesk_validation_error_names_field_and_code(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    invalid = {
        "description": "Validation failed",
        "errors": [
            {
                "field": "email",
                "message": "There is no contact matching the given email",
                "code": "invalid_value",
            }
        ],
    }
    respx_mock.post(f"{FRESHDESK}/api/v2/tickets").respond(400, json=invalid)

    with pytest.raises(DeliveryError) as caught:
        await freshdesk.send(ACME_EDIT)

    assert caught.value.permanent is True
    assert "Validation failed" in str(caught.value)
    assert "email: There is no contact matching the given email (invalid_value)" in str(
        caught.value
    )


async def test_freshdesk_bad_api_key_is_permanent_and_never_quoted(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    respx_mock.post(f"{FRESHDESK}/api/v2/tickets").respond(
        401,
        json={
            "code": "invalid_credentials",
            "message": "You have to be logged in to perform this action.",
        },
    )

    with capture_logs() as logs, pytest.raises(DeliveryError) as caught:
        await freshdesk.send(ACME_EDIT)

    assert caught.value.permanent is True
    assert "You have to be logged in" in str(caught.value)
    assert FD_KEY not in str(caught.value) + repr(logs)


async def test_freshdesk_throttle_429_is_transient_with_retry_after(
    respx_mock: respx.MockRouter, freshdesk: FreshdeskTicketChannel
) -> None:
    respx_mock.post(f"{FRESHDESK}/api/v2/tickets").respond(
        429, json={"message": "Rate limit exceeded"}, headers={"Retry-After": "60"}
    )

    with pytest.raises(DeliveryError) as caught:
        await freshdesk.send(ACME_EDIT)

    assert (caught.value.permanent, caught.value.retry_after) == (False, 60.0)


def test_freshdesk_needs_exactly_one_requester(env_secret: Callable[[str, str], str]) -> None:
    base = {
        "type": "freshdesk_ticket",
        "base_url": FRESHDESK,
        "api_key": env_secret("FD_KEY", FD_KEY),
    }

    with pytest.raises(ValidationError, match="exactly one of requester_email or requester_id"):
        FreshdeskTicketConfig.model_validate(base)
    with pytest.raises(ValidationError, match="exactly one"):
        FreshdeskTicketConfig.model_validate(
            base | {"requester_email": "a@acme.com", "requester_id": 7}
        )
