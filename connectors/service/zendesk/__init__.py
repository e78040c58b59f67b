"""Zendesk Support target (``kind: zendesk``): deal terms onto organizations and end-users.

Calls, per job run (N = records, P = ``per_page``, default 1000; B = 100):

==========================================================  ===================================
``GET /api/v2/incremental/organizations.json?start_time=``   identity: changed orgs / P (>= 1)
``GET /api/v2/incremental/users/cursor.json?cursor=``        identity: changed users / P (>= 1)
``GET /api/v2/{organizations|users}/show_many.json?ids=``    ``read``: N / 100
``GET .../show_many.json?external_ids=``                     ``lookup``: misses by external id / 100
``GET /api/v2/users/search.json?query=email:``               ``lookup``: 1 per email missed
``GET /api/v2/search.json?query=type:organization domain:``  ``lookup``: 1 per domain missed
``PUT /api/v2/{organizations|users}/update_many.json``       ``write``: N / B jobs
``GET /api/v2/job_statuses/{id}.json``                       ``write``: usually 1 poll per job
``GET /api/v2/{organizations|users}/show_many.json?ids=``    read-back, only of records a job
                                                             gave no result for
``PUT /api/v2/{organizations|users}/{id}.json``              only after a bulk 403: N
``GET /api/v2/organization_fields.json``, ``user_fields``    ``field_catalog``: 2 (+ pages)
``GET /api/v2/users/me.json``                                ``check``: 1
==========================================================  ===================================

Vendor facts behind the choices (shared/vendor-apis/service-apis.md section 1, citing
developer.zendesk.com): Basic auth ``{email}/token:{api_token}``; custom fields keyed by
field ``key``, dropdowns written with the option ``value``; ``show_many`` and
``update_many`` take 100; ``update_many`` answers a ``job_status``; at most 30 jobs queued
or running (``TooManyJobs``, header ``zendesk-ratelimit-inflight-jobs``); job statuses expire
within an hour [3p: Zendesk community]; bulk user imports may be disabled (403); Update User
5/min per user and ~1/s per account, Update Organization 5/min per organization; account
budgets 200-2500/min by plan, incremental exports 10/min; 429 + ``Retry-After`` seconds,
bodies sometimes plain text; ``X-Rate-Limit``/``X-Rate-Limit-Remaining`` and
``ratelimit-*`` headers; incremental ``start_time`` at least a minute in the past, and exports
leave out what changed in the minute before the request ("Using the Incremental Export API"),
hence the direct lookups; the search API lags "up to a few minutes" (Search API).

Field paths written: ``notes``, ``details``, ``organization_fields.<key>`` (organizations),
``user_fields.<key>`` (users). ``RecordRef.kind`` is ``organization`` or ``user``.

Zendesk documents no length limit for ``notes``/``details`` [gap]; ``note_max_length``
(default 30,000 characters) stays below a 64 KiB text column even for 2-byte characters
[assumption, unconfirmed].
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.target import ZendeskTarget

CONNECTOR = ConnectorSpec.desk(
    "zendesk",
    ZendeskConfig,
    ZendeskTarget,
    f"{__name__}.simulator",
    webhook=f"{__name__}.webhook:WEBHOOK",
    bulk_write="organizations/users update_many (100 a job)",
    label="Zendesk",
    demo=DemoSpec(
        fast={"incremental_per_minute": 6_000, "job_seconds": 0.01, "job_poll_initial": 0.01},
        port=8703,
        mappings="",
    ),
)

__all__ = ["CONNECTOR", "ZendeskConfig", "ZendeskTarget"]
