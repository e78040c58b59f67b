"""Zoho CRM source (``kind: zoho``): deals from the ``Deals`` module over the v8 REST API.

Calls, per job run (N = changed deals, P = ``page_size`` <= 2,000, D = deletions since the last
run; every API call costs one credit unless noted):

==========================================================  =====================================
``POST {accounts}/oauth/v2/token``                           1 per hour per process (+1 after an
                                                             early 401); no credits
``GET {api_domain}/crm/v8/settings/fields?module=Deals``     1 per run (+1 per related module the
                                                             mapping reads into, e.g. Accounts)
``POST {api_domain}/crm/v8/coql``                            incremental: 1 (LIMIT 200, 1 credit)
                                                             then N/P (LIMIT 2,000, 3 credits);
                                                             backfill: N/P; +1 per re-read of a
                                                             tie group that changed mid-walk
``POST .../coql`` (``select id, Modified_Time``)             with a select condition: changed/P
``GET {api_domain}/crm/v8/Deals/deleted?type=all``           1 per run (+1 per 200 deletions)
``GET .../Deals?fields=..&sort_by=Modified_Time``            ``read_via: list`` instead of COQL:
                                                             N/200, plus ``GET /Accounts?ids=``
                                                             1 per 100 distinct accounts a page
``GET .../Deals?fields=Modified_Time&per_page=1``            ``check``: 1
``GET .../settings/fields`` (Deals + related lookups)         ``field_catalog``: 1 + 2
==========================================================  =====================================

With ``mappings/latam-zoho.yaml`` (Deals, Accounts and Contacts fields) a 5,000-deal backfill
costs 7 requests (token 1, fields 3, COQL 3: 0.0014 per deal) and 12 credits; an incremental
run with a few changes 6 requests and 6 credits (fields 3, COQL 1, departures 1, deleted 1).
The list reader needs 81 requests for the same backfill. ``python -m bench.zoho_requests``.

Vendor facts behind the choices (``connectors/sales/zoho/FACTS.md``, sections in brackets):

* Auth: OAuth 2 refresh-token grant at the org's data centre accounts server; the API host is
  the token response's ``api_domain``; header ``Zoho-oauthtoken`` (§1, §2). Access tokens live
  an hour and at most 10 may be minted per refresh token per 10 minutes (§2.4): cached, renewed
  ahead, shared by concurrent callers. A refused refresh token is tried at the other data
  centres so the error names the right one (§2.5): :mod:`.auth`.
* Incremental read: COQL ``Modified_Time >=`` the cursor minus ``overlap_seconds``, ``order by
  Modified_Time asc, id asc``, keyset paging with a verified OFFSET inside a tie group; 2,000
  rows and lookup traversal per call (§4): :mod:`.coql`. ``read_via: list`` uses ``GET /Deals``
  with ``If-Modified-Since`` (inclusive or not: §3.5 leaves it open, so one second is re-read)
  and ``page_token`` past dense seconds (§3.2): :mod:`.listing`. Times carry the org's UTC
  offset; they are compared as UTC instants (§3.4, §10.1).
* Deletions: ``/Deals/deleted`` polled with ``If-Modified-Since`` (§5): :mod:`.deleted`.
* Catalog: ``/settings/fields`` of Deals and of the related modules; picklist actual values
  are the choices, display values are exposed as ``$display.<field>`` (§6): :mod:`.catalog`.
* Limits: API credits per rolling 24 h by edition, ``X-API-CREDITS-REMAINING`` once half are
  used, concurrency per edition, one 429 for both without Retry-After (§8): the gate caps
  requests in flight at the edition's limit, a credit reserve stops the job before Zoho does,
  and a 429 is the daily budget only when the credits say so: :mod:`.errors`.
* Bad input: a mapped field Zoho does not list stops the run before reading (:mod:`.plan`); a
  picklist value the catalog does not list and a lookup to a deleted account are reported per
  deal through ``problems()`` while the others go on (:mod:`.payloads`).

Unconfirmed (FACTS.md "Gaps" and §11): COQL traversal into the owner's Users fields
(``Owner.email``, ``Owner.full_name``), the ``ids`` maximum (100 assumed), the page cap of
``/deleted``, and whether a deal's account lookup keeps a dangling id after the account is
deleted (both shapes are handled).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory, SelectForm
from connectors.sales.zoho.config import ZohoConfig
from connectors.sales.zoho.coql import SELECT_EXAMPLE, SELECT_LANGUAGE, select_problem
from connectors.sales.zoho.source import ZohoSource

CONNECTOR = ConnectorSpec(
    kind="zoho",
    role="source",
    config_model=ZohoConfig,
    factory=ZohoSource,
    select=SelectForm(language=SELECT_LANGUAGE, example=SELECT_EXAMPLE, check=select_problem),
    label="Zoho CRM",
    demo=DemoSpec(
        connector={
            "data_centre": "eu",
            "client_id": "1000.SIMZOHOCLIENT7Q2R8KX3LATAM",
            "client_secret": "${DEALBRIDGE_ZOHO_CLIENT_SECRET}",
            "refresh_token": "${DEALBRIDGE_ZOHO_REFRESH_TOKEN}",
        },
        territory=DemoTerritory(
            job="latam", connector="zoho_latam", territory="LATAM", mapping="latam-zoho.yaml"
        ),
    ),
).played_by(f"{__name__}.simulator")

__all__ = ["CONNECTOR", "ZohoConfig", "ZohoSource"]
