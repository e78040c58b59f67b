"""The Dataverse Web API calls the source makes, on the shared ``VendorClient``.

Every request carries the OData headers (FACTS.md §1.2) and goes through one gate per
connector instance: a sliding window of ``requests_per_window`` in ``window_seconds`` (6,000 in
300 s per user, §8.1) and at most ``max_in_flight`` requests at once (4 by default: 4 x 300 s
is exactly the 1,200 s of combined execution time a window allows, so that limit cannot be
reached). A 429 is waited out for its ``Retry-After`` by every caller (§8.2-8.3); a wait longer
than ``max_retry_after`` stops the job (:func:`.errors.budget_exhausted`).

Paging is server-driven (§4): ``Prefer: odata.maxpagesize=N``, then each ``@odata.nextLink``
unchanged with the same ``Prefer``, until a page has none; a change-tracking read ends with an
``@odata.deltaLink`` on its last page (§6.2-6.3).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.clock import VirtualClock
from connectors.errors import PermanentError
from connectors.http import VendorClient
from connectors.paging import CursorPaging, Where
from connectors.ratelimit import LimitSignal, VendorGate, Window
from connectors.sales.dynamics.auth import ClientCredentialsGrant, RenewingTokenAuth
from connectors.sales.dynamics.config import DynamicsConfig
from connectors.sales.dynamics.errors import (
    classify_token,
    make_classifier,
    read_limits,
    remaining_requests,
)
from connectors.sales.dynamics.odata import TRACK_CHANGES, prefer
from connectors.settings import ConnectorOptions

ODATA_HEADERS = {
    "Accept": "application/json",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "If-None-Match": "null",
}


@dataclass(frozen=True)
class ODataPage:
    """One page of a collection read."""

    rows: list[dict[str, Any]]
    next_link: str | None
    delta_link: str | None
    tracking: bool
    """The server applied ``odata.track-changes`` (``Preference-Applied``)."""

    @property
    def following(self) -> str | None:
        """The ``@odata.nextLink`` the paging strategy follows."""
        return self.next_link


class DataverseApi:
    """Typed access to the Web API for one connector instance."""

    def __init__(self, name: str, config: DynamicsConfig, options: ConnectorOptions) -> None:
        self.timing = VirtualClock(options.sleep)
        self.config = config
        self.remaining: int | None = None
        retry_sleep = self.timing.sleep if self.timing.is_virtual else None
        self.token_http = VendorClient(
            connector=name,
            base_url=config.auth.endpoint(),
            classify=classify_token,
            gate=self._gate(None, None, 1),
            transport=options.transport,
            timeout=config.timeout,
            headers={"Accept": "application/json"},
            sleep=retry_sleep,
        )
        self.grant = ClientCredentialsGrant(self.token_http, config, clock=self.timing.now)
        self.auth = RenewingTokenAuth(self.grant)
        window = None if config.rate_per_second else _window(config)
        self.http = VendorClient(
            connector=name,
            base_url=f"{config.api_root}/",
            auth=self.auth,
            classify=make_classifier(config.max_retry_after),
            read_limits=self._read_limits,
            gate=self._gate(config.rate_per_second, window, config.max_in_flight),
            transport=options.transport,
            timeout=config.timeout,
            headers=ODATA_HEADERS,
            sleep=retry_sleep,
        )

    @property
    def now(self) -> Callable[[], float]:
        """The clock the gates and token expiry use (virtual under test)."""
        return self.timing.now

    async def get(
        self, url: str, params: Mapping[str, str] | None, *, operation: str
    ) -> dict[str, Any]:
        """GET one JSON object (metadata and single reads)."""
        response = await self.http.request("GET", url, operation=operation, params=params)
        return self._object(response, operation)

    async def page(
        self,
        url: str,
        params: Mapping[str, str] | None,
        *,
        page_size: int,
        track_changes: bool = False,
        operation: str,
    ) -> ODataPage:
        """One page of a collection; ``url`` may be a nextLink or deltaLink (sent unchanged)."""
        response = await self.http.request(
            "GET",
            url,
            operation=operation,
            params=params,
            headers=prefer(page_size=page_size, track_changes=track_changes),
        )
        body = self._object(response, operation)
        rows = body.get("value")
        applied = response.headers.get("preference-applied", "")
        return ODataPage(
            rows=[r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else [],
            next_link=_link(body.get("@odata.nextLink")),
            delta_link=_link(body.get("@odata.deltaLink")),
            tracking=TRACK_CHANGES in applied.lower(),
        )

    async def pages(
        self,
        url: str,
        params: Mapping[str, str] | None,
        *,
        page_size: int,
        track_changes: bool = False,
        operation: str,
    ) -> AsyncIterator[ODataPage]:
        """Every page of a read: the first, then each nextLink with the same ``Prefer``."""

        async def fetch(link: str | None) -> ODataPage:
            # the first request carries the query; a nextLink carries the whole query itself
            target, query = (url, params) if link is None else (link, None)
            return await self.page(
                target, query, page_size=page_size, track_changes=track_changes, operation=operation
            )

        where = Where(self.http.connector, operation, "Dataverse")
        async for page in CursorPaging(fetch, where=where, position="@odata.nextLink").pages():
            yield page

    async def aclose(self) -> None:
        """Close both HTTP clients."""
        await self.http.aclose()
        await self.token_http.aclose()

    @property
    def requests_sent(self) -> int:
        """Requests sent so far to the Web API and the token endpoint (retries included)."""
        return self.http.stats.total + self.token_http.stats.total

    def _read_limits(self, response: httpx.Response) -> LimitSignal:
        left = remaining_requests(response)
        if left is not None:
            self.remaining = left
        return read_limits(response)

    def _object(self, response: httpx.Response, operation: str) -> dict[str, Any]:
        if response.status_code == 204 or not response.content:
            return {}  # "an empty JSON response" for a delta without changes (FACTS.md §6.5)
        body = self.http.decode(response, operation)
        if not isinstance(body, dict):
            raise PermanentError(
                f"Dataverse answered {type(body).__name__} where an object was expected",
                connector=self.http.connector,
                operation=operation,
            )
        return body

    def _gate(self, rate: float | None, window: Window | None, in_flight: int) -> VendorGate:
        clock = self.timing.now if self.timing.is_virtual else time.monotonic
        sleep = self.timing.sleep if self.timing.is_virtual else asyncio.sleep
        return VendorGate(
            rate_per_second=rate,
            window=window,
            max_in_flight=in_flight,
            clock=clock,
            sleep=sleep,
        )


def _window(config: DynamicsConfig) -> Window:
    return Window(config.requests_per_window, config.window_seconds)


def _link(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
