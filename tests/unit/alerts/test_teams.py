"""Microsoft Teams webhook channel (Workflows and legacy connectors), against a real receiver."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from connectors.errors import ConnectorError, PermanentError, TransientError
from sync_jobs.alerts.teams import TeamsChannel, TeamsConfig
from tests.unit.alerts.helpers import ACME_EDIT, Receiver, Reply, follow_up, retry_after

pytestmark = pytest.mark.anyio

WORKFLOW_PATH = "/workflows/5f1c/triggers/manual/paths/invoke"
WORKFLOW_QUERY = "api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=S3cr3tS1gnatureValue"
MakeTeams = Callable[[str], TeamsChannel]
LEGACY_FAILURE = (
    "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error "
    "{status} with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,cv=abc.0.."
)


@pytest.fixture
def teams(
    env_secret: Callable[[str, str], str], closing: Callable[[TeamsChannel], TeamsChannel]
) -> MakeTeams:
    """Build a Teams channel whose webhook URL comes from ``${TEAMS_HOOK}``."""

    def make(url: str) -> TeamsChannel:
        config = TeamsConfig.model_validate(
            {"type": "teams", "webhook_url": env_secret("TEAMS_HOOK", url)}
        )
        return closing(TeamsChannel("ops-teams", config))

    return make


def workflow_url(receiver: Receiver) -> str:
    return receiver.url(f"{WORKFLOW_PATH}?{WORKFLOW_QUERY}")


async def test_workflow_202_delivers_a_message_with_one_adaptive_card(
    receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(202, ""))

    delivery = await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert delivery.channel == "ops-teams"
    request = receiver.requests[0]
    assert request.path == WORKFLOW_PATH
    assert "sig=" in request.query
    body = request.json()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    title, summary, facts, todo_label, todo, footer = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "Agent edit held: Acme Corporation / special_discount",
        "wrap": True,
        "size": "Large",
        "weight": "Bolder",
        "color": "Warning",
    }
    assert summary["wrap"] is True
    assert summary["text"].startswith("An agent changed")
    assert facts["type"] == "FactSet"
    assert {"title": "value the deal wants", "value": "15%"} in facts["facts"]
    assert {"title": "Customer", "value": "Acme Corporation"} in facts["facts"]
    assert todo_label["text"] == "What to do"
    assert todo == {
        "type": "TextBlock",
        "text": "dealbridge conflicts show 12",
        "wrap": True,
        "fontType": "Monospace",
    }
    assert "conflict:12:v1:opened" in footer["text"]
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in dealbridge",
            "url": "https://dealbridge.example.com/conflicts/12",
        }
    ]


async def test_resolved_follow_up_has_resolved_headline_and_no_button_without_link(
    receiver: Receiver, teams: MakeTeams
) -> None:
    alert = follow_up(ACME_EDIT, "closed", link=None, facts=())

    await teams(workflow_url(receiver)).send(alert)

    card = receiver.requests[0].json()["attachments"][0]["content"]
    assert (
        card["body"][0]["text"] == "Resolved: Agent edit held: Acme Corporation / special_discount"
    )
    assert "actions" not in card
    assert "FactSet" in json.dumps(card)  # customer and deal are still shown


async def test_legacy_connector_200_with_body_1_is_delivered(
    receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(200, "1"))

    delivery = await teams(receiver.url("/webhookb2/abc@def/IncomingWebhook/123/456")).send(
        ACME_EDIT
    )

    assert delivery.channel == "ops-teams"


async def test_legacy_200_hiding_a_429_is_transient(receiver: Receiver, teams: MakeTeams) -> None:
    receiver.reply(Reply(200, LEGACY_FAILURE.format(status=429)))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)
    assert "HTTP 429" in str(caught.value)


@pytest.mark.parametrize("status", [400, 413])
async def test_legacy_200_hiding_a_client_error_is_permanent(
    status: int, receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(200, LEGACY_FAILURE.format(status=status)))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert f"HTTP {status}" in str(caught.value)


async def test_workflow_json_error_is_permanent_with_its_code_and_message(
    receiver: Receiver, teams: MakeTeams
) -> None:
    error = {
        "error": {
            "code": "TriggerInputSchemaMismatch",
            "message": "The input body for trigger 'manual' of type 'Request' did not match.",
        }
    }
    receiver.reply(Reply(400, json.dumps(error), media_type="application/json"))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "TriggerInputSchemaMismatch" in str(caught.value)
    assert "did not match" in str(caught.value)


async def test_throttle_429_with_retry_after_is_transient(
    receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(429, "", headers={"Retry-After": "12"}))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert (isinstance(caught.value, TransientError), retry_after(caught.value)) == (True, 12.0)


@pytest.mark.parametrize(("status", "permanent"), [(401, True), (404, True), (502, False)])
async def test_statuses_sort_into_park_or_retry(
    status: int, permanent: bool, receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(status, "WorkflowNotFound"))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError) is permanent


async def test_signature_in_webhook_url_never_reaches_errors(
    receiver: Receiver, teams: MakeTeams
) -> None:
    receiver.reply(Reply(403, f"bad request to {WORKFLOW_PATH}?{WORKFLOW_QUERY}"))

    with pytest.raises(ConnectorError) as caught:
        await teams(workflow_url(receiver)).send(replace(ACME_EDIT, link=None))

    assert "S3cr3tS1gnatureValue" not in str(caught.value)
