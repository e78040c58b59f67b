"""Checking a vendor's change notification (a "doorbell"): the pieces every verifier shares.

A notification never carries data into the store: once its sender is proven it only schedules
an immediate incremental run of its job (``sync_jobs.app.hooks``). So a verifier answers one
question, "did the vendor send this, just now?", with :class:`Accepted` or :class:`Rejected`;
a desk's verifier may add which records the notification names (``Accepted.records``), so the
run reads those from the desk at once (their values still come only from the desk's answer).

Each connector's verifier lives in its own folder (``connectors/<role>/<kind>/webhook.py``) and
is named by :attr:`connectors.registry.ConnectorSpec.webhook`; what they share is here: HMAC
and constant-time comparison, the timestamp window, HTTP basic auth, and the replay cache that
the receiver keeps for the schemes that sign (a captured, validly signed request sent again
within the window is refused by its signature).

Reasons given to :class:`Rejected` are logged and returned to the caller: they name what is
wrong ("signature does not match", "timestamp outside the 5-minute window"), never a secret or
a value computed from one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.base import RecordRef
from connectors.settings import WebhookSettings

WINDOW_SECONDS = 300.0
"""How far a notification's timestamp may be from our clock (either way): HubSpot's documented
five minutes, used for every timestamped scheme."""


@dataclass(frozen=True)
class Notification:
    """One HTTP request at ``/hooks/<job>``, as the verifier needs it."""

    method: str
    url: str
    """The URL as the vendor called it: scheme://host/path?query (HubSpot signs it)."""
    headers: Mapping[str, str]
    """Header names in lower case."""
    query: Mapping[str, str]
    body: bytes
    received: float
    """Our clock when it arrived, epoch seconds."""

    def header(self, name: str) -> str | None:
        """A header's value (None: absent), whatever case the vendor wrote its name in."""
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Reply:
    """A response body the vendor expects instead of the receiver's plain 202."""

    status: int
    media_type: str
    body: str


@dataclass(frozen=True)
class Accepted:
    """The sender is proven."""

    replay_key: str | None = None
    """What the replay cache remembers (the signature); None for schemes that sign nothing
    (basic auth, a shared key): their protection is TLS and the secret itself."""
    reply: Reply | None = None
    records: tuple[RecordRef, ...] = ()
    """Desk records the notification says an agent changed (ids only, never values): the run
    re-reads those dealbridge wrote to, even before the desk's change feed shows the change."""


class Rejected(Exception):
    """The notification is refused; ``reason`` is safe to log and to answer with."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Setup:
    """What ``dealbridge hooks show`` prints for one connector: where and what to configure."""

    url: str
    """The URL to give the vendor (may carry a query the scheme needs)."""
    steps: list[str] = field(default_factory=list)


class Verifier(Protocol):
    """One vendor's notification scheme."""

    @property
    def scheme(self) -> str:
        """One line naming the scheme and its source, e.g. "HubSpot webhooks, v3 signature"."""
        ...

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """Accept or raise :class:`Rejected`."""
        ...

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """What to configure on the vendor's side for notifications to reach ``url``."""
        ...


def configured(settings: WebhookSettings | None, *names: str) -> str:
    """A line for ``hooks show`` saying which of the scheme's settings are set (never values)."""
    missing = [f"webhook.{n}" for n in names if settings is None or getattr(settings, n) is None]
    if missing:
        return "NOT READY, missing in config.yaml: " + ", ".join(missing)
    return "ready: " + ", ".join(f"webhook.{n}" for n in names) + " set"


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """The raw HMAC-SHA256 digest."""
    return hmac.new(key, message, hashlib.sha256).digest()


def b64(digest: bytes) -> str:
    """Standard base64 with padding, as HubSpot and Zendesk send it."""
    return base64.b64encode(digest).decode("ascii")


def same(expected: str, given: str | None) -> bool:
    """Constant-time equality of two texts; a missing value never matches."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def require_secret(settings: WebhookSettings | None, what: str = "secret") -> str:
    """The configured secret, or a refusal that says which setting is missing."""
    if settings is None or settings.secret is None:
        raise Rejected(f"webhook.{what} is not configured for this connector")
    return settings.secret.get_secret_value()


def check_window(stamped: float, now: float, window: float = WINDOW_SECONDS) -> None:
    """Refuse a timestamp more than ``window`` seconds from ``now``, either way."""
    if abs(now - stamped) > window:
        raise Rejected(f"timestamp outside the {window / 60:g}-minute window")


def epoch_millis(text: str | None) -> float:
    """A millisecond epoch header (HubSpot) in seconds; refused when absent or not a number."""
    try:
        return int((text or "").strip()) / 1000.0
    except ValueError:
        raise Rejected("timestamp header missing or not a number") from None


def epoch_seconds(text: str | None) -> float:
    """A second epoch header in seconds; refused when absent or not a number."""
    try:
        return float(int((text or "").strip()))
    except ValueError:
        raise Rejected("timestamp header missing or not a number") from None


def iso_instant(text: str | None) -> float:
    """An ISO 8601 instant with its zone (Zendesk: ``2021-07-25T10:00:00Z``) in epoch seconds."""
    try:
        parsed = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise Rejected("timestamp header missing or not an ISO 8601 instant") from None
    if parsed.tzinfo is None:
        raise Rejected("timestamp header has no time zone")
    return parsed.timestamp()


def basic_auth(notification: Notification) -> tuple[str, str] | None:
    """The user and password of an ``Authorization: Basic`` header (None: absent or garbled)."""
    value = notification.header("authorization") or ""
    kind, _, encoded = value.partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None


def check_basic_auth(notification: Notification, settings: WebhookSettings | None) -> None:
    """The request must carry the configured user and password (both compared in constant
    time, and both always compared, so timing says nothing about which one was wrong)."""
    if settings is None or settings.username is None or settings.password is None:
        raise Rejected("webhook.username and webhook.password are not configured")
    given = basic_auth(notification)
    if given is None:
        raise Rejected("HTTP basic auth missing")
    user_ok = same(settings.username, given[0])
    password_ok = same(settings.password.get_secret_value(), given[1])
    if not (user_ok and password_ok):
        raise Rejected("HTTP basic auth does not match")


class ReplayCache:
    """Signatures seen within the timestamp window, so a captured request is not accepted twice.

    Bounded: past ``capacity`` the oldest entries go first (a flood of distinct valid
    signatures would need the secret). Entries older than ``ttl`` are forgotten: the window
    refuses such requests anyway."""

    def __init__(self, ttl: float = 2 * WINDOW_SECONDS, capacity: int = 100_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def seen_before(self, key: str, now: float) -> bool:
        """Record ``key``; True when it was already there (a replay)."""
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at <= self.ttl and len(self._seen) < self.capacity:
                break
            del self._seen[oldest]
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


SIGNATURE_HEADER = "X-Dealbridge-Signature"
TIMESTAMP_HEADER = "X-Dealbridge-Timestamp"


def generic_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The generic scheme's header value: ``sha256=`` + hex HMAC-SHA256 of "timestamp.body"."""
    digest = hmac_sha256(secret.encode(), timestamp.encode() + b"." + body)
    return "sha256=" + digest.hex()


@dataclass(frozen=True)
class SignedWebhook:
    """dealbridge's own signed webhook, for senders that are scripts (a spreadsheet saved by a
    macro, a cron job): ``X-Dealbridge-Timestamp`` = Unix seconds, ``X-Dealbridge-Signature`` =
    ``sha256=`` + hex HMAC-SHA256(secret, timestamp + "." + body). The same construction as
    Stripe's and Slack's, so any language's standard library can sign it."""

    what: str = "a script that saves the territory's files"

    scheme = "dealbridge signed webhook (HMAC-SHA256 of timestamp.body, 5-minute window)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """Timestamp within the window, then the signature over it and the body."""
        secret = require_secret(settings)
        timestamp = notification.header(TIMESTAMP_HEADER)
        check_window(epoch_seconds(timestamp), notification.received)
        expected = generic_signature(secret, (timestamp or "").strip(), notification.body)
        given = notification.header(SIGNATURE_HEADER)
        if not same(expected, given):
            raise Rejected("signature does not match")
        return Accepted(replay_key=expected)

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """How to sign from a script."""
        return Setup(
            url,
            [
                f"after {self.what}: POST any body (e.g. the file name) to the URL with headers",
                f"{TIMESTAMP_HEADER}: <Unix seconds now>",
                f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256(secret, timestamp + '.' + body)>",
                "secret: webhook.secret of this connector (e.g. ${SHEETS_WEBHOOK_SECRET}); "
                "curl example in docs/webhooks.md",
                configured(settings, "secret"),
            ],
        )
