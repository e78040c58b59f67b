"""Slack incoming webhook channel, against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.errors import ConnectorError, PermanentError, TransientError
from sandbox.ports import free_port
from sync_jobs.alerts.base import Alert, Phase
from sync_jobs.alerts.slack import SlackChannel, SlackConfig
from tests.unit.alerts.helpers import ACME_EDIT, Receiver, Reply, follow_up, retry_after

pytestmark = pytest.mark.anyio

HOOK_PATH = "/services/T0001/B0002/XXXXXXXXXXXXXXXXXXXXXXXX"


MakeSlack = Callable[..., SlackChannel]


@pytest.fixture
def slack(
    env_secret: Callable[[str, str], str], closing: Callable[[SlackChannel], SlackChannel]
) -> MakeSlack:
    """Build a Slack channel whose webhook URL comes from ``${SLACK_HOOK}``."""

    def make(url: str, timeout: float = 5.0) -> SlackChannel:
        config = SlackConfig.model_validate(
            {"type": "slack", "webhook_url": env_secret("SLACK_HOOK", url), "timeout": timeout}
        )
        return closing(SlackChannel("ops-slack", config))

    return make


async def send_and_get_body(
    channel: SlackChannel, receiver: Receiver, alert: Alert = ACME_EDIT
) -> Any:
    delivery = await channel.send(alert)
    assert delivery.channel == "ops-slack"
    assert len(receiver.requests) == 1
    return receiver.requests[0].json()


async def test_alert_posts_block_kit_with_header_summary_facts_action_and_key(
    receiver: Receiver, slack: MakeSlack
) -> None:
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver)

    request = receiver.requests[0]
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.headers["content-type"] == "application/json"
    header, summary, todo, context = body["blocks"]
    assert header["type"] == "header"
    assert header["text"] == {
        "type": "plain_text",
        "text": ":warning: Agent edit held: Acme Corporation / special_discount",
        "emoji": True,
    }
    assert summary["text"]["type"] == "mrkdwn"
    assert summary["text"]["text"].startswith("An agent changed the special discount")
    fields = [f["text"] for f in summary["fields"]]
    assert "*Customer*\nAcme Corporation" in fields
    assert "*value on the record*\n12%" in fields
    assert "*value the deal wants*\n15%" in fields
    assert todo["text"]["text"] == (
        "*What to do:* `dealbridge conflicts show 12`\n"
        "<https://dealbridge.example.com/conflicts/12|Open in dealbridge>"
    )
    assert context["type"] == "context"
    assert "conflict:12:v1:opened" in context["elements"][0]["text"]
    assert body["text"].startswith("Agent edit held: Acme Corporation / special_discount: An agent")


async def test_mrkdwn_control_characters_in_values_are_escaped(
    receiver: Receiver, slack: MakeSlack
) -> None:
    alert = replace(
        ACME_EDIT,
        customer="Smith & Sons <Ltd>",
        summary="Discount <b>15%</b> & free setup",
        action="dealbridge conflicts resolve 12 --note <x>",
    )
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver, alert)

    text = str(body)
    assert "*Customer*\\nSmith &amp; Sons &lt;Ltd&gt;" in text
    assert "Discount &lt;b&gt;15%&lt;/b&gt; &amp; free setup" in text
    assert "`dealbridge conflicts resolve 12 --note &lt;x&gt;`" in text
    assert "<Ltd>" not in text
    assert "<b>" not in text


@pytest.mark.parametrize(("phase", "prefix"), [("updated", "Update: "), ("closed", "Resolved: ")])
async def test_follow_ups_post_a_new_message_prefixed_once(
    phase: Phase, prefix: str, receiver: Receiver, slack: MakeSlack
) -> None:
    alert = follow_up(ACME_EDIT, phase)
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver, alert)

    header = body["blocks"][0]["text"]["text"]
    assert header == f":warning: {prefix}Agent edit held: Acme Corporation / special_discount"
    assert body["text"].startswith(prefix + "Agent edit held")


async def test_more_than_ten_facts_spill_into_another_section(
    receiver: Receiver, slack: MakeSlack
) -> None:
    alert = replace(ACME_EDIT, facts=tuple((f"territory {i}", f"{i}%") for i in range(12)))
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver, alert)

    sections = [b for b in body["blocks"] if b["type"] == "section" and "fields" in b]
    assert [len(s["fields"]) for s in sections] == [10, 6]  # 4 context facts + 12 own


async def test_long_title_and_values_are_cut_to_slack_limits(
    receiver: Receiver, slack: MakeSlack
) -> None:
    alert = replace(ACME_EDIT, title="Agent edit held: " + "A" * 400, customer="C" * 5000)
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver, alert)

    assert len(body["blocks"][0]["text"]["text"]) <= 150
    assert body["blocks"][0]["text"]["text"].endswith("…")
    assert all(len(f["text"]) <= 2000 for f in body["blocks"][1]["fields"])


async def test_non_http_link_is_left_out(receiver: Receiver, slack: MakeSlack) -> None:
    alert = replace(ACME_EDIT, link="javascript:alert(1)")
    body = await send_and_get_body(slack(receiver.url(HOOK_PATH)), receiver, alert)

    assert "javascript" not in str(body)


async def test_throttle_429_with_retry_after_is_transient_with_retry_after(
    receiver: Receiver, slack: MakeSlack
) -> None:
    receiver.reply(Reply(429, "rate_limited", headers={"Retry-After": "30"}))
    channel = slack(receiver.url(HOOK_PATH))

    with pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)
    assert retry_after(caught.value) == 30.0


@pytest.mark.parametrize(
    ("status", "code", "hint"),
    [
        (400, "invalid_payload", "dealbridge bug"),
        (403, "invalid_token", "revoked"),
        (403, "action_prohibited", "admin"),
        (404, "no_service", "removed or disabled"),
        (404, "channel_not_found", "no longer exists"),
        (410, "channel_is_archived", "archived"),
    ],
)
async def test_refusals_are_permanent_with_slack_code_and_what_to_do(
    status: int,
    code: str,
    hint: str,
    receiver: Receiver,
    slack: MakeSlack,
) -> None:
    receiver.reply(Reply(status, code))
    channel = slack(receiver.url(HOOK_PATH))

    with pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert retry_after(caught.value) is None
    assert f"HTTP {status}" in str(caught.value)
    assert code in str(caught.value)
    assert hint in str(caught.value)


async def test_slack_500_rollup_error_is_transient(receiver: Receiver, slack: MakeSlack) -> None:
    receiver.reply(Reply(500, "rollup_error"))
    with pytest.raises(ConnectorError) as caught:
        await slack(receiver.url(HOOK_PATH)).send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)


async def test_connection_refused_is_transient(slack: MakeSlack) -> None:
    channel = slack(f"http://127.0.0.1:{free_port()}{HOOK_PATH}")

    with pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)
    assert "could not reach" in str(caught.value)


async def test_no_answer_within_timeout_is_transient(receiver: Receiver, slack: MakeSlack) -> None:
    receiver.reply(Reply(200, "ok", delay=0.5))
    channel = slack(receiver.url(HOOK_PATH), timeout=0.1)

    with pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)
    assert "no answer in time" in str(caught.value)


async def test_webhook_url_never_appears_in_logs_or_errors(
    receiver: Receiver, slack: MakeSlack
) -> None:
    receiver.reply(Reply(200, "ok"), Reply(403, "invalid_token"))
    channel = slack(receiver.url(HOOK_PATH))

    with capture_logs() as logs:
        await channel.send(ACME_EDIT)
        with pytest.raises(ConnectorError) as caught:
            await channel.send(ACME_EDIT)

    assert [e["event"] for e in logs] == ["channel_delivered", "channel_refused"]
    assert "XXXXXXXXXXXXXXXXXXXXXXXX" not in repr(logs)
    assert "XXXXXXXXXXXXXXXXXXXXXXXX" not in str(caught.value)


def test_inline_webhook_url_is_refused_in_config() -> None:
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        SlackConfig.model_validate(
            {"type": "slack", "webhook_url": "https://hooks.slack.com/services/T/B/X"}
        )
