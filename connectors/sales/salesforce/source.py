"""SalesforceSource: the SalesSource protocol over SOQL ``queryAll``, queryMore and describe."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog

from connectors.auth import TokenAuth
from connectors.base import Cursor, DealPage, DealQuery, FieldInfo, Health, SourceDeal
from connectors.clock import VirtualClock
from connectors.errors import ConnectorError
from connectors.http import VendorClient
from connectors.ratelimit import LimitSignal
from connectors.sales.salesforce.catalog import Describer, field_catalog
from connectors.sales.salesforce.config import SalesforceConfig
from connectors.sales.salesforce.payloads import (
    Sweep,
    clean,
    clean_record,
    deal_url,
    decode_cursor,
    decode_sweep,
    encode_cursor,
    is_cut_short,
    parse_datetime,
)
from connectors.sales.salesforce.soql import deals_query, departures_query, select_list
from connectors.salesforce_common.auth import SalesforceLogin
from connectors.salesforce_common.errors import (
    make_classifier,
    parse_api_usage,
    read_limits,
    token_classifier,
)
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.salesforce")

Point = tuple[datetime, str]


def session_expired(response: httpx.Response) -> bool:
    """Salesforce says "log in again" with 401 (errorCode INVALID_SESSION_ID)."""
    return response.status_code == httpx.codes.UNAUTHORIZED


class _Progress:
    """The checkpoint to hand out: the furthest (SystemModstamp, Id) read, never moving back,
    with the last overlap re-read."""

    def __init__(self, since: Point | None, sweep: Sweep | None) -> None:
        self.best = since
        self.sweep = sweep

    def advance(self, point: Point) -> None:
        if self.best is None or point > self.best:
            self.best = point

    def cursor(self, fallback: Cursor | None) -> Cursor | None:
        return fallback if self.best is None else encode_cursor(*self.best, self.sweep)


class SalesforceSource:
    """Changed deals of one Salesforce org, with account, owner and contact roles embedded."""

    system = "salesforce"

    def __init__(
        self, name: str, config: SalesforceConfig, options: ConnectorOptions | None = None
    ) -> None:
        options = options or ConnectorOptions()
        self.name = name
        self.config = config
        self.api_usage: tuple[int, int] | None = None
        self.token_client = self._client(options, None, token_classifier(config.auth.flow))
        self.login = SalesforceLogin(config, self.token_client)
        self.auth = TokenAuth(self.login, is_expired=session_expired)
        classify = make_classifier(config.throttle_retry_after, config.daily_limit_recheck)
        self.api = self._client(options, self.auth, classify)
        self.describer = Describer(self._describe)
        self.clock: Callable[[], float] = time.time
        """Our clock, for when the next overlap re-read is due (tests move it)."""

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        """Deals with SystemModstamp >= the cursor's (all of them when ``full``), oldest first
        and tie-broken by Id, deleted ones flagged; each page's checkpoint is its last record.
        With a select condition, deals that stopped matching it come first, as deletions (read
        before the main query so no change between the two is lost).

        The overlap: a record saved in a long transaction can become visible after a later
        one, with an earlier SystemModstamp (Salesforce's getUpdated returns
        ``latestDateCovered`` for this reason), so it may sit behind a cursor already past
        it. Once every ``overlap_seconds`` (our clock), a read starts ``overlap_seconds``
        before the cursor position the previous such read started from (``Sweep``): every
        record that became visible late since then is behind that bound, as long as no
        transaction takes longer than ``overlap_seconds`` to commit. Reads in between start
        at the cursor itself, so a doorbell run reads the new changes and the records at the
        cursor's own timestamp, not every change of the last five minutes again."""
        start = None if since is None else decode_cursor(since)
        lower, sweep = (None, None) if query.full or start is None else self._window(start, since)
        fields = select_list(query.fields, self.config.child_relationships)
        progress = _Progress(start, sweep)
        if (
            since is not None
            and lower is not None
            and query.select
            and self.config.track_departures
        ):
            async for page in self._departures(query.select, lower, since):
                yield page
        soql = deals_query(self.config.object, fields, since=lower, condition=query.select)
        async for records in self._batches(soql, "read changed deals"):
            instance = (await self.login.session()).instance_url
            deals = [await self._deal(r, instance, progress) for r in records]
            found = tuple(d for d in deals if d is not None)
            checkpoint = progress.cursor(since)
            if checkpoint is not None:  # None only when a first page held no usable record
                yield DealPage(deals=found, checkpoint=checkpoint)

    async def _departures(
        self, condition: str, lower: datetime, since: Cursor
    ) -> AsyncIterator[DealPage]:
        """Deals changed in the window that no longer match ``condition``, as deletions.

        Their pages keep the incoming cursor: the main query has not covered their time yet.
        """
        soql = departures_query(self.config.object, since=lower, condition=condition)
        async for records in self._batches(soql, "read departed deals"):
            instance = (await self.login.session()).instance_url
            deals = [await self._deal(r, instance, None) for r in records]
            yield DealPage(deals=tuple(d for d in deals if d is not None), checkpoint=since)

    async def field_catalog(self) -> list[FieldInfo]:
        """Own, parent and child-relationship paths from the (cached) describes."""
        return await field_catalog(
            self.describer, self.config.object, self.config.child_relationships
        )

    async def check(self) -> Health:
        """Log in and read one deal id; report the org's API usage Salesforce announced."""
        soql = f"SELECT Id FROM {self.config.object} LIMIT 1"  # noqa: S608 - object is an API name
        try:
            await self._get(f"{self.config.api_root}/query", "check", params={"q": soql})
        except ConnectorError as exc:
            return Health(ok=False, detail=str(exc))
        return Health(
            ok=True,
            detail=f"{self.config.object} records are readable ({self.login.flow} login)",
            api_usage=self.usage_text(),
        )

    async def aclose(self) -> None:
        """Close the API and token clients."""
        await self.api.aclose()
        await self.token_client.aclose()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (API and token endpoint, retries included)."""
        return self.api.stats.total + self.token_client.stats.total

    def usage_text(self) -> str | None:
        """``"18/5000 API requests used (rolling 24 h)"`` from the last Sforce-Limit-Info."""
        if self.api_usage is None:
            return None
        used, limit = self.api_usage
        return f"{used}/{limit} API requests used (rolling 24 h)"

    async def _batches(self, soql: str, operation: str) -> AsyncIterator[list[dict[str, Any]]]:
        """Run ``queryAll`` (deleted rows included) and follow ``nextRecordsUrl`` to the end."""
        body = await self._get(f"{self.config.api_root}/queryAll", operation, params={"q": soql})
        while True:
            records = body.get("records")
            records = (
                [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []
            )
            if records:
                yield records
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) is True or not isinstance(next_url, str) or not next_url:
                return
            body = await self._get(next_url, operation)

    async def _get(
        self, path: str, operation: str, params: dict[str, str] | None = None
    ) -> dict[str, Any]:
        session = await self.login.session()
        headers = {"Sforce-Query-Options": f"batchSize={self.config.page_size}"}
        response = await self.api.request(
            "GET",
            f"{session.instance_url}{path}",
            operation=operation,
            params=params,
            headers=headers,
        )
        body = self.api.decode(response, operation)
        return body if isinstance(body, dict) else {}

    async def _deal(
        self, raw: dict[str, Any], instance_url: str, progress: _Progress | None
    ) -> SourceDeal | None:
        """One record as a SourceDeal; ``progress`` is None for departures (ids only)."""
        record_id = raw.get("Id")
        if not isinstance(record_id, str) or not record_id:
            log.warning("salesforce_record_without_id", connector=self.name)
            return None
        modified = self._modstamp(raw, record_id, progress)
        if progress is not None:
            progress.advance((modified, record_id))
            cut_short: list[str] = []
            payload = clean_record(raw, self.config.child_relationships, cut_short)
            if cut_short:  # (rare) the rest of a child list is fetched, then cleaned with it
                await self._complete_children(raw)
                payload = clean_record(raw, self.config.child_relationships)
        else:
            payload = clean(raw)
        # Validated as ``SourceDeal(...)`` validates it, by the validator itself (the model's
        # Python ``__init__`` around it was a fifth of the cost; a page holds 2,000 records).
        deal: SourceDeal = SourceDeal.__pydantic_validator__.validate_python(
            {
                "id": record_id,
                "modified_at": modified,
                "payload": payload,
                "deleted": progress is None or raw.get("IsDeleted") in (True, "true"),
                "url": deal_url(instance_url, self.config.object, record_id),
            }
        )
        return deal

    def _modstamp(
        self, raw: dict[str, Any], record_id: str, progress: _Progress | None
    ) -> datetime:
        """SystemModstamp as aware UTC; an unreadable one borrows the last good time (the
        record was still ordered by Salesforce, so it belongs here) rather than being dropped."""
        modified = parse_datetime(raw.get("SystemModstamp"))
        if modified is not None:
            return modified
        log.warning(
            "salesforce_unreadable_modstamp",
            connector=self.name,
            deal=record_id,
            value=str(raw.get("SystemModstamp"))[:40],
        )
        if progress is not None and progress.best is not None:
            return progress.best[0]
        return datetime.now(UTC)

    async def _complete_children(self, raw: dict[str, Any]) -> None:
        """Fetch the rest of a child list Salesforce cut short (``done: false`` + a locator)."""
        for key, value in list(raw.items()):
            if not is_cut_short(value):
                continue
            records, next_url = list(value["records"]), value.get("nextRecordsUrl")
            while isinstance(next_url, str) and next_url:
                body = await self._get(next_url, f"read {key}")
                records += [r for r in body.get("records") or [] if isinstance(r, dict)]
                next_url = None if body.get("done", True) is True else body.get("nextRecordsUrl")
            raw[key] = {**value, "records": records, "done": True, "totalSize": len(records)}

    async def _describe(self, sobject: str) -> Any:
        session = await self.login.session()
        url = f"{session.instance_url}{self.config.api_root}/sobjects/{sobject}/describe"
        return await self.api.get_json(url, operation=f"describe {sobject}")

    def _window(self, start: Point, since: Cursor | None) -> tuple[datetime, Sweep | None]:
        """Where an incremental read starts, and the sweep its checkpoints record."""
        overlap = self.config.overlap_seconds
        last = None if since is None else decode_sweep(since)
        if overlap == 0:
            return start[0], None
        now = self.clock()
        if last is not None and 0 <= now - last.at < overlap:
            return start[0], last  # swept recently: from the cursor, ties included
        anchor = start[0] if last is None else min(last.anchor, start[0])
        return anchor - timedelta(seconds=overlap), Sweep(start[0], now)

    def _read_limits(self, response: httpx.Response) -> LimitSignal:
        usage = parse_api_usage(response.headers.get("sforce-limit-info"))
        if usage is not None:
            self.api_usage = usage
        return read_limits(response)

    def _client(
        self, options: ConnectorOptions, auth: httpx.Auth | None, classify: Any
    ) -> VendorClient:
        # Only the lead process reads the source: its gate keeps the whole budget.
        clock = VirtualClock(options.sleep)
        gate = clock.gate(
            rate_per_second=self.config.rate_per_second,
            max_in_flight=self.config.max_in_flight,
            shared=False,
        )
        return VendorClient(
            connector=self.name,
            base_url=self.config.base_url,
            auth=auth,
            classify=classify,
            read_limits=self._read_limits,
            gate=gate,
            transport=options.transport,
            timeout=self.config.timeout,
            headers={"Accept": "application/json"},
            sleep=clock.retry_sleep,
        )
