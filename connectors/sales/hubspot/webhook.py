"""HubSpot webhooks ring the doorbell of a HubSpot territory's job (``kind: hubspot``).

Scheme (HubSpot, "Validating requests", v3 signature; developers.hubspot.com/docs/apps/
developer-platform/build-apps/authentication/request-validation, and the changelog
"Introducing version 3 of webhook signatures"; checked against the test vector of
HubSpot/hubspot-api-python tests/spec/utils/test_signature.py):

* ``X-HubSpot-Request-Timestamp``: milliseconds since the epoch; older than 5 minutes is refused;
* ``X-HubSpot-Signature-v3``: base64 of HMAC-SHA256, keyed with the app's client secret, of
  method + URI + body + timestamp, where the URI is the full URL HubSpot called with its
  URL-encoded characters decoded, except the question mark (``%3F``).

Subscriptions worth ringing for: ``deal.propertyChange``, ``deal.creation``, ``deal.deletion``,
``deal.merge``, ``deal.restore`` (and ``company.propertyChange`` when a mapping reads company
properties). The body is never read for data: the run that follows reads HubSpot as usual.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Accepted,
    Notification,
    Rejected,
    Setup,
    b64,
    check_window,
    configured,
    epoch_millis,
    hmac_sha256,
    require_secret,
    same,
)

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
_QUESTION_MARK = re.compile("%3F", re.IGNORECASE)


def signed_uri(url: str) -> str:
    """The URI as HubSpot signs it: percent-escapes decoded, except an escaped question mark."""
    parts = _QUESTION_MARK.split(url)
    return "%3F".join(unquote(part) for part in parts)


def signature_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """``X-HubSpot-Signature-v3`` for one request."""
    message = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    return b64(hmac_sha256(secret.encode(), message))


class HubSpotWebhook:
    """Verifier for HubSpot's v3 request signature."""

    scheme = "HubSpot webhooks, X-HubSpot-Signature-v3 (HMAC-SHA256, 5-minute window)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """Timestamp within five minutes, then the v3 signature over the URL HubSpot called."""
        secret = require_secret(settings, "secret (the app's client secret)")
        timestamp = notification.header(TIMESTAMP_HEADER)
        check_window(epoch_millis(timestamp), notification.received)
        expected = signature_v3(
            secret,
            notification.method,
            notification.url,
            notification.body,
            (timestamp or "").strip(),
        )
        if not same(expected, notification.header(SIGNATURE_HEADER)):
            raise Rejected("signature does not match")
        return Accepted(replay_key=expected)

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The app's webhook settings."""
        return Setup(
            url,
            [
                "in the HubSpot app (public app or project app) > Webhooks: target URL = the URL",
                "subscribe to deal.creation, deal.propertyChange (the mapped properties), "
                "deal.deletion, deal.merge, deal.restore",
                "webhook.secret = the app's client secret (e.g. ${HUBSPOT_APP_SECRET})",
                "behind a proxy: set DEALBRIDGE_PUBLIC_URL to the URL's scheme and host, since "
                "HubSpot signs the URL it called",
                configured(settings, "secret"),
            ],
        )


WEBHOOK = HubSpotWebhook()
