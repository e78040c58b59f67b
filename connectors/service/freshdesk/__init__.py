"""Freshdesk target (``kind: freshdesk``): deal terms onto companies and contacts, API v2.

Calls, per job run (N = records, P = ``per_page``, default 100):

==================================================  ===========================================
``GET /api/v2/companies?per_page=P&page=n``          identity, every refresh: N/P
``GET /api/v2/search/companies?query="updated_at:>'D'"``  identity with ``company_search``: <= 10
``GET /api/v2/search/companies?query="a OR b ..."``   ``lookup``: ~14 keys a query (+1 GET a hit)
``GET /api/v2/contacts?email=|unique_external_id=``   ``lookup``: 1 per contact key missed
``GET /api/v2/contacts?_updated_since=T&per_page=P``  identity: changed contacts / P
``GET /api/v2/contacts?...&state=deleted``            identity, later runs: soft-deleted contacts
``GET /api/v2/{companies|contacts}/{id}``             ``read``: 1 per record (no bulk read)
``PUT /api/v2/{companies|contacts}/{id}``             ``write``: 1 per record (no bulk update)
``GET /api/v2/company_fields``, ``/contact_fields``   ``field_catalog``: 2
==================================================  ===========================================

Vendor facts behind the choices (shared/vendor-apis/service-apis.md section 2 and the sources
it cites):

* Auth: HTTP Basic, API key as user name, ``X`` as password [python-freshdesk; API docs].
* Paging: ``page``/``per_page`` (max 100), next page announced by ``Link: <...>; rel="next"``
  [API docs "Pagination"]. Filter API: query in double quotes, <= 512 characters, ``:>`` means
  on-or-after, dates ``YYYY-MM-DD``, 30 per page, pages 1-10, deleted records excluded, a few
  minutes of indexing lag [API docs "Filter Companies"; python-freshdesk ``filter_companies``]:
  so the identity index lists companies, and lookups read their hits again.
* Contacts filter by ``_updated_since`` [python-freshdesk ``list_contacts`` docstring]; some
  third-party copies of the docs spell it ``updated_since`` (unconfirmed; the sandbox accepts
  both). Companies have no update filter.
* Rate limits: per account per minute (Growth 200 / Pro 400 / Enterprise 700), contact listings
  capped lower (20 / 100 / 200); headers ``X-Ratelimit-Total``, ``X-Ratelimit-Remaining``,
  ``X-Ratelimit-Used-CurrentRequest``; 429 with ``Retry-After`` seconds [support.freshdesk.com
  article 225439; python-freshdesk].
* Errors: ``{"description": "Validation failed", "errors": [{field, message, code}]}``;
  ``{"code": "invalid_credentials" | "access_denied", "message": ...}``; 404 without body.
* Customer model: companies have ``name, description, note, domains[], custom_fields``;
  contacts ``name, email, other_emails, unique_external_id, company_id, description,
  custom_fields``; custom fields keyed by the ``name`` the field endpoints report.
  Companies have no external id: the customer number lives in the custom field named by
  ``customer_number_field`` (default ``cf_customer_number``) and becomes
  ``CustomerRecord.external_id``.
* Field paths written: ``description`` (companies and contacts), ``note`` (companies),
  ``custom_fields.<name>``. Text length limits are not documented; ``note_max_length``
  (default 10,000) is deliberately conservative, single-line custom text is 255 [unverified].
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec
from connectors.service.freshdesk.config import FreshdeskConfig
from connectors.service.freshdesk.target import FreshdeskTarget

CONNECTOR = ConnectorSpec.desk(
    "freshdesk",
    FreshdeskConfig,
    FreshdeskTarget,
    f"{__name__}.simulator",
    webhook=f"{__name__}.webhook:WEBHOOK",
    label="Freshdesk",
    demo=DemoSpec(
        fast={"requests_per_minute": 60_000, "contact_list_per_minute": 60_000},
        port=8704,
        mappings="freshdesk",
    ),
)

__all__ = ["CONNECTOR", "FreshdeskConfig", "FreshdeskTarget"]
