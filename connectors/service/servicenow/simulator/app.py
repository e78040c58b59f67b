"""The REST endpoints of the simulated instance: OAuth, Table API, Batch API.

``Instance.handle`` answers one REST request from plain values, so a Batch API item runs
through exactly the code a direct call does; ``build_app`` puts Starlette in front of it.

Modelled (FACTS.md sections): Basic auth and OAuth client credentials at ``/oauth_token.do``
with tokens expiring after ``token_lifetime`` (1, 1.3); the failure envelope and its texts
(1.5, 5.1, 9.4, 10.1); ``Accept``/``Content-Type`` required on writes (7.5); list queries
with ``sysparm_query`` (unknown columns dropped silently), ``sysparm_fields`` (unknown names
ignored, one level of dot-walking), ``sysparm_limit`` (default 10,000, applied before the
ACL), ``sysparm_offset``, ``sysparm_exclude_reference_link``, ``Link`` and ``X-Total-Count``,
v1 answering 404 for no rows (4.1-4.4, 2.2); reads, PATCH/PUT and POST of one record (5.1, 7.1);
the Batch API (section 8: Base64 bodies, per-item status, items run in order each taking
``item_seconds`` of the instance's time, the 30-second quota leaving the rest unserviced, a
5 MB item limit, versioned URL only); a URI that matches no API answers 400 (8.5); the
per-hour rate-limit rules with their headers and 30-second commits (section 9).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.service.servicenow.simulator.encoded import ordered, parse
from connectors.service.servicenow.simulator.limits import RateLimits
from connectors.service.servicenow.simulator.store import ColumnDef, Store
from sandbox.controls import SimTime

UNAUTHENTICATED = {
    "error": {
        "message": "User Not Authenticated",
        "detail": "Required to provide Auth information",
    },
    "status": "failure",
}
NO_RECORD = {
    "error": {
        "message": "No Record found",
        "detail": "Record doesn't exist or ACL restricts the record retrieval",
    },
    "status": "failure",
}
NO_RESOURCE = {
    "error": {"message": "Requested URI does not represent any resource", "detail": None},
    "status": "failure",
}
DEFAULT_LIMIT = 10_000
TABLE_PATH = re.compile(r"^/api/now/(?:(v\d+)/)?table/([a-z0-9_]+)(?:/([^/]+))?/?$")
BATCH_PATH = re.compile(r"^/api/now/(v\d+)/batch/?$")


def failure(message: str, detail: str | None = None) -> dict[str, Any]:
    """The failure envelope (FACTS.md 10.1)."""
    return {"error": {"message": message, "detail": detail}, "status": "failure"}


@dataclass(frozen=True)
class Answer:
    """One REST answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Settings:
    """Credentials, switches and timings of the simulated instance."""

    base_url: str
    users: dict[str, str] = field(default_factory=dict)
    """Basic-auth users and their passwords."""
    clients: dict[str, str] = field(default_factory=dict)
    """OAuth client ids and their secrets."""
    token_lifetime: float = 1800.0
    batch_available: bool = True
    """False: ``/api/now/v1/batch`` answers 400 like a URI matching no API (FACTS.md 8.5)."""
    item_seconds: float = 0.05
    """Instance time one Batch API item takes."""
    batch_quota: float = 30.0
    """The REST Batch API request timeout (FACTS.md 8.3)."""
    item_max_bytes: int = 5 * 1024 * 1024
    unservice_next: int = 0
    """Leave this many of the next batch items unserviced (as a size limit would)."""


class Instance:
    """The instance's REST behaviour over a ``Store``."""

    def __init__(self, store: Store, limits: RateLimits, settings: Settings, time: SimTime) -> None:
        self.store = store
        self.limits = limits
        self.settings = settings
        self.time = time
        self.tokens: dict[str, tuple[str, float]] = {}
        self.item_log: list[str] = []
        """``METHOD path`` of every batch item the instance ran, in order."""

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, header: str | None) -> str | None:
        """The user a request acts as, or None."""
        if not header:
            return None
        if header.startswith("Bearer "):
            entry = self.tokens.get(header.removeprefix("Bearer ").strip())
            if entry is None or entry[1] <= self.time.monotonic():
                return None
            return entry[0]
        if header.startswith("Basic "):
            try:
                raw = base64.b64decode(header.removeprefix("Basic ").strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, password = raw.partition(":")
            if self.settings.users.get(user) == password and password:
                return user
        return None

    def token(self, form: Mapping[str, str]) -> Answer:
        """``POST /oauth_token.do`` (client credentials; RFC 6749 error shape, FACTS.md 1.4)."""
        if form.get("grant_type") != "client_credentials":
            return Answer(400, {"error": "unsupported_grant_type", "error_description": ""})
        client, secret = form.get("client_id", ""), form.get("client_secret", "")
        if not secret or self.settings.clients.get(client) != secret:
            refused = {
                "error": "invalid_client",
                "error_description": "Client authentication failed",
            }
            return Answer(401, refused)
        token = secrets.token_hex(24)
        self.tokens[token] = (client, self.time.monotonic() + self.settings.token_lifetime)
        body: dict[str, Any] = {
            "access_token": token,
            "scope": form.get("scope", "useraccount"),
            "token_type": "Bearer",
            "expires_in": int(self.settings.token_lifetime) - 1,
        }
        return Answer(200, body)

    # -- routing -------------------------------------------------------------------------

    def handle(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        user: str,
    ) -> Answer:
        """Answer one authenticated REST request (directly or as a batch item)."""
        batch = BATCH_PATH.match(path)
        table = TABLE_PATH.match(path)
        resource = "batch" if batch else "table"
        if batch is None and table is None:
            return Answer(400, NO_RESOURCE)
        verdict = self.limits.check(resource, user)
        if not verdict.allowed:
            return Answer(429, verdict.body, verdict.headers)
        if method in ("POST", "PUT", "PATCH") and not _json_headers(headers):
            answer = Answer(400, failure("Invalid content type or accept header"))
        elif batch is not None:
            answer = self._batch(method, body, user) if method == "POST" else _not_allowed()
        else:
            assert table is not None
            version, name, sys_id = table.group(1), table.group(2), table.group(3)
            answer = self._table(method, version, name, sys_id, query, body, user)
        return Answer(answer.status, answer.body, verdict.headers | answer.headers)

    def _table(  # noqa: PLR0911 - one answer per method and path
        self,
        method: str,
        version: str | None,
        table: str,
        sys_id: str | None,
        query: Mapping[str, str],
        body: bytes,
        user: str,
    ) -> Answer:
        if table not in self.store.tables:
            return Answer(400, failure(f"Invalid table {table}"))
        if sys_id is None:
            if method == "GET":
                return self._list(version, table, query)
            if method == "POST":
                return self._create(table, query, body, user)
            return _not_allowed()
        if method == "GET":
            row = self.store.get(table, sys_id)
            return Answer(404, NO_RECORD) if row is None else self._one(table, row, query)
        if method in ("PATCH", "PUT"):
            return self._update(table, sys_id, query, body, user)
        return _not_allowed()

    # -- Table API -----------------------------------------------------------------------

    def _list(self, version: str | None, table: str, params: Mapping[str, str]) -> Answer:
        columns = self.store.columns_of(table)
        query = parse(params.get("sysparm_query", ""), columns)
        try:
            limit = int(params.get("sysparm_limit") or DEFAULT_LIMIT)
            offset = int(params.get("sysparm_offset") or 0)
        except ValueError:
            return Answer(400, failure("Invalid sysparm_limit or sysparm_offset"))
        if limit < 1 or offset < 0:
            return Answer(400, failure("sysparm_limit and sysparm_offset must not be negative"))
        rows = ordered([r for r in self.store.all_rows(table) if query.matches(r)], query)
        window = rows[offset : offset + limit]  # the limit applies before the ACL (4.2)
        visible = [r for r in window if r["sys_id"] not in self.store.hidden]
        result = [self._render(table, r, params) for r in visible]
        if version == "v1" and not result:
            return Answer(404, failure("No Record found", "Records matching query not found"))
        headers = {"X-Total-Count": str(len(rows))}
        if params.get("sysparm_suppress_pagination_header") != "true":
            headers["Link"] = self._links(table, version, params, offset, limit, len(rows))
        return Answer(200, {"result": result}, headers)

    def _one(self, table: str, row: Mapping[str, str], params: Mapping[str, str]) -> Answer:
        return Answer(200, {"result": self._render(table, row, params)})

    def _update(
        self, table: str, sys_id: str, params: Mapping[str, str], body: bytes, user: str
    ) -> Answer:
        values = _json_object(body)
        if values is None:
            return Answer(400, failure("Exception while reading request", "Invalid JSON body"))
        if self.store.get(table, sys_id) is None:
            return Answer(404, NO_RECORD)
        row, _saved = self.store.update(table, sys_id, values, user=user)
        return self._one(table, row, params)

    def _create(self, table: str, params: Mapping[str, str], body: bytes, user: str) -> Answer:
        values = _json_object(body)
        if values is None:
            return Answer(400, failure("Exception while reading request", "Invalid JSON body"))
        row = self.store.insert(table, values, user=user)
        return Answer(201, {"result": self._render(table, row, params)})

    def _render(
        self, table: str, row: Mapping[str, str], params: Mapping[str, str]
    ) -> dict[str, Any]:
        columns = self.store.columns_of(table)
        links = params.get("sysparm_exclude_reference_link") != "true"
        asked = [f.strip() for f in params.get("sysparm_fields", "").split(",") if f.strip()]
        names = asked or list(columns)
        rendered: dict[str, Any] = {}
        for name in names:
            if "." in name:
                value = self._walk(columns, row, name)
                if value is not None:
                    rendered[name] = value
            elif name in columns:  # invalid field names are ignored (4.2)
                rendered[name] = self._value(columns[name], row.get(name, ""), links)
        return rendered

    def _walk(
        self, columns: Mapping[str, ColumnDef], row: Mapping[str, str], name: str
    ) -> str | None:
        head, _, rest = name.partition(".")
        column = columns.get(head)
        if column is None or column.reference is None or "." in rest:
            return None
        target = self.store.rows.get(column.reference, {}).get(row.get(head, ""))
        if target is None:
            return ""
        if rest not in self.store.columns_of(column.reference):
            return None
        return target.get(rest, "")

    def _value(self, column: ColumnDef, value: str, links: bool) -> Any:
        if column.reference is None or not links:
            return value
        if not value:
            return ""
        link = f"{self.settings.base_url}/api/now/table/{column.reference}/{value}"
        return {"link": link, "value": value}

    def _links(
        self,
        table: str,
        version: str | None,
        params: Mapping[str, str],
        offset: int,
        limit: int,
        total: int,
    ) -> str:
        prefix = f"/api/now/{version}/table/{table}" if version else f"/api/now/table/{table}"
        base = {k: v for k, v in params.items() if k not in ("sysparm_offset", "sysparm_limit")}

        def url(at: int) -> str:
            query = urlencode({**base, "sysparm_offset": at, "sysparm_limit": limit})
            return f"<{self.settings.base_url}{prefix}?{query}>"

        last = max(0, (total - 1) // limit * limit)
        parts = [f'{url(0)};rel="first"']
        if offset > 0:
            parts.append(f'{url(max(0, offset - limit))};rel="prev"')
        if offset + limit < total:
            parts.append(f'{url(offset + limit)};rel="next"')
        parts.append(f'{url(last)};rel="last"')
        return ",".join(parts)

    # -- Batch API -----------------------------------------------------------------------

    def _batch(self, _method: str, body: bytes, user: str) -> Answer:
        if not self.settings.batch_available:
            return Answer(400, NO_RESOURCE)
        request = _json_object(body)
        items = request.get("rest_requests") if request else None
        if request is None or not isinstance(items, list):
            return Answer(400, failure("Invalid batch request", "rest_requests is required"))
        served: list[dict[str, Any]] = []
        unserviced: list[str] = []
        spent = 0.0
        stopped = False
        for item in items:
            item_id = str(item.get("id")) if isinstance(item, dict) else ""
            payload = _decoded(item.get("body")) if isinstance(item, dict) else b""
            if stopped or spent + self.settings.item_seconds > self.settings.batch_quota:
                stopped = True  # the quota cancelled the transaction: the rest is not run
            elif len(payload) > self.settings.item_max_bytes or self.settings.unservice_next > 0:
                stopped = True  # a size limit cancels the transaction the same way
                self.settings.unservice_next = max(0, self.settings.unservice_next - 1)
            if stopped:
                unserviced.append(item_id)
                continue
            served.append(self._item(item, payload, user))
            spent += self.settings.item_seconds
            self.time.pass_time(self.settings.item_seconds)
        answer = {
            "batch_request_id": request.get("batch_request_id"),
            "serviced_requests": served,
            "unserviced_requests": unserviced,
        }
        return Answer(200, answer)

    def _item(self, item: dict[str, Any], payload: bytes, user: str) -> dict[str, Any]:
        method = str(item.get("method") or "").upper()
        target = str(item.get("url") or "")
        path, _, raw_query = target.partition("?")
        self.item_log.append(f"{method} {path}")
        headers = {
            str(h.get("name", "")).lower(): str(h.get("value", ""))
            for h in item.get("headers") or []
            if isinstance(h, dict)
        }
        query = dict(_pairs(raw_query))
        if not path.startswith("/api/") or BATCH_PATH.match(path):
            answer = Answer(400, NO_RESOURCE)
        else:
            if self.limits.batch_counts_items:
                verdict = self.limits.check("table", user)
                if not verdict.allowed:
                    return _item_answer(item, Answer(429, verdict.body), self.settings.item_seconds)
            answer = self.handle_item(method, path, query, headers, payload, user)
        return _item_answer(item, answer, self.settings.item_seconds)

    def handle_item(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        body: bytes,
        user: str,
    ) -> Answer:
        """A batch item: the Table API without a second rate-limit count."""
        table = TABLE_PATH.match(path)
        if table is None:
            return Answer(400, NO_RESOURCE)
        if method in ("POST", "PUT", "PATCH") and not _json_headers(headers):
            return Answer(400, failure("Invalid content type or accept header"))
        version, name, sys_id = table.group(1), table.group(2), table.group(3)
        return self._table(method, version, name, sys_id, query, body, user)


def build_app(instance: Instance) -> Starlette:
    """Starlette in front of ``instance``: the token endpoint and every ``/api/`` path."""

    def respond(answer: Answer) -> Response:
        # Every answer carries the instance's clock, as HTTP servers do (RFC 9110 6.6.1).
        date = format_datetime(instance.time.wall().astimezone(UTC), usegmt=True)
        headers = {"Date": date, **answer.headers}
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    async def token(request: Request) -> Response:
        form = dict(_pairs((await request.body()).decode("utf-8", "replace")))
        return respond(instance.token(form))

    async def api(request: Request) -> Response:
        user = instance.authenticate(request.headers.get("authorization"))
        if user is None:
            return respond(Answer(401, UNAUTHENTICATED))
        body = await request.body()
        answer = instance.handle(
            request.method,
            request.url.path,
            dict(request.query_params.items()),
            {k.lower(): v for k, v in request.headers.items()},
            body,
            user,
        )
        return respond(answer)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/oauth_token.do", token, methods=["POST"]),
            Route("/api/{rest:path}", api, methods=methods),
        ]
    )


def _item_answer(item: dict[str, Any], answer: Answer, seconds: float) -> dict[str, Any]:
    raw = json.dumps(answer.body).encode()
    served: dict[str, Any] = {
        "id": str(item.get("id")),
        "status_code": answer.status,
        "status_text": "OK" if answer.status < 300 else "Error",
        "body": base64.b64encode(raw).decode("ascii"),
        "execution_time": round(seconds * 1000),
    }
    if not item.get("exclude_response_headers"):
        served["headers"] = [{"name": "Content-Type", "value": "application/json"}] + [
            {"name": k, "value": v} for k, v in answer.headers.items()
        ]
    if answer.status >= 400 and isinstance(answer.body, dict):
        error = answer.body.get("error")
        if isinstance(error, dict):
            served["error_message"] = error.get("message")
    return served


def _json_headers(headers: Mapping[str, str]) -> bool:
    content = headers.get("content-type", "")
    return "application/json" in content and bool(headers.get("accept"))


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _decoded(raw: Any) -> bytes:
    if not isinstance(raw, str):
        return b""
    try:
        return base64.b64decode(raw)
    except (binascii.Error, ValueError):
        return b""


def _pairs(query: str) -> list[tuple[str, str]]:
    """``a=1&b=2`` (a query string or an ``application/x-www-form-urlencoded`` body)."""
    return parse_qsl(query, keep_blank_values=True)


def _not_allowed() -> Answer:
    return Answer(405, failure("Method not Supported"))
