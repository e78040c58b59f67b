"""Intercom target (``kind: intercom``): deal terms onto companies and contacts, REST API 2.15.

Calls, per job run (C = companies, N = changed contacts, W = records written, P = 150):

=====================================================  ============================================
``GET /companies/scroll`` (+ ``?scroll_param=``)        identity, when a scroll is due (every
                                                        ``company_scroll_minutes``): C / page + 1
``POST /contacts/search`` (role, ``updated_at >``)      identity, every refresh: contacts changed
                                                        since the cursor's day / P (>= 1)
``GET /companies?company_id=``                          ``lookup``: 1 per company id missed
                                                        (+1 in upper case when it finds nothing)
``GET /contacts/find_by_external_id/{id}``              ``lookup``: 1 per contact external id missed
``POST /contacts/search`` (``email IN``) + ``GET``       ``lookup``: 1 per 15 emails, +1 per hit
``GET /companies/{id}``, ``GET /contacts/{id}``         ``read``: 1 per record (no bulk read);
                                                        +1 ``GET /contacts/{id}/notes`` per contact
                                                        with ``note_place: contact_note``
``GET /companies/{id}``, ``GET /contacts/{id}``         ``write``: 1 per written record when the
                                                        engine passes a version (and
                                                        ``verify_before_write``)
``PUT /companies/{id}``, ``PUT /contacts/{id}``         ``write``: 1 per changed record (W)
``POST /contacts/{id}/notes``                           ``write``: 1 per changed contact note
``GET /data_attributes?model=company|contact``          ``field_catalog`` and the first write of a
                                                        run (then cached ``catalog_ttl_seconds``): 2
``GET /me``                                             ``check``; once for the admin id when none
                                                        is configured
``POST /tickets/search``, ``POST /tickets``,            alerts (TicketDesk): 3 to open a ticket;
``POST /tickets/{id}/reply``, ``GET /tickets/{id}``     2 to add a note
=====================================================  ============================================

Vendor facts behind the choices (``FACTS.md`` in this folder, section numbers in brackets):

* Auth: bearer access token [1.2]; ``Intercom-Version`` sent on every request [1.3].
* Errors: ``error.list`` bodies with codes [2]; see ``errors`` for the table.
* Budget: per app per minute (private apps 10,000, workspace 25,000), enforced per 10-second
  window; ``X-RateLimit-Limit/Remaining/Reset`` (Unix time) on authenticated answers; 429
  ``rate_limit_exceeded`` without Retry-After [3]: the gate is a 10-second window of a sixth
  of ``requests_per_minute`` (default 1,000: 167 per 10 s), stopped early by the headers.
* Companies: ``company_id`` is the external id [4.1]; ``POST /companies`` creates what it does
  not find [4.2], so writes go to ``PUT /companies/{id}`` by Intercom's id [4.3], which
  answers 404 ``company_not_found`` for a deleted company and never creates one; lookups by
  ``GET /companies?company_id=`` [4.4]. No company search or change filter [4.8]: the identity
  index is a full scroll, one at a time per app, expiring after a minute unused, not resumable
  [4.7]; so it runs at most every ``company_scroll_minutes``.
* Contacts: ``external_id`` and ``email`` [5.1]; ``find_by_external_id`` reads one user [5.2];
  search dates match whole days in the workspace's time zone, ``>`` from the next day, new
  contacts searchable after minutes, cursor in the body, at most 150 a page [5.3, 5.4]: the
  contact feed asks from the day before its cursor and drops older contacts. No bulk update,
  no ETag [5.6, 9]: one PUT per record, and a re-read before it when the engine passes the
  version it planned on (a digest of the custom attributes).
* Catalog: ``GET /data_attributes`` [6.1]; values only for attributes that exist [6.2a];
  string attributes hold 255 characters [6.4, third-party figure: ``text_max_length``];
  list-value validation unknown [6.5]: every value is checked here before it is sent.
* The note: a string custom attribute, replaced in place, 255 characters (``text_limit``);
  or, with ``note_place: contact_note``, a contact note added on each change, since notes
  cannot be edited or deleted [7, 8].
* Alerts: Back-office tickets with internal notes (``tickets``; the 2.15 description).

Field paths written: ``custom_attributes.<name>`` (companies and contacts), ``notes``
(contacts, ``note_place: contact_note``). ``RecordRef.kind`` is ``company`` or ``contact``.
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.target import IntercomTarget

CONNECTOR = ConnectorSpec.desk(
    "intercom",
    IntercomConfig,
    IntercomTarget,
    f"{__name__}.simulator",
    label="Intercom",
    demo=DemoSpec(
        connector={"access_token": "${DEALBRIDGE_INTERCOM_TOKEN}"},
        fast={"requests_per_minute": 10_000},
        port=8708,
        mappings="intercom",
    ),
)

__all__ = ["CONNECTOR", "IntercomConfig", "IntercomTarget"]
