"""The Zendesk Support API calls dealbridge makes, on top of the shared ``VendorClient``.

Auth is HTTP Basic with ``{email}/token`` as user name and the API token as password
(developer.zendesk.com Users API code samples). Every call goes through the account gate;
incremental exports also wait for their own 10-a-minute budget.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx
from pydantic_core import to_json

from connectors.auth import StaticHeaderAuth
from connectors.errors import PermanentError
from connectors.http import VendorClient
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.errors import classify, read_limits
from connectors.service.zendesk.pacing import Pacing
from connectors.service.zendesk.payloads import PLURAL
from connectors.settings import ConnectorOptions

SHOW_MANY_MAX = 100
"""``show_many?ids=`` and ``?external_ids=`` take up to 100 each [doc: Users API "Show Many
Users", Organizations API "Show Many Organizations"]."""
SEARCH_PAGE = 100
"""Search answers at most 100 results a page and 1,000 a query [doc: Search API]."""
SEARCH_PAGES = 10


class ZendeskApi:
    """Typed access to the handful of endpoints the target uses."""

    def __init__(
        self, name: str, config: ZendeskConfig, options: ConnectorOptions, pacing: Pacing
    ) -> None:
        token = config.api_token.get_secret_value()
        auth = StaticHeaderAuth.basic(f"{config.email}/token", token)
        self.pacing = pacing
        self.http = VendorClient.for_json_api(
            name, config, options, pacing, auth=auth, classify=classify, read_limits=read_limits
        )

    async def incremental(self, kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page of an incremental export (organizations: time-based; users: cursor)."""
        path = (
            "/api/v2/incremental/users/cursor.json"
            if kind == "user"
            else "/api/v2/incremental/organizations.json"
        )
        async with self.pacing.during(self.pacing.incremental):
            return await self._object("GET", path, f"export_{PLURAL[kind]}", params=params)

    async def show_many(self, kind: str, ids: Sequence[str]) -> list[Any]:
        """``GET /api/v2/{plural}/show_many.json?ids=1,2`` (at most 100 ids); missing ids vanish.
        The rows as sent: one that is not an object is for the reader to report (``read_each``)."""
        return await self._show_many(kind, "ids", ids, f"read_{PLURAL[kind]}")

    async def show_many_external(self, kind: str, external_ids: Sequence[str]) -> list[Any]:
        """``GET /api/v2/{plural}/show_many.json?external_ids=a,b`` (at most 100; Zendesk
        compares external ids case-insensitively); unknown ids vanish."""
        return await self._show_many(kind, "external_ids", external_ids, f"lookup_{PLURAL[kind]}")

    async def _show_many(
        self, kind: str, by: str, values: Sequence[str], operation: str
    ) -> list[Any]:
        plural = PLURAL[kind]
        body = await self._object(
            "GET", f"/api/v2/{plural}/show_many.json", operation, **_listed(by, values)
        )
        rows = body.get(plural)
        return rows if isinstance(rows, list) else []

    async def search(self, path: str, query: str, key: str, operation: str) -> list[Any]:
        """Every page of a search (``/api/v2/search.json`` answers ``results``,
        ``/api/v2/users/search.json`` answers ``users``), up to Zendesk's 1,000 results, as
        sent (a hit that is not an object is the reader's to report)."""
        found: list[Any] = []
        url: str | None = path
        params: dict[str, Any] | None = {"query": query, "per_page": SEARCH_PAGE}
        for _ in range(SEARCH_PAGES):
            if url is None:
                break
            body = await self._object("GET", url, operation, params=params)
            rows = body.get(key)
            found += rows if isinstance(rows, list) else []
            following = body.get("next_page")
            url = _same_host(following)
            params = None  # the next_page link carries the whole query
        return found

    async def update_many(
        self, kind: str, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[dict[str, Any], httpx.Response]:
        """``PUT /api/v2/{plural}/update_many.json``: the queued ``job_status`` and response."""
        plural = PLURAL[kind]
        operation = f"update_many_{plural}"
        response = await self.http.request(
            "PUT",
            f"/api/v2/{plural}/update_many.json",
            operation=operation,
            **json_body({plural: [dict(r) for r in rows]}),
        )
        return self._job(self.http.decode(response, operation), operation), response

    async def job_statuses(self, job_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``GET /api/v2/job_statuses/show_many.json?ids=a,b`` (at most 100): statuses by id;
        an expired job (statuses live about an hour) is simply missing."""
        operation = "job_status"
        body = await self._object(
            "GET", "/api/v2/job_statuses/show_many.json", operation, **_listed("ids", job_ids)
        )
        rows = body.get("job_statuses")
        found = [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
        return {str(r.get("id")): r for r in found}

    async def update_one(self, kind: str, record: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """``PUT /api/v2/{plural}/{id}.json`` (bulk fallback); answers the stored record."""
        plural = PLURAL[kind]
        body = {k: v for k, v in row.items() if k != "id"}
        answer = await self._object(
            "PUT", f"/api/v2/{plural}/{record}.json", f"update_{kind}", json={kind: body}
        )
        stored = answer.get(kind)
        return stored if isinstance(stored, dict) else {}

    async def field_definitions(self, kind: str) -> list[dict[str, Any]]:
        """Every ``/api/v2/{kind}_fields.json`` page, following ``next_page``."""
        collection = f"{kind}_fields"
        url: str | None = f"/api/v2/{collection}.json"
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            body = await self._object("GET", url, collection)
            rows = body.get(collection)
            found += [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []
            following = body.get("next_page")
            url = following if isinstance(following, str) and following else None
        return found

    async def ping(self) -> None:
        """The cheapest call that proves email, token and base URL: who am I."""
        body = await self._object("GET", "/api/v2/users/me.json", "check")
        user = body.get("user")
        if not isinstance(user, dict) or user.get("id") is None:
            raise PermanentError(
                "Zendesk answered as an anonymous user: the email or token was not accepted",
                who_acts="admin",
                connector=self.http.connector,
                operation="check",
            )

    async def aclose(self) -> None:
        """Close pooled connections."""
        await self.http.aclose()

    async def _object(self, method: str, url: str, operation: str, **sent: Any) -> dict[str, Any]:
        """One request whose answer must be a JSON object (``sent``: params, json)."""
        response = await self.http.request(method, url, operation=operation, **sent)
        return self.http.decode_object(response, operation, "Zendesk")

    def _job(self, body: Any, operation: str) -> dict[str, Any]:
        job = body.get("job_status") if isinstance(body, dict) else None
        if not isinstance(job, dict) or job.get("id") is None:
            raise PermanentError(
                "Zendesk answered without a job_status",
                connector=self.http.connector,
                operation=operation,
            )
        return job


PLAIN_ITEMS = re.compile(r"[A-Za-z0-9_.-]+(?:,[A-Za-z0-9_.-]+)*")
"""A comma-joined list of plain items (Zendesk's numeric record ids, job ids in hex)."""


def _listed(name: str, values: Sequence[str]) -> dict[str, Any]:
    """A ``name=a,b`` list as request arguments: ids as the query text itself, the commas
    as the docs write them (``?ids=1,2``; httpx's ``params`` would send each as ``%2C``,
    which the server reads the same, and quotes every id apart, ~0.3 ms for 100 ids);
    anything else (external ids are free text) as ``params`` for httpx to encode."""
    joined = ",".join(values)
    if PLAIN_ITEMS.fullmatch(joined):
        return {"query": f"{name}={joined}"}
    return {"params": {name: joined}}


_PLAIN_VALUES = frozenset({str, int, bool, type(None)})


def _plain_rows(rows: list[dict[str, Any]]) -> bool:
    """Whether every member of every row is text, a whole number, a bool or null, or an
    object of those under text keys (custom fields): values JSON writes one way only."""
    plain = _PLAIN_VALUES
    for row in rows:
        for key, value in row.items():
            if type(key) is not str:
                return False
            if type(value) in plain:
                continue
            if type(value) is dict and all(
                type(k) is str and type(v) in plain for k, v in value.items()
            ):
                continue
            return False
    return True


def json_body(body: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """An ``update_many`` body as request arguments: the bytes httpx's ``json=`` would send,
    made by pydantic-core's encoder (about a fifth of the CPU of ``json.dumps`` for 100
    rows) when every row is :func:`_plain_rows` (floats, NaN, odd keys or types would be
    written differently, or refused by ``json.dumps``: those go to httpx as ``json``, as do
    bodies pydantic-core cannot encode, such as lone surrogates)."""
    (rows,) = body.values()
    if _plain_rows(rows):
        try:
            content = to_json(body)
        except ValueError:  # PydanticSerializationError: json.dumps then fails its own way
            return {"json": body}
        headers = {"Content-Length": str(len(content)), "Content-Type": "application/json"}
        return {"content": content, "headers": headers}
    return {"json": body}


def _same_host(link: Any) -> str | None:
    """Path and query of a ``next_page`` link: the request goes to the configured account,
    so a link can never carry the credentials elsewhere."""
    if not isinstance(link, str) or not link:
        return None
    return httpx.URL(link).raw_path.decode("ascii")
