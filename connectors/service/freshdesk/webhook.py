"""Freshdesk automation webhooks ring the desk's doorbell.

Scheme (Freshdesk support article 132589, "Using webhooks in automation rules"; AsyncAPI
description of the same, api-evangelist/freshdesk): the "Trigger webhook" action of an
automation rule POSTs to a URL, optionally with "Requires authentication" (username and
password, or an API key sent as the basic-auth user) and custom headers. Nothing is signed and
nothing is timestamped, so the proof is a shared secret: either a custom header (set
``webhook.header`` and ``webhook.secret``) or basic auth (``webhook.username`` and
``webhook.password``). Like Pipedrive, a replay only schedules one more run.

Limit (service-apis.md section 2, "automation webhooks on tickets only [unverified]"): the
rules fire on ticket events, not on contact or company edits, so this doorbell rings when a
ticket is created or updated (typically the moment a customer calls); edits of synced contact
and company fields are still found by the poll.
"""

from __future__ import annotations

from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Accepted,
    Notification,
    Rejected,
    Setup,
    check_basic_auth,
    configured,
    same,
)


class FreshdeskWebhook:
    """Verifier for Freshdesk's custom-header or basic-auth webhooks."""

    scheme = "Freshdesk automation webhooks, custom header secret or HTTP basic auth"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """A configured header carries the secret; otherwise basic auth must match."""
        if settings is not None and settings.header:
            if settings.secret is None:
                raise Rejected("webhook.secret is not configured for this connector")
            given = notification.header(settings.header)
            if not same(settings.secret.get_secret_value(), given):
                raise Rejected(f"header {settings.header} missing or does not match")
            return Accepted()
        check_basic_auth(notification, settings)
        return Accepted()

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The automation rule to create in Freshdesk."""
        if settings is not None and settings.header:
            ready = configured(settings, "header", "secret")
            auth = (
                f"custom header {settings.header}: the secret webhook.secret references; "
                "no authentication"
            )
        else:
            ready = configured(settings, "username", "password")
            auth = (
                "Requires authentication: username = webhook.username, password = the "
                "secret webhook.password references"
            )
        return Setup(
            url,
            [
                "Admin > Workflows > Automations > Ticket updates (and Ticket creation): "
                "action Trigger webhook, POST, the URL, content JSON",
                auth,
                "Freshdesk rules fire on tickets only: contact/company edits still wait for "
                "the poll",
                ready,
            ],
        )


WEBHOOK = FreshdeskWebhook()
