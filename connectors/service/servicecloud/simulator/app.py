"""The simulated org's HTTP surface: the REST paths the Service Cloud target uses.

===========================================================  ======================================
``POST /services/oauth2/token``                               the three grants (sales simulator's
                                                              :mod:`connectors.sales.salesforce.simulator.oauth`)
``GET /services/data/vXX.X/sobjects/{name}/describe``         Account, Contact, Case, CaseComment
``GET /services/data/vXX.X/query?q=`` and ``/queryAll``       SOQL (``queryAll`` adds deleted rows)
``GET /services/data/vXX.X/query/{locator}-{offset}``         queryMore (``nextRecordsUrl``)
``PATCH /services/data/vXX.X/composite/sobjects``             update collection (:mod:`.writes`)
``PATCH .../composite/sobjects/{name}/{ExternalIdField}``      upsert collection
``POST /services/data/vXX.X/sobjects/{name}``                 create one record
``GET /services/data/vXX.X/limits``                           ``DailyApiRequests {Max, Remaining}``
===========================================================  ======================================

Every API call [FACTS.md 1.4, 4.1, 7.1-7.3; shared/vendor-apis/sales-apis.md section 1]:

* needs ``Authorization: Bearer <token>`` of a live session: otherwise 401
  ``[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]``;
* counts against the org's **rolling 24-hour** allocation; once it is spent, 403
  ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests Limit exceeded." with no Retry-After;
* answers with ``Sforce-Limit-Info: api-usage=<used>/<max>``;
* must keep URI plus headers within 16,384 bytes (else 414).

Query batches follow ``Sforce-Query-Options: batchSize=N`` clamped to 200..2000 (a hint Salesforce
may lower: ``batch_cap`` lowers it further so tests page through a few records). A query
locator not used for 15 minutes expires (``INVALID_QUERY_LOCATOR``) [doc REST API guide, Query].
"""

from __future__ import annotations

import json
import re
from collections import Counter, OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sales.salesforce.simulator.oauth import OAuthServer
from connectors.sales.salesforce.simulator.soql import SoqlError
from connectors.salesforce_common.simulator.responses import error_response, json_response
from connectors.service.servicecloud.simulator import writes
from connectors.service.servicecloud.simulator.query import Checked, check, project, select_ids
from connectors.service.servicecloud.simulator.schema import describe
from connectors.service.servicecloud.simulator.store import OrgStore

VERSIONS = tuple(f"{n}.0" for n in range(31, 67))
BATCH_MIN, BATCH_MAX = 200, 2000
LOCATOR_IDLE_SECONDS = 15 * 60
LOCATORS_KEPT = 500
URI_AND_HEADERS_MAX = 16_384
DAY = 24 * 3600.0
_BATCH = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Allocation:
    """The org's rolling 24-hour API allocation: calls are forgotten a day after they were made."""

    limit: int
    clock: Callable[[], float]
    calls: deque[tuple[float, int]] = field(default_factory=deque)

    @property
    def used(self) -> int:
        """Calls counted over the last 24 hours."""
        cutoff = self.clock() - DAY
        while self.calls and self.calls[0][0] <= cutoff:
            self.calls.popleft()
        return sum(count for _, count in self.calls)

    def count(self, calls: int = 1) -> None:
        """Count ``calls`` made now."""
        self.calls.append((self.clock(), calls))

    def header(self) -> dict[str, str]:
        """``Sforce-Limit-Info``."""
        return {"Sforce-Limit-Info": f"api-usage={self.used}/{self.limit}"}


@dataclass
class Cursor:
    """An open query: its checked plan, the ids it selected, and when it was last used."""

    query: Checked
    ids: list[str]
    version: str
    used_at: float


@dataclass
class ApiState:
    """What the handlers share."""

    store: OrgStore
    oauth: OAuthServer
    allocation: Allocation
    monotonic: Callable[[], float]
    policy: writes.WritePolicy = field(default_factory=writes.WritePolicy)
    batch_cap: int | None = None
    instance_url: str | None = None
    cursors: OrderedDict[str, Cursor] = field(default_factory=OrderedDict)
    opened: int = 0
    saves: Counter[str] = field(default_factory=Counter)
    """Successful API saves per record id (tests check nothing is written twice)."""

    def open_cursor(self, query: Checked, ids: list[str], version: str) -> str:
        """Remember a result set for queryMore; the oldest are forgotten."""
        self.opened += 1
        locator = f"01gDx{self.opened:010d}AAA"
        self.cursors[locator] = Cursor(query, ids, version, self.monotonic())
        while len(self.cursors) > LOCATORS_KEPT:
            self.cursors.popitem(last=False)
        return locator


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

    async def describe(self, request: Request) -> Response:
        spec = self.state.store.schema.get(request.path_params["sobject"])
        if spec is None:
            raise SoqlError("NOT_FOUND", "The requested resource does not exist", status=404)
        return json_response(200, describe(spec, request.path_params["version"]))

    async def query(self, request: Request) -> Response:
        text = request.query_params.get("q")
        if not text:
            raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
        checked = check(self.state.store, text)
        deleted = request.url.path.rstrip("/").endswith("queryAll")
        ids = select_ids(self.state.store, checked, include_deleted=deleted)
        version = request.path_params["version"]
        locator = self.state.open_cursor(checked, ids, version)
        return json_response(200, self._page(locator, 0, self._batch_size(request)))

    async def query_more(self, request: Request) -> Response:
        locator, _, offset = request.path_params["locator"].rpartition("-")
        cursor = self.state.cursors.get(locator)
        now = self.state.monotonic()
        if cursor is None or not offset.isdigit() or now - cursor.used_at > LOCATOR_IDLE_SECONDS:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor.used_at = now
        return json_response(200, self._page(locator, int(offset), self._batch_size(request)))

    async def limits(self, _request: Request) -> Response:
        allocation = self.state.allocation
        remaining = max(0, allocation.limit - allocation.used)
        return json_response(
            200, {"DailyApiRequests": {"Max": allocation.limit, "Remaining": remaining}}
        )

    async def update_collection(self, request: Request) -> Response:
        body = await _json(request)
        try:
            planned = writes.plan_collection(self.state.store, body)
        except writes.WholeCallError as exc:
            return json_response(400, exc.body())
        all_or_none = isinstance(body, dict) and body.get("allOrNone") is True
        return json_response(200, self._apply_updates(planned, all_or_none=all_or_none))

    async def upsert_collection(self, request: Request) -> Response:
        body = await _json(request)
        sobject = request.path_params["sobject"]
        spec = self.state.store.schema.get(sobject)
        key = spec.get(request.path_params["field"]) if spec else None
        if spec is None or key is None or not key.external_id:
            field_name = request.path_params["field"]
            return error_response(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        try:
            planned = writes.plan_collection(self.state.store, body, one_type=spec.name)
        except writes.WholeCallError as exc:
            return json_response(400, exc.body())
        return json_response(200, [self._upsert(p, key.name) for p in planned])

    async def create(self, request: Request) -> Response:
        sobject = request.path_params["sobject"]
        spec = self.state.store.schema.get(sobject)
        if spec is None:
            raise SoqlError("NOT_FOUND", "The requested resource does not exist", status=404)
        body = await _json(request)
        raw = {**body, "attributes": {"type": spec.name}} if isinstance(body, dict) else body
        try:
            [planned] = writes.plan_collection(self.state.store, {"records": [raw]})
        except writes.WholeCallError as exc:
            return json_response(400, exc.body())
        outcome = self._insert(planned)
        if isinstance(outcome, writes.RecordFailure):
            item = {"message": outcome.message, "errorCode": outcome.code}
            return json_response(400, [item | {"fields": list(outcome.fields)}])
        return json_response(201, writes.saved(outcome))

    # -- helpers ----------------------------------------------------------------------------
    def _apply_updates(
        self, planned: list[writes.Planned], *, all_or_none: bool
    ) -> list[dict[str, Any]]:
        store, policy = self.state.store, self.state.policy
        outcomes: list[tuple[writes.Planned, dict[str, Any] | writes.RecordFailure]] = []
        for item in planned:
            target = writes.target_of(store, item)
            if isinstance(target, writes.RecordFailure):
                outcomes.append((item, target))
                continue
            failure = (
                writes.check_values(item.spec, item.values, creating=False)
                or writes.locked(policy, str(target["Id"]))
                or writes.run_rules(item.spec, writes.merged(target, item.values), policy)
            )
            outcomes.append((item, failure or target))
        failed = any(isinstance(o, writes.RecordFailure) for _, o in outcomes)
        results = []
        for item, outcome in outcomes:
            if isinstance(outcome, writes.RecordFailure):
                results.append(writes.failed(outcome))
            elif all_or_none and failed:
                results.append(writes.failed(writes.rolled_back()))
            else:
                store.update(item.spec.name, str(outcome["Id"]), item.values)
                self.state.saves[str(outcome["Id"])] += 1
                results.append(writes.saved(str(outcome["Id"])))
        return results

    def _upsert(self, planned: writes.Planned, key: str) -> dict[str, Any]:
        value = planned.values.get(key)
        if not isinstance(value, str) or not value:
            failure = writes.RecordFailure("MISSING_ARGUMENT", f"{key} not specified", (key,))
            return writes.failed(failure, created=False)
        store = self.state.store
        found = [
            r
            for r in store.live(planned.spec.name)
            if str(r.get(key) or "").lower() == value.lower()
        ]
        if len(found) > 1:
            failure = writes.RecordFailure(
                "DUPLICATE_EXTERNAL_ID", f"{key}: more than one record found for {value}", (key,)
            )
            return writes.failed(failure, created=False)
        if not found:
            outcome = self._insert(planned)
            if isinstance(outcome, writes.RecordFailure):
                return writes.failed(outcome, created=False)
            return writes.saved(outcome, created=True)
        record = found[0]
        refused = writes.check_values(planned.spec, planned.values, creating=False)
        if refused is not None:
            return writes.failed(refused, created=False)
        store.update(planned.spec.name, str(record["Id"]), planned.values)
        return writes.saved(str(record["Id"]), created=False)

    def _insert(self, planned: writes.Planned) -> str | writes.RecordFailure:
        store, policy = self.state.store, self.state.policy
        failure = writes.check_values(planned.spec, planned.values, creating=True)
        if failure is None:
            failure = writes.run_rules(planned.spec, planned.values, policy)
        if failure is None and planned.spec.name == "CaseComment":
            parent = store.get("Case", str(planned.values.get("ParentId")))
            if parent is None:
                failure = writes.RecordFailure(
                    "INVALID_CROSS_REFERENCE_KEY",
                    "invalid cross reference id",
                    ("ParentId",),
                )
            elif parent.get("IsDeleted"):
                failure = writes.RecordFailure("ENTITY_IS_DELETED", "entity is deleted")
        if failure is not None:
            return failure
        values = dict(planned.values)
        if planned.spec.name == "Case":
            values.setdefault("Status", "New")
            values["IsClosed"] = values.get("Status") == "Closed"
            values["CaseNumber"] = f"{len(store.table('Case')) + 1:08d}"
        return str(store.insert(planned.spec.name, values)["Id"])

    def _batch_size(self, request: Request) -> int:
        match = _BATCH.search(request.headers.get("sforce-query-options", ""))
        requested = int(match.group(1)) if match else BATCH_MAX
        size = min(BATCH_MAX, max(BATCH_MIN, requested))
        cap = self.state.batch_cap
        return min(size, cap) if cap else size

    def _page(self, locator: str, offset: int, size: int) -> dict[str, Any]:
        cursor = self.state.cursors[locator]
        table = self.state.store.table(cursor.query.spec.name)
        records = [
            project(cursor.query, table[record_id], cursor.version)
            for record_id in cursor.ids[offset : offset + size]
            if record_id in table
        ]
        done = offset + size >= len(cursor.ids)
        page: dict[str, Any] = {"totalSize": len(cursor.ids), "done": done}
        if not done:
            page["nextRecordsUrl"] = (
                f"/services/data/{cursor.version}/query/{locator}-{offset + size}"
            )
        page["records"] = records
        return page


async def _json(request: Request) -> Any:
    try:
        return json.loads(await request.body() or b"null")
    except ValueError:
        return None


def _request_size(request: Request) -> int:
    """URI plus headers, in bytes, as the 16,384-byte limit counts them."""
    uri = request.url.path + ("?" + request.url.query if request.url.query else "")
    headers = sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    return len(uri.encode()) + headers


def _guarded(state: ApiState, handler: Handler) -> Handler:
    """Version, URI size, session, the rolling allocation, and the Sforce-Limit-Info header."""

    async def endpoint(request: Request) -> Response:
        if request.path_params["version"].removeprefix("v") not in VERSIONS:
            return error_response(404, "NOT_FOUND", "The requested resource does not exist")
        if _request_size(request) > URI_AND_HEADERS_MAX:
            return Response("URI Too Long", 414, media_type="text/plain")
        if not state.oauth.is_valid(_bearer(request)):
            return error_response(401, "INVALID_SESSION_ID", "Session expired or invalid")
        allocation = state.allocation
        if allocation.used >= allocation.limit:
            return error_response(
                403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", allocation.header()
            )
        allocation.count()
        try:
            response = await handler(request)
        except SoqlError as exc:
            response = error_response(exc.status, exc.code, exc.message)
        response.headers.update(allocation.header())
        return response

    return endpoint


def _bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "oauth") else ""


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return error_response(
            405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed."
        )
    return error_response(404, "NOT_FOUND", "The requested resource does not exist")


def build_app(state: ApiState) -> Starlette:
    """The Starlette app for one simulated org."""
    h = _Handlers(state)
    data = "/services/data/{version}"

    def guarded(path: str, handler: Handler, method: str) -> Route:
        return Route(f"{data}{path}", _guarded(state, handler), methods=[method])

    return Starlette(
        routes=[
            Route("/services/oauth2/token", h.token, methods=["POST"]),
            guarded("/sobjects/{sobject}/describe", h.describe, "GET"),
            guarded("/query", h.query, "GET"),
            guarded("/queryAll", h.query, "GET"),
            guarded("/query/{locator}", h.query_more, "GET"),
            guarded("/queryAll/{locator}", h.query_more, "GET"),
            guarded("/limits", h.limits, "GET"),
            guarded("/composite/sobjects", h.update_collection, "PATCH"),
            guarded("/composite/sobjects/{sobject}/{field}", h.upsert_collection, "PATCH"),
            guarded("/sobjects/{sobject}", h.create, "POST"),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
