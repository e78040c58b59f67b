"""Channel config union, the channel factory, and the shared content rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from sync_jobs.alerts import render
from sync_jobs.alerts.base import Channel
from sync_jobs.alerts.channels import build_channel, parse_channel_config
from sync_jobs.alerts.email import EmailChannel
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.alerts.slack import SlackChannel
from sync_jobs.alerts.teams import TeamsChannel
from sync_jobs.alerts.ticket import TicketChannel
from sync_jobs.alerts.webhook import WebhookChannel
from tests.unit.alerts.helpers import ACME_EDIT, follow_up

pytestmark = pytest.mark.anyio


@pytest.fixture
def sections(env_secret: Callable[[str, str], str]) -> dict[str, dict[str, Any]]:
    """One valid config section per channel type, secrets given as ``${ENV}``."""
    return {
        "slack": {"webhook_url": env_secret("S", "https://hooks.slack.com/services/T/B/X")},
        "teams": {"webhook_url": env_secret("T", "https://prod.westus.logic.azure.com/wf?sig=Z")},
        "email": {"host": "smtp.example.com", "sender": "alerts@example.com", "to": ["a@b.co"]},
        "webhook": {"url": "https://hooks.example.com/db", "secret": env_secret("W", "whsec_c2Vj")},
        "ticket": {"connector": "desk", "group": "ops", "requester_email": "ops@acme.example"},
    }


EXPECTED = {
    "slack": SlackChannel,
    "teams": TeamsChannel,
    "email": EmailChannel,
    "webhook": WebhookChannel,
    "ticket": TicketChannel,
}


async def test_every_channel_type_parses_and_builds_the_matching_channel(
    sections: dict[str, dict[str, Any]],
) -> None:
    for kind, section in sections.items():
        config = parse_channel_config({"type": kind, **section})
        channel: Channel = build_channel(f"my-{kind}", config)
        try:
            assert isinstance(channel, EXPECTED[kind])
            assert channel.name == f"my-{kind}"
        finally:
            await channel.aclose()


def test_unknown_type_lists_the_known_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_channel_config({"type": "pagerduty"})

    message = str(caught.value)
    for kind in EXPECTED:
        assert kind in message


def test_unknown_field_is_refused(sections: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(ValidationError, match=r"extra_forbidden|Extra inputs"):
        parse_channel_config({"type": "slack", **sections["slack"], "channel": "#ops"})


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("slack", "webhook_url"),
        ("teams", "webhook_url"),
        ("webhook", "secret"),
    ],
)
def test_inline_secrets_are_refused(
    kind: str, field: str, sections: dict[str, dict[str, Any]]
) -> None:
    section = {**sections[kind], field: "https://pasted.example.com/secret-value"}

    with pytest.raises(ValidationError, match="inline secrets are refused"):
        parse_channel_config({"type": kind, **section})


def test_phase_prefix_is_added_once_even_when_the_title_has_it() -> None:
    updated = follow_up(ACME_EDIT, "updated")
    unprefixed = replace(updated, title=ACME_EDIT.title)

    assert render.headline(updated) == render.headline(unprefixed)
    assert (
        render.headline(updated) == "Update: Agent edit held: Acme Corporation / special_discount"
    )


def test_long_values_are_cut_with_an_ellipsis_and_the_action_stays_whole() -> None:
    alert = replace(ACME_EDIT, summary="word " * 2000, facts=(("note", "x" * 5000),))

    text = render.plain_text(alert)

    assert len(render.summary(alert)) == render.SUMMARY_LIMIT
    assert render.summary(alert).endswith("…")
    assert f"note: {'x' * (render.VALUE_LIMIT - 1)}…" in text
    assert "What to do: dealbridge conflicts show 12" in text


def test_only_http_links_are_rendered() -> None:
    for bad in ("javascript:alert(1)", "data:text/html,x", "ftp://files.example.com", "/relative"):
        assert render.safe_link(replace(ACME_EDIT, link=bad)) is None
    assert render.safe_link(ACME_EDIT) == "https://dealbridge.example.com/conflicts/12"


def test_a_desk_specific_ticket_type_of_an_older_config_says_what_replaced_it() -> None:
    with pytest.raises(ValidationError) as caught:
        AlertsConfig.model_validate(
            {"channels": {"desk": {"type": "zendesk_ticket", "subdomain": "acme"}}}
        )
    message = str(caught.value)
    assert "channel 'desk'" in message
    assert "`type: ticket` with `connector:" in message
