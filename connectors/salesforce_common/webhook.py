"""Salesforce Outbound Messages as doorbells, for the sales source and the Service Cloud desk.

Why Outbound Messages: Change Data Capture and Platform Events reach subscribers over the
Pub/Sub API (gRPC) or CometD, long-lived clients rather than an HTTP callback; an Outbound
Message is a plain HTTPS POST that a record-triggered Flow or workflow rule sends when the
records change, and Salesforce retries it until it is acknowledged (issue 19 and
/work/shared/vendor-apis/sales-apis.md section 1 list it as the alternative).

Scheme (Salesforce SOAP API Developer Guide, "Understanding the Outbound Messaging WSDL",
developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_om_outboundmessaging_wsdl.htm):

* the body is a SOAP envelope whose ``notifications`` element (namespace
  ``http://soap.sforce.com/2005/09/outbound``) carries ``OrganizationId``, ``ActionId``,
  ``SessionId``, the API URLs and up to 100 ``Notification`` elements (``Id`` + ``sObject``);
* the endpoint must answer ``notificationsResponse`` with ``<Ack>true</Ack>``; without it
  Salesforce keeps retrying (for up to 24 hours);
* messages are not signed. Salesforce can send a client certificate, which a TLS-terminating
  proxy may check; here the message must name the configured ``OrganizationId`` and the URL
  must carry a shared key (``?key=``), compared in constant time. Neither proves as much as a
  signature, which is why a notification only ever schedules a run and carries nothing in.

A duplicate delivery (our Ack lost on the way) is answered with the Ack again: refusing it
would only make Salesforce retry it for a day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Accepted,
    Notification,
    Rejected,
    Reply,
    Setup,
    configured,
    require_secret,
    same,
)

OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
QUERY_KEY = "key"
_NOTIFICATIONS = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?notifications[\s>]")
_ORGANIZATION_ID = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?OrganizationId>\s*([A-Za-z0-9]{15,18})\s*</"
)
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


def organization_id(body: bytes) -> str:
    """The ``OrganizationId`` an Outbound Message names; refused when the body is not one.

    Read with a pattern, not an XML parser: the body is never used for data, and no parser
    means no entity-expansion or external-entity surface for an unauthenticated caller."""
    if OUTBOUND.encode() not in body or not _NOTIFICATIONS.search(body):
        raise Rejected("not an Outbound Message (no notifications element)", status=400)
    found = _ORGANIZATION_ID.search(body)
    if found is None:
        raise Rejected("not an Outbound Message (no OrganizationId)", status=400)
    return found.group(1).decode("ascii")


def same_org(configured: str, given: str) -> bool:
    """Org ids match on their 15 case-sensitive characters (the 18-character form adds a
    case-insensitive checksum), so either form may be configured."""
    return same(configured.strip()[:15], given[:15])


@dataclass(frozen=True)
class OutboundMessageVerifier:
    """Verifier for Outbound Messages about ``objects``; ``why`` says what the doorbell buys."""

    objects: tuple[str, ...]
    why: str

    scheme = "Salesforce Outbound Messages (SOAP, unsigned: org id + shared key in the URL)"
    """One line for ``hooks show``."""

    def verify(self, notification: Notification, settings: WebhookSettings | None) -> Accepted:
        """Shared key in the URL, then the configured org in the message; answer the Ack."""
        key = require_secret(settings)
        assert settings is not None
        if not same(key, notification.query.get(QUERY_KEY)):
            raise Rejected(f"query parameter {QUERY_KEY} missing or does not match")
        if not settings.organization_id:
            raise Rejected("webhook.organization_id is not configured for this connector")
        if not same_org(settings.organization_id, organization_id(notification.body)):
            raise Rejected("OrganizationId is not the configured org")
        return Accepted(reply=Reply(200, "text/xml; charset=utf-8", ACK))

    def setup(self, url: str, settings: WebhookSettings | None) -> Setup:
        """The Outbound Message and its trigger to create in Salesforce."""
        objects = ", ".join(self.objects)
        return Setup(
            f"{url}?{QUERY_KEY}=<the secret webhook.secret references>",
            [
                f"Setup > Outbound Messages > New, one per object ({objects}): Endpoint URL = "
                "the URL with the key; fields: Id only (the run reads the rest)",
                f"send it from a record-triggered Flow (or workflow rule) on create and update "
                f"of {objects}",
                "webhook.organization_id = the org id (Setup > Company Information)",
                f"why: {self.why}",
                configured(settings, "secret", "organization_id"),
            ],
        )
