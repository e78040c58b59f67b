"""Each vendor's webhook scheme, as its docs describe it: a good notification is accepted; a
tampered body, a stale timestamp, a replay and wrong credentials are refused, without ever
saying the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.base import RecordRef
from connectors.registry import get_spec, load_object
from connectors.sales.dynamics.webhook import WEBHOOK as DYNAMICS
from connectors.sales.hubspot.webhook import WEBHOOK as HUBSPOT
from connectors.sales.hubspot.webhook import signature_v3, signed_uri
from connectors.sales.pipedrive.webhook import WEBHOOK as PIPEDRIVE
from connectors.sales.salesforce.webhook import WEBHOOK as SALESFORCE
from connectors.sales.spreadsheet.webhook import WEBHOOK as SHEETS
from connectors.service.freshdesk.webhook import WEBHOOK as FRESHDESK
from connectors.service.servicecloud.webhook import WEBHOOK as SERVICECLOUD
from connectors.service.zendesk.webhook import WEBHOOK as ZENDESK
from connectors.service.zendesk.webhook import signature as zendesk_signature
from connectors.settings import WebhookSettings
from connectors.webhooks import (
    Notification,
    Rejected,
    ReplayCache,
    Verifier,
    generic_signature,
)

NOW = 1_780_000_000.0
SECRET = "s3cret-webhook-key-0123456789"
FIXTURES = Path("/work/shared/vendor-apis/fixtures")
URL = "https://dealbridge.example.com/hooks/emea"


def settings(**values: str) -> WebhookSettings:
    # model_validate, as config.yaml is read (secrets arrive already resolved here)
    secrets = {k: SecretStr(v) for k, v in values.items() if k in ("secret", "password")}
    return WebhookSettings.model_validate(values | secrets)


def notification(
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    url: str = URL,
    received: float = NOW,
) -> Notification:
    query = dict(p.split("=", 1) for p in url.partition("?")[2].split("&") if p)
    return Notification(
        method="POST",
        url=url,
        headers={k.lower(): v for k, v in (headers or {}).items()},
        query=query,
        body=body,
        received=received,
    )


def refused(verifier: Verifier, note: Notification, config: WebhookSettings | None) -> str:
    with pytest.raises(Rejected) as caught:
        verifier.verify(note, config)
    assert SECRET not in caught.value.reason
    return caught.value.reason


# --- HubSpot: v3 signature -------------------------------------------------------------------

HUBSPOT_EVENTS = json.dumps(
    [
        {
            "eventId": 100,
            "subscriptionId": 2881778,
            "portalId": 62515,
            "appId": 1160452,
            "occurredAt": 1762000000000,
            "subscriptionType": "deal.propertyChange",
            "attemptNumber": 0,
            "objectId": 9001,
            "propertyName": "special_discount",
            "propertyValue": "12",
            "changeSource": "CRM_UI",
        }
    ]
).encode()


def hubspot_notification(body: bytes = HUBSPOT_EVENTS, *, sent: float = NOW) -> Notification:
    stamp = str(int(sent * 1000))
    signed = signature_v3(SECRET, "POST", URL, body, stamp)
    headers = {"X-HubSpot-Signature-v3": signed, "X-HubSpot-Request-Timestamp": stamp}
    return notification(body, headers)


def test_hubspot_v3_matches_hubspots_own_test_vector() -> None:
    # HubSpot/hubspot-api-python tests/spec/utils/test_signature.py, test_get_signature__v3
    assert (
        signature_v3(
            "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
            "POST",
            "https://www.example.com/webhook_uri",
            b"{'example_field':'example_value'}",
            "15000000",
        )
        == "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw="
    )


def test_hubspot_signs_the_uri_decoded_except_its_question_marks() -> None:
    assert (
        signed_uri("https://x.example/hooks/a%20b?q=%3F%2F") == "https://x.example/hooks/a b?q=%3F/"
    )


def test_hubspot_a_signed_fresh_notification_is_accepted_and_its_signature_remembered() -> None:
    accepted = HUBSPOT.verify(hubspot_notification(), settings(secret=SECRET))
    assert accepted.replay_key is not None


def test_hubspot_a_tampered_body_is_refused() -> None:
    good = hubspot_notification()
    forged = notification(HUBSPOT_EVENTS.replace(b'"12"', b'"50"'), dict(good.headers))
    assert refused(HUBSPOT, forged, settings(secret=SECRET)) == "signature does not match"


def test_hubspot_a_notification_older_than_five_minutes_is_refused() -> None:
    stale = hubspot_notification(sent=NOW - 301)
    assert "5-minute window" in refused(HUBSPOT, stale, settings(secret=SECRET))


def test_hubspot_another_apps_secret_is_refused() -> None:
    note = hubspot_notification()
    assert refused(HUBSPOT, note, settings(secret="another-app")) == "signature does not match"


def test_hubspot_without_a_configured_secret_every_notification_is_refused() -> None:
    assert "webhook.secret" in refused(HUBSPOT, hubspot_notification(), None)


def test_a_replayed_signature_is_seen_within_the_window_and_forgotten_after() -> None:
    key = HUBSPOT.verify(hubspot_notification(), settings(secret=SECRET)).replay_key
    assert key is not None
    cache = ReplayCache(ttl=600)
    assert not cache.seen_before(key, NOW)
    assert cache.seen_before(key, NOW + 1), "the same request again is a replay"
    assert not cache.seen_before(key, NOW + 700), "long after, the window refuses it anyway"


def test_the_replay_cache_is_bounded() -> None:
    cache = ReplayCache(ttl=600, capacity=3)
    for n in range(10):
        cache.seen_before(f"sig-{n}", NOW)
    assert len(cache._seen) <= 3


# --- Zendesk: HMAC of timestamp + body -------------------------------------------------------

ZENDESK_EVENT = json.dumps(
    {
        "type": "zen:event-type:organization.custom_field_changed",
        "account_id": 22129848,
        "id": "cbe4028c-7239-495d-b020-f22348516046",
        "time": "2026-12-06T06:00:00Z",
        "zendesk_event_version": "2022-11-06",
        "subject": "zen:organization:16486788",
        "detail": {"id": "16486788", "name": "Acme"},
        "event": {
            "current": "15",
            "previous": "10",
            "field": {"id": 360011235, "key": "special_discount", "type": "decimal"},
        },
    }
).encode()


def zendesk_notification(body: bytes = ZENDESK_EVENT, *, stamp: str = "") -> Notification:
    stamp = stamp or datetime.fromtimestamp(NOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "X-Zendesk-Webhook-Signature": zendesk_signature(SECRET, stamp, body),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
    }
    return notification(body, headers)


def test_zendesk_signs_timestamp_then_body() -> None:
    digest = hmac.new(SECRET.encode(), b"2021-07-25T10:00:00Z{}", hashlib.sha256).digest()
    expected = base64.b64encode(digest).decode()
    assert zendesk_signature(SECRET, "2021-07-25T10:00:00Z", b"{}") == expected


def test_zendesk_a_signed_fresh_notification_is_accepted() -> None:
    assert ZENDESK.verify(zendesk_notification(), settings(secret=SECRET)).replay_key


def test_zendesk_a_tampered_body_is_refused() -> None:
    good = zendesk_notification()
    forged = notification(ZENDESK_EVENT.replace(b'"15"', b'"40"'), dict(good.headers))
    assert refused(ZENDESK, forged, settings(secret=SECRET)) == "signature does not match"


def test_zendesk_a_stale_or_zoneless_timestamp_is_refused() -> None:
    at = datetime.fromtimestamp(NOW - 400, UTC)
    stale = zendesk_notification(stamp=at.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert "window" in refused(ZENDESK, stale, settings(secret=SECRET))
    zoneless = zendesk_notification(stamp=at.strftime("%Y-%m-%dT%H:%M:%S"))
    assert "zone" in refused(ZENDESK, zoneless, settings(secret=SECRET))


def test_zendesk_a_wrong_signing_secret_is_refused() -> None:
    note = zendesk_notification()
    assert refused(ZENDESK, note, settings(secret="rotated")) == "signature does not match"


def test_zendesk_an_event_names_the_record_it_is_about_and_nothing_else() -> None:
    accepted = ZENDESK.verify(zendesk_notification(), settings(secret=SECRET))
    assert accepted.records == (RecordRef(kind="organization", id="16486788"),)
    user = ZENDESK_EVENT.replace(b"zen:organization:16486788", b"zen:user:4242")
    assert ZENDESK.verify(zendesk_notification(user), settings(secret=SECRET)).records == (
        RecordRef(kind="user", id="4242"),
    )


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "zen:event-type:organization.custom_field_changed"}',
        b'{"subject": "zen:ticket:12"}',
        b'{"subject": "zen:organization:12; drop"}',
        b'{"subject": ["zen:organization:12"]}',
        b"[1, 2]",
        b"not json",
    ],
)
def test_zendesk_a_body_naming_no_customer_record_names_none(body: bytes) -> None:
    accepted = ZENDESK.verify(zendesk_notification(body), settings(secret=SECRET))
    assert accepted.replay_key
    assert accepted.records == ()


# --- Pipedrive: HTTP basic auth --------------------------------------------------------------


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def pipedrive_body() -> bytes:
    path = FIXTURES / "pipedrive/pipedrive-dotnet/webhook_deal_update.json"
    return path.read_bytes() if path.exists() else b'{"meta": {"action": "updated"}}'


def test_pipedrive_the_configured_basic_auth_is_accepted() -> None:
    note = notification(pipedrive_body(), basic("dealbridge", SECRET))
    accepted = PIPEDRIVE.verify(note, settings(username="dealbridge", password=SECRET))
    assert accepted.replay_key is None, "nothing signed, nothing to remember"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "HTTP basic auth missing"),
        (basic("dealbridge", "guess"), "HTTP basic auth does not match"),
        (basic("intruder", SECRET), "HTTP basic auth does not match"),
        ({"Authorization": "Basic !!!not-base64"}, "HTTP basic auth missing"),
        ({"Authorization": f"Bearer {SECRET}"}, "HTTP basic auth missing"),
    ],
)
def test_pipedrive_missing_or_wrong_basic_auth_is_refused(
    headers: dict[str, str], reason: str
) -> None:
    note = notification(pipedrive_body(), headers)
    assert refused(PIPEDRIVE, note, settings(username="dealbridge", password=SECRET)) == reason


# --- Salesforce: Outbound Messages -----------------------------------------------------------

ORG = "00D5e000000KQ2eEAG"


def outbound_message(org: str = ORG, sobject: str = "Opportunity") -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k5e000000CaRkAAK</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/61.0/00D5e000000KQ2e</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/61.0/00D5e000000KQ2e</PartnerUrl>
   <Notification>
    <Id>04l5e00000Gx7QzAAJ</Id>
    <sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>0065g00000WEST01AAA</sf:Id>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>""".encode()


SF = {"secret": SECRET, "organization_id": ORG}


def test_salesforce_an_outbound_message_with_the_key_is_acknowledged_as_documented() -> None:
    accepted = SALESFORCE.verify(
        notification(outbound_message(), url=f"{URL}?key={SECRET}"), settings(**SF)
    )
    assert accepted.reply is not None
    assert accepted.reply.media_type.startswith("text/xml")
    assert "<Ack>true</Ack>" in accepted.reply.body
    assert 'xmlns="http://soap.sforce.com/2005/09/outbound"' in accepted.reply.body


def test_salesforce_the_15_character_org_id_may_be_configured() -> None:
    note = notification(outbound_message(), url=f"{URL}?key={SECRET}")
    assert SERVICECLOUD.verify(note, settings(secret=SECRET, organization_id=ORG[:15])).reply


def test_service_cloud_a_message_names_its_accounts_and_contacts_by_id() -> None:
    accounts = outbound_message(sobject="Account").replace(
        b"0065g00000WEST01AAA", b"0015e00000Acme1AAQ"
    )
    note = notification(accounts, url=f"{URL}?key={SECRET}")
    assert SERVICECLOUD.verify(note, settings(**SF)).records == (
        RecordRef(kind="account", id="0015e00000Acme1AAQ"),
    )
    mixed = notification(
        accounts.replace(
            b"</Notification>",
            b"</Notification><Notification><Id>04l5e00000Gx7R0AAJ</Id>"
            b'<sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            b"<sf:Id>0035e00000Dana2AAQ</sf:Id></sObject></Notification>",
        ),
        url=f"{URL}?key={SECRET}",
    )
    assert SERVICECLOUD.verify(mixed, settings(**SF)).records == (
        RecordRef(kind="account", id="0015e00000Acme1AAQ"),
        RecordRef(kind="contact", id="0035e00000Dana2AAQ"),
    )


def test_service_cloud_an_object_it_does_not_sync_names_nothing_and_a_source_names_nothing() -> (
    None
):
    lead = outbound_message(sobject="Lead").replace(b"0065g00000WEST01AAA", b"00Q5e00000Lead1AAQ")
    assert (
        SERVICECLOUD.verify(notification(lead, url=f"{URL}?key={SECRET}"), settings(**SF)).records
        == ()
    )
    deal = outbound_message().replace(b"0065g00000WEST01AAA", b"0065g00000WEST1AAQ")
    assert (
        SALESFORCE.verify(notification(deal, url=f"{URL}?key={SECRET}"), settings(**SF)).records
        == ()
    )


def test_salesforce_a_missing_or_wrong_key_is_refused() -> None:
    assert "key" in refused(SALESFORCE, notification(outbound_message()), settings(**SF))
    wrong = notification(outbound_message(), url=f"{URL}?key=guess")
    assert "key" in refused(SALESFORCE, wrong, settings(**SF))


def test_salesforce_another_orgs_message_is_refused() -> None:
    other = notification(outbound_message(org="00D000000000001AAA"), url=f"{URL}?key={SECRET}")
    assert refused(SALESFORCE, other, settings(**SF)) == "OrganizationId is not the configured org"


def test_salesforce_a_body_that_is_not_an_outbound_message_is_a_bad_request() -> None:
    for body in (b"{}", b"<x/>", b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'):
        with pytest.raises(Rejected) as caught:
            SALESFORCE.verify(notification(body, url=f"{URL}?key={SECRET}"), settings(**SF))
        assert caught.value.status == 400


# --- Dynamics 365: WebhookKey (?code=) or HttpHeader -----------------------------------------


def test_dynamics_the_webhook_key_in_the_query_is_accepted() -> None:
    note = notification(b'{"MessageName": "Update"}', url=f"{URL}?code={SECRET}")
    assert DYNAMICS.verify(note, settings(secret=SECRET)).replay_key is None


def test_dynamics_a_header_key_is_accepted_only_in_its_header() -> None:
    config = settings(secret=SECRET, header="x-dealbridge-key")
    note = notification(b"{}", {"X-Dealbridge-Key": SECRET})
    DYNAMICS.verify(note, config)
    in_query = notification(b"{}", url=f"{URL}?code={SECRET}")
    assert refused(DYNAMICS, in_query, config) == "header x-dealbridge-key missing"


def test_dynamics_a_wrong_key_is_refused() -> None:
    note = notification(b"{}", url=f"{URL}?code=guess")
    assert refused(DYNAMICS, note, settings(secret=SECRET)) == "query parameter code does not match"


# --- Freshdesk: custom header or basic auth --------------------------------------------------


def test_freshdesk_a_custom_header_secret_is_accepted() -> None:
    config = settings(secret=SECRET, header="X-Dealbridge-Token")
    FRESHDESK.verify(
        notification(b'{"freshdesk_webhook": {}}', {"x-dealbridge-token": SECRET}), config
    )
    assert "does not match" in refused(
        FRESHDESK, notification(b"{}", {"X-Dealbridge-Token": "guess"}), config
    )


def test_freshdesk_basic_auth_is_accepted_when_no_header_is_configured() -> None:
    config = settings(username="freshdesk", password=SECRET)
    FRESHDESK.verify(notification(b"{}", basic("freshdesk", SECRET)), config)
    assert refused(FRESHDESK, notification(b"{}", basic("freshdesk", "x")), config)


# --- Generic signed webhook (spreadsheets saved by a script) ---------------------------------


def sheets_notification(body: bytes, *, sent: float = NOW) -> Notification:
    stamp = str(int(sent))
    headers = {
        "X-Dealbridge-Timestamp": stamp,
        "X-Dealbridge-Signature": generic_signature(SECRET, stamp, body),
    }
    return notification(body, headers)


def test_generic_a_signed_fresh_notification_is_accepted() -> None:
    assert SHEETS.verify(sheets_notification(b"apac-q4.xlsx"), settings(secret=SECRET)).replay_key


def test_generic_tampered_stale_and_wrong_secret_are_refused() -> None:
    good = sheets_notification(b"apac-q4.xlsx")
    tampered = notification(b"other.xlsx", dict(good.headers))
    assert refused(SHEETS, tampered, settings(secret=SECRET)) == "signature does not match"
    stale = sheets_notification(b"apac-q4.xlsx", sent=NOW - 600)
    assert "window" in refused(SHEETS, stale, settings(secret=SECRET))
    assert refused(SHEETS, good, settings(secret="other")) == "signature does not match"
    unstamped = notification(b"x", {"X-Dealbridge-Signature": "sha256=00"})
    assert "timestamp" in refused(SHEETS, unstamped, settings(secret=SECRET))


# --- Registry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "hubspot",
        "pipedrive",
        "dynamics",
        "salesforce",
        "spreadsheet",
        "zendesk",
        "freshdesk",
        "servicecloud",
    ],
)
def test_each_kind_names_its_verifier_and_says_what_to_configure(kind: str) -> None:
    reference = get_spec(kind).webhook
    assert reference is not None
    verifier: Verifier = load_object(reference)
    setup = verifier.setup(URL, None)
    assert setup.url.startswith(URL)
    assert any("NOT READY" in step for step in setup.steps), "missing settings are named"
