"""Microsoft Dynamics 365 Sales as a source (``kind: dynamics``): opportunities and their account
over the Dataverse Web API (OData v4).

Calls, per run (N = deals read, C = changed deals, B = ``id_batch_size`` (50), P = ``page_size``
(1,000), T = tables read: opportunity + each navigation property the mapping reaches):

=================================================================  ==============================
``POST {authority}/{tenant}/oauth2/v2.0/token``                     1 per process, +1 an hour
``GET EntityDefinitions(LogicalName='<t>')``                        1 per table T (metadata is
``GET EntityDefinitions(LogicalName='<t>')/Attributes``             kept ``metadata_max_age``,
``GET .../Attributes/Microsoft.Dynamics.CRM.<Choice>Metadata``      1 h): 2-6 per table
first read: ``GET opportunities?$select=modifiedon`` + track-changes  N / 5,000 (ids only)
first read: ``GET opportunities?$select&$expand&$orderby``           N / P
later: ``GET <@odata.deltaLink>``                                   1 per 5,000 changes (>= 1)
later: ``GET opportunities?$filter=opportunityid eq .. or ..``      C / B, account expanded
``modifiedon`` mode: ``GET opportunities?$filter=modifiedon ge ..``  N / P (+ departures)
``check``: ``GET EntityDefinitions(...)`` + ``GET opportunities``   1 + 1
=================================================================  ==============================

So a 5,000-deal first read costs 17 requests (1 token, 10 metadata: 6 for opportunity, 4 for
account; 1 tracked page; 5 data pages), 0.0034 per deal; a later run with C changes costs
1 + C/50 (``python -m bench.dynamics_requests``). Related accounts come by ``$expand`` in the
same calls, never one call per deal.

Vendor facts behind the choices (``FACTS.md`` sections; sources listed there):

* Auth: Entra ID client credentials, scope ``<environment>/.default``; no refresh token, so a new
  grant is made ahead of ``expires_in`` and once more after a 401 (§2): :mod:`.auth`.
* Change tracking: ``Prefer: odata.track-changes`` gives a delta link on the last page; the
  delta lists changed rows and ``$deletedEntity`` items; no ``$filter``/``$orderby``/
  ``$expand``/``$top`` with it (§6.2-6.5), hence the ids-only tracked read and the batched
  re-reads; the reported risk that rows changed during a paged initial load never reach a
  later delta (§6.3) is covered because every deal is read after the link was taken:
  :mod:`.reads`. An expired or invalid link (``0x80044352``, keyed on the code, any status,
  §6.7) starts a full re-read; unchanged deals are then skipped by the engine's fingerprint.
* Without change tracking (table setting, §6.1, or ``incremental: modifiedon``): polling by
  ``modifiedon ge cursor - overlap`` ordered by ``modifiedon, opportunityid`` (§4.4, §5);
  deletions cannot be seen that way.
* Paging: ``Prefer: odata.maxpagesize`` (at most 5,000) and ``@odata.nextLink`` sent unchanged
  (§4): :mod:`.client`.
* Custom columns and choices: metadata ``Attributes`` and the choice casts with their
  ``OptionSet``/``GlobalOptionSet`` (§7); labels replace choice values in the payload, from
  metadata rather than ``FormattedValue`` annotations (§3.5, §6.3): :mod:`.metadata`.
* Limits: 6,000 requests and 1,200 s of execution time per user in 5 minutes, 52 concurrent;
  429 with ``Retry-After`` (§8): a sliding-window gate, 4 requests in flight, Retry-After
  honoured, a very long one stops the job with the time it ends: :mod:`.errors`.

Payload and paths: :mod:`.payloads`; catalog: :mod:`.catalog`. Unconfirmed (FACTS.md "Gaps"):
the HTTP status of an expired delta token, the 401 body, whether ``opportunity`` tracks changes
by default, and the URL length a batch of ids may reach (hence 50 ids per call).
"""

from __future__ import annotations

from connectors.registry import ConnectorSpec, DemoSpec, DemoTerritory, SelectForm
from connectors.sales.dynamics.config import ClientCredentials, DynamicsConfig
from connectors.sales.dynamics.odata import SELECT_EXAMPLE, SELECT_LANGUAGE, select_problem
from connectors.sales.dynamics.source import DynamicsSource

CONNECTOR = ConnectorSpec(
    kind="dynamics",
    role="source",
    config_model=DynamicsConfig,
    factory=DynamicsSource,
    select=SelectForm(language=SELECT_LANGUAGE, example=SELECT_EXAMPLE, check=select_problem),
    label="Dynamics 365",
    demo=DemoSpec(
        connector={
            "base_url": "https://central-sales.crm4.dynamics.test",
            "auth": {
                "tenant_id": "7d1c2f3a-5b6e-4c7d-8e9f-0a1b2c3d4e5f",
                "client_id": "51f81489-12ee-4a9e-aaae-a2591f45987d",
                "client_secret": "${DEALBRIDGE_DYNAMICS_SECRET}",
            },
        },
        territory=DemoTerritory(
            job="central",
            connector="dynamics_central",
            territory="Central",
            mapping="central-dynamics.yaml",
        ),
    ),
    webhook=f"{__name__}.webhook:WEBHOOK",
).played_by(f"{__name__}.simulator")

__all__ = ["CONNECTOR", "ClientCredentials", "DynamicsConfig", "DynamicsSource"]
