"""The simulator's HTTP surface: every data centre's accounts server and API domain.

===============================================  ============================================
``POST {accounts}/oauth/v2/token``                refresh grant (:mod:`.oauth`); no credits
``GET {api}/crm/v8/{module}``                     list, or ``ids=`` (:mod:`.listing`); 1 credit
``GET {api}/crm/v8/{module}/deleted``             deletions; 1 credit
``POST {api}/crm/v8/coql``                        COQL (:mod:`.coql`); 1-3 credits by LIMIT
``GET {api}/crm/v8/settings/fields?module=``      fields metadata; 1 credit
===============================================  ============================================

Requests are routed by host, as Zoho's data centres are separate (FACTS.md §1.1): the org
lives in one; another data centre's accounts server does not know its refresh token
(``invalid_code``) and another API domain does not know its access tokens (401
``INVALID_TOKEN``, §2.5). A host that is no Zoho host (a loopback server, a test name) is the
org's own data centre in both roles. Every API call needs ``Authorization: Zoho-oauthtoken``
(§2.1) and the scope for what it reads (401 ``OAUTH_SCOPE_MISMATCH``), takes a concurrency slot
and its credits (429 ``TOO_MANY_REQUESTS`` either way, §8.3), and carries
``X-API-CREDITS-REMAINING`` once half the credits are used (§8.4).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sales.zoho.datacentres import DATA_CENTRES
from connectors.sales.zoho.payloads import parse_time
from connectors.sales.zoho.simulator.coql import CoqlError, credits_for, parse, run
from connectors.sales.zoho.simulator.limits import THROTTLE_BODY
from connectors.sales.zoho.simulator.listing import Answer, ApiError, list_deleted, list_records

if TYPE_CHECKING:
    from connectors.sales.zoho.simulator.simulator import ZohoSimulator

VERSIONS = tuple(f"v{n}" for n in range(2, 9))
Handler = Callable[[Request], Awaitable[Response]]

_ACCOUNTS_HOSTS = {dc.accounts_url.split("//")[1]: dc.code for dc in DATA_CENTRES.values()}
_API_HOSTS = {dc.api_domain.split("//")[1]: dc.code for dc in DATA_CENTRES.values()}


def host_role(host: str) -> tuple[str | None, str | None]:
    """("accounts" | "api" | None, data centre code) for a Host header."""
    name = host.split(":")[0].lower()
    if name in _ACCOUNTS_HOSTS:
        return "accounts", _ACCOUNTS_HOSTS[name]
    if name in _API_HOSTS:
        return "api", _API_HOSTS[name]
    return None, None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (or an empty one for 204/304)."""
    if status in (204, 304) or body is None:
        return Response(status_code=status, headers=headers)
    return Response(
        json.dumps(body), status, headers=headers, media_type="application/json;charset=UTF-8"
    )


def zoho_error(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response:
    """``{"code", "details", "message", "status": "error"}`` (§9.1)."""
    body = {"code": code, "details": details or {}, "message": message, "status": "error"}
    return json_response(status, body)


class _Handlers:
    def __init__(self, sim: ZohoSimulator) -> None:
        self.sim = sim

    async def token(self, request: Request) -> Response:
        role, dc = host_role(request.headers.get("host", ""))
        if role == "api":
            return zoho_error(
                404,
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
            )
        raw = (await request.body()).decode("utf-8", "replace")
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        form |= {k: v for k, v in request.query_params.items() if k not in form}
        status, body = self.sim.accounts.token(form, dc or self.sim.org.data_centre)
        return json_response(status, body)

    async def records(self, request: Request) -> Answer:
        module = request.path_params["module"]
        since = _since(request)
        self.sim.require_scope(request, f"ZohoCRM.modules.{module.lower()}.READ")
        return list_records(self.sim.org, self.sim.page_tokens, module, request.query_params, since)

    async def deleted(self, request: Request) -> Answer:
        module = request.path_params["module"]
        self.sim.require_scope(request, f"ZohoCRM.modules.{module.lower()}.READ")
        return list_deleted(self.sim.org, module, request.query_params, _since(request))

    async def fields(self, request: Request) -> Answer:
        module = request.query_params.get("module")
        self.sim.require_scope(request, "ZohoCRM.settings.fields.READ")
        if not module:
            raise ApiError(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "module"},
            )
        if module not in self.sim.org.fields:
            raise ApiError(
                400,
                "INVALID_MODULE",
                "the module name given seems to be invalid",
                {"module": module},
            )
        return Answer(200, {"fields": json.loads(json.dumps(self.sim.org.fields[module]))})

    async def coql(self, request: Request) -> Answer:
        self.sim.require_scope(request, "ZohoCRM.coql.READ")
        try:
            text = json.loads(await request.body()).get("select_query")
        except (ValueError, AttributeError):
            text = None
        if not isinstance(text, str) or not text.strip():
            raise ApiError(
                400,
                "REQUIRED_PARAM_MISSING",
                "select_query is missing",
                {"param_name": "select_query"},
            )
        try:
            query = parse(self.sim.org, text)
        except CoqlError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
        request.state.credits = credits_for(query.limit)
        rows, more = run(self.sim.org, query)
        if not rows:
            return Answer(204)
        return Answer(200, {"data": rows, "info": {"count": len(rows), "more_records": more}})


def _since(request: Request) -> Any:
    raw = request.headers.get("if-modified-since")
    if raw is None:
        return None
    moment = parse_time(raw)
    if moment is None:
        raise ApiError(
            400, "INVALID_DATA", "invalid If-Modified-Since", {"header_name": "If-Modified-Since"}
        )
    return moment


def _api(sim: ZohoSimulator, handler: Callable[[Request], Awaitable[Answer]]) -> Handler:
    """Data centre, version, token, concurrency and credits around one API handler."""

    async def endpoint(request: Request) -> Response:
        role, dc = host_role(request.headers.get("host", ""))
        if role == "accounts" or request.path_params["version"] not in VERSIONS:
            return zoho_error(
                404,
                "INVALID_URL_PATTERN",
                "Please check if the URL trying to access is a correct one",
            )
        if dc not in (None, sim.org.data_centre) or not sim.authorised(request):
            return zoho_error(401, "INVALID_TOKEN", "invalid oauth token")
        limits = sim.limits
        if not limits.enter():
            return json_response(429, THROTTLE_BODY, limits.headers())
        try:
            request.state.credits = 1
            try:
                if sim.response_delay:
                    await asyncio.sleep(sim.response_delay)
                answer = await handler(request)
            except ApiError as exc:
                answer = Answer(exc.status, exc.body())
            if not limits.charge(request.state.credits):
                return json_response(
                    429, THROTTLE_BODY, limits.headers() or {"X-API-CREDITS-REMAINING": "0"}
                )
            return json_response(answer.status, answer.body, limits.headers())
        finally:
            limits.leave()

    return endpoint


async def _not_found(_request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return zoho_error(
            400, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one"
        )
    return zoho_error(
        404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
    )


def build_app(sim: ZohoSimulator) -> Starlette:
    """The Starlette app for one simulated org and every data centre's hosts."""
    h = _Handlers(sim)
    crm = "/crm/{version}"
    return Starlette(
        routes=[
            Route("/oauth/v2/token", h.token, methods=["POST"]),
            Route(f"{crm}/coql", _api(sim, h.coql), methods=["POST"]),
            Route(f"{crm}/settings/fields", _api(sim, h.fields), methods=["GET"]),
            Route(f"{crm}/{{module}}/deleted", _api(sim, h.deleted), methods=["GET"]),
            Route(f"{crm}/{{module}}", _api(sim, h.records), methods=["GET"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found},
    )
