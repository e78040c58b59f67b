"""The ServiceNow REST calls dealbridge makes, on top of the shared ``VendorClient``.

Every call is counted against the hourly budget before it is sent (``pacing``); a Batch API
call counts one request plus, when ``batch_items_count`` is set, one per item (how the
instance counts batch items is undocumented, FACTS.md 8.6). Responses feed the limit the
instance reports (``X-RateLimit-Limit``) back into the budget, and the instance's clock
(``Date``) to the identity feed.

List calls use the unversioned Table API URL, which is the latest version: on a valid query
with no rows v1 answers 404 while later versions answer 200 with an empty ``result``
(FACTS.md 4.1). Reference fields are asked without their links
(``sysparm_exclude_reference_link=true``, 2.2).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from connectors.errors import PermanentError
from connectors.http import VendorClient
from connectors.paging import next_link
from connectors.ratelimit import LimitSignal, VendorGate
from connectors.service.servicenow.auth import build_auth, classify_token
from connectors.service.servicenow.batch import BATCH_PATH, BatchAnswer, BatchItem, envelope, parse
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.errors import make_classifier, read_limits, server_time
from connectors.service.servicenow.pacing import Pacing
from connectors.settings import ConnectorOptions

TABLE = "/api/now/table"
MAX_PAGES = 10_000
"""A listing that announces more pages than this is following a loop, not data."""


@dataclass(frozen=True)
class ListPage:
    """One page of a Table API listing."""

    rows: list[Any]
    """As the instance sent them: a row that is not an object is kept for the record reader
    to report (``read_each``: the desk, the kind, its position in the page), not dropped."""
    next_path: str | None
    vendor_time: datetime


class ServiceNowApi:
    """Typed access to the Table API and the Batch API for one connector instance."""

    def __init__(
        self, name: str, config: ServiceNowConfig, options: ConnectorOptions, pacing: Pacing
    ) -> None:
        self.config = config
        self.pacing = pacing
        token_client = VendorClient(
            connector=name,
            base_url=config.base_url,
            classify=classify_token,
            gate=VendorGate(max_in_flight=1, clock=pacing.clock, sleep=pacing.sleep),
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json"},
            sleep=pacing.retry_sleep,
        )
        self._token_client = token_client
        auth, self.grant = build_auth(config, token_client)
        classify = make_classifier(config.max_throttle_wait)
        self.http = VendorClient.for_json_api(
            name,
            config,
            options,
            pacing,
            auth=auth,
            classify=classify,
            read_limits=self._read_limits,
        )
        self.last_signal = LimitSignal()

    async def list_page(self, table: str, params: Mapping[str, Any], *, operation: str) -> ListPage:
        """``GET /api/now/table/{table}`` with ``params``."""
        query = {"sysparm_exclude_reference_link": "true", **params}
        response = await self._send("GET", f"{TABLE}/{table}", operation, params=query)
        return self._page(response, operation)

    async def follow(self, path: str, *, operation: str) -> ListPage:
        """The page a ``Link: rel="next"`` path names."""
        response = await self._send("GET", path, operation)
        return self._page(response, operation)

    async def list_all(self, table: str, params: Mapping[str, Any], *, operation: str) -> list[Any]:
        """Every row of a listing as sent, following ``next`` links (small tables and IN
        queries); a caller that reads no records keeps the objects (``objects``)."""
        page = await self.list_page(table, params, operation=operation)
        rows = list(page.rows)
        seen: set[str] = set()
        while page.next_path is not None and page.next_path not in seen and len(seen) < MAX_PAGES:
            seen.add(page.next_path)
            page = await self.follow(page.next_path, operation=operation)
            rows += page.rows
        return rows

    async def patch(
        self, table: str, sys_id: str, body: Mapping[str, str], fields: str
    ) -> dict[str, Any]:
        """``PATCH /api/now/table/{table}/{sys_id}``: the stored record's ``fields``."""
        params = {"sysparm_fields": fields, "sysparm_exclude_reference_link": "true"}
        response = await self._send(
            "PATCH", f"{TABLE}/{table}/{sys_id}", f"update {table}", params=params, json=body
        )
        return self._result(response, f"update {table}")

    async def create(self, table: str, body: Mapping[str, str], fields: str) -> dict[str, Any]:
        """``POST /api/now/table/{table}``: the created record's ``fields`` (201)."""
        params = {"sysparm_fields": fields, "sysparm_exclude_reference_link": "true"}
        response = await self._send(
            "POST", f"{TABLE}/{table}", f"create {table}", params=params, json=body
        )
        return self._result(response, f"create {table}")

    async def batch(self, items: list[BatchItem]) -> BatchAnswer:
        """One Batch API call. Its items are PATCHes of fixed values, safe to send again, so
        the call itself may be retried after a transient failure."""
        cost = 1 + (len(items) if self.config.batch_items_count else 0)
        body = envelope(uuid.uuid4().hex, items)
        response = await self._send(
            "POST", BATCH_PATH, "batch", json=body, cost=cost, idempotent=True
        )
        return parse(self.http.decode(response, "batch"), [item.id for item in items])

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.http.aclose()
        await self._token_client.aclose()

    async def _send(
        self,
        method: str,
        url: str,
        operation: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        cost: int = 1,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        await self.pacing.hourly.spend(cost)
        return await self.http.request(
            method, url, operation=operation, params=params, json=json, idempotent=idempotent
        )

    def _page(self, response: httpx.Response, operation: str) -> ListPage:
        body = self.http.decode(response, operation)
        rows = body.get("result") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise PermanentError(
                "ServiceNow answered a listing without a result list",
                connector=self.http.connector,
                operation=operation,
            )
        return ListPage(
            rows=rows,
            next_path=next_link(response.headers.get("link")),
            vendor_time=server_time(response),
        )

    def _result(self, response: httpx.Response, operation: str) -> dict[str, Any]:
        body = self.http.decode(response, operation)
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise PermanentError(
                "ServiceNow answered without the record",
                connector=self.http.connector,
                operation=operation,
            )
        return result

    def _read_limits(self, response: httpx.Response) -> LimitSignal:
        signal = read_limits(response)
        self.pacing.hourly.adopt(signal.limit, response.headers.get("x-ratelimit-rule"))
        self.last_signal = signal if signal.limit is not None else self.last_signal
        return signal
