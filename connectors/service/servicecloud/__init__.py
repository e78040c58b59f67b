"""Salesforce Service Cloud target (``kind: servicecloud``): deal terms onto accounts and contacts.

Calls, per job run (N = records written, B = ``write_batch_size``, 200; P = ``page_size``,
2,000; K = index misses looked up; all under ``{instance_url}/services/data/vXX.X``):

===========================================================  =====================================
``POST {base_url}/services/oauth2/token``                     1 per process, +1 per expired session
``GET .../sobjects/{Account|Contact}/describe``               1 per configured kind per process
                                                              (+1 when a field or picklist value
                                                              is missing, at most every 5 min)
``GET .../queryAll?q=SELECT ... ORDER BY SystemModstamp, Id``  identity: 1 per kind, + changed / P
``GET .../query/{locator}``                                   (queryMore, ``nextRecordsUrl``)
``GET .../query?q=SELECT ... WHERE <field> IN (...)``         ``lookup``: K / 200 (domains K / 50)
``GET .../query?q=SELECT ... WHERE Id IN (...)``              ``read``: N / 200
``GET .../query?q=SELECT Id, SystemModstamp ... Id IN (...)``  ``write``: N / B, only for changes
                                                              carrying ``expected_version``
``PATCH .../composite/sobjects``                              ``write``: N / B (+1 per batch with
                                                              a locked row)
``GET .../sobjects/Case/describe``, ``PATCH .../composite/     alerts: 1 describe, then per alert
sobjects/Case/{key field}`` or ``POST .../sobjects/Case``,    2 (case + comment); a follow-up 2
``POST .../sobjects/CaseComment``, ``GET .../query`` (case)   (case state + comment)
``GET .../query?q=SELECT Id FROM Account LIMIT 1``           ``check``: 1 (+ the describes)
===========================================================  =====================================

So a 5,000-record backfill costs about 2 requests per 200 records written (one read, one
update), plus the index pages and a handful of logins and describes: ``bench.servicecloud_backfill``
measures it.

Vendor facts behind the choices (FACTS.md in this folder; shared/vendor-apis/service-apis.md
section 4 and sales-apis.md section 1):

* Auth (1.1-1.4): client credentials, JWT bearer or refresh token against the org's My Domain
  URL, shared with the Salesforce source (:mod:`connectors.salesforce_common`); 401
  ``INVALID_SESSION_ID`` means log in again once and replay. The Service Cloud org is usually
  another org than a territory's: its own instance, credentials and allocation (1.5).
* Objects (2.1, 2.2): Account and Contact; Person Accounts where enabled (``IsPersonAccount``
  exists only then): a person account is found by ``PersonEmail`` as an account, its person
  contact is left out of the contact feed.
* Fields (3.1-3.3): describe gives the writable fields, their types, lengths and picklist
  values; ``length`` counts characters but text areas are enforced in UTF-8 bytes, so the
  note's ``text_limit`` is ``length // 4`` characters unless ``note_max_chars`` says otherwise,
  and every text value is checked in the unit Salesforce counts before it is sent;
  unrestricted picklists accept any value through the API, so choices are checked here.
* Reads (4.1-4.4): SOQL in batches of up to 2,000 with ``nextRecordsUrl``; the feed is a keyset
  on (``SystemModstamp``, ``Id``); ``IN`` lists sized to the 16,384-byte URI limit; an unknown
  column fails the whole query (``INVALID_FIELD``), so only describe-checked names are selected.
* Writes (5.1-5.4, 5.6): sObject Collections update, 200 records, ``allOrNone: false``, results
  in order with per-record ``statusCode`` errors; one call counts as one API request.
* Agent edits (6.1, 6.2): ``read`` reports ``SystemModstamp`` as ``CustomerRecord.version``;
  collections take no ``If-Match``, so ``expected_version`` is checked by reading the stamps
  again, one query per batch, just before the update.
* Limits (7.1-7.3): ``Sforce-Limit-Info`` on every answer; 403 ``REQUEST_LIMIT_EXCEEDED`` without
  Retry-After (spent allocation: the job waits ``daily_limit_recheck``; concurrent limit:
  ``throttle_retry_after``); ``api_reserve`` of the rolling 24-hour allocation is left to the
  org's other users.
* Alerts (8.1, 8.2): a Case (upserted by ``case_key_field`` when set) and an internal
  CaseComment (``IsPublished`` false, 4,000 bytes).

Field paths written: bare API names (``Deal_Terms__c``, ``Special_Discount__c``) on either
kind. ``RecordRef.kind`` is ``account`` or ``contact``.
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec
from connectors.service.servicecloud.config import ServiceCloudConfig
from connectors.service.servicecloud.target import ServiceCloudTarget

CONNECTOR = ConnectorSpec.desk(
    "servicecloud",
    ServiceCloudConfig,
    ServiceCloudTarget,
    f"{__name__}.simulator",
    webhook=f"{__name__}.webhook:WEBHOOK",
    bulk_write="sObject Collections (200 records a call)",
    label="Service Cloud",
    demo=DemoSpec(
        connector={
            "auth": {
                "flow": "client_credentials",
                "client_id": "3MVG9dealbridgeDemoServiceCloudConsumerKey",
                "client_secret": "${DEALBRIDGE_SERVICECLOUD_SECRET}",
            },
            "account_external_id_field": "Customer_Number__c",
            "note_field": "Deal_Terms__c",
            "case_key_field": "Dealbridge_Key__c",
        },
        fast={"throttle_retry_after": 0.01},
        port=8707,
        mappings="servicecloud",
    ),
)

__all__ = ["CONNECTOR", "ServiceCloudConfig", "ServiceCloudTarget"]
