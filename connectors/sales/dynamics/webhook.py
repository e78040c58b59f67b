"""Dynamics 365 (Dataverse) webhooks ring the doorbell of a Dynamics territory's job.

Scheme (Microsoft Learn, "Register a WebHook" and "Use webhooks to create external handlers for
server events", powerapps-docs ``developer/data-platform/register-web-hook.md`` and
``use-webhooks.md``; /work/shared/vendor-apis/sales-apis.md section 4): a webhook service
endpoint is registered (Plug-in Registration tool) with one of three authentication options,
all a shared key the endpoint checks, none a signature:

* ``WebhookKey``: ``?code=<key>`` on the URL (the default here);
* ``HttpHeader``: key/value pairs sent as headers (set ``webhook.header`` to the header's name);
* ``HttpQueryString``: key/value pairs in the query string (``?code=`` covers it with the key
  named ``code``).

Steps are registered on Create/Update/Delete of ``opportunity`` (asynchronous, so a slow
receiver never slows the seller's save). Only ports 80 and 443 are accepted by Dataverse, so the
daemon sits behind a reverse proxy. No timestamp or signature: like Pipedrive, a replay only
schedules one more run.
"""

from __future__ import annotations

from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Accepted,
    Notification,
    Rejected,
    Setup,
    configured,
    require_secret,
    same,
)

QUERY_KEY = "code"


class DynamicsWebhook:
    """Verifier for a Dataverse service endpoint's WebhookKey / HttpHeader key."""

    scheme = "Dataverse webhook service endpoint, shared key (?code= or a header)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """The key must come where it was configured: the named header, else ``?code=``."""
        key = require_secret(settings)
        assert settings is not None  # require_secret refused otherwise
        if settings.header:
            given = notification.header(settings.header)
            where = f"header {settings.header}"
        else:
            given = notification.query.get(QUERY_KEY)
            where = f"query parameter {QUERY_KEY}"
        if given is None:
            raise Rejected(f"{where} missing")
        if not same(key, given):
            raise Rejected(f"{where} does not match")
        return Accepted()

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The service endpoint and steps to register."""
        if settings is not None and settings.header:
            auth = (
                f"Authentication = HttpHeader, key {settings.header}, value = the secret "
                "webhook.secret references"
            )
        else:
            auth = "Authentication = WebhookKey, value = the secret webhook.secret references"
        return Setup(
            url,
            [
                "Plug-in Registration tool > Register New Web Hook: Endpoint URL = the URL "
                "(port 443: put the daemon behind a reverse proxy)",
                auth,
                "register steps on it: Create, Update, Delete of opportunity, asynchronous",
                configured(settings, "secret"),
            ],
        )


WEBHOOK = DynamicsWebhook()
