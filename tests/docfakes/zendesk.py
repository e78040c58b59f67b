"""A small Zendesk Support API, written from Zendesk's documentation only (see zendesk_account).

``ZendeskFake(clock).app`` is an ASGI app for ``httpx.ASGITransport``. Besides the account it
holds what travels with each request: Basic auth [SA1 users page: ``{email}/token:{api_token}``],
the account-wide budget with its headers, the incremental-export budget and forced 429s.

Rate limits [RL]: per-minute account budget by plan (``plan_rpm``); incremental exports "up to
10 requests per minute" [IE]; over a limit the answer is 429 with ``Retry-After`` in seconds
[RL]; responses carry ``X-Rate-Limit`` and ``X-Rate-Limit-Remaining`` [RL], and Ticketing APIs
also ``ratelimit-limit``/``ratelimit-remaining``/``ratelimit-reset`` (developer.zendesk.com
"Best practices for avoiding rate limiting"). Some 429 bodies are plain text [3p: Zendesk
community post 4887103531674]; the fake's account and export 429s are plain text for that
reason (the exact wording is not documented).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
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
from tests.docfakes.zendesk_account import (
    FIELDS_PER_PAGE,
    MAX_EXPORT_PAGE,
    MAX_JOBS_IN_FLIGHT,
    MAX_SHOW_MANY,
    MAX_UPDATE_MANY,
    Kind,
    TooManyJobs,
    ZendeskAccount,
)

Handler = Callable[[Request, re.Match[str]], Awaitable[Response]]
_PLURAL: dict[str, Kind] = {"organizations": "organization", "users": "user"}


def error(status: int, name: str, description: str) -> JSONResponse:
    """``{"error": ..., "description": ...}``: the envelope of Zendesk's 4xx answers (e.g.
    ``{"error":"RecordNotFound","description":"Not found"}``; [SA1]; api-evangelist/zendesk
    errors/zendesk-error-codes.yml, derived from Zendesk's OAS)."""
    return JSONResponse({"error": name, "description": description}, status_code=status)


class ZendeskFake:
    def __init__(self, clock: FakeClock | None = None, **account_options: Any) -> None:
        self.clock = clock or FakeClock()
        self.account = ZendeskAccount(self.clock, **account_options)
        self.log = RequestLog()
        self.throttle = Throttle()
        self.account_budget = MinuteBudget(self.account.plan_rpm)
        self.export_budget = MinuteBudget(self.account.export_rpm)
        self._per_record_updates: dict[tuple[str, str], MinuteBudget] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("GET", re.compile(r"/api/v2/users/me"), self._me),
            ("GET", re.compile(r"/api/v2/incremental/organizations"), self._time_export),
            ("GET", re.compile(r"/api/v2/incremental/users"), self._time_export),
            ("GET", re.compile(r"/api/v2/incremental/users/cursor"), self._cursor_export),
            ("GET", re.compile(r"/api/v2/(organizations|users)/show_many"), self._show_many),
            ("PUT", re.compile(r"/api/v2/(organizations|users)/update_many"), self._update_many),
            ("GET", re.compile(r"/api/v2/(organizations|users)/(\d+)"), self._show),
            ("PUT", re.compile(r"/api/v2/(organizations|users)/(\d+)"), self._update_one),
            ("GET", re.compile(r"/api/v2/job_statuses/show_many"), self._job_statuses),
            ("GET", re.compile(r"/api/v2/job_statuses/(\w+)"), self._job_status),
            ("GET", re.compile(r"/api/v2/(organization|user)_fields"), self._fields),
        ]
        self.app = Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "PUT", "POST"])]
        )

    # -- the envelope every request goes through ------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        path = strip_json_suffix(request.url.path)
        response = self._refuse(request, path)
        if response is None:
            response = await self._route(request, path)
        now = self.clock.now()
        remaining = self.account_budget.remaining(now)
        response.headers["X-Rate-Limit"] = str(self.account_budget.limit)
        response.headers["X-Rate-Limit-Remaining"] = str(remaining)
        response.headers["ratelimit-limit"] = str(self.account_budget.limit)
        response.headers["ratelimit-remaining"] = str(remaining)
        response.headers["ratelimit-reset"] = str(self.account_budget.resets_in(now))
        self.log.calls.append(Call(request.method, path, request.url.query, response.status_code))
        return response

    def _refuse(self, request: Request, path: str) -> Response | None:
        if basic_credentials(request) != (f"{self.account.email}/token", self.account.token):
            # 401 with {"error":"Couldn't authenticate you"} [3p: recorded in many client test
            # suites; api-evangelist errors file: "401 Unauthorized / Couldn't authenticate you"]
            return JSONResponse({"error": "Couldn't authenticate you"}, status_code=401)
        now = self.clock.now()
        if self.throttle.count > 0:
            self.throttle.count -= 1
            return _too_many(self.throttle.seconds)
        wait = self.account_budget.take(now)
        if wait is not None:
            return _too_many(wait)
        if path.startswith("/api/v2/incremental/"):
            wait = self.export_budget.take(now)
            if wait is not None:
                return _too_many(wait)
            if self.account.role != "admin":
                # [IE] exports are "Allowed For: Admins". Shape of a 403 [3p: api-evangelist
                # errors file, a Zendesk error taxonomy]; the message wording is not documented.
                body = {"error": {"title": "Forbidden", "message": "You do not have access"}}
                return JSONResponse(body, status_code=403)
        return None

    async def _route(self, request: Request, path: str) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and method == request.method:
                return await handler(request, match)
        return error(404, "InvalidEndpoint", "Not found")

    def base(self, request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def violation(self, text: str, status: int = 400) -> JSONResponse:
        """A documented limit the client broke: answered with 400 and remembered for tests."""
        self.log.violations.append(text)
        return error(status, "InvalidValue", text)

    # -- endpoints ------------------------------------------------------------------------

    async def _me(self, request: Request, _match: re.Match[str]) -> Response:
        user = {
            "id": 1,
            "name": "dealbridge",
            "email": self.account.email,
            "role": self.account.role,
        }
        return JSONResponse({"user": user})

    def _export_args(self, request: Request) -> tuple[int | None, int] | Response:
        per_page = int(request.query_params.get("per_page", MAX_EXPORT_PAGE))
        if not 1 <= per_page <= MAX_EXPORT_PAGE:
            return self.violation(f"per_page {per_page} is outside 1..{MAX_EXPORT_PAGE} [IE]")
        raw = request.query_params.get("start_time")
        start_time = int(raw) if raw is not None else None
        if start_time is not None and self.account.too_recent(start_time):
            # 422 {"error":"InvalidValue","description":"Too recent start_time. ..."}: the status
            # and prefix are what client libraries handle (treasure-data/embulk-input-zendesk,
            # several scripts); the remaining wording changed over time (5 minutes, now 1).
            return error(
                422, "InvalidValue", "Too recent start_time. Use a start_time older than 1 minute"
            )
        return start_time, per_page

    async def _time_export(self, request: Request, _match: re.Match[str]) -> Response:
        kind: Kind = "organization" if "organizations" in request.url.path else "user"
        args = self._export_args(request)
        if isinstance(args, Response):
            return args
        start_time, per_page = args
        if start_time is None:
            return error(400, "InvalidValue", "start_time is required")  # [IE]: required
        page = self.account.time_based_page(kind, start_time, per_page)
        plural = f"{kind}s"
        next_page = (
            f"{self.base(request)}/api/v2/incremental/{plural}.json"
            f"?per_page={per_page}&start_time={page['next_start_time']}"
        )
        return JSONResponse(
            {
                plural: [self.account.to_json(r, self.base(request)) for r in page["records"]],
                "count": page["count"],
                "end_time": page["end_time"],
                "end_of_stream": page["end_of_stream"],
                "next_page": next_page,
            }
        )

    async def _cursor_export(self, request: Request, _match: re.Match[str]) -> Response:
        cursor = request.query_params.get("cursor")
        args = self._export_args(request)
        if isinstance(args, Response):
            return args
        start_time, per_page = args
        if cursor is None and start_time is None:
            return error(400, "InvalidValue", "start_time is required on the first request")
        page = self.account.cursor_page(
            "user", start_time=start_time, cursor=cursor, per_page=per_page
        )
        if page is None:
            return error(400, "InvalidPaginationParameter", "cursor is invalid")  # [inferred]
        after_url = (
            f"{self.base(request)}/api/v2/incremental/users/cursor.json"
            f"?cursor={page['after_cursor']}&per_page={per_page}"
        )
        return JSONResponse(
            {
                "users": [self.account.to_json(r, self.base(request)) for r in page["records"]],
                "after_cursor": page["after_cursor"],
                "after_url": after_url,
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": page["end_of_stream"],
            }
        )

    async def _show_many(self, request: Request, match: re.Match[str]) -> Response:
        kind = _PLURAL[match.group(1)]
        ids = [v for v in request.query_params.get("ids", "").split(",") if v]
        external_ids = [v for v in request.query_params.get("external_ids", "").split(",") if v]
        if len(ids) > MAX_SHOW_MANY or len(external_ids) > MAX_SHOW_MANY:
            return self.violation(f"show_many takes up to {MAX_SHOW_MANY} ids [ORG]")
        found = self.account.show_many(kind, ids, external_ids)
        body = [self.account.to_json(r, self.base(request)) for r in found]
        return JSONResponse(
            {match.group(1): body, "next_page": None, "previous_page": None, "count": len(body)}
        )

    async def _show(self, request: Request, match: re.Match[str]) -> Response:
        kind = _PLURAL[match.group(1)]
        record = self.account.records.get((kind, int(match.group(2))))
        if record is None:
            return error(404, "RecordNotFound", "Not found")
        return JSONResponse({kind: self.account.to_json(record, self.base(request))})

    async def _update_many(self, request: Request, match: re.Match[str]) -> Response:
        """[ORG] Update Many: batch ``{"organizations": [{id, ...}]}`` or bulk ``?ids=`` with
        ``{"organization": {...}}``; answers a ``job_status`` [JOB]; at most 30 jobs queued or
        running, else ``TooManyJobs`` with ``current_job_ids`` and the
        ``zendesk-ratelimit-inflight-jobs`` header [RL via SA1]. The refusal's status (429) is
        [inferred]: the sources give its body and header, not its code."""
        plural = match.group(1)
        kind = _PLURAL[plural]
        body = json.loads(await request.body() or b"{}")
        if plural in body:
            items = list(body[plural])
        else:
            ids = [v for v in request.query_params.get("ids", "").split(",") if v]
            items = [{"id": int(i), **body.get(kind, {})} for i in ids]
        if not items or len(items) > MAX_UPDATE_MANY:
            return self.violation(f"update_many takes 1..{MAX_UPDATE_MANY} records [ORG]")
        try:
            job = self.account.submit_job(kind, items)
        except TooManyJobs as refused:
            response = JSONResponse(
                {
                    "error": "TooManyJobs",
                    "description": "Number of allowed concurrent jobs exceeded",
                    "current_job_ids": refused.current,
                },
                status_code=429,
            )
            response.headers["Retry-After"] = "5"
        else:
            response = JSONResponse({"job_status": self._job_json(request, job.id)})
        in_flight = self.account.jobs_in_flight()
        remaining = max(0, MAX_JOBS_IN_FLIGHT - in_flight)
        response.headers["zendesk-ratelimit-inflight-jobs"] = (
            f"total={MAX_JOBS_IN_FLIGHT}; remaining={remaining}; resets=60"
        )
        return response

    def _job_json(self, request: Request, job_id: str) -> dict[str, Any]:
        job = self.account.jobs[job_id]
        state = self.account.job_state(job)
        return {
            "id": job.id,
            "url": f"{self.base(request)}/api/v2/job_statuses/{job.id}.json",
            "job_type": "ThrottledJob",
            "status": state,
            "total": len(job.items),
            "progress": len(job.items) if job.results is not None else 0,
            "message": job.failure or ("Completed" if job.results is not None else None),
            "results": job.results,
        }

    async def _job_status(self, request: Request, match: re.Match[str]) -> Response:
        self.account.run_jobs()
        if match.group(1) not in self.account.jobs:
            return error(404, "RecordNotFound", "Not found")  # expired or never existed
        return JSONResponse({"job_status": self._job_json(request, match.group(1))})

    async def _job_statuses(self, request: Request, _match: re.Match[str]) -> Response:
        """[JOB] Show Many Job Statuses: ``?ids=`` comma list; expired jobs are simply absent."""
        self.account.run_jobs()
        ids = [v for v in request.query_params.get("ids", "").split(",") if v]
        known = [self._job_json(request, i) for i in ids if i in self.account.jobs]
        return JSONResponse({"job_statuses": known})

    async def _update_one(self, request: Request, match: re.Match[str]) -> Response:
        """``PUT /{organizations|users}/{id}``. Update Organization: 5 a minute per organization
        [RL via SA1], refused with the [ORG] example body; Update User: 5 a minute per user
        [RL via SA1], refused with a plain-text body [3p: community post 4887103531674]."""
        plural, record_id = match.group(1), match.group(2)
        kind = _PLURAL[plural]
        budget = self._per_record_updates.setdefault((plural, record_id), MinuteBudget(5))
        wait = budget.take(self.clock.now())
        if wait is not None:
            if kind == "organization":
                refusal = [{"code": "TooManyRequests", "title": "Too many requests to update"}]
                limited: Response = JSONResponse({"errors": refusal}, status_code=429)
            else:
                limited = PlainTextResponse(
                    "You have exceeded the rate limit for updating a single unique user",
                    status_code=429,
                )
            limited.headers["Retry-After"] = str(wait)
            return limited
        if (kind, int(record_id)) not in self.account.records:
            return error(404, "RecordNotFound", "Not found")
        payload = json.loads(await request.body() or b"{}").get(kind, {})
        outcome = self.account.update_one(kind, {**payload, "id": int(record_id)})
        if not outcome["success"]:
            # The RecordInvalid envelope with per-field details [SA1, marked unverified there].
            details = {"base": [{"description": outcome["details"], "error": outcome["error"]}]}
            body: dict[str, Any] = {
                "error": "RecordInvalid",
                "description": "Record validation errors",
                "details": details,
            }
            return JSONResponse(body, status_code=422)
        record = self.account.records[(kind, int(record_id))]
        return JSONResponse({kind: self.account.to_json(record, self.base(request))})

    async def _fields(self, request: Request, match: re.Match[str]) -> Response:
        """[UF] ``GET /api/v2/{organization|user}_fields``: at most 100 per page, offset pages."""
        kind: Kind = "organization" if match.group(1) == "organization" else "user"
        page = int(request.query_params.get("page", 1))
        definitions = self.account.fields[kind]
        chunk = definitions[(page - 1) * FIELDS_PER_PAGE : page * FIELDS_PER_PAGE]
        more = page * FIELDS_PER_PAGE < len(definitions)
        name = f"{kind}_fields"
        next_page = f"{self.base(request)}/api/v2/{name}.json?page={page + 1}" if more else None
        start = (page - 1) * FIELDS_PER_PAGE
        body = [self.account.field_json(kind, f, start + i) for i, f in enumerate(chunk)]
        return JSONResponse(
            {name: body, "next_page": next_page, "previous_page": None, "count": len(definitions)}
        )


def _too_many(seconds: int) -> Response:
    response = PlainTextResponse("Too Many Requests", status_code=429)
    response.headers["Retry-After"] = str(seconds)
    return response
