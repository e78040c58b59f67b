"""The Zendesk Support endpoints dealbridge uses, as a Starlette app over a ``ZendeskStore``.

Every request: Basic auth (``{email}/token:{api_token}``), then the account's per-minute
budget. Responses carry ``X-Rate-Limit``, ``X-Rate-Limit-Remaining`` and
``ratelimit-limit/remaining/reset``; an exhausted budget answers 429 with ``Retry-After``.
Incremental exports have their own 10-a-minute budget, leave out whatever changed within the
``export_delay`` (60 s) before the request and refuse a ``start_time`` younger than that with
422 ``{"error": "InvalidValue", "description": "Too recent start_time. ..."}`` [doc: "Using
the Incremental Export API"; the 422 shape as Zendesk client libraries record it]. Searches
answer from the store's lagging search index. Single record updates 5 a minute per record
(plain-text 429, as Zendesk's per-user limit answers); bulk jobs are capped at 30 queued
(``TooManyJobs``). Paths work with and without the ``.json`` suffix.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.service.zendesk.simulator.fields import clean_row, definitions
from connectors.service.zendesk.simulator.jobs import MAX_JOBS, JobQueue, status_body
from connectors.service.zendesk.simulator.store import KINDS, ORGANIZATION, USER, ZendeskStore
from connectors.service.zendesk.simulator.tickets import TicketBook
from sandbox.controls import WindowLimiter

Handler = Callable[[Request], Awaitable[Response]]
PLURAL = {ORGANIZATION: "organizations", USER: "users"}
UNAUTHENTICATED = {"error": "Couldn't authenticate you"}
NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}
FORBIDDEN = {
    "error": "Forbidden",
    "description": "You do not have access to this page. Please contact the account owner of "
    "this help desk for further help.",
}
SHOW_MANY_MAX, UPDATE_MANY_MAX, EXPORT_MAX = 100, 100, 1000
SEARCH_PAGE, SEARCH_MAX = 100, 1000
"""Search: 100 results a page, 1,000 a query [doc: Search API "Results limit"]."""


class Throttled(Exception):
    """A 429 from an endpoint-specific budget."""

    def __init__(self, retry_after: float, body: Any) -> None:
        self.retry_after, self.body = retry_after, body
        super().__init__(body)


class Invalid(Exception):
    """A 400/422 answer."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        super().__init__(body)


@dataclass
class Settings:
    """The account's credentials, budgets and switches."""

    email: str
    api_token: str
    account: WindowLimiter
    incremental: WindowLimiter
    single_record: WindowLimiter
    agent_id: int = 0
    export_delay: float = 60.0
    """Seconds before a request whose changes exports leave out (Zendesk: one minute)."""
    bulk_forbidden: set[str] = field(default_factory=set)
    """Kinds whose ``update_many`` answers 403 (bulk updates not enabled)."""


def build_app(
    store: ZendeskStore, jobs: JobQueue, settings: Settings, tickets: TicketBook | None = None
) -> Starlette:
    """The simulator's routes, each behind auth and the account budget."""
    api = _Api(store, jobs, settings)
    book = tickets or TicketBook(store.clock)
    table: list[tuple[str, Handler, list[str]]] = [
        ("/api/v2/incremental/organizations", api.export_organizations, ["GET"]),
        ("/api/v2/incremental/users/cursor", api.export_users, ["GET"]),
        ("/api/v2/users/me", api.me, ["GET"]),
        ("/api/v2/job_statuses/show_many", api.job_statuses, ["GET"]),
        ("/api/v2/job_statuses/{job_id}", api.job_status, ["GET"]),
        ("/api/v2/organization_fields", api.organization_fields, ["GET"]),
        ("/api/v2/user_fields", api.user_fields, ["GET"]),
    ]
    table.append(("/api/v2/organizations/search", api.search_organizations, ["GET"]))
    table.append(("/api/v2/users/search", api.search_users, ["GET"]))
    table.append(("/api/v2/search", api.search, ["GET"]))
    table.append(("/api/v2/tickets", book.create, ["POST"]))
    table.append(("/api/v2/tickets/{ticket_id:int}", book.update, ["PUT"]))
    for kind, plural in PLURAL.items():
        table += [
            (f"/api/v2/{plural}/show_many", api.show_many(kind), ["GET"]),
            (f"/api/v2/{plural}/update_many", api.update_many(kind), ["PUT"]),
            (f"/api/v2/{plural}/{{record_id:int}}", api.one(kind), ["GET", "PUT"]),
        ]
    guard = _Guard(store, jobs, settings)
    routes = [
        Route(path + suffix, guard.wrap(handler), methods=methods)
        for path, handler, methods in table
        for suffix in (".json", "")
    ]
    return Starlette(routes=routes)


class _Guard:
    """What happens before every handler: due jobs, auth, budget, headers, error bodies."""

    def __init__(self, store: ZendeskStore, jobs: JobQueue, settings: Settings) -> None:
        self.store, self.jobs, self.settings = store, jobs, settings

    def wrap(self, handler: Handler) -> Handler:
        """``handler`` behind Basic auth and the per-minute budget."""

        async def endpoint(request: Request) -> Response:
            self.jobs.complete_due()
            if not self._authorised(request.headers.get("authorization")):
                return JSONResponse(UNAUTHENTICATED, status_code=401)
            allowed, remaining, reset = self.settings.account.hit()
            headers = self._budget_headers(remaining, reset)
            if not allowed:
                body = {
                    "error": "APIRateLimitExceeded",
                    "description": "Number of allowed API requests per minute exceeded",
                }
                return _throttled(reset, body, headers)
            try:
                response = await handler(request)
            except Throttled as exc:
                response = _throttled(exc.retry_after, exc.body, {})
            except Invalid as exc:
                response = JSONResponse(exc.body, status_code=exc.status)
            response.headers.update(headers)
            return response

        return endpoint

    def _budget_headers(self, remaining: int, reset: float) -> dict[str, str]:
        limit = str(self.settings.account.limit)
        return {
            "X-Rate-Limit": limit,
            "X-Rate-Limit-Remaining": str(remaining),
            "ratelimit-limit": limit,
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(math.ceil(reset)),
        }

    def _authorised(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            raw = base64.b64decode(header.removeprefix("Basic ").strip()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, _, password = raw.partition(":")
        email, _, marker = user.rpartition("/")
        return marker == "token" and bool(email) and password == self.settings.api_token


def _throttled(retry_after: float, body: Any, headers: dict[str, str]) -> Response:
    seconds = str(max(1, math.ceil(retry_after)))
    if isinstance(body, str):
        response: Response = PlainTextResponse(body, status_code=429)
    else:
        response = JSONResponse(body, status_code=429)
    response.headers.update(headers | {"Retry-After": seconds})
    return response


class _Api:
    """Handlers; each returns the vendor's JSON shape or raises ``Invalid``/``Throttled``."""

    def __init__(self, store: ZendeskStore, jobs: JobQueue, settings: Settings) -> None:
        self.store, self.jobs, self.settings = store, jobs, settings

    async def export_organizations(self, request: Request) -> Response:
        """Time-based export: ``start_time`` inclusive, ``end_time`` = last record's time."""
        start, per_page = self._export_params(request)
        rows, last, more = self._export_page(ORGANIZATION, (start, 0), per_page, strict=False)
        end = self.store.stamp(ORGANIZATION, last[1]) if last else start
        following = _url(request, start_time=end, per_page=per_page) if more else None
        return JSONResponse(
            {
                "organizations": rows,
                "count": len(rows),
                "end_time": end,
                "end_of_stream": not more,
                "next_page": following,
            }
        )

    async def export_users(self, request: Request) -> Response:
        """Cursor-based export: ``start_time`` first, then ``cursor=<after_cursor>``."""
        params = request.query_params
        if "cursor" in params:
            position = _decode_cursor(params["cursor"])
            per_page = _per_page(params)
            self._spend_export()
            rows, last, more = self._export_page(USER, position, per_page, after=True)
        else:
            start, per_page = self._export_params(request)
            rows, last, more = self._export_page(USER, (start, 0), per_page)
            position = (start - 1, 2**62)
        after = _encode_cursor(last or position)
        return JSONResponse(
            {
                "users": rows,
                "after_cursor": after,
                "before_cursor": None,
                "after_url": _url(request, cursor=after, per_page=per_page),
                "before_url": None,
                "end_of_stream": not more,
            }
        )

    async def me(self, _request: Request) -> Response:
        """The authenticated agent."""
        return JSONResponse({"user": self.store.records[USER][self.settings.agent_id]})

    async def job_status(self, request: Request) -> Response:
        """A job's status, or 404 once it expired."""
        job_id = request.path_params["job_id"].removesuffix(".json")
        job = self.jobs.jobs.get(job_id)
        if job is None:
            return JSONResponse(NOT_FOUND, status_code=404)
        return JSONResponse(status_body(job, self.store.base_url))

    async def job_statuses(self, request: Request) -> Response:
        """Show Many Job Statuses: ``?ids=a,b`` (expired or unknown ids are left out)."""
        ids = [i for i in request.query_params.get("ids", "").split(",") if i]
        if not ids or len(ids) > SHOW_MANY_MAX:
            raise Invalid(400, _invalid(f"ids: 1 to {SHOW_MANY_MAX} job status ids"))
        jobs = [self.jobs.jobs[i] for i in ids if i in self.jobs.jobs]
        statuses = [status_body(job, self.store.base_url)["job_status"] for job in jobs]
        return JSONResponse({"job_statuses": statuses})

    async def organization_fields(self, _request: Request) -> Response:
        """Organization field definitions (one page: the account has a handful)."""
        rows = definitions(ORGANIZATION, self.store.base_url)
        body = {"organization_fields": rows, "next_page": None, "previous_page": None}
        return JSONResponse(body | {"count": len(rows)})

    async def user_fields(self, _request: Request) -> Response:
        """User field definitions."""
        rows = definitions(USER, self.store.base_url)
        body = {"user_fields": rows, "next_page": None, "previous_page": None}
        return JSONResponse(body | {"count": len(rows)})

    async def search_organizations(self, request: Request) -> Response:
        """``GET organizations/search?external_id=`` (exact, case-insensitive) or ``?name=``."""
        wanted = request.query_params.get("external_id")
        name = request.query_params.get("name")
        if wanted is None and name is None:
            raise Invalid(400, _invalid("external_id or name is required"))
        rows = [
            row
            for row in self.store.records[ORGANIZATION].values()
            if self.store.get(ORGANIZATION, row["id"]) is not None
            and (
                (wanted is not None and str(row.get("external_id") or "").lower() == wanted.lower())
                or (name is not None and row.get("name") == name)
            )
        ]
        return JSONResponse({"organizations": rows, "next_page": None, "count": len(rows)})

    async def search_users(self, request: Request) -> Response:
        """``GET users/search?query=email:x`` (search index: lags) or ``?external_id=`` (exact)."""
        params = request.query_params
        wanted = params.get("external_id")
        if wanted is not None:
            rows = [
                row
                for row in self.store.records[USER].values()
                if self.store.get(USER, row["id"]) is not None
                and str(row.get("external_id") or "").lower() == wanted.lower()
            ]
            return JSONResponse({"users": rows, "next_page": None, "count": len(rows)})
        term = _term(params.get("query"))
        hits = self.store.search[USER].find(term)
        return self._search_page(request, "users", hits, {})

    async def search(self, request: Request) -> Response:
        """``GET search?query=type:organization domain:x``: the unified search, organizations
        by domain only (all dealbridge asks it); answers ``results`` with ``result_type``."""
        query = request.query_params.get("query") or ""
        if not query.startswith("type:organization "):
            raise Invalid(400, _invalid("this simulator searches type:organization only"))
        term = _term(query.removeprefix("type:organization "))
        hits = self.store.search[ORGANIZATION].find(term)
        return self._search_page(request, "results", hits, {"result_type": ORGANIZATION})

    def _search_page(
        self, request: Request, key: str, hits: list[dict[str, Any]], extra: dict[str, Any]
    ) -> Response:
        params = request.query_params
        per_page = max(1, min(SEARCH_PAGE, _int(params.get("per_page"), SEARCH_PAGE)))
        page = max(1, _int(params.get("page"), 1))
        if (page - 1) * per_page >= SEARCH_MAX:
            text = f"A search returns at most {SEARCH_MAX} results"
            raise Invalid(422, {"error": "InsufficientResourcesError", "description": text})
        chunk = hits[(page - 1) * per_page : page * per_page]
        more = page * per_page < min(len(hits), SEARCH_MAX)
        following = _url(request, query=params.get("query", ""), per_page=per_page, page=page + 1)
        body = {
            key: [row | extra for row in chunk],
            "count": len(hits),
            "next_page": following if more else None,
            "previous_page": None,
        }
        return JSONResponse(body)

    def show_many(self, kind: str) -> Handler:
        """``GET show_many?ids=1,2`` or ``?external_ids=a,b`` (at most 100; external ids
        compared case-insensitively); unknown ones are left out."""

        async def handler(request: Request) -> Response:
            params = request.query_params
            if "external_ids" in params:
                wanted = {v.strip().lower() for v in params["external_ids"].split(",") if v.strip()}
                if len(wanted) > SHOW_MANY_MAX:
                    raise Invalid(
                        400, _invalid(f"external_ids: at most {SHOW_MANY_MAX} per request")
                    )
                rows = [
                    row
                    for row in self.store.records[kind].values()
                    if self.store.get(kind, row["id"]) is not None
                    and str(row.get("external_id") or "").strip().lower() in wanted
                ]
                return JSONResponse({PLURAL[kind]: rows, "next_page": None, "count": len(rows)})
            ids = _ids(params.get("ids", ""))
            if len(ids) > SHOW_MANY_MAX:
                raise Invalid(400, _invalid(f"ids: at most {SHOW_MANY_MAX} ids per request"))
            rows = [r for i in ids if (r := self.store.get(kind, i)) is not None]
            return JSONResponse({PLURAL[kind]: rows, "next_page": None, "count": len(rows)})

        return handler

    def update_many(self, kind: str) -> Handler:
        """``PUT update_many`` with per-record rows: a queued ``job_status``."""

        async def handler(request: Request) -> Response:
            if kind in self.settings.bulk_forbidden:
                return JSONResponse(FORBIDDEN, status_code=403)
            rows = (await _json(request)).get(PLURAL[kind])
            if not isinstance(rows, list) or not rows or len(rows) > UPDATE_MANY_MAX:
                raise Invalid(400, _invalid(f"{PLURAL[kind]}: 1 to {UPDATE_MANY_MAX} records"))
            running = self.jobs.in_flight()
            if len(running) >= MAX_JOBS:
                raise Throttled(10, _too_many_jobs([j.id for j in running]))
            job = self.jobs.submit(kind, [r for r in rows if isinstance(r, dict)])
            left = MAX_JOBS - len(running) - 1
            response = JSONResponse(status_body(job, self.store.base_url))
            response.headers["zendesk-ratelimit-inflight-jobs"] = (
                f"total={MAX_JOBS}; remaining={left}; resets=60"
            )
            return response

        return handler

    def one(self, kind: str) -> Handler:
        """``GET``/``PUT /api/v2/{plural}/{id}.json`` (PUT body ``{"<kind>": {...}}``)."""

        async def handler(request: Request) -> Response:
            record_id = int(request.path_params["record_id"])
            if self.store.get(kind, record_id) is None:
                return JSONResponse(NOT_FOUND, status_code=404)
            if request.method == "PUT":
                self._spend_single_update(kind, record_id)
                row = (await _json(request)).get(kind)
                changes, problems = clean_row(kind, row if isinstance(row, dict) else {})
                if problems:
                    body = _invalid("Record validation errors") | {"details": problems}
                    raise Invalid(422, body | {"error": "RecordInvalid"})
                self.store.apply(kind, record_id, changes)
            return JSONResponse({kind: self.store.get(kind, record_id)})

        return handler

    def _export_params(self, request: Request) -> tuple[int, int]:
        params = request.query_params
        raw = params.get("start_time")
        if raw is None or not raw.lstrip("-").isdigit():
            raise Invalid(400, {"error": "InvalidValue", "description": "start_time is required"})
        start = int(raw)
        if start > self.store.clock().timestamp() - self.settings.export_delay:
            text = "Too recent start_time. Use a start_time older than one minute"
            raise Invalid(422, {"error": "InvalidValue", "description": text})
        self._spend_export()
        return start, _per_page(params)

    def _spend_export(self) -> None:
        allowed, _left, reset = self.settings.incremental.hit()
        if not allowed:
            text = "Number of allowed incremental export API requests per minute exceeded"
            raise Throttled(reset, {"error": "APIRateLimitExceeded", "description": text})

    def _spend_single_update(self, kind: str, record_id: int) -> None:
        allowed, _left, reset = self.settings.single_record.hit(f"{kind}:{record_id}")
        if not allowed:
            raise Throttled(
                reset,
                f"You have exceeded the rate limit for updating a single unique {kind}. "
                "Please wait before retrying.",
            )

    def _export_page(
        self,
        kind: str,
        start: tuple[int, int],
        per_page: int,
        *,
        after: bool = False,
        strict: bool = True,
    ) -> tuple[list[dict[str, Any]], tuple[int, int] | None, bool]:
        """Up to ``per_page`` records from ``start`` on (after it, for a cursor).

        Time-based pages (``strict=False``) are extended so they never end inside one second,
        nor end at ``start_time`` itself: the next page starts at the last record's second, so
        either would repeat or stall (Zendesk extends pages whose records share a timestamp).
        Records changed within ``export_delay`` of now are not exported yet: the stream ends
        before them, and a later request (one from the returned position) finds them.
        """
        rows: list[dict[str, Any]] = []
        last: tuple[int, int] | None = None
        until = self.store.clock().timestamp() - self.settings.export_delay
        for record in self.store.since(kind, start):
            key = (self.store.stamp(kind, record["id"]), record["id"])
            if key[0] > until:
                break
            if after and key <= start:
                continue
            if self._page_ends(rows, per_page, last, key, start[0], strict=strict):
                return rows, last, True
            rows.append(record)
            last = key
        return rows, last, False

    @staticmethod
    def _page_ends(
        rows: list[Any],
        per_page: int,
        last: tuple[int, int] | None,
        key: tuple[int, int],
        start_second: int,
        *,
        strict: bool,
    ) -> bool:
        if last is None or len(rows) < per_page:
            return False
        return strict or (key[0] != last[0] and last[0] != start_second)


def _too_many_jobs(current: list[str]) -> dict[str, Any]:
    return {
        "error": "TooManyJobs",
        "description": f"Number of allowed concurrent job_status in queue exceeded ({MAX_JOBS})",
        "current_job_ids": current,
    }


def _invalid(description: str) -> dict[str, Any]:
    return {"error": "InvalidValue", "description": description}


def _per_page(params: Any) -> int:
    raw = params.get("per_page", str(EXPORT_MAX))
    return max(1, min(EXPORT_MAX, int(raw))) if raw.isdigit() else EXPORT_MAX


def _term(query: str | None) -> str:
    """``email:x`` / ``domain:x`` as an index term (the one keyword the simulator answers)."""
    text = (query or "").strip()
    keyword, sep, value = text.partition(":")
    if not sep or keyword not in ("email", "domain") or not value or " " in value:
        raise Invalid(400, _invalid("query must be email:<address> or domain:<name>"))
    return f"{keyword}:{value.strip().strip(chr(34)).lower()}"


def _int(raw: str | None, default: int) -> int:
    return int(raw) if raw is not None and raw.isdigit() else default


def _ids(raw: str) -> list[int]:
    return [int(part) for part in raw.split(",") if part.strip().isdigit()]


def _encode_cursor(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}:{position[1]}".encode()).decode()


def _decode_cursor(raw: str) -> tuple[int, int]:
    try:
        stamp, _, record = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
        return int(stamp), int(record)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise Invalid(400, {"error": "InvalidValue", "description": "Invalid cursor"}) from None


def _url(request: Request, **params: Any) -> str:
    return f"{str(request.base_url).rstrip('/')}{request.url.path}?{urlencode(params)}"


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise Invalid(400, _invalid("Request body is not valid JSON")) from None
    return body if isinstance(body, dict) else {}


__all__ = ["KINDS", "Settings", "build_app"]
