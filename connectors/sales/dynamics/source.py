"""DynamicsSource: the SalesSource protocol over the Dataverse Web API (see :mod:`.reads`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import structlog

from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health
from connectors.errors import ConnectorError
from connectors.sales.dynamics import odata
from connectors.sales.dynamics.catalog import field_catalog
from connectors.sales.dynamics.client import DataverseApi
from connectors.sales.dynamics.config import NAVIGATION_TARGETS, DynamicsConfig
from connectors.sales.dynamics.cursor import decode
from connectors.sales.dynamics.errors import StaleDeltaLink
from connectors.sales.dynamics.metadata import MetadataReader, TableSchema
from connectors.sales.dynamics.needs import navigations_of, plan_read
from connectors.sales.dynamics.payloads import DEAL_SET, DEAL_TABLE, Notes
from connectors.sales.dynamics.reads import DealReads
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.dynamics")


class DynamicsSource:
    """Changed opportunities of one Dataverse environment, with their account embedded."""

    system = "dynamics"

    def __init__(
        self,
        name: str,
        config: DynamicsConfig,
        options: ConnectorOptions | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.api = DataverseApi(name, config, options or ConnectorOptions())
        self.metadata = MetadataReader(
            self._metadata, clock=self.api.now, max_age=config.metadata_max_age
        )
        self._now = now or (lambda: datetime.now(UTC))
        self._notes = Notes()
        self.full_rereads = 0
        """How often a stale delta link made a read start over (for tests and status)."""

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Deals changed since the cursor, deletions included (see :mod:`.reads`)."""
        self._notes.clear()
        condition = odata.check_condition(query.select) if query.select else None
        position = None if query.full or since is None else decode(since)
        deals = await self.metadata.table(DEAL_TABLE)
        related = await self._related(navigations_of(query.fields, self.config.related))
        reads = DealReads(
            self.api,
            self.config,
            deals,
            related,
            plan_read(query.fields, deals, related),
            condition,
            self._notes,
            self._now,
        )
        tracking = self._tracking(deals)
        if not tracking:
            since_ts = position.ts if position and position.mode == "modifiedon" else None
            async for page in reads.poll(since_ts):
                yield page
            return
        if position is not None and position.mode == "delta" and position.link:
            try:
                async for page in reads.delta(position.link):
                    yield page
                return
            except StaleDeltaLink as exc:
                self.full_rereads += 1
                log.warning(
                    "dynamics_delta_link_stale",
                    connector=self.name,
                    error=str(exc),
                    detail="reading every deal again; unchanged deals are skipped by "
                    "fingerprint, deals deleted while the link was stale are not seen",
                )
        elif position is not None and position.mode == "load" and position.link:
            async for page in reads.load(position.link, position.ts):
                yield page
            return
        elif position is not None:
            log.info(
                "dynamics_switching_to_change_tracking",
                connector=self.name,
                detail="the cursor is from modifiedon polling: reading every deal once to "
                "start change tracking",
            )
        async for page in self._first_read(reads):
            yield page

    async def _first_read(self, reads: DealReads) -> AsyncIterator[DealPage]:
        link = await reads.track()
        if link is None:
            log.warning(
                "dynamics_change_tracking_unavailable",
                connector=self.name,
                detail="no delta link came back: reading by modifiedon (deletions are not "
                "seen); turn on Track changes for the Opportunity table",
            )
            async for page in reads.poll(None):
                yield page
            return
        async for page in reads.load(link, None):
            yield page

    def problems(self) -> list[str]:
        """Record-level problems of the last read (unlabelled choices, vanished accounts)."""
        return [f"{self.name}: {text}" for text in self._notes.items()]

    async def field_catalog(self) -> list[FieldInfo]:
        """The deal's columns and those of each configured navigation property."""
        deals = await self.metadata.table(DEAL_TABLE)
        return field_catalog(deals, await self._related(self.config.related))

    async def check(self) -> Health:
        """Sign in, read the deal table's definition and one deal id."""
        try:
            deals = await self.metadata.table(DEAL_TABLE)
            await self.api.page(
                DEAL_SET, {"$select": "opportunityid"}, page_size=1, operation="check"
            )
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        mode = "change tracking" if self._tracking(deals) else "modifiedon polling"
        detail = f"opportunities are readable; incremental reads by {mode}"
        if self.config.incremental == "change_tracking" and deals.change_tracking is False:
            detail += " (Track changes is off for the Opportunity table: deletions are not seen)"
        usage = None
        if self.api.remaining is not None:
            usage = f"{self.api.remaining} requests left in this 5-minute window (one web server)"
        return Health(ok=True, detail=detail, api_usage=usage)

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self.api.aclose()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (Web API and token endpoint, retries included)."""
        return self.api.requests_sent

    def _tracking(self, deals: TableSchema) -> bool:
        if self.config.incremental == "modifiedon":
            return False
        return deals.change_tracking is not False

    async def _related(self, navigations: tuple[str, ...]) -> dict[str, TableSchema]:
        return {
            name: await self.metadata.table(NAVIGATION_TARGETS[name][0]) for name in navigations
        }

    async def _metadata(self, path: str, params: dict[str, str] | None) -> object:
        return await self.api.get(path, params, operation="read metadata")
