"""ZohoSource: the SalesSource protocol over Zoho CRM's COQL (or list), deleted and fields APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health, SourceDeal
from connectors.errors import ConnectorError, PermanentError
from connectors.sales.zoho.catalog import ModuleFields, field_infos, module_fields
from connectors.sales.zoho.client import ZohoApi
from connectors.sales.zoho.config import ZohoConfig
from connectors.sales.zoho.coql import CoqlReader
from connectors.sales.zoho.deleted import DeletedReader
from connectors.sales.zoho.listing import ListReader
from connectors.sales.zoho.payloads import (
    CursorState,
    Point,
    coql_payload,
    decode_cursor,
    deleted_deal,
    encode_cursor,
    list_payload,
    parse_time,
    problems,
    row_point,
)
from connectors.sales.zoho.plan import ReadPlan, plan_reads, related_needed
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.zoho")

DEPARTURE_COLUMNS = ("id", "Modified_Time")


class _Progress:
    """The furthest (Modified_Time, id) read; checkpoints never move back."""

    def __init__(self, start: Point | None) -> None:
        self.best = start

    def advance(self, point: Point) -> None:
        if self.best is None or point > self.best:
            self.best = point

    def cursor(self, deleted: datetime | None) -> Cursor:
        return encode_cursor(CursorState(live=self.best, deleted=deleted))


class ZohoSource:
    """Changed deals of one Zoho CRM org, with account (and contact, owner) fields embedded."""

    system = "zoho"

    def __init__(
        self,
        name: str,
        config: ZohoConfig,
        options: ConnectorOptions | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._now = now or (lambda: datetime.now(UTC))
        self.api = ZohoApi(name, config, options or ConnectorOptions(), wall_clock=self._now)
        self._problems: list[str] = []
        self._deleted_until: datetime | None = None

    def problems(self) -> list[str]:
        """Deal-level findings of the last read: picklist values the catalog does not list,
        lookups to deleted accounts, deletions beyond what Zoho lists in one poll."""
        return list(self._problems)

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Deals modified at or after the cursor minus ``overlap_seconds`` (all when ``full``),
        oldest first; then deals that left the select condition; then deletions. Each page's
        checkpoint covers what was read before it."""
        self._problems = []
        state = decode_cursor(since)
        if query.select and self.config.read_via == "list":
            raise PermanentError(
                "the mapping's select is a COQL condition, and this connector reads with "
                "read_via: list; set read_via: coql or remove select",
                who_acts="admin",
                operation="select",
            )
        plan = await self.plan(query.fields)
        overlap = timedelta(seconds=self.config.overlap_seconds)
        lower = None if query.full or state.live is None else state.live[0] - overlap
        progress = _Progress(state.live)
        matched: set[str] = set()
        async for payloads in self._live(plan, query.select, lower):
            deals = [self._deal(p, plan) for p in payloads]
            for deal in deals:
                progress.advance((deal.modified_at, deal.id))
                matched.add(deal.id)
            yield DealPage(deals=tuple(deals), checkpoint=progress.cursor(state.deleted))
        if query.select and self.config.track_departures and lower is not None:
            async for page in self._departures(lower, matched, progress, state.deleted):
                yield page
        self._deleted_until = state.deleted
        async for page in self._deletions(query, state, lower, progress):
            yield page
        yield DealPage(deals=(), checkpoint=progress.cursor(self._deletion_mark(progress)))

    async def field_catalog(self) -> list[FieldInfo]:
        """Deal fields, lookups, the related records' fields and picklist labels."""
        deals = await self._fields(self.config.module)
        related = {}
        for lookup in self.config.related_lookups:
            item = deals.get(lookup)
            if item is not None and item.data_type == "lookup" and item.lookup_module:
                related[lookup] = await self._fields(item.lookup_module)
        return field_infos(deals, related)

    async def check(self) -> Health:
        """Refresh the token and read one deal id; report the credits Zoho says are left."""
        params = {"fields": "Modified_Time", "per_page": 1}
        try:
            await self.api.get(f"/{self.config.module}", "check", params=params)
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        session = await self.api.tokens.current()
        return Health(
            ok=True,
            detail=f"{self.config.module} are readable at {session.api_domain}",
            api_usage=self.usage_text(),
        )

    async def aclose(self) -> None:
        """Close the API and token clients."""
        await self.api.aclose()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (API and token endpoint, retries included)."""
        return sum(stats.total for stats in self.api.stats)

    def usage_text(self) -> str | None:
        """``"41200 API credits left (rolling 24 h)"`` once Zoho has said so."""
        left = self.api.meter.remaining
        return None if left is None else f"{left} API credits left (rolling 24 h)"

    def deal_url(self, deal_id: str) -> str | None:
        """The deal in Zoho's web UI, when ``record_url`` is configured."""
        template = self.config.record_url
        return template.replace("{id}", deal_id) if template else None

    async def plan(self, paths: Sequence[str]) -> ReadPlan:
        """What this run reads, checked against the live fields metadata."""
        deals = await self._fields(self.config.module)
        needed = related_needed(paths, deals, self.config.related_lookups)
        related = {lookup: await self._fields(module) for lookup, module in needed.items()}
        plan = plan_reads(tuple(paths), deals, related)
        plan.check_width(coql=self.config.read_via == "coql")
        return plan

    async def _live(
        self, plan: ReadPlan, select: str | None, lower: datetime | None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        module, size = self.config.module, self.config.page_size
        if self.config.read_via == "coql":
            reader = CoqlReader(
                self.api, module, plan.coql_columns(), condition=select, page_size=size
            )
            async for rows in reader.pages(lower, small_first=lower is not None):
                yield [coql_payload(row, plan) for row in rows]
            return
        lister = ListReader(self.api, module, plan, page_size=size)
        async for rows in lister.pages(lower):
            related = await lister.related(rows)
            yield [list_payload(row, related, plan) for row in rows]

    async def _departures(
        self, lower: datetime, matched: set[str], progress: _Progress, deleted: datetime | None
    ) -> AsyncIterator[DealPage]:
        """Deals changed in the window that the select condition no longer matches: reported
        as removed, so their terms leave the note (COQL has no NOT, so: changed minus matched)."""
        reader = CoqlReader(
            self.api,
            self.config.module,
            DEPARTURE_COLUMNS,
            condition=None,
            page_size=self.config.page_size,
        )
        async for rows in reader.pages(lower, small_first=True):
            departed = []
            for row in rows:
                moment, deal_id = row_point(row)
                if deal_id not in matched:
                    payload = {"id": deal_id, "Modified_Time": row["Modified_Time"]}
                    payload["departed"] = True
                    departed.append(
                        SourceDeal(
                            id=deal_id,
                            modified_at=moment,
                            payload=payload,
                            deleted=True,
                            url=self.deal_url(deal_id),
                        )
                    )
            if departed:
                yield DealPage(deals=tuple(departed), checkpoint=progress.cursor(deleted))

    async def _deletions(
        self, query: DealQuery, state: CursorState, lower: datetime | None, progress: _Progress
    ) -> AsyncIterator[DealPage]:
        """Deletions since the last watermark (every one Zoho lists on a full read; none on a
        first read: nothing is known yet that could be deleted)."""
        if not self.config.read_deleted or (state.live is None and not query.full):
            return
        overlap = timedelta(seconds=self.config.overlap_seconds)
        since = None if query.full else (state.deleted - overlap if state.deleted else lower)
        reader = DeletedReader(self.api, self.config.module, page_size=self.config.page_size)
        async for entries in reader.pages(since):
            found = (deleted_deal(e, self.deal_url(str(e.get("id")))) for e in entries)
            deals = [deal for deal in found if deal is not None]
            for deal in deals:
                self._deleted_until = max(self._deleted_until or deal.modified_at, deal.modified_at)
            if deals:
                yield DealPage(deals=tuple(deals), checkpoint=progress.cursor(state.deleted))
        if reader.capped and reader.resume_at is None:
            self._problems.append(
                f"Zoho's deleted list showed only the newest 2,000 deals deleted since "
                f"{since or 'its retention start'}; older deletions cannot be read, so those "
                "deals stay on customer notes until their terms expire or a person resolves them"
            )

    def _deletion_mark(self, progress: _Progress) -> datetime | None:
        """Where the next deletions poll starts: the newest time Zoho itself reported, a
        deletion's or a live deal's (never this machine's clock, which may differ from Zoho's).
        A deal deleted after this run read it is deleted after that time, so it is not missed."""
        marks = [m for m in (self._deleted_until, progress.best and progress.best[0]) if m]
        return max(marks) if marks else None

    def _deal(self, payload: dict[str, Any], plan: ReadPlan) -> SourceDeal:
        deal_id = str(payload["id"])
        modified = parse_time(payload.get("Modified_Time"))
        assert modified is not None  # the readers drop rows without one
        self._problems += problems(deal_id, payload, plan)
        return SourceDeal(
            id=deal_id, modified_at=modified, payload=payload, url=self.deal_url(deal_id)
        )

    async def _fields(self, module: str) -> ModuleFields:
        return await module_fields(self.api.fields, module)
