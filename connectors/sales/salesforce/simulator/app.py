"""The simulator's HTTP surface: the documented REST paths, auth, limits and error bodies.

=======================================================  ======================================
``POST /services/oauth2/token``                          both grants (see :mod:`.oauth`)
``GET /services/data/``                                  versions list; no auth, not counted
``GET /services/data/vXX.X/query?q=`` and ``/queryAll``  SOQL (``queryAll`` adds deleted rows)
``GET /services/data/vXX.X/query/{locator}-{offset}``    queryMore (``nextRecordsUrl``)
``GET /services/data/vXX.X/sobjects/{name}/describe``    describes of the five simulated objects
``GET /services/data/vXX.X/limits``                      ``DailyApiRequests {Max, Remaining}``
=======================================================  ======================================

Every API call needs ``Authorization: Bearer <token>`` (401 INVALID_SESSION_ID otherwise),
counts against the daily allocation (403 REQUEST_LIMIT_EXCEEDED once spent) and answers with
``Sforce-Limit-Info: api-usage=N/M``. Batches follow ``Sforce-Query-Options: batchSize=N``
clamped to 200..2000, and never exceed ``batch_cap`` when one is set (Salesforce treats the
size as a hint, so a smaller batch is faithful and lets tests page through a few records).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sales.salesforce.simulator.engine import Plan, plan, project, select_ids
from connectors.sales.salesforce.simulator.oauth import OAuthServer
from connectors.sales.salesforce.simulator.schema import describe, lookup
from connectors.sales.salesforce.simulator.soql import SoqlError, parse
from connectors.sales.salesforce.simulator.store import Org
from connectors.salesforce_common.simulator.responses import error_response, json_response

VERSIONS = tuple(f"{n}.0" for n in range(31, 67))
BATCH_MIN, BATCH_MAX = 200, 2000
LOCATORS_KEPT = 500
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class ApiState:
    """Everything the handlers share: records, sessions, the API budget, open query cursors."""

    org: Org
    oauth: OAuthServer
    api_limit: int = 100_000
    api_used: int = 0
    batch_cap: int | None = None
    instance_url: str | None = None
    locators: OrderedDict[str, tuple[Plan, list[str], str]] = field(default_factory=OrderedDict)
    _next_locator: int = 0

    def open_cursor(self, query: Plan, ids: list[str], version: str) -> str:
        """Remember a result set for queryMore; the oldest cursors are forgotten."""
        self._next_locator += 1
        locator = f"01gDx{self._next_locator:010d}AAA"
        self.locators[locator] = (query, ids, version)
        while len(self.locators) > LOCATORS_KEPT:
            self.locators.popitem(last=False)
        return locator


def release_label(version: str) -> str:
    """``61.0`` -> ``Summer '24`` (three releases a year; v59 was Winter '24)."""
    offset = int(version.split(".")[0]) - 59
    return f"{('Winter', 'Spring', 'Summer')[offset % 3]} '{24 + offset // 3}"


class _Handlers:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    async def token(self, request: Request) -> Response:
        body = (await request.body()).decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(body).items()}
        root = str(request.base_url).rstrip("/")
        status, answer = self.state.oauth.grant(
            form, login_url=root, instance_url=self.state.instance_url or root
        )
        return json_response(status, answer)

    async def versions(self, _request: Request) -> Response:
        return json_response(
            200,
            [
                {"label": release_label(v), "url": f"/services/data/v{v}", "version": v}
                for v in VERSIONS
            ],
        )

    async def query(self, request: Request) -> Response:
        text = request.query_params.get("q")
        if not text:
            raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
        version = request.path_params["version"]
        checked = plan(self.state.org, parse(text))
        deleted = request.url.path.rstrip("/").endswith("queryAll")
        ids = select_ids(self.state.org, checked, include_deleted=deleted)
        locator = self.state.open_cursor(checked, ids, version)
        return json_response(200, self._page(locator, 0, self._batch_size(request)))

    async def query_more(self, request: Request) -> Response:
        locator, _, offset = request.path_params["locator"].rpartition("-")
        if locator not in self.state.locators or not offset.isdigit():
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return json_response(200, self._page(locator, int(offset), self._batch_size(request)))

    async def describe(self, request: Request) -> Response:
        spec = lookup(request.path_params["sobject"])
        if spec is None:
            raise SoqlError("NOT_FOUND", "The requested resource does not exist", status=404)
        return json_response(200, describe(spec, request.path_params["version"]))

    async def limits(self, _request: Request) -> Response:
        limit, used = self.state.api_limit, self.state.api_used
        return json_response(
            200, {"DailyApiRequests": {"Max": limit, "Remaining": max(0, limit - used)}}
        )

    def _batch_size(self, request: Request) -> int:
        match = _BATCH.search(request.headers.get("sforce-query-options", ""))
        requested = int(match.group(1)) if match else BATCH_MAX
        size = min(BATCH_MAX, max(BATCH_MIN, requested))
        cap = self.state.batch_cap
        return min(size, cap) if cap else size

    def _page(self, locator: str, offset: int, size: int) -> dict[str, Any]:
        checked, ids, version = self.state.locators[locator]
        org = self.state.org
        records = []
        for record_id in ids[offset : offset + size]:
            record = org.table(checked.spec).get(record_id)
            if record is not None:
                records.append(project(org, checked, record, version))
        done = offset + size >= len(ids)
        page: dict[str, Any] = {"totalSize": len(ids), "done": done}
        if not done:
            page["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{offset + size}"
        page["records"] = records
        return page


def _guarded(state: ApiState, handler: Handler) -> Handler:
    """Version check, session check, daily allocation, and the Sforce-Limit-Info header."""

    async def endpoint(request: Request) -> Response:
        if request.path_params["version"].removeprefix("v") not in VERSIONS:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if not state.oauth.is_valid(_bearer(request)):
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        if state.api_used >= state.api_limit:
            usage = {"Sforce-Limit-Info": f"api-usage={state.api_used}/{state.api_limit}"}
            return error_response(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", usage
            )
        state.api_used += 1
        try:
            response = await handler(request)
        except SoqlError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        response.headers["Sforce-Limit-Info"] = f"api-usage={state.api_used}/{state.api_limit}"
        return response

    return endpoint


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(
            405,
            "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are GET",
        )
    return error_response(404, "NOT_FOUND", "The requested resource does not exist")


def build_app(state: ApiState) -> Starlette:
    """The Starlette app for one simulated org."""
    h = _Handlers(state)
    data = "/services/data/{version}"
    return Starlette(
        routes=[
            Route("/services/oauth2/token", h.token, methods=["POST"]),
            Route("/services/data", h.versions, methods=["GET"]),
            Route("/services/data/", h.versions, methods=["GET"]),
            Route(f"{data}/query", _guarded(state, h.query), methods=["GET"]),
            Route(f"{data}/queryAll", _guarded(state, h.query), methods=["GET"]),
            Route(f"{data}/query/{{locator}}", _guarded(state, h.query_more), methods=["GET"]),
            Route(f"{data}/queryAll/{{locator}}", _guarded(state, h.query_more), methods=["GET"]),
            Route(
                f"{data}/sobjects/{{sobject}}/describe",
                _guarded(state, h.describe),
                methods=["GET"],
            ),
            Route(f"{data}/limits", _guarded(state, h.limits), methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
