"""HubSpotSource: the SalesSource protocol over HubSpot's search, associations and lists."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health, SourceDeal
from connectors.clock import VirtualClock
from connectors.errors import ConnectorError
from connectors.http import VendorClient
from connectors.paging import CursorPaging, Page, Where
from connectors.ratelimit import VendorGate
from connectors.sales.hubspot.auth import build_auth, classify_token
from connectors.sales.hubspot.config import HubSpotConfig
from connectors.sales.hubspot.errors import make_classifier, read_limits
from connectors.sales.hubspot.needs import Needs
from connectors.sales.hubspot.payloads import (
    archived_deal,
    catalog_fields,
    deal_payload,
    decode_cursor,
    encode_cursor,
    fixed_fields,
    source_deal,
)
from connectors.sales.hubspot.related import RelatedReader, related_for
from connectors.sales.hubspot.search import Batch, Hit, WindowReader
from connectors.sales.hubspot.select import parse_select
from connectors.sales.hubspot.timefmt import to_ms
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.hubspot")

DEFAULT_RATE_PER_SECOND = 10.0
"""100 requests per 10 s: the lowest private-app tier (Free/Starter)."""
CATALOG_PREFIXES = {"deals": "", "companies": "companies.", "contacts": "contacts."}
"""Object types whose properties the catalog lists, and their payload path prefixes."""
LIST_PAGE = 100
"""Object list endpoints page at most 100 records."""


class _Progress:
    """The furthest point up to which every deal is read, as the checkpoint to hand out."""

    def __init__(self, since: Cursor | None, lower_ms: int) -> None:
        self._fallback = since or encode_cursor(lower_ms, "")
        self.best: tuple[int, str] | None = None

    def advance(self, point: tuple[int, str] | None) -> bool:
        """Move forward to ``point`` if it is further; True when the checkpoint moved."""
        if point is None or (self.best is not None and _key(point) <= _key(self.best)):
            return False
        self.best = point
        return True

    def cursor(self) -> Cursor:
        """The checkpoint to store with the page just read."""
        return encode_cursor(*self.best) if self.best is not None else self._fallback


class HubSpotSource:
    """Changed deals of one HubSpot account, with companies, contacts and owner embedded."""

    system = "hubspot"

    def __init__(
        self,
        name: str,
        config: HubSpotConfig,
        options: ConnectorOptions | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        options = options or ConnectorOptions()
        self.name = name
        self.config = config
        self.timing = VirtualClock(options.sleep)
        self._now = now or (lambda: datetime.now(UTC))
        token_client = (
            self._client(options, None, classify_token, self._gate(None, burst=1))
            if config.uses_oauth
            else None
        )
        self.auth = build_auth(config, token_client, clock=self.timing.now)
        rate = config.rate_per_second or DEFAULT_RATE_PER_SECOND
        classify = make_classifier(config.account_time_zone, config.daily_limit_recheck, self._now)
        self.api = self._client(options, self.auth, classify, self._gate(rate, burst=int(rate)))
        search_gate = self._gate(config.search_rate_per_second, burst=1)
        self.search_api = self._client(options, self.auth, classify, search_gate)
        self._clients = [c for c in (self.api, self.search_api, token_client) if c is not None]
        self._related = RelatedReader(self.api)

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Deals changed in [cursor - overlap, run start], oldest first; then archived ones."""
        since = None if query.full else since
        lower_ms = self._lower_bound(since)
        upper_ms = to_ms(self._now())
        select = parse_select(query.select)  # refuse a bad filter before any call
        needs = await self._needs(query)
        progress = _Progress(since, lower_ms)
        reader = WindowReader(
            self._search,
            properties=list(needs.deal),
            select=select,
            limit=self.config.page_size,
        )
        owners: dict[str, dict[str, Any]] | None = None
        async for batch in reader.batches(lower_ms, upper_ms):
            moved = progress.advance(batch.complete_through)
            if not batch.hits and not moved:
                continue
            if needs.owner and owners is None and batch.hits:
                owners = await self._related.owners(required=needs.owner_required)
            deals = await self._deals(batch, needs, owners)
            yield DealPage(deals=tuple(deals), checkpoint=progress.cursor())
        if self.config.read_archived:
            async for page in self._archived_pages(lower_ms, upper_ms, progress):
                yield page

    async def field_catalog(self) -> list[FieldInfo]:
        """Deal, company and contact properties as payload paths, plus the fixed paths."""
        fields = fixed_fields()
        for object_type, prefix in CATALOG_PREFIXES.items():
            props = await self._properties(object_type)
            fields += catalog_fields(f"{prefix}properties.", props)
        return fields

    async def check(self) -> Health:
        """Authenticate and read one deal; report the rate budget HubSpot says is left."""
        params = {"limit": 1, "properties": "hs_lastmodifieddate", "archived": "false"}
        try:
            await self.api.get_json("/crm/v3/objects/deals", operation="check", params=params)
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        return Health(ok=True, detail="deals are readable", api_usage=self._usage())

    async def aclose(self) -> None:
        """Close every HTTP client this source opened."""
        for client in self._clients:
            await client.aclose()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far across the API, search and token clients (retries included)."""
        return sum(c.stats.total for c in self._clients)

    def deal_url(self, deal_id: str) -> str | None:
        """Deep link to the deal record in HubSpot's web app (needs ``portal_id``)."""
        if self.config.portal_id is None:
            return None
        root = self.config.app_url.rstrip("/")
        return f"{root}/contacts/{self.config.portal_id}/record/0-3/{deal_id}"

    async def _needs(self, query: DealQuery) -> Needs:
        needs = Needs.from_paths(query.fields)
        if not needs.everything:
            return needs
        names = {}
        for object_type in CATALOG_PREFIXES:
            props = await self._properties(object_type)
            names[object_type] = tuple(str(p["name"]) for p in props if "name" in p)
        return needs.with_all_properties(names)

    async def _properties(self, object_type: str) -> list[dict[str, Any]]:
        """``GET /crm/v3/properties/{type}``: the property definitions HubSpot lists."""
        path = f"/crm/v3/properties/{object_type}"
        data = await self.api.get_json(path, operation="properties")
        results = data.get("results") if isinstance(data, dict) else None
        return [p for p in results if isinstance(p, dict)] if isinstance(results, list) else []

    async def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.search_api.request(
            "POST",
            "/crm/v3/objects/deals/search",
            operation="search deals",
            json=body,
            idempotent=True,
        )
        data = self.search_api.decode(response, "search deals")
        return data if isinstance(data, dict) else {}

    async def _deals(
        self, batch: Batch, needs: Needs, owners: dict[str, dict[str, Any]] | None
    ) -> list[SourceDeal]:
        hits: Sequence[Hit] = batch.hits
        related = {}
        if hits:
            wanted = {"companies": needs.companies, "contacts": needs.contacts}
            related = await related_for(self._related, [h.id for h in hits], wanted)
        return [source_deal(h, deal_payload(h, related, owners), self.deal_url(h.id)) for h in hits]

    async def _archived_pages(
        self, lower_ms: int, upper_ms: int, progress: _Progress
    ) -> AsyncIterator[DealPage]:
        """Archived deals in the window as deletions (the search API never returns them).

        Cost: HubSpot cannot filter archived deals by date, so every run lists all of them
        (about 90 days' worth are kept), 100 per request, and filters by ``archivedAt`` here.
        """
        found = [d for d in await self._archived() if lower_ms <= to_ms(d.modified_at) <= upper_ms]
        found.sort(key=lambda d: (d.modified_at, len(d.id), d.id))
        size = self.config.page_size
        for start in range(0, len(found), size):
            chunk = found[start : start + size]
            progress.advance((to_ms(chunk[-1].modified_at), chunk[-1].id))
            yield DealPage(deals=tuple(chunk), checkpoint=progress.cursor())

    async def _archived(self) -> list[SourceDeal]:
        params: dict[str, Any] = {
            "archived": "true",
            "limit": LIST_PAGE,
            "properties": "hs_lastmodifieddate,dealname",
        }

        async def fetch(after: str | None) -> Page[SourceDeal, str]:
            query = params if after is None else {**params, "after": after}
            data = await self.api.get_json(
                "/crm/v3/objects/deals", operation="archived deals", params=query
            )
            data = data if isinstance(data, dict) else {}
            found = [
                archived_deal(raw, self.deal_url(str(raw.get("id"))))
                for raw in data.get("results") or []
                if isinstance(raw, dict)
            ]
            following = ((data.get("paging") or {}).get("next") or {}).get("after")
            return Page(
                items=[deal for deal in found if deal is not None],
                following=None if following in (None, "") else str(following),
            )

        where = Where(self.name, "archived deals", "HubSpot")
        paging = CursorPaging(fetch, where=where, position="paging token")
        return [deal async for page in paging.pages() for deal in page.items]

    def _lower_bound(self, since: Cursor | None) -> int:
        if since is None:
            return 0
        ms, _ = decode_cursor(since)
        return max(0, ms - self.config.overlap_seconds * 1000)

    def _usage(self) -> str | None:
        signal = self.api.gate.last_signal
        if signal.remaining is None or signal.limit is None:
            return None
        return f"{signal.remaining}/{signal.limit} requests left in the 10-second window"

    def _gate(self, rate: float | None, *, burst: int) -> VendorGate:
        return VendorGate(
            rate_per_second=rate,
            burst=max(1, burst),
            max_in_flight=self.config.max_in_flight,
            clock=self.timing.now,
            sleep=self.timing.sleep,
        )

    def _client(
        self, options: ConnectorOptions, auth: Any, classifier: Any, gate: VendorGate
    ) -> VendorClient:
        return VendorClient(
            connector=self.name,
            base_url=self.config.base_url,
            auth=auth,
            classify=classifier,
            read_limits=read_limits,
            gate=gate,
            transport=options.transport,
            timeout=self.config.timeout,
            sleep=self.timing.sleep if options.sleep is not None else None,
        )


def _key(point: tuple[int, str]) -> tuple[int, int, str]:
    return (point[0], len(point[1]), point[1])
