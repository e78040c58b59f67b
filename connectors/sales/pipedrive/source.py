"""PipedriveSource: the SalesSource protocol over API v2 (deals, organizations, persons, fields)."""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health, SourceDeal
from connectors.errors import ConnectorError, PermanentError
from connectors.sales.pipedrive import cursor as checkpoints
from connectors.sales.pipedrive.catalog import (
    ENTITY_CATALOGS,
    EntityFields,
    custom_field_infos,
    parse_catalog,
)
from connectors.sales.pipedrive.client import PipedriveClient
from connectors.sales.pipedrive.config import PAGE_MAX, PipedriveConfig
from connectors.sales.pipedrive.cursor import Checkpoint, digest
from connectors.sales.pipedrive.needs import PREFIXES, Needs
from connectors.sales.pipedrive.paging import Walk, cursor_pages, merge_by_time
from connectors.sales.pipedrive.payloads import (
    fixed_field_infos,
    owner_of,
    parse_time,
    readable_record,
    related,
    rfc3339,
    source_deal,
)
from connectors.sales.pipedrive.related import RelatedReader
from connectors.sales.pipedrive.select import parse_select
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.pipedrive")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DELETION_WINDOW = timedelta(days=30)
"""``status=deleted`` lists deals deleted up to 30 days ago (FACTS.md §4.1)."""
SETTLE = timedelta(seconds=1)
"""Seconds before the server's clock a run stops at (one second of skew between its hosts)."""
BELIEVABLE_SKEW = timedelta(hours=1)
"""A ``Date`` further than this from our clock is not used to bound a run."""
POLL_REFRESH = timedelta(days=1)
"""A run that finds nothing still stores when it polled, at most this often (one local
commit a day), so a quiet territory is not mistaken for one that was not polled."""

Item = tuple[str, dict[str, Any]]
"""(walk name, raw v2 deal)."""
DELETED_WALKS = frozenset({"deleted", "archived_deleted"})


def sort_key(raw: dict[str, Any]) -> tuple[datetime, int]:
    """(update_time, id): the order the walks are merged in."""
    deal_id = raw.get("id")
    return (
        parse_time(raw.get("update_time")) or EPOCH,
        deal_id if isinstance(deal_id, int) and not isinstance(deal_id, bool) else -1,
    )


class _Progress:
    """The newest second handed out and the deal versions handed out in it."""

    def __init__(self, start: Checkpoint | None) -> None:
        self.ts = start.ts if start else None
        self.seen = dict(start.seen) if start else {}

    def advance(self, moment: datetime, deal_id: int, version: str) -> None:
        if self.ts is None or moment > self.ts:
            self.ts, self.seen = moment, {deal_id: version}
        elif moment == self.ts:
            self.seen[deal_id] = version

    def checkpoint(self, keys: dict[str, str], polled: datetime) -> Cursor:
        assert self.ts is not None, "a page with deals always moves the progress"
        point = Checkpoint(ts=self.ts, seen=dict(self.seen), keys=keys, polled=polled)
        return checkpoints.encode(point)


class _Run:
    """One ``changed_deals`` call: its catalogs (read when first needed) and related reader."""

    def __init__(self, source: PipedriveSource, needs: Needs, start: Checkpoint | None) -> None:
        self.source = source
        self.needs = needs
        self.start = start
        self.related = RelatedReader(source.client)
        self.catalogs: dict[str, EntityFields] | None = None
        self.keys: dict[str, str] = dict(start.keys) if start else {}
        self.bound: datetime | None = None
        """Deals changed at or after this moment are left to the next run (see ``_bound``)."""
        self.started = source.now()

    async def fields(self) -> dict[str, EntityFields]:
        """The catalogs this read needs; the custom paths it reads checked against them."""
        if self.catalogs is None:
            self.catalogs = {}
            for entity in sorted(self.needs.catalogs):
                fields = await self.source.entity_fields(entity)
                self.keys.update(self._resolve(entity, fields))
                self.catalogs[entity] = fields
        return self.catalogs

    def _resolve(self, entity: str, fields: EntityFields) -> dict[str, str]:
        """``path -> hash key`` of every custom path read; a renamed or missing field stops
        the job with what to change (mapping it would silently empty the term)."""
        resolved = {}
        prefix = f"{PREFIXES[entity]}custom_fields."
        by_name = fields.by_path_name
        for name in self.needs.custom_paths.get(entity, ()):
            path = f"{prefix}{name}"
            if name in by_name:
                resolved[path] = by_name[name].key
                continue
            old_key = self.start.keys.get(path) if self.start else None
            renamed = fields.by_key.get(old_key) if old_key else None
            if renamed is not None:
                raise PermanentError(
                    f"the {entity} custom field the mapping reads as {path} was renamed in "
                    f"Pipedrive to '{renamed.name}' (same field, key {renamed.key}): change "
                    f"the mapping's path to {prefix}{renamed.path_name}",
                    who_acts="admin",
                    operation="custom fields",
                )
            close = difflib.get_close_matches(name, list(by_name), n=1, cutoff=0.5)
            hint = f"did you mean {prefix}{close[0]}?" if close else "check the field's name"
            raise PermanentError(
                f"the mapping reads {path}, but Pipedrive has no {entity} custom field with "
                f"that name (renamed or deleted?): {hint}",
                who_acts="admin",
                operation="custom fields",
            )
        return resolved


class PipedriveSource:
    """Changed deals of one Pipedrive company, with organization, person and owner embedded."""

    system = "pipedrive"

    def __init__(
        self,
        name: str,
        config: PipedriveConfig,
        options: ConnectorOptions | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._now = now or (lambda: datetime.now(UTC))
        self.client = PipedriveClient(name, config, options or ConnectorOptions(), now=self._now)
        self._problems: list[str] = []

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Deals whose ``update_time`` is at or after the checkpoint's second, oldest first,
        with deleted (``status=deleted``) and archived deals merged in by time; deal versions
        the checkpoint lists as read are skipped. ``query.full`` reads everything Pipedrive has,
        deletions of the last 30 days included."""
        start = None if query.full or since is None else checkpoints.decode(since)
        filters = parse_select(query.select)  # refuse a bad select before any call
        self._problems = []
        self._note_stale(start)
        run = _Run(self, Needs.from_paths(query.fields), start)
        progress = _Progress(start)
        batch: list[Item] = []
        yielded = False
        async for walk, raw in merge_by_time(self._walks(filters, start, run), sort_key):
            moment, deal_id = sort_key(raw)
            if run.bound is not None and moment >= run.bound:
                break  # merged in time order: everything still unread is as new or newer
            if deal_id < 0:
                log.warning("pipedrive_deal_without_id", connector=self.name)
                continue
            if start is not None and start.already_read(moment, deal_id, digest(raw)):
                continue
            batch.append((walk, raw))
            if len(batch) >= self.config.page_size:
                yield await self._page(run, batch, progress)
                batch, yielded = [], True
        if batch:
            yield await self._page(run, batch, progress)
        elif not yielded and start is not None and _poll_due(start, run.started):
            polled = replace(start, polled=run.started)
            yield DealPage(deals=(), checkpoint=checkpoints.encode(polled))

    async def field_catalog(self) -> list[FieldInfo]:
        """Standard deal, organization, person and owner paths, plus every custom field."""
        infos = fixed_field_infos()
        for entity in ENTITY_CATALOGS:
            infos += custom_field_infos(PREFIXES[entity], await self.entity_fields(entity))
        return infos

    async def check(self) -> Health:
        """Authenticate and read one deal; report the burst window and tokens spent."""
        try:
            await self.client.get(
                "/api/v2/deals", operation="check", params={"limit": 1}, endpoint="/api/v2/deals"
            )
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        flow = self.config.auth.flow
        usage = "; ".join(u for u in (self.client.burst_usage(), self.client.ledger.summary()) if u)
        return Health(ok=True, detail=f"deals are readable ({flow})", api_usage=usage)

    async def aclose(self) -> None:
        """Close the API and token clients."""
        await self.client.aclose()

    def now(self) -> datetime:
        """The connector's clock (injectable for tests)."""
        return self._now()

    def problems(self) -> list[str]:
        """What the last read found worth an admin's attention beyond single deals."""
        return list(self._problems)

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (API and token endpoint, retries included)."""
        return self.client.requests_sent

    async def entity_fields(self, entity: str) -> EntityFields:
        """One entity's custom fields from its v2 catalog (every page)."""
        path = ENTITY_CATALOGS[entity]
        items: list[dict[str, Any]] = []

        async def fetch(params: dict[str, Any]) -> dict[str, Any]:
            return await self.client.get(path, operation=f"read {entity} fields", params=params)

        async for page in cursor_pages(fetch, {"limit": PAGE_MAX}):
            items += page
        return parse_catalog(entity, items)

    def _walks(self, filters: dict[str, int], start: Checkpoint | None, run: _Run) -> list[Walk]:
        params: dict[str, Any] = {
            "sort_by": "update_time",
            "sort_direction": "asc",
            "limit": self.config.page_size,
            **filters,
        }
        if start is not None:
            lower = start.ts - timedelta(seconds=self.config.overlap_seconds)
            params["updated_since"] = rfc3339(lower)
        walks = [
            Walk("live", cursor_pages(self._first_bounds(run), params)),
            Walk(
                "deleted",
                cursor_pages(
                    self._lister("/api/v2/deals", "read deleted deals"),
                    {**params, "status": "deleted"},
                ),
            ),
        ]
        if self.config.read_archived:
            # Archived deals are in no /deals list, deleted or not (FACTS.md §3.5), so an
            # archived deal's deletion shows only in the archived list's deleted status.
            archived = self._lister("/api/v2/deals/archived", "read archived deals")
            walks.append(Walk("archived", cursor_pages(archived, params)))
            deleted = {**params, "status": "deleted"}
            gone = self._lister("/api/v2/deals/archived", "read deleted archived deals")
            walks.append(Walk("archived_deleted", cursor_pages(gone, deleted)))
        return walks

    def _first_bounds(self, run: _Run) -> Callable[[dict[str, Any]], Any]:
        """The live walk's fetch; its first answer's ``Date`` bounds the run.

        The three walks are fetched at different moments, and a deal deleted or archived in
        between could otherwise fall behind a checkpoint that later pages move past. Pipedrive
        stamps every change with its own clock, so a change after the first answer has an
        ``update_time`` at or after that answer's ``Date``: stopping the run one second (of
        skew) before it leaves every walk a consistent snapshot, and later changes to the next
        run. Without a believable ``Date`` the run is not bounded.
        """
        lister = self._lister("/api/v2/deals", "read changed deals")

        async def fetch(params: dict[str, Any]) -> dict[str, Any]:
            body: dict[str, Any] = await lister(params)
            if "cursor" not in params:
                run.bound = self._bound()
            return body

        return fetch

    def _bound(self) -> datetime | None:
        server = self.client.server_time
        if server is None:
            return None
        if abs(server - self._now()) > BELIEVABLE_SKEW:
            log.warning(
                "pipedrive_date_header_ignored", connector=self.name, date=server.isoformat()
            )
            return None
        return server.replace(microsecond=0) - SETTLE

    def _lister(self, path: str, operation: str) -> Callable[[dict[str, Any]], Any]:
        async def fetch(params: dict[str, Any]) -> dict[str, Any]:
            return await self.client.get(path, operation=operation, params=params)

        return fetch

    async def _page(self, run: _Run, batch: list[Item], progress: _Progress) -> DealPage:
        catalogs = await run.fields()
        live = [
            raw for walk, raw in batch if walk != "deleted" and raw.get("is_deleted") is not True
        ]
        needs = run.needs
        orgs = (
            await run.related.records(
                "organization", _ids(live, "org_id"), catalogs.get("organization")
            )
            if needs.organization
            else None
        )
        persons = (
            await run.related.records("person", _ids(live, "person_id"), catalogs.get("person"))
            if needs.person
            else None
        )
        users = await run.related.users() if needs.owner and live else None
        deals = []
        for walk, raw in batch:
            moment, deal_id = sort_key(raw)
            deleted = _deleted(walk, raw)
            payload = readable_record(raw, catalogs.get("deal"))
            if not deleted:
                if orgs is not None:
                    payload["organization"] = related("organization", raw, "org_id", orgs)
                if persons is not None:
                    payload["person"] = related("person", raw, "person_id", persons)
                if needs.owner:
                    payload["owner"] = owner_of(raw, users)
            deals.append(self._deal(raw, payload, moment, deleted=deleted))
            progress.advance(moment, deal_id, digest(raw))
        return DealPage(deals=tuple(deals), checkpoint=progress.checkpoint(run.keys, run.started))

    def _deal(
        self, raw: dict[str, Any], payload: dict[str, Any], moment: datetime, *, deleted: bool
    ) -> SourceDeal:
        if moment == EPOCH:
            log.warning("pipedrive_unreadable_update_time", deal=raw.get("id"))
        app_url = self.config.app_url or (
            self.client.grant.api_domain if self.client.grant is not None else None
        )
        return source_deal(raw, payload, modified=moment, deleted=deleted, app_url=app_url)

    def _note_stale(self, start: Checkpoint | None) -> None:
        if start is None or start.polled is None:
            return
        now = self._now()
        if now - start.polled <= DELETION_WINDOW:
            return
        problem = (
            f"{self.name}: the previous read was on {start.polled:%Y-%m-%d}, more than 30 days "
            "ago; Pipedrive lists deleted deals for 30 days only, so deals deleted before "
            f"{now - DELETION_WINDOW:%Y-%m-%d} are not reported as deleted. Run the job once "
            "with --full and review deals that no longer exist in Pipedrive"
        )
        log.warning("pipedrive_poll_older_than_deletion_window", connector=self.name)
        self._problems.append(problem)


def _poll_due(start: Checkpoint, now: datetime) -> bool:
    return start.polled is None or now - start.polled >= POLL_REFRESH


def _deleted(walk: str, raw: dict[str, Any]) -> bool:
    return walk in DELETED_WALKS or raw.get("is_deleted") is True


def _ids(deals: list[dict[str, Any]], key: str) -> list[int]:
    found = []
    for deal in deals:
        value = deal.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            found.append(value)
    return found
