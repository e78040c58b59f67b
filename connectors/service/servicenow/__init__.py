"""ServiceNow CSM target (``kind: servicenow``): deal terms onto accounts, contacts, consumers.

Calls, per job run (N = records written, P = ``page_size`` (1,000), I = ``ids_per_query``
(100), B = Batch API items a call (up to ``batch_max_items``, 50, as many as fit
``batch_seconds``), C = changed records in the identity feed, L = index misses looked up):

=================================================================  ===============================
``POST /oauth_token.do``                                            OAuth only: 1 per 30 minutes
``GET /api/now/table/sys_db_object?sysparm_query=nameIN...``        catalog: 1 per hierarchy level,
                                                                    once per connector
``GET /api/now/table/sys_dictionary?sysparm_query=nameIN...``       catalog: 1 (+1 per 1,000
                                                                    columns) per ``catalog_ttl``
``GET /api/now/table/sys_choice?sysparm_query=nameIN...``           catalog: 1 (+ pages), same
``GET /api/now/table/<table>?sysparm_query=sys_updated_on>...``     identity: C / P + 1 per kind
``GET /api/now/table/<table>?sysparm_query=<col>IN...``             ``lookup``: L / I per key type
                                                                    (domains: L / 20)
``GET /api/now/table/<table>?sysparm_query=sys_idIN...``            ``read``: N / I
``GET ...?sysparm_query=sys_idIN...&sysparm_fields=sys_id,          ``write``: N / I, only for
sys_mod_count``                                                     changes with expected_version
``POST /api/now/v1/batch`` (PATCH items)                            ``write``: N / B (+ retries of
                                                                    unserviced items)
``PATCH /api/now/table/<table>/<sys_id>``                           only without a Batch API: N
``POST /api/now/table/sn_customerservice_case``                     alerts: 1 per new case (+1 GET
                                                                    to find it first)
``PATCH /api/now/table/sn_customerservice_case/<sys_id>``           alerts: 1 per follow-up
``GET /api/now/table/<first table>?sysparm_limit=1``                ``check``: 1
=================================================================  ===============================

Vendor facts behind the choices (``FACTS.md`` in this folder, by section):

* Auth: Basic or OAuth 2.0 client credentials at ``/oauth_token.do``; tokens live 1,800 s (§1).
* Every value is a string; references come as ``{link, value}`` unless
  ``sysparm_exclude_reference_link=true``; date-times are UTC ``YYYY-MM-DD HH:MM:SS`` with
  one-second resolution (§2).
* Tables ``customer_account`` (``notes`` String 4,000; no standard external id: ``number`` by
  default), ``customer_contact`` (extends ``sys_user``; no notes column), ``csm_consumer``
  (``notes`` 4,000) (§3). The note lives in ``notes`` or a custom column; ``text_limit`` is
  ``note_max_length`` (4,000 characters by default, the documented limit of ``notes``).
* Listing: ``sysparm_query`` with ``ORDERBY``, ``sysparm_fields``, ``sysparm_limit`` (default
  10,000, applied before ACLs), ``Link`` header; an invalid query part or field name is
  ignored silently, so no query or field list is built from an unchecked name (§4). Keyset
  paging on ``(sys_updated_on, sys_id)`` because offsets skip rows of a changing table (§4.6).
* Custom columns ``u_``/``x_<scope>_`` from ``sys_dictionary`` (columns under the table that
  defines them: parents included), choices from ``sys_choice``; the API enforces neither
  choice lists nor, reliably, lengths (§6).
* No ETag, If-Match or 409: agent edits are caught by ``sys_mod_count`` read just before the
  write and by the engine's three-way compare against the stored base (§7.3).
* Batch API: Base64 bodies, per-item status codes, ``unserviced_requests`` to send again, a
  30-second transaction quota, items run one after another (§8); the fallback when it is
  missing (§8.5).
* Rate limits: per-hour rules, ``X-RateLimit-Limit``/``-Reset``/``-Rule``, no ``Remaining``,
  429 + ``Retry-After`` with the failure envelope, counts committed every 30 s (§9).
* Errors: ``{"error": {"message", "detail"}, "status": "failure"}`` (§10).
* Alerts: a case with a ``work_notes`` entry (journal, 4,000 characters an entry) (§11).

Record kinds: ``account``, ``contact``, ``consumer`` (``RecordRef.id`` = ``sys_id``). Field
paths are column names (``notes``, ``u_special_discount``).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.target import ServiceNowTarget

CONNECTOR = ConnectorSpec.desk(
    "servicenow",
    ServiceNowConfig,
    ServiceNowTarget,
    f"{__name__}.simulator",
    bulk_write="Batch API (several PATCHes a call)",
    label="ServiceNow",
    demo=DemoSpec(
        connector={
            "auth": {
                "flow": "client_credentials",
                "client_id": "dealbridge-demo-client",
                "client_secret": "${DEALBRIDGE_SERVICENOW_SECRET}",
            },
            "external_id_fields": {"account": "u_customer_number"},
        },
        port=8706,
        mappings="servicenow",
    ),
)

__all__ = ["CONNECTOR", "ServiceNowConfig", "ServiceNowTarget"]
