"""HubSpot CRM as a sales source (``kind: hubspot``): changed deals with their companies,
contacts and owner, through HubSpot's search, associations v4 and batch-read APIs.

Calls, per run (``page_size`` P = 200, the search maximum):

=====================================================  ============================================
``POST /crm/v3/objects/deals/search``                  1 per P-1 changed deals (+2 per tied page)
``POST /crm/v4/associations/deals/companies/...read``  1 per page (up to 1,000 ids per call)
``POST /crm/v4/associations/deals/contacts/...read``   1 per page
``POST /crm/v3/objects/companies/batch/read``          1 per 100 distinct companies of a page
``POST /crm/v3/objects/contacts/batch/read``           1 per 100 distinct contacts of a page
``GET /crm/v3/owners``                                 once per run, 1 per 100 owners
``GET /crm/v3/objects/deals?archived=true``            1 per 100 archived deals (all, every run)
``GET /crm/v3/properties/{deals,companies,contacts}``  ``field_catalog`` only
=====================================================  ============================================

So N changed deals cost about ``N/200 * 5`` requests plus the archived listing; companies,
contacts and owners are skipped when no mapping path reaches them. Each search page starts at
the instant the page before ended at, so it sends that page's last deal(s) again (dropped):
P-1 new deals a page. A "tied page" is one filled by deals sharing one instant, read by id.

Vendor facts behind the choices (``/work/shared/vendor-apis/sales-apis.md`` section 2, and
HubSpot's spec collection @9989379, read but not copied: it is proprietary):

* Auth: private-app token as ``Authorization: Bearer``; or OAuth refresh at ``/oauth/v1/token``
  (30-minute access tokens, renewed ahead of ``expires_in``; a 401 refreshes once): ``auth.py``.
* Search: filterGroups/sorts/properties/limit<=200/``after``; one sorting rule per search;
  10,000 results per query at most (HTTP 400 past it); about 5 searches per second per account
  with no rate-limit headers (HubSpot community; activepieces PR #10160), paced by a gate of
  its own: ``search.py``. ``after`` is an offset into results evaluated again for each page
  (inferred: fixtures' ``"after": "2"``, the cap being on ``after``), so it is never sent.
* Incremental read, by keyset (``search.py``): every page is a new search
  ``hs_lastmodifieddate GTE <instant the last page ended at>`` (the first: cursor -
  ``overlap_seconds``) and ``LTE`` the run's start, sorted by modified date; deals already
  yielded at that instant are dropped. A page filled by one instant's ties is read by
  ``EQ instant`` + ``hs_object_id GT <last id>`` sorted by id, then ``GT instant``. A deal
  edited mid-read can only move later (read again, newer), never hide another; no query is
  paged, so the 10,000 cap is never reached. Checkpoint ``{"ts", "id"}`` only up to the last
  deal everything before which is read.
* Deletions: archived deals never appear in search; ``GET /crm/v3/objects/deals?archived=true``
  lists them with ``archivedAt`` and they come through as ``SourceDeal(deleted=True)``.
* Payload: ``{"id", "properties": {...strings...}, "createdAt", "updatedAt", "archived",
  "companies": [{"id", "primary", "properties"}], "contacts": [...], "owner": {"id", "email",
  "firstName", "lastName"} | None}``; mapping paths: ``properties.special_discount``,
  ``companies.properties.domain``, ``contacts.properties.email``, ``owner.email``.
* Field catalog: ``/crm/v3/properties/{type}`` -> ``properties.<name>`` (deals),
  ``companies.properties.<name>``, ``contacts.properties.<name>``; type ``<type>/<fieldType>``
  (``enumeration/checkbox`` is a multi-select, values joined by ``;``), choices = option values.
* Limits: ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` feed the gate; 429
  bodies carry ``policyName`` (TEN_SECONDLY_ROLLING, SECONDLY, DAILY): ``errors.py``. A spent
  DAILY budget is :class:`~connectors.errors.BudgetExhausted` until midnight in
  ``account_time_zone``.

Not confirmed from primary sources: the 10,000-cap error body (only "HTTP 400" is documented),
the search 429's ``policyName`` (assumed SECONDLY; any other is waited out for one second), and
whether HubSpot sends Retry-After on 429 (honoured when present).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory, SelectForm
from connectors.sales.hubspot.config import HubSpotConfig
from connectors.sales.hubspot.errors import classify, make_classifier, read_limits
from connectors.sales.hubspot.select import EXAMPLE, select_problem
from connectors.sales.hubspot.source import HubSpotSource

CONNECTOR = ConnectorSpec(
    kind="hubspot",
    role="source",
    config_model=HubSpotConfig,
    factory=HubSpotSource,
    select=SelectForm(
        language='HubSpot search filters as JSON: a list of filters, {"filters": [...]} or '
        '{"filterGroups": [{"filters": [...]}, ...]} (groups are ORed)',
        example=EXAMPLE,
        check=select_problem,
    ),
    label="HubSpot",
    demo=DemoSpec(
        port=8702,
        territory=DemoTerritory(
            job="emea", connector="hubspot_emea", territory="EMEA", mapping="emea-hubspot.yaml"
        ),
    ),
    webhook=f"{__name__}.webhook:WEBHOOK",
).played_by(f"{__name__}.simulator")

__all__ = [
    "CONNECTOR",
    "HubSpotConfig",
    "HubSpotSource",
    "classify",
    "make_classifier",
    "read_limits",
]
