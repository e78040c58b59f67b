"""Generic signed webhook channel and the receiver-side signature check."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from connectors.errors import ConnectorError, PermanentError, TransientError
from sync_jobs.alerts.webhook import WebhookChannel, WebhookConfig, sign, verify_signature
from tests.unit.alerts.helpers import ACME_EDIT, Receiver, Reply, follow_up, retry_after

pytestmark = pytest.mark.anyio

SENT_AT = 1_780_000_000.0
RAW_KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(RAW_KEY).decode()
MakeWebhook = Callable[[str], WebhookChannel]


@pytest.fixture
def webhook(
    env_secret: Callable[[str, str], str], closing: Callable[[WebhookChannel], WebhookChannel]
) -> MakeWebhook:
    """Build a webhook channel signing with ``SECRET`` at the fixed time ``SENT_AT``."""

    def make(url: str) -> WebhookChannel:
        config = WebhookConfig.model_validate(
            {"type": "webhook", "url": url, "secret": env_secret("HOOK_SECRET", SECRET)}
        )
        return closing(WebhookChannel("receiver", config, clock=lambda: SENT_AT))

    return make


async def test_posts_the_documented_json_with_standard_webhooks_headers(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    delivery = await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)

    request = receiver.requests[0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == "conflict:12:v1:opened"
    assert request.headers["webhook-timestamp"] == "1780000000"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert delivery.reference == "conflict:12:v1:opened"
    assert request.json() == {
        "id": "conflict:12:v1:opened",
        "thread": "conflict:12",
        "kind": "target_edited",
        "phase": "opened",
        "severity": "warning",
        "title": "Agent edit held: Acme Corporation / special_discount",
        "summary": ACME_EDIT.summary,
        "action": "dealbridge conflicts show 12",
        "customer": "Acme Corporation",
        "deal": "Acme renewal 2026",
        "territory": "west",
        "job": "west-to-zendesk",
        "facts": {
            "last written by dealbridge": "10%",
            "value on the record": "12%",
            "value the deal wants": "15%",
        },
        "link": "https://dealbridge.example.com/conflicts/12",
        "sent_at": "2026-05-28T20:26:40Z",
    }


async def test_receiver_verifies_the_signature_of_the_exact_body(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)
    request = receiver.requests[0]

    assert verify_signature(SECRET, request.headers, request.body, now=SENT_AT + 5)
    assert verify_signature(RAW_KEY, request.headers, request.body, now=SENT_AT + 5)


async def test_tampered_body_fails_verification(receiver: Receiver, webhook: MakeWebhook) -> None:
    await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)
    request = receiver.requests[0]
    tampered = request.body.replace(b"15%", b"50%")

    assert not verify_signature(SECRET, request.headers, tampered, now=SENT_AT)


@pytest.mark.parametrize("drift", [301, -301, 86_400])
async def test_stale_or_future_timestamp_fails_verification(
    drift: int, receiver: Receiver, webhook: MakeWebhook
) -> None:
    await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)
    request = receiver.requests[0]

    assert not verify_signature(SECRET, request.headers, request.body, now=SENT_AT + drift)
    assert verify_signature(
        SECRET, request.headers, request.body, now=SENT_AT + drift, tolerance=90_000
    )


async def test_wrong_secret_fails_verification(receiver: Receiver, webhook: MakeWebhook) -> None:
    await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)
    request = receiver.requests[0]

    assert not verify_signature(
        "whsec_" + base64.b64encode(b"x" * 32).decode(), request.headers, request.body, now=SENT_AT
    )


def test_missing_or_malformed_headers_fail_verification() -> None:
    body = b'{"id":"k"}'
    good = {
        "webhook-id": "k",
        "webhook-timestamp": "100",
        "webhook-signature": sign(SECRET, "k", 100, body),
    }

    assert verify_signature(SECRET, good, body, now=100)
    for missing in good:
        assert not verify_signature(
            SECRET, {k: v for k, v in good.items() if k != missing}, body, now=100
        )
    assert not verify_signature(SECRET, {**good, "webhook-timestamp": "soon"}, body, now=100)
    assert not verify_signature(SECRET, {**good, "webhook-signature": "v2,abc"}, body, now=100)


def test_any_one_of_several_signatures_may_match_during_secret_rotation() -> None:
    body = b"{}"
    old = sign("old-secret-value", "k", 100, body)
    new = sign(SECRET, "k", 100, body)
    headers = {"Webhook-Id": "k", "Webhook-Timestamp": "100", "Webhook-Signature": f"{old} {new}"}

    assert verify_signature(SECRET, headers, body, now=100)
    assert verify_signature("old-secret-value", headers, body, now=100)
    assert not verify_signature("another-secret", headers, body, now=100)


def test_signature_matches_the_standard_webhooks_construction() -> None:
    # HMAC-SHA256 over "<id>.<timestamp>.<body>" with the base64-decoded whsec_ key.
    import hashlib
    import hmac

    expected = hmac.new(RAW_KEY, b"msg_1.1674087231.{}", hashlib.sha256).digest()

    assert sign(SECRET, "msg_1", 1674087231, b"{}") == "v1," + base64.b64encode(expected).decode()


async def test_retry_repeats_the_webhook_id_and_follow_up_gets_its_own(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    channel = webhook(receiver.url("/dealbridge"))

    await channel.send(ACME_EDIT)
    await channel.send(ACME_EDIT)
    await channel.send(follow_up(ACME_EDIT, "closed"))

    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids == ["conflict:12:v1:opened", "conflict:12:v1:opened", "conflict:12:v1:closed"]
    assert {r.json()["thread"] for r in receiver.requests} == {"conflict:12"}


async def test_410_gone_is_permanent_and_says_the_endpoint_was_retired(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    receiver.reply(Reply(410, ""))

    with pytest.raises(ConnectorError) as caught:
        await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "retired this endpoint" in str(caught.value)


async def test_503_with_retry_after_is_transient(receiver: Receiver, webhook: MakeWebhook) -> None:
    receiver.reply(Reply(503, "maintenance", headers={"Retry-After": "120"}))

    with pytest.raises(ConnectorError) as caught:
        await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)

    assert (isinstance(caught.value, TransientError), retry_after(caught.value)) == (True, 120.0)


async def test_400_is_permanent_and_quotes_the_receiver(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    receiver.reply(Reply(400, "unknown kind target_edited"))

    with pytest.raises(ConnectorError) as caught:
        await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "unknown kind target_edited" in str(caught.value)


async def test_redirect_is_permanent_because_the_url_moved(
    receiver: Receiver, webhook: MakeWebhook
) -> None:
    receiver.reply(Reply(301, "", headers={"Location": "https://elsewhere.example.com/"}))

    with pytest.raises(ConnectorError) as caught:
        await webhook(receiver.url("/dealbridge")).send(ACME_EDIT)

    assert isinstance(caught.value, PermanentError)
    assert "final URL" in str(caught.value)
