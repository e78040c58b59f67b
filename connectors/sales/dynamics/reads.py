"""The three ways deals are read, each yielding pages whose checkpoints are safe to store.

**First read (change tracking).** Two steps (FACTS.md §6.2-6.4):

1. ``GET opportunities?$select=modifiedon`` with ``Prefer: odata.track-changes`` pages to its
   end (5,000 ids a page) for the ``@odata.deltaLink`` on the last page. Change tracking allows
   no ``$filter``/``$orderby``/``$expand``, and these pages are thrown away: only the link counts.
2. Then every deal is read *after* the link was taken, with ``$expand`` and the admin's select,
   ordered by ``modifiedon, opportunityid`` (§4.4). The link's data token describes the end of
   step 1, and a row changed while step 1 paged may never show in a later delta (§6.3, reported
   for the SDK): step 2 reads each such row in its current state anyway, so no overlapping
   ``modifiedon`` re-read is needed. The last page's checkpoint is that delta link, so whatever
   changed while the read paged (a deletion too) arrives with the next run.

**Later reads (delta).** ``GET <deltaLink>`` lists changed ids (with ``modifiedon``) and
``$deletedEntity`` items (§6.5). Changed deals are read again, ``id_batch_size`` at a time, with
``$filter=(opportunityid eq ... or ...) and (<select>)`` and ``$expand``: the related account
comes in the same call (never one call per deal), and a changed deal the filter no longer
returns (deleted since, or out of the select) is reported as removed. The new delta link is the
checkpoint of the last page; earlier pages keep the old one, which re-reads the same changes.

**Polling (modifiedon).** When change tracking is off for the table or in the config:
``modifiedon ge <cursor - overlap>`` ordered by ``modifiedon, opportunityid`` (§5). Ties are
read again, never skipped. Deletions cannot be seen this way (§5.3); deals that left the
select are read first as removals, as the Salesforce source does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog

from connectors.base import DealPage, SourceDeal
from connectors.sales.dynamics import odata
from connectors.sales.dynamics.client import DataverseApi
from connectors.sales.dynamics.config import MAX_PAGE_SIZE, DynamicsConfig
from connectors.sales.dynamics.cursor import Position
from connectors.sales.dynamics.metadata import TableSchema
from connectors.sales.dynamics.needs import ReadPlan
from connectors.sales.dynamics.payloads import (
    DEAL_KEY,
    DEAL_SET,
    Notes,
    deal_payload,
    deal_url,
    deleted_entity_id,
    live_deal,
    parse_modifiedon,
    removed_deal,
)

log = structlog.get_logger("dealbridge.dynamics")

ORDER = "modifiedon asc,opportunityid asc"


class DealReads:
    """One run's reads: what to select, how to label, where to record problems."""

    def __init__(  # noqa: PLR0913 - one run's whole context
        self,
        api: DataverseApi,
        config: DynamicsConfig,
        deals: TableSchema,
        related: Mapping[str, TableSchema],
        plan: ReadPlan,
        condition: str | None,
        notes: Notes,
        now: Callable[[], datetime],
    ) -> None:
        self._api = api
        self._config = config
        self._deals = deals
        self._related = {name: related[name] for name in plan.navigations}
        self._plan = plan
        self._condition = condition
        self._notes = notes
        self._now = now

    # -- change tracking ------------------------------------------------------------------
    async def track(self) -> str | None:
        """Step 1 of a first read: the delta link (None when change tracking was not applied)."""
        link: str | None = None
        async for page in self._api.pages(
            DEAL_SET,
            {"$select": "modifiedon"},
            page_size=MAX_PAGE_SIZE,
            track_changes=True,
            operation="start change tracking",
        ):
            link = page.delta_link or link
            if not page.tracking and link is None:
                log.warning("dynamics_change_tracking_not_applied", page_rows=len(page.rows))
        return link

    async def load(self, link: str, after: datetime | None) -> AsyncIterator[DealPage]:
        """Step 2 of a first read: every deal (from ``after`` on), pages checkpointed "load"
        and the last one with the delta link."""
        lower = f"modifiedon ge {odata.datetime_literal(after)}" if after else None
        params = self._params(odata.combine(lower, self._condition), ordered=True)
        mark = after
        async for page in self._api.pages(
            DEAL_SET, params, page_size=self._config.page_size, operation="read deals"
        ):
            deals = self._rows(page.rows)
            mark = max((d.modified_at for d in deals), default=mark)
            done = page.next_link is None
            checkpoint = Position("delta", link=link) if done else Position("load", link, mark)
            yield DealPage(deals=tuple(deals), checkpoint=checkpoint.cursor())

    async def delta(self, link: str) -> AsyncIterator[DealPage]:
        """Changes since ``link``: changed deals re-read in batches, then deletions."""
        async for page in self._api.pages(
            link, None, page_size=MAX_PAGE_SIZE, operation="read changes"
        ):
            changed: list[str] = []
            deleted: list[str] = []
            for row in page.rows:
                gone = deleted_entity_id(row)
                if gone is not None:
                    deleted.append(gone)
                elif isinstance(row.get(DEAL_KEY), str):
                    changed.append(str(row[DEAL_KEY]))
            keep = Position("delta", link=link).cursor()
            size = self._config.id_batch_size
            for start in range(0, len(changed), size):
                deals = await self.reread(changed[start : start + size])
                yield DealPage(deals=tuple(deals), checkpoint=keep)
            final = page.next_link is None
            following = Position("delta", link=page.delta_link or link).cursor()
            when = self._now()
            removed = tuple(removed_deal(i, when, self._url(i)) for i in dict.fromkeys(deleted))
            yield DealPage(deals=removed, checkpoint=following if final else keep)

    async def reread(self, ids: Sequence[str]) -> list[SourceDeal]:
        """Current rows of ``ids`` that still match the select; the rest as removed."""
        condition = odata.combine(odata.ids_filter(DEAL_KEY, ids), self._condition)
        params = self._params(condition, ordered=False)
        found: dict[str, SourceDeal] = {}
        async for page in self._api.pages(
            DEAL_SET, params, page_size=self._config.page_size, operation="read changed deals"
        ):
            for deal in self._rows(page.rows):
                found[deal.id.lower()] = deal
        when = self._now()
        deals = sorted(found.values(), key=lambda d: (d.modified_at, d.id))
        missing = [i for i in dict.fromkeys(ids) if i.lower() not in found]
        return deals + [removed_deal(i, when, self._url(i)) for i in missing]

    # -- polling --------------------------------------------------------------------------
    async def poll(self, since: datetime | None) -> AsyncIterator[DealPage]:
        """Deals with ``modifiedon ge since - overlap`` (all when ``since`` is None)."""
        lower = None if since is None else since - timedelta(seconds=self._config.overlap_seconds)
        bound = f"modifiedon ge {odata.datetime_literal(lower)}" if lower else None
        if since is not None and lower is not None and self._condition:
            async for departed in self._departures(bound, Position("modifiedon", ts=since)):
                yield departed
        params = self._params(odata.combine(bound, self._condition), ordered=True)
        mark = since
        async for page in self._api.pages(
            DEAL_SET, params, page_size=self._config.page_size, operation="read changed deals"
        ):
            deals = self._rows(page.rows)
            mark = max((d.modified_at for d in deals), default=mark)
            if mark is not None:
                checkpoint = Position("modifiedon", ts=mark).cursor()
                yield DealPage(deals=tuple(deals), checkpoint=checkpoint)

    async def _departures(self, bound: str | None, keep: Position) -> AsyncIterator[DealPage]:
        """Deals changed in the window that no longer match the select, as removals."""
        condition = odata.combine(bound, f"not ({self._condition})")
        params = {"$select": "modifiedon", "$filter": condition or ""}
        async for page in self._api.pages(
            DEAL_SET, params, page_size=MAX_PAGE_SIZE, operation="read departed deals"
        ):
            when = self._now()
            ids = [str(r[DEAL_KEY]) for r in page.rows if isinstance(r.get(DEAL_KEY), str)]
            removed = tuple(removed_deal(i, when, self._url(i)) for i in ids)
            yield DealPage(deals=removed, checkpoint=keep.cursor())

    # -- rows -----------------------------------------------------------------------------
    def _params(self, condition: str | None, *, ordered: bool) -> dict[str, str]:
        params = self._plan.params()
        if condition:
            params["$filter"] = condition
        if ordered:
            params["$orderby"] = ORDER
        return params

    def _rows(self, rows: Sequence[dict[str, Any]]) -> list[SourceDeal]:
        deals = []
        for row in rows:
            if isinstance(row.get(DEAL_KEY), str) and row[DEAL_KEY]:
                deals.append(self._live(row))
            else:
                self._notes.add("Dataverse returned a deal row without opportunityid; skipped")
        return deals

    def _live(self, row: dict[str, Any]) -> SourceDeal:
        payload = deal_payload(row, self._deals, self._related, self._notes)
        deal_id = str(payload.get(DEAL_KEY) or "")
        modified = parse_modifiedon(row.get("modifiedon"))
        if modified is None:
            self._notes.add(f"deal {deal_id}: modifiedon {row.get('modifiedon')!r} is unreadable")
            modified = self._now()
        return live_deal(payload, modified, self._url(deal_id))

    def _url(self, deal_id: str) -> str:
        return deal_url(self._config.base_url, deal_id)
