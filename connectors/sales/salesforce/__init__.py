"""Salesforce source (``kind: salesforce``): deals from Opportunity over the REST API.

Calls, per job run (N = changed deals, B = records per batch, ``page_size`` 200..2000):

=======================================================  =========================================
``POST {base_url}/services/oauth2/token``                 1 per process, +1 per expired session
``GET {instance}/services/data/vXX.X/queryAll?q=SOQL``     1 per run (+1 with a select condition)
``GET {instance}/services/data/vXX.X/query/{locator}``     N/B - 1 (queryMore, ``nextRecordsUrl``)
``GET .../sobjects/{object}/describe``                    ``field_catalog``: 1 + parent and child
                                                          objects, cached per instance
``GET .../query?q=SELECT Id FROM {object} LIMIT 1``       ``check``: 1
=======================================================  =========================================

Vendor facts behind the choices (shared/vendor-apis/sales-apis.md section 1, and the sources it
cites):

* Auth: OAuth 2.0 client credentials (against the My Domain URL), JWT bearer (RS256;
  iss/sub/aud/exp, 3-minute exp as in simple-salesforce) or refresh token (rotation: a returned
  ``refresh_token`` replaces the old one). The token answer names ``instance_url``, the host for
  every API call [help.salesforce.com OAuth flow pages]. 401 ``INVALID_SESSION_ID`` = session
  expired: log in again once, then replay [simple-salesforce ``api.py``; restforce
  ``expired_session_response.json``]. See :mod:`connectors.salesforce_common.auth`, shared with
  the Service Cloud target.
* Incremental: SOQL on ``SystemModstamp`` (it also moves on system changes; tap-salesforce
  prefers it), ``>=`` the cursor (the records at its own timestamp are read again),
  ``ORDER BY SystemModstamp, Id``; the checkpoint is the last record's (SystemModstamp, Id).
  Once every ``overlap_seconds`` a read reaches ``overlap_seconds`` behind the position the
  previous such read started from, for saves that became visible after a later one (long
  transactions; the reason getUpdated returns ``latestDateCovered``). Deletions: ``queryAll``
  returns recycle-bin rows with ``IsDeleted = true`` (kept about 15 days) [REST API guide,
  QueryAll].
* Paging: ``done``/``nextRecordsUrl`` until ``done`` is true; batch size by
  ``Sforce-Query-Options: batchSize=N``, 200..2000, a hint Salesforce may lower [REST API guide,
  Query and Query Options Header]. Child subquery results may also be cut short with their own
  ``nextRecordsUrl``; they are followed.
* Relationships: parent fields by dot notation, children by subquery [SOQL reference,
  Relationship Queries]; payload shape in :mod:`.payloads`.
* Limits: ``Sforce-Limit-Info: api-usage=N/M`` on every response (rolling 24 h); the throttle is
  403 ``REQUEST_LIMIT_EXCEEDED`` without Retry-After [REST API guide, Limit Info Header and
  Status Codes]: on the spent 24-hour allocation a ``BudgetExhausted`` (the job waits
  ``daily_limit_recheck``, default 1 h), on the concurrent limit a wait of
  ``throttle_retry_after`` (default 60 s). Errors are ``[{message, errorCode,
  fields}]``; the errorCode table is in :mod:`connectors.salesforce_common.errors`.
* URI plus headers must stay under 16,384 bytes (414/431) [help article 000386264]: very wide
  mappings fail with a clear PermanentError rather than silently.
* Deep link: ``{instance_url}/lightning/r/{object}/{Id}/view``.

Unconfirmed: whether Salesforce ever sends Retry-After with REQUEST_LIMIT_EXCEEDED (it is
honoured if present).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory, SelectForm
from connectors.sales.salesforce.config import (
    ClientCredentialsAuth,
    JwtBearerAuth,
    RefreshTokenAuth,
    SalesforceConfig,
)
from connectors.sales.salesforce.soql import select_problem
from connectors.sales.salesforce.source import SalesforceSource

CONNECTOR = ConnectorSpec(
    kind="salesforce",
    role="source",
    config_model=SalesforceConfig,
    factory=SalesforceSource,
    select=SelectForm(
        language="a SOQL condition on the Opportunity (what follows WHERE, without WHERE)",
        example="select: \"Has_Special_Terms__c = true AND StageName = 'Closed Won'\"",
        check=select_problem,
    ),
    label="Salesforce",
    demo=DemoSpec(
        port=8701,
        territory=DemoTerritory(
            job="west",
            connector="salesforce_west",
            territory="West",
            mapping="west-salesforce.yaml",
        ),
    ),
    webhook=f"{__name__}.webhook:WEBHOOK",
).played_by(f"{__name__}.simulator")

__all__ = [
    "CONNECTOR",
    "ClientCredentialsAuth",
    "JwtBearerAuth",
    "RefreshTokenAuth",
    "SalesforceConfig",
    "SalesforceSource",
]
