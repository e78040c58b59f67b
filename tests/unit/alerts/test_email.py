"""Email channel against a real in-process SMTP server (aiosmtpd), with STARTTLS and AUTH."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.errors import ConnectorError, PermanentError, TransientError
from sandbox.ports import free_port
from sync_jobs.alerts.email import EmailChannel, EmailConfig
from tests.unit.alerts.helpers import ACME_EDIT, follow_up
from tests.unit.alerts.smtp_server import (
    PASSWORD,
    USER,
    Mailbox,
    self_signed_cert,
    server_tls,
    smtp_server,
)

pytestmark = pytest.mark.anyio

ROOT_ID = f"<{hashlib.sha256(ACME_EDIT.key.encode()).hexdigest()[:32]}@dealbridge>"
MakeEmail = Callable[..., EmailChannel]


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def plain_relay(mailbox: Mailbox) -> Iterator[int]:
    """A relay without TLS that offers (but does not require) AUTH."""
    with smtp_server(mailbox, auth_require_tls=False) as port:
        yield port


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    return self_signed_cert(tmp_path)


@pytest.fixture
def email(env_secret: Callable[[str, str], str]) -> MakeEmail:
    """Build an email channel; keyword arguments override the config."""

    def make(port: int, **overrides: Any) -> EmailChannel:
        raw: dict[str, Any] = {
            "type": "email",
            "host": "127.0.0.1",
            "port": port,
            "starttls": False,
            "sender": "dealbridge <alerts@example.com>",
            "to": ["service-leads@example.com"],
            "helo_name": "dealbridge.test",
            "timeout": 5,
        }
        if overrides.pop("login", False):
            raw |= {"username": USER, "password": env_secret("SMTP_PASSWORD", PASSWORD)}
        return EmailChannel("ops-mail", EmailConfig.model_validate(raw | overrides))

    return make


async def test_message_has_subject_text_and_html_parts_and_key_derived_message_id(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    delivery = await email(plain_relay).send(ACME_EDIT)

    (got,) = mailbox.received
    message = got.message
    assert message["Subject"] == "[dealbridge] Agent edit held: Acme Corporation / special_discount"
    assert message["From"] == "dealbridge <alerts@example.com>"
    assert message["Message-ID"] == ROOT_ID == delivery.reference
    assert message["In-Reply-To"] is None
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain = text.get_content()
    assert "An agent changed the special discount" in plain
    assert "value the deal wants: 15%" in plain
    assert "Customer: Acme Corporation" in plain
    assert "What to do: dealbridge conflicts show 12" in plain
    assert "https://dealbridge.example.com/conflicts/12" in plain
    markup = html.get_content()
    assert "<code>dealbridge conflicts show 12</code>" in markup
    assert "<a href='https://dealbridge.example.com/conflicts/12'>" in markup


async def test_message_id_is_stable_across_retries(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    channel = email(plain_relay)

    first = await channel.send(ACME_EDIT)
    again = await channel.send(ACME_EDIT)

    assert first.reference == again.reference == ROOT_ID
    assert [r.message["Message-ID"] for r in mailbox.received] == [ROOT_ID, ROOT_ID]


async def test_update_replies_to_the_first_message_so_clients_thread_it(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    channel = email(plain_relay)
    first = await channel.send(ACME_EDIT)

    update = await channel.send(follow_up(ACME_EDIT, "updated"), reference=first.reference)

    message = mailbox.received[1].message
    assert message["In-Reply-To"] == ROOT_ID
    assert message["References"] == ROOT_ID
    assert message["Message-ID"] == update.reference != ROOT_ID
    assert (
        message["Subject"]
        == "Re: [dealbridge] Agent edit held: Acme Corporation / special_discount"
    )
    plain = message.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().startswith("Update: Agent edit held")


async def test_closure_without_reference_threads_under_the_conflict_anchor(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    await email(plain_relay).send(follow_up(ACME_EDIT, "closed"))

    message = mailbox.received[0].message
    anchor = f"<{hashlib.sha256(b'conflict:12').hexdigest()[:32]}@dealbridge>"
    assert message["In-Reply-To"] == anchor
    assert message["Subject"].startswith("Re: [dealbridge] Agent edit held")


async def test_recipients_are_config_plus_alert_recipients_without_duplicates(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    alert = replace(ACME_EDIT, recipients=("owner@example.com", "Service-Leads@example.com"))

    await email(plain_relay).send(alert)

    (got,) = mailbox.received
    assert got.mail_from == "alerts@example.com"
    assert got.rcpt_tos == ["service-leads@example.com", "owner@example.com"]
    assert got.message["To"] == "service-leads@example.com, owner@example.com"


async def test_values_are_html_escaped_in_the_html_part(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    alert = replace(ACME_EDIT, customer="<script>alert(1)</script> & Co", link="javascript:x()")

    await email(plain_relay).send(alert)

    html = mailbox.received[0].message.get_body(("html",))
    assert html is not None
    markup = html.get_content()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in markup
    assert "<script>" not in markup
    assert "javascript:" not in markup


async def test_auth_with_username_and_password(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    await email(plain_relay, login=True).send(ACME_EDIT)

    assert mailbox.logins == [(USER, PASSWORD)]
    assert mailbox.received[0].login == USER


async def test_wrong_password_is_permanent_and_never_quoted(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = email(plain_relay, login=True)
    monkeypatch.setattr(channel, "_password", "not-the-password")

    with capture_logs() as logs, pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "535" in str(caught.value)
    assert "check username and password" in str(caught.value)
    assert "not-the-password" not in str(caught.value) + repr(logs)
    assert mailbox.received == []


async def test_starttls_then_auth_with_a_self_signed_relay_certificate(
    mailbox: Mailbox, tls_files: tuple[Path, Path], email: MakeEmail
) -> None:
    tls = server_tls(*tls_files)
    with smtp_server(mailbox, tls_context=tls, require_starttls=True, auth_required=True) as port:
        channel = email(port, starttls=True, login=True, ca_file=str(tls_files[0]))
        await channel.send(ACME_EDIT)

    (got,) = mailbox.received
    assert got.tls is True
    assert got.login == USER


async def test_untrusted_relay_certificate_is_permanent(
    mailbox: Mailbox, tls_files: tuple[Path, Path], email: MakeEmail
) -> None:
    tls = server_tls(*tls_files)
    with smtp_server(mailbox, tls_context=tls, require_starttls=True) as port:
        channel = email(port, starttls=True)
        with pytest.raises(ConnectorError) as caught:
            await channel.send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "not trusted" in str(caught.value)
    assert "ca_file" in str(caught.value)
    assert mailbox.received == []


async def test_relay_without_starttls_is_permanent_and_never_falls_back_to_plain(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    with pytest.raises(ConnectorError) as caught:
        await email(plain_relay, starttls=True, login=True).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "does not offer STARTTLS" in str(caught.value)
    assert mailbox.logins == []
    assert mailbox.received == []


async def test_recipient_refused_with_5xx_is_permanent(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    mailbox.refuse["service-leads@example.com"] = "550 5.1.1 No such user"

    with pytest.raises(ConnectorError) as caught:
        await email(plain_relay).send(replace(ACME_EDIT, recipients=()))

    assert isinstance(caught.value, PermanentError)
    assert "service-leads@example.com (550)" in str(caught.value)


async def test_recipient_refused_with_4xx_is_transient(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    mailbox.refuse["service-leads@example.com"] = "450 4.2.1 Mailbox busy, try later"

    with pytest.raises(ConnectorError) as caught:
        await email(plain_relay).send(replace(ACME_EDIT, recipients=()))

    assert isinstance(caught.value, TransientError)


async def test_one_refused_recipient_does_not_fail_the_others(
    mailbox: Mailbox, plain_relay: int, email: MakeEmail
) -> None:
    mailbox.refuse["owner@example.com"] = "550 5.1.1 No such user"

    with capture_logs() as logs:
        await email(plain_relay).send(ACME_EDIT)

    assert mailbox.received[0].rcpt_tos == ["service-leads@example.com"]
    assert any(e["event"] == "channel_recipients_refused" for e in logs)


async def test_connection_refused_is_transient(email: MakeEmail) -> None:
    with pytest.raises(ConnectorError) as caught:
        await email(free_port()).send(ACME_EDIT)

    assert isinstance(caught.value, TransientError)
    assert "cannot reach the SMTP server" in str(caught.value)


async def test_no_recipients_at_all_is_permanent(email: MakeEmail) -> None:
    channel = email(free_port(), to=[], include_alert_recipients=False)

    with pytest.raises(ConnectorError) as caught:
        await channel.send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "no recipients" in str(caught.value)


def test_config_needs_username_and_password_together(
    env_secret: Callable[[str, str], str],
) -> None:
    base = {"type": "email", "host": "smtp.example.com", "sender": "alerts@example.com"}

    with pytest.raises(ValidationError, match="both username and password"):
        EmailConfig.model_validate(base | {"username": "dealbridge"})
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        EmailConfig.model_validate(base | {"username": "u", "password": "hunter2"})
    config = EmailConfig.model_validate(
        base | {"username": "u", "password": env_secret("SMTP_PW", "hunter2-long")}
    )
    assert (config.port, config.starttls) == (587, True)
