"""Pipedrive webhooks ring the doorbell of a Pipedrive territory's job (``kind: pipedrive``).

Scheme (Pipedrive "Guide for Webhooks", pipedrive.readme.io/docs/guide-for-webhooks; the
``http_auth_user`` / ``http_auth_password`` fields of ``POST /v1/webhooks``, client-nodejs
``add-webhook-request.ts``; /work/shared/vendor-apis/sales-apis.md section 3): Pipedrive signs
nothing. A webhook is created with HTTP basic auth credentials and every delivery carries them
in ``Authorization: Basic``; that, over HTTPS, is the whole proof. There is no timestamp to
window and no signature to remember, so a captured request could be sent again: it would only
schedule one more incremental run, which the debounce folds into the next.
"""

from __future__ import annotations

from connectors.settings import WebhookSettings
from connectors.webhooks import Accepted, Notification, Setup, check_basic_auth, configured


class PipedriveWebhook:
    """Verifier for Pipedrive's basic-auth webhooks."""

    scheme = "Pipedrive webhooks, HTTP basic auth (Pipedrive signs nothing)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """The configured user and password must come in ``Authorization: Basic``."""
        check_basic_auth(notification, settings)
        return Accepted()

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The webhook to create in Pipedrive."""
        user = settings.username if settings and settings.username else "<webhook.username>"
        return Setup(
            url,
            [
                "Pipedrive > Settings > Tools and apps > Webhooks > Create (or POST "
                "/v1/webhooks): endpoint URL = the URL, event action *, event object deal",
                f"HTTP Auth username = {user}, password = the secret webhook.password references",
                "permission level: a user who sees every deal of the mapping",
                configured(settings, "username", "password"),
            ],
        )


WEBHOOK = PipedriveWebhook()
