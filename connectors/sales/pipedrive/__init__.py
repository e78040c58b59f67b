"""Pipedrive as a sales source (``kind: pipedrive``): deals with their organization, person and
owner, through API v2 (v1 only for the users list, which has no v2 twin).

Calls, per run (N = changed deals, P = ``page_size``, at most 500; tokens per FACTS.md §7.2):

===============================================================  ==========================  ======
call                                                             how many                    tokens
===============================================================  ==========================  ======
``POST {token_url}`` (OAuth only)                                1 per process, +1 an hour   -
``GET /api/v2/deals?updated_since&sort_by=update_time&cursor``   N/P (>= 1)                  10
``GET /api/v2/deals?status=deleted&updated_since...``            deleted/P (>= 1)            10
``GET /api/v2/deals/archived?updated_since...``                  archived/P (>= 1; optional) 20
``GET /api/v2/deals/archived?status=deleted&updated_since...``   the same (with archived)    20
``GET /api/v2/dealFields`` (+ organization/personFields)         1 each per run with deals,  10?
                                                                 only for custom paths read
``GET /api/v2/organizations?ids=`` / ``persons?ids=``            1 per 100 distinct ids of   10
                                                                 a page (cached in the run)
``GET /v1/users?start&limit=500``                                1 per 500 users, per run    20
                                                                 with deals; only for owner.*
``GET /api/v2/{deal,organization,person}Fields``                 ``field_catalog``: 3        10?
``GET /api/v2/deals?limit=1``                                    ``check``: 1                10
===============================================================  ==========================  ======

So a run with nothing changed costs 4 calls and 60 tokens (2 calls, 20 tokens without
``read_archived``), and a 5,000-deal backfill about 0.004
(100 organizations) to 0.023 (every deal its own organization and person) requests per deal:
``python -m bench.pipedrive_backfill``.

Vendor facts behind the choices (``connectors/sales/pipedrive/FACTS.md``; sources listed there):

* v1 deal, person and organization lists were deprecated 14 Apr 2025 and are out of support since
  1 Aug 2026 (§1.3): only v2 is used for them.
* Auth (§2): ``x-api-token`` header, or OAuth 2 refresh at oauth.pipedrive.com with HTTP Basic
  client credentials; calls go to the token answer's ``api_domain``; tokens live ``expires_in``
  (60 min) and are renewed ahead of it, and once after a 401: :mod:`.auth`.
* Incremental (§3.1, §3.3-3.4, §9.1): ``updated_since`` is inclusive, ``update_time`` has
  one-second resolution, so the checkpoint is the newest second read plus the deal versions
  (id and a digest) read in it; the next run re-reads that second and skips only those
  versions, so a later write in that second, even to a deal already read, is not lost:
  :mod:`.cursor`. Pages follow
  ``next_cursor`` (keyset, so a deal updated while paging is read again later, never lost):
  :mod:`.paging`. A run stops one second before the ``Date`` of Pipedrive's first answer
  (its own clock): the three walks are fetched at different moments, and without that bound a
  deal deleted between them could fall behind the checkpoint.
* Deletions (§4.1-4.2): ``status=deleted`` lists deals deleted up to 30 days ago with
  ``is_deleted: true``; they become ``SourceDeal(deleted=True)``. That ``update_time`` moves on
  delete is documented for persons and assumed for deals. Archived deals (§3.5) left
  ``GET /deals`` on 15 Jul 2025; they are read from ``/deals/archived`` and stay live deals
  (``is_archived: true`` in the payload): archiving hides a deal, it does not void its terms.
  An archived deal that is then deleted is in no ``/deals`` list either, so
  ``/deals/archived?status=deleted`` is walked too.
* Custom fields (§5): 40-character hash keys, per company, never renamed; the payload addresses
  them by name (``custom_fields.payment_terms``) with option ids as labels: :mod:`.catalog`. A
  renamed field stops the job with old and new name; an option id without a label, or an
  organization/person that no longer exists, fails only that deal (unreadable marker).
* Related records (§6.1): ``?ids=`` takes 100 ids; unknown ids are left out silently.
* Limits (§7): burst per 2-second window by plan (a sliding-window gate, plus the
  ``x-ratelimit-*`` headers); 429 with Retry-After waited out; a spent daily token budget (or the
  admin's ``max_tokens_per_day``) stops the job with the reset time: :mod:`.errors`,
  :mod:`.limits`. Error envelope and statuses (§8) in :mod:`.errors`.

Not confirmed from primary sources (FACTS.md "Gaps"): v2 error bodies, Retry-After on budget 429s
and the reset time zone, the token cost of the v2 field catalogs and ``/v1/users``, tie order at
equal ``update_time`` (not relied on), whether deleting a deal moves its ``update_time``, and the
list endpoint's read-after-write lag (``overlap_seconds`` covers it when set).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory, SelectForm
from connectors.sales.pipedrive.config import ApiTokenAuth, OAuthAuth, PipedriveConfig
from connectors.sales.pipedrive.select import SELECT_EXAMPLE, SELECT_LANGUAGE, select_problem
from connectors.sales.pipedrive.source import PipedriveSource

CONNECTOR = ConnectorSpec(
    kind="pipedrive",
    role="source",
    config_model=PipedriveConfig,
    factory=PipedriveSource,
    select=SelectForm(language=SELECT_LANGUAGE, example=SELECT_EXAMPLE, check=select_problem),
    label="Pipedrive",
    demo=DemoSpec(
        connector={"auth": {"flow": "api_token", "api_token": "${DEALBRIDGE_PIPEDRIVE_TOKEN}"}},
        port=8705,
        territory=DemoTerritory(
            job="nordics",
            connector="pipedrive_nordics",
            territory="Nordics",
            mapping="nordics-pipedrive.yaml",
        ),
    ),
    webhook=f"{__name__}.webhook:WEBHOOK",
).played_by(f"{__name__}.simulator")

__all__ = [
    "CONNECTOR",
    "ApiTokenAuth",
    "OAuthAuth",
    "PipedriveConfig",
    "PipedriveSource",
]
