"""Zendesk webhooks ring the desk's doorbell when an agent edits an organization or a user.

Scheme (Zendesk developer docs, "Verifying webhook authenticity",
developer.zendesk.com/documentation/webhooks/verifying/; event types from
/work/shared/vendor-apis/service-apis.md section 1):

* ``X-Zendesk-Webhook-Signature-Timestamp``: an ISO 8601 instant (``2021-07-25T10:00:00Z``);
* ``X-Zendesk-Webhook-Signature``: base64 of HMAC-SHA256, keyed with the webhook's signing
  secret, of timestamp + body (the docs' own example vector is a test here).

Zendesk documents the signature as a defence against replays but gives no window; the 5-minute
window of the other schemes is used, with the replay cache.

Subscribe the webhook to ``zen:event-type:organization.custom_field_changed`` and
``zen:event-type:user.custom_field_changed`` (and ``user.notes_changed`` when the note lives in
user notes; Zendesk has no organization-notes event): the job then runs at once, refreshing the
desk's identity index and matching waiting deals again. Every event names its record
(``"subject": "zen:organization:6607619104125"``, or ``zen:user:<id>``; developer.zendesk.com
"Webhook event types", organization and user events): the run reads that record from Zendesk
at once and, when dealbridge wrote to it, plans it again, so an agent's edit of a synced field
is held as a conflict in that run. The incremental exports the index reads leave out the last
minute, so the id is what makes "at once" possible; only Zendesk's own read supplies values.
"""

from __future__ import annotations

import json
import re

from connectors.base import RecordRef
from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Accepted,
    Notification,
    Rejected,
    Setup,
    b64,
    check_window,
    configured,
    hmac_sha256,
    iso_instant,
    require_secret,
    same,
)

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
SUBJECT = re.compile(r"zen:(organization|user):(\d{1,20})")
"""An event's ``subject``: the record it is about (Zendesk ids are integers)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``X-Zendesk-Webhook-Signature`` for one request."""
    return b64(hmac_sha256(secret.encode(), timestamp.encode() + body))


class ZendeskWebhook:
    """Verifier for Zendesk's signed webhooks."""

    scheme = "Zendesk webhooks, X-Zendesk-Webhook-Signature (HMAC-SHA256 of timestamp+body)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """Timestamp within five minutes, then the signature over it and the body."""
        secret = require_secret(settings, "secret (the webhook's signing secret)")
        timestamp = (notification.header(TIMESTAMP_HEADER) or "").strip()
        check_window(iso_instant(timestamp), notification.received)
        expected = signature(secret, timestamp, notification.body)
        if not same(expected, notification.header(SIGNATURE_HEADER)):
            raise Rejected("signature does not match")
        return Accepted(replay_key=expected, records=named_records(notification.body))

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The webhook to create in Zendesk."""
        return Setup(
            url,
            [
                "Admin Center > Apps and integrations > Webhooks > Create webhook > Zendesk "
                "events: organization.custom_field_changed, user.custom_field_changed "
                "(+ user.notes_changed if the note is in user notes)",
                "endpoint URL = the URL, request method POST, format JSON, no authentication",
                "webhook.secret = the webhook's signing secret (Reveal secret on its page)",
                configured(settings, "secret"),
            ],
        )


def named_records(body: bytes) -> tuple[RecordRef, ...]:
    """The organization or user a (verified) event is about; none when the body names none
    (a webhook a trigger sends, a custom payload): the run then refreshes the index only."""
    try:
        event = json.loads(body)
    except ValueError:
        return ()
    subject = event.get("subject") if isinstance(event, dict) else None
    found = SUBJECT.fullmatch(subject) if isinstance(subject, str) else None
    return (RecordRef(kind=found[1], id=found[2]),) if found else ()


WEBHOOK = ZendeskWebhook()
