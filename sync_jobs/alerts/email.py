"""Email over SMTP: one multipart message per alert, with a Message-ID derived from its key.

The message has a plain-text part and an HTML alternative (every value HTML-escaped).
``Message-ID`` is ``<sha256(key)[:32]@dealbridge>``: the same on a retry (so a duplicate from
a crash between send and commit collapses in mail clients), different for every phase and
version (the outbox keys them apart). Follow-ups (``updated``/``closed``, or any alert sent
with a ``reference``) carry ``In-Reply-To``/``References`` and a "Re:" subject without the
phase prefix, so clients show one thread per conflict (RFC 5322 section 3.6.4). The parent is
``reference`` (the Message-ID of the thread's first mail, which the outbox passes back) or,
without one, ``<sha256(thread)[:32]@dealbridge>``: a shared anchor clients still group by.

Transport: stdlib ``smtplib`` in a worker thread (``asyncio.to_thread``); STARTTLS (RFC 3207)
is required by default and verified against the system CA store or ``ca_file``; implicit TLS
(SMTPS, port 465) is available; AUTH (RFC 4954) when a username is configured. Failures
follow the reply code (RFC 5321 section 4.2.1): 5yz is permanent, 4yz is transient; a refused or
dropped connection is transient; a server without STARTTLS or an untrusted certificate is a
permanent configuration problem, never a reason to fall back to plain text.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from pathlib import Path
from typing import Literal

import structlog
from pydantic import Field, field_validator, model_validator

from connectors.base import Frozen
from connectors.errors import ConnectorError, PermanentError, TransientError
from connectors.redact import redact
from connectors.settings import Secret
from sync_jobs.alerts import render
from sync_jobs.alerts.base import Alert, Delivery
from sync_jobs.alerts.ids import key_hash, thread_of

log = structlog.get_logger("dealbridge.alerts.email")

MESSAGE_ID_DOMAIN = "dealbridge"


class EmailConfig(Frozen):
    """``type: email``: SMTP relay, credentials (password as ``${ENV}``/``file:``), addresses."""

    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = Field(True, description="upgrade with STARTTLS (ignored with implicit_tls)")
    implicit_tls: bool = Field(False, description="SMTPS: TLS from the first byte (port 465)")
    username: str | None = None
    password: Secret | None = None
    ca_file: str | None = Field(None, description="PEM CAs to trust instead of the system store")
    sender: str = Field(description='From, e.g. "dealbridge <alerts@example.com>"')
    to: tuple[str, ...] = ()
    include_alert_recipients: bool = Field(True, description="also mail alert.recipients")
    subject_prefix: str = "[dealbridge]"
    helo_name: str | None = Field(None, description="EHLO name; defaults to this host's FQDN")
    timeout: float = Field(30.0, gt=0, le=300)

    @field_validator("sender")
    @classmethod
    def _sender_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError('write an address, e.g. "dealbridge <alerts@example.com>"')
        return value

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [address for address in value if "@" not in address or "\n" in address]
        if bad:
            raise ValueError(f"not email addresses: {', '.join(bad)}")
        return value

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: str | None) -> str | None:
        if value is not None and not Path(value).expanduser().is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _credentials_pair(self) -> EmailConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password for SMTP AUTH, or neither")
        return self


def message_id(key: str) -> str:
    """``<sha256(key)[:32]@dealbridge>``: stable for one key, unique across keys."""
    return f"<{key_hash(key)}@{MESSAGE_ID_DOMAIN}>"


def parent_id(alert: Alert, reference: str | None) -> str | None:
    """The message this one replies to, or ``None`` for the first message of a thread."""
    if reference and reference.startswith("<") and reference.endswith(">"):
        return reference
    if alert.phase == "opened":
        return None
    return message_id(thread_of(alert))


def build_message(
    alert: Alert,
    *,
    sender: str,
    recipients: list[str],
    subject_prefix: str,
    reference: str | None = None,
) -> EmailMessage:
    """The multipart/alternative message (text + HTML) with threading headers."""
    message = EmailMessage()
    title = render.one_line(render.base_title(alert), render.TITLE_LIMIT)
    subject = f"{subject_prefix} {title}".strip()
    parent = parent_id(alert, reference)
    message["Subject"] = subject if parent is None else f"Re: {subject}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(alert.key)
    if parent is not None and parent != message["Message-ID"]:
        message["In-Reply-To"] = parent
        message["References"] = parent
    message["X-Dealbridge-Kind"] = alert.kind
    message["X-Dealbridge-Severity"] = alert.severity
    message.set_content(render.plain_text(alert))
    message.add_alternative(render.html_body(alert), subtype="html")
    return message


class EmailChannel:
    """Mails alerts through one SMTP relay."""

    def __init__(self, name: str, config: EmailConfig) -> None:
        self.name = name
        self._config = config
        self._password = config.password.get_secret_value() if config.password else None
        self._tls = ssl.create_default_context(cafile=config.ca_file)

    async def send(self, alert: Alert, *, reference: str | None = None) -> Delivery:
        """Mail once; the returned reference is the Message-ID.

        ``reference`` is optional: the Message-ID an earlier send of the same thread returned
        (the outbox passes it), so this mail replies to that one.
        """
        recipients = self._recipients(alert)
        if not recipients:
            raise _failure(
                self.name, "no recipients; set 'to' in the channel config", permanent=True
            )
        message = build_message(
            alert,
            sender=self._config.sender,
            recipients=recipients,
            subject_prefix=self._config.subject_prefix,
            reference=reference,
        )
        try:
            refused = await asyncio.to_thread(self._deliver, message, recipients)
        except (smtplib.SMTPException, OSError) as exc:
            error = smtp_failure(self.name, exc)
            log.warning("channel_refused", channel=self.name, key=alert.key, error=str(error))
            raise error from exc
        if refused:
            log.warning("channel_recipients_refused", channel=self.name, refused=sorted(refused))
        log.info("channel_delivered", channel=self.name, key=alert.key, host=self._config.host)
        return Delivery(channel=self.name, reference=str(message["Message-ID"]))

    async def aclose(self) -> None:
        """Nothing to release: every send opens and closes its own SMTP session."""

    def _recipients(self, alert: Alert) -> list[str]:
        wanted = list(self._config.to)
        if self._config.include_alert_recipients:
            wanted += [r for r in alert.recipients if "@" in r and "\n" not in r]
        unique: dict[str, str] = {}
        for address in wanted:
            unique.setdefault(address.strip().lower(), address.strip())
        return list(unique.values())

    def _deliver(
        self, message: EmailMessage, recipients: list[str]
    ) -> dict[str, tuple[int, bytes]]:
        """Blocking SMTP session (runs in a worker thread): TLS, AUTH, one message, QUIT."""
        config = self._config
        with self._connect() as smtp:
            if config.starttls and not config.implicit_tls:
                smtp.starttls(context=self._tls)
            if config.username and self._password:
                smtp.login(config.username, self._password)
            envelope_from = parseaddr(config.sender)[1]
            return smtp.send_message(message, from_addr=envelope_from, to_addrs=recipients)

    def _connect(self) -> smtplib.SMTP:
        config = self._config
        if config.implicit_tls:
            return smtplib.SMTP_SSL(
                config.host,
                config.port,
                local_hostname=config.helo_name,
                timeout=config.timeout,
                context=self._tls,
            )
        return smtplib.SMTP(
            config.host, config.port, local_hostname=config.helo_name, timeout=config.timeout
        )


def smtp_failure(channel: str, exc: BaseException) -> ConnectorError:  # noqa: PLR0911 - a table
    """Sort an SMTP or network failure: 5yz and configuration problems park, the rest retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {address: code for address, (code, _) in exc.recipients.items()}
        permanent = all(code >= 500 for code in codes.values())
        listed = ", ".join(f"{address} ({code})" for address, code in sorted(codes.items()))
        return _failure(channel, f"every recipient was refused: {listed}", permanent=permanent)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return _failure(
            channel,
            f"the SMTP server does not offer {_missing_extension(exc)}; use a relay "
            "that does (or set starttls: false only for a relay on a trusted network)",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _failure(
            channel,
            f"SMTP AUTH refused ({exc.smtp_code} {_reply(exc)}); check username and password",
            permanent=exc.smtp_code >= 500,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        permanent = exc.smtp_code >= 500
        return _failure(
            channel, f"SMTP server replied {exc.smtp_code} {_reply(exc)}", permanent=permanent
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _failure(
            channel,
            f"the SMTP server's TLS certificate is not trusted ({exc.verify_message}); "
            "set ca_file to the CA that signed it",
            permanent=True,
        )
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return _failure(channel, "the SMTP server hung up; will retry", permanent=False)
    detail = redact(str(exc)) or type(exc).__name__
    return _failure(channel, f"cannot reach the SMTP server ({detail})", permanent=False)


def _failure(channel: str, message: str, *, permanent: bool) -> ConnectorError:
    """The connectors' taxonomy: a permanent failure waits for an admin, the rest retry."""
    if permanent:
        return PermanentError(message, who_acts="admin", connector=channel, operation="mail")
    return TransientError(message, connector=channel, operation="mail")


def _reply(exc: smtplib.SMTPResponseException) -> str:
    raw = exc.smtp_error
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return redact(" ".join(text.split()))


def _missing_extension(exc: smtplib.SMTPNotSupportedError) -> str:
    text = str(exc)
    return "STARTTLS" if "STARTTLS" in text.upper() else "AUTH" if "AUTH" in text.upper() else text
