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
from collections.abc import Mapping
from dataclasses import dataclass, field

from connectors.base import RecordRef
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
_SOBJECT = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?sObject\b([^>]{0,500})>(.{0,5000}?)</(?:[A-Za-z_][\w.-]*:)?sObject>",
    re.DOTALL,
)
_TYPE = re.compile(rb"""\btype=["'](?:[A-Za-z_][\w.-]*:)?([A-Za-z_]\w{0,80})["']""")
_SOBJECT_ID = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Id>\s*([A-Za-z0-9]{15,18})\s*</")
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


def named_records(body: bytes, kinds: Mapping[str, str]) -> tuple[RecordRef, ...]:
    """The records of the ``kinds`` objects (sObject type -> record kind) a message names, by
    their ``Id`` (the Outbound Message is set up to send ``Id`` only); others are left out."""
    found: dict[RecordRef, None] = {}
    for attributes, inner in _SOBJECT.findall(body):
        sobject = _TYPE.search(attributes)
        record_id = _SOBJECT_ID.search(inner)
        kind = kinds.get(sobject.group(1).decode("ascii")) if sobject else None
        if kind is not None and record_id is not None:
            found[RecordRef(kind=kind, id=record_id.group(1).decode("ascii"))] = None
    return tuple(found)


def same_org(configured: str, given: str) -> bool:
    """Org ids match on their 15 case-sensitive characters (the 18-character form adds a
    case-insensitive checksum), so either form may be configured."""
    return same(configured.strip()[:15], given[:15])


@dataclass(frozen=True)
class OutboundMessageVerifier:
    """Verifier for Outbound Messages about ``objects``; ``why`` says what the doorbell buys."""

    objects: tuple[str, ...]
    why: str
    kinds: Mapping[str, str] = field(default_factory=dict)
    """For a desk: sObject type -> record kind, so the run re-reads the records a message
    names (``Accepted.records``); empty for the sales source (its run reads changed deals)."""

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
        records = named_records(notification.body, self.kinds) if self.kinds else ()
        return Accepted(reply=Reply(200, "text/xml; charset=utf-8", ACK), records=records)

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
