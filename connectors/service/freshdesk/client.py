"""The Freshdesk API v2 calls dealbridge makes, on top of the shared ``VendorClient``.

Auth is HTTP Basic with the API key as user name and ``X`` as password (python-freshdesk
README; Freshdesk API docs "Authentication"). Every call goes through the main gate; contact
listings also wait for the contact-list gate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.auth import StaticHeaderAuth
from connectors.errors import PermanentError, RecordError
from connectors.http import VendorClient
from connectors.paging import CursorPaging, OffsetPaging, Where, next_link
from connectors.redact import register_secret
from connectors.service.freshdesk.config import FreshdeskConfig
from connectors.service.freshdesk.errors import classify, read_limits
from connectors.service.freshdesk.pacing import Pacing
from connectors.service.freshdesk.paging import SEARCH_MAX_PAGES, SEARCH_PAGE_SIZE
from connectors.service.freshdesk.payloads import PLURAL
from connectors.settings import ConnectorOptions

CONTACTS_PATH = "/api/v2/contacts"
COMPANIES_PATH = "/api/v2/companies"
SEARCH_COMPANIES_PATH = "/api/v2/search/companies"


@dataclass(frozen=True)
class ListPage:
    """One page of a list endpoint: its records, the raw response, and the ``rel="next"``
    link's path (None on the last page)."""

    rows: list[Any]
    """As sent (read through ``read_each``, which reports a row that is not an object)."""
    response: httpx.Response
    following: str | None

    @property
    def last(self) -> bool:
        """No further page."""
        return self.following is None


@dataclass(frozen=True)
class SearchPage:
    """One page of the filter API: its records, the total the query matched, and the next
    page's number (None on the last)."""

    rows: list[Any]
    total: int
    response: httpx.Response
    following: int | None = None


class FreshdeskApi:
    """Typed access to the handful of endpoints the target uses."""

    def __init__(
        self, name: str, config: FreshdeskConfig, options: ConnectorOptions, pacing: Pacing
    ) -> None:
        api_key = config.api_key.get_secret_value()
        register_secret(api_key)  # the key is Basic auth's user name, which is not masked
        self.pacing = pacing
        auth = StaticHeaderAuth.basic(api_key, "X")
        self.http = VendorClient.for_json_api(
            name, config, options, pacing, auth=auth, classify=classify, read_limits=read_limits
        )

    async def pages(
        self, path: str, params: Mapping[str, Any], *, operation: str
    ) -> AsyncIterator[ListPage]:
        """Every page of a list endpoint, following ``rel="next"`` links until none is left."""

        async def fetch(link: str | None) -> ListPage:
            if path == CONTACTS_PATH:
                await self.pacing.before_contact_list()
            # the first request carries the query; a next link carries the whole query itself
            url, query = (path, dict(params)) if link is None else (link, None)
            response = await self.http.request("GET", url, operation=operation, params=query)
            rows = self._rows(self.http.decode(response, operation), operation)
            following = next_link(response.headers.get("link"))
            return ListPage(rows=rows, response=response, following=following)

        where = Where(self.http.connector, operation, "Freshdesk")
        paging = CursorPaging(fetch, where=where, position="next-page link")
        async for page in paging.pages():
            yield page

    async def search_companies(self, query: str, *, operation: str) -> AsyncIterator[SearchPage]:
        """Pages of ``/api/v2/search/companies?query="..."`` (30 each, at most 10 pages)."""
        fetched = 0

        async def fetch(number: int) -> SearchPage:
            nonlocal fetched
            params = {"query": f'"{query}"', "page": number}
            response = await self.http.request(
                "GET", SEARCH_COMPANIES_PATH, operation=operation, params=params
            )
            body = self.http.decode(response, operation)
            body = body if isinstance(body, dict) else {}
            rows = self._rows(body.get("results"), operation)
            total = _int(body.get("total"), default=len(rows))
            fetched += len(rows)
            last = len(rows) < SEARCH_PAGE_SIZE or fetched >= total
            return SearchPage(rows, total, response, following=None if last else number + 1)

        paging = OffsetPaging(
            fetch,
            where=Where(self.http.connector, operation, "Freshdesk"),
            max_offset=SEARCH_MAX_PAGES + 1,
        )
        async for page in paging.pages(start=1):
            yield page

    async def get_record(self, kind: str, record_id: str) -> dict[str, Any] | None:
        """``GET /api/v2/{companies|contacts}/{id}``; None when Freshdesk says 404."""
        operation = f"read_{kind}"
        try:
            response = await self.http.request(
                "GET", f"/api/v2/{PLURAL[kind]}/{record_id}", operation=operation
            )
        except RecordError as exc:
            if exc.status == 404:
                return None
            raise
        body = self.http.decode(response, operation)
        return body if isinstance(body, dict) else None

    async def put_record(
        self, kind: str, record_id: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """``PUT /api/v2/{companies|contacts}/{id}``; the answer is the stored record."""
        operation = f"update_{kind}"
        response = await self.http.request(
            "PUT", f"/api/v2/{PLURAL[kind]}/{record_id}", operation=operation, json=dict(body)
        )
        stored = self.http.decode(response, operation)
        return stored if isinstance(stored, dict) else {}

    async def field_definitions(self, kind: str) -> list[Any]:
        """``GET /api/v2/{company|contact}_fields``: the account's field definitions."""
        body = await self.http.get_json(f"/api/v2/{kind}_fields", operation=f"{kind}_fields")
        return body if isinstance(body, list) else []

    async def ping(self) -> None:
        """The cheapest call that proves key, permissions and base URL: one company."""
        await self.http.request("GET", COMPANIES_PATH, operation="check", params={"per_page": 1})

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.http.aclose()

    def _rows(self, body: Any, operation: str) -> list[Any]:
        """The page's rows as sent: one that is not an object, or has no id, is kept for the
        record reader to report (``read_each``: desk, position, what it is), not dropped."""
        if not isinstance(body, list):
            raise PermanentError(
                f"Freshdesk answered {type(body).__name__} where a list was expected",
                connector=self.http.connector,
                operation=operation,
            )
        return body


def _int(value: Any, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
