"""A small Freshdesk API v2, written from Freshdesk's documentation only (see freshdesk_account).

``FreshdeskFake(clock).app`` is an ASGI app for ``httpx.ASGITransport``.

Auth: HTTP Basic with the API key as user name and any password ("X") [SA2, PFD]; a missing or
wrong key is 401 [ERR] with ``{"code": "invalid_credentials", "message": ...}`` (envelope as the
connector's docstring cites the API docs; the message wording is [unverified]).
Rate limits [RLFD]: a per-minute budget for the whole account (Growth 200) and a lower one for
listing contacts (Growth 20); every response carries ``X-RateLimit-Total``,
``X-RateLimit-Remaining`` and ``X-RateLimit-Used-CurrentRequest``; over budget is 429 with
``Retry-After`` seconds [PFD]; invalid requests count too [SA2, 3p].
Errors: ``{"description": "Validation failed", "errors": [{field, message, code}]}`` for 400
[SA2; PFD reads ``description`` and ``errors``]; 404 has no body [connector docstring, from the
API docs; unverified here].
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.common import (
    Call,
    FakeClock,
    MinuteBudget,
    RequestLog,
    Throttle,
    basic_credentials,
    strip_json_suffix,
)
from tests.docfakes.freshdesk_account import (
    MAX_PER_PAGE,
    SEARCH_MAX_PAGE,
    SEARCH_PAGE_SIZE,
    FieldError,
    FreshdeskAccount,
    Kind,
)
from tests.docfakes.freshdesk_filter import QueryError, parse

Handler = Callable[[Request, re.Match[str]], Awaitable[Response]]
_KIND: dict[str, Kind] = {"companies": "company", "contacts": "contact"}
CONTACT_FILTERS = {"email", "mobile", "phone", "company_id", "state", "_updated_since"}  # [PFD]
CONTACT_STATES = {"blocked", "deleted", "unverified", "verified"}  # [PFD]


def validation_failed(*errors: FieldError) -> JSONResponse:
    body = {
        "description": "Validation failed",
        "errors": [{"field": e.field, "message": e.message, "code": e.code} for e in errors],
    }
    return JSONResponse(body, status_code=400)


class FreshdeskFake:
    def __init__(self, clock: FakeClock | None = None, **account_options: Any) -> None:
        self.clock = clock or FakeClock()
        self.account = FreshdeskAccount(self.clock, **account_options)
        self.log = RequestLog()
        self.throttle = Throttle()
        self.read_only_agent = False
        self.account_budget = MinuteBudget(self.account.requests_per_minute)
        self.contact_list_budget = MinuteBudget(self.account.contact_list_per_minute)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/api/v2/agents/me"), self._me),
            ("GET", re.compile(r"/api/v2/(companies|contacts)"), self._list),
            ("GET", re.compile(r"/api/v2/search/(companies|contacts)"), self._search),
            ("GET", re.compile(r"/api/v2/(companies|contacts)/(\d+)"), self._show),
            ("PUT", re.compile(r"/api/v2/(companies|contacts)/(\d+)"), self._update),
            ("GET", re.compile(r"/api/v2/(company|contact)_fields"), self._fields),
        ]
        self.app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=["GET", "PUT"])])

    async def _dispatch(self, request: Request) -> Response:
        path = strip_json_suffix(request.url.path)
        response = self._refuse(request, path)
        if response is None:
            response = await self._route(request, path)
        response.headers["X-RateLimit-Total"] = str(self.account_budget.limit)
        response.headers["X-RateLimit-Remaining"] = str(
            self.account_budget.remaining(self.clock.now())
        )
        response.headers["X-RateLimit-Used-CurrentRequest"] = "1"
        self.log.calls.append(Call(request.method, path, request.url.query, response.status_code))
        return response

    def _refuse(self, request: Request, path: str) -> Response | None:
        credentials = basic_credentials(request)
        if credentials is None or credentials[0] != self.account.api_key:
            body = {
                "code": "invalid_credentials",
                "message": "You have to be logged in to perform this action.",
            }
            return JSONResponse(body, status_code=401)
        now = self.clock.now()
        if self.throttle.count > 0:
            self.throttle.count -= 1
            return _too_many(self.throttle.seconds)
        wait = self.account_budget.take(now)
        if wait is None and request.method == "GET" and path == "/api/v2/contacts":
            wait = self.contact_list_budget.take(now)  # [RLFD] contacts list has its own cap
        return None if wait is None else _too_many(wait)

    async def _route(self, request: Request, path: str) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                return await handler(request, match)
        return Response(status_code=404)

    def violation(self, error: FieldError) -> JSONResponse:
        """A documented limit the client broke: a 400 validation error, remembered for tests."""
        self.log.violations.append(f"{error.field}: {error.message}")
        return validation_failed(error)

    async def _me(self, request: Request, _match: re.Match[str]) -> Response:
        return JSONResponse(
            {"id": 1, "contact": {"name": "dealbridge", "email": "sync@acme.example"}}
        )

    async def _list(self, request: Request, match: re.Match[str]) -> Response:
        """``GET /api/v2/companies`` (no update filter [SA2]) and ``GET /api/v2/contacts`` with
        its filters [PFD]; ``page``/``per_page`` up to 100 [SA2]; ``Link: <...>; rel="next"``
        while another page exists, none on the last [LINK]."""
        kind = _KIND[match.group(1)]
        params = request.query_params
        per_page = int(params.get("per_page", 30))
        page = int(params.get("page", 1))
        if not 1 <= per_page <= MAX_PER_PAGE:
            return self.violation(
                FieldError(
                    "per_page", f"It should be between 1 and {MAX_PER_PAGE}", "invalid_value"
                )
            )
        allowed = {"page", "per_page"} | (CONTACT_FILTERS if kind == "contact" else set())
        unknown = [key for key in params if key not in allowed]
        if unknown:
            # [unverified] wording; the documented filters are in CONTACT_FILTERS
            return self.violation(
                FieldError(unknown[0], "Unexpected/invalid field in request", "invalid_field")
            )
        state = params.get("state")
        if state is not None and state not in CONTACT_STATES:
            return self.violation(
                FieldError("state", "It should be one of these values", "invalid_value")
            )
        records = self.account.listed(kind, deleted=state == "deleted")
        since = params.get("_updated_since")
        if since is not None:
            try:
                moment = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp()
            except ValueError:
                return validation_failed(
                    FieldError("_updated_since", "It should be a valid date time", "invalid_value")
                )
            records = [r for r in records if r.updated_at >= moment]  # inclusive: [unverified]
        for key in ("email", "company_id"):
            if key in params:
                records = [r for r in records if str(r.attrs.get(key)) == params[key]]
        chunk = records[(page - 1) * per_page : page * per_page]
        response = JSONResponse([self.account.to_json(r) for r in chunk])
        if page * per_page < len(records):
            query = {k: v for k, v in params.items() if k != "page"} | {"page": str(page + 1)}
            url = request.url.include_query_params(**query)
            response.headers["Link"] = f'<{url}>; rel="next"'
        return response

    async def _search(self, request: Request, match: re.Match[str]) -> Response:
        """[PFD]/[FLT]: ``{"total": n, "results": [...]}`` [FX search_companies.json], 30 a
        page, pages 1-10, over a lagging index without deleted records."""
        kind = _KIND[match.group(1)]
        page = int(request.query_params.get("page", 1))
        if not 1 <= page <= SEARCH_MAX_PAGE:
            return self.violation(
                FieldError("page", f"It should be between 1 and {SEARCH_MAX_PAGE}", "invalid_value")
            )
        custom = {f.name for f in self.account.fields[kind] if not f.default}
        try:
            predicate = parse(request.query_params.get("query", ""), kind, custom)
        except QueryError as exc:
            return self.violation(FieldError("query", str(exc), "invalid_value"))
        found = [r for r in self.account.indexed(kind) if predicate(r)]
        chunk = found[(page - 1) * SEARCH_PAGE_SIZE : page * SEARCH_PAGE_SIZE]
        return JSONResponse({"total": len(found), "results": chunk})

    async def _show(self, request: Request, match: re.Match[str]) -> Response:
        record = self.account.records.get((_KIND[match.group(1)], int(match.group(2))))
        if record is None:
            return Response(status_code=404)
        return JSONResponse(self.account.to_json(record))

    async def _update(self, request: Request, match: re.Match[str]) -> Response:
        """``PUT /api/v2/{companies|contacts}/{id}``: one record, no bulk update [SA2]."""
        record = self.account.records.get((_KIND[match.group(1)], int(match.group(2))))
        if record is None:
            return Response(status_code=404)
        if self.read_only_agent:
            # [ERR] 403: the agent "was not authorized to perform this API call"; envelope as
            # the connector docstring cites it, wording [unverified]
            body = {
                "code": "access_denied",
                "message": "You are not authorized to perform this action.",
            }
            return JSONResponse(body, status_code=403)
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError:
            return validation_failed(FieldError("body", "Invalid JSON", "invalid_json"))
        errors = self.account.update(record, body)
        if errors:
            return validation_failed(*errors)
        return JSONResponse(self.account.to_json(record))

    async def _fields(self, request: Request, match: re.Match[str]) -> Response:
        """``GET /api/v2/{company|contact}_fields`` [SA2]: a bare array; dropdowns list their
        ``choices`` as strings (a client library's company_fields fixture) [3p]."""
        kind: Kind = "company" if match.group(1) == "company" else "contact"
        body = []
        for position, definition in enumerate(self.account.fields[kind], start=1):
            entry: dict[str, Any] = {
                "id": 60_000 + position,
                "name": definition.name,
                "label": definition.label,
                "position": position,
                "type": definition.type,
                "default": definition.default,
                "required_for_agents": definition.name == "name",
            }
            if definition.choices:
                entry["choices"] = list(definition.choices)
            body.append(entry)
        return JSONResponse(body)


def _too_many(seconds: int) -> Response:
    response = Response(status_code=429)  # body: not documented
    response.headers["Retry-After"] = str(seconds)
    return response
