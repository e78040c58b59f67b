"""The simulator's HTTP surface: the HubSpot endpoints dealbridge uses, behind auth and limits.

Every CRM call needs ``Authorization: Bearer`` with the private-app token or a live OAuth
access token (401 ``INVALID_AUTHENTICATION`` / ``EXPIRED_AUTHENTICATION`` otherwise). Search
calls count against a per-second limit and carry no rate-limit headers; every other CRM call
counts against the 10-second window and answers with ``X-HubSpot-RateLimit-*`` headers (daily
ones for private apps only, as HubSpot does). All calls count against the daily budget.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.sales.hubspot.simulator import bodies
from connectors.sales.hubspot.simulator.filters import SearchRejected
from connectors.sales.hubspot.simulator.reads import Reads
from connectors.sales.hubspot.simulator.search import DealSearch
from connectors.sales.hubspot.simulator.store import OBJECT_TYPES

if TYPE_CHECKING:
    from connectors.sales.hubspot.simulator.simulator import HubSpotSimulator

Handler = Callable[[Request], Awaitable[Response]]


def build_app(sim: HubSpotSimulator) -> Starlette:
    """The Starlette app for one simulator (wrapped by its SimControls by the caller)."""
    search = DealSearch(
        sim.store,
        cap=sim.search_cap,
        page_max=sim.search_page_max,
        lag=sim.search_lag,
        now=lambda: sim.now(),
    )
    reads = Reads(sim)

    async def search_deals(request: Request) -> Response:
        kind = OBJECT_TYPES.get(request.path_params["object_type"])
        if kind != "deals":
            return bodies.error(404, "Only deal search is simulated", "OBJECT_NOT_FOUND")
        body = await _json(request)
        if body is None:
            return bodies.validation("Invalid input JSON")
        try:
            return JSONResponse(search.answer(body, sim.property_types("deals")))
        except SearchRejected as exc:
            return bodies.validation(str(exc))

    async def token(request: Request) -> Response:
        return _token(sim, parse_qs((await request.body()).decode("utf-8", "replace")))

    routes = [
        Route("/oauth/v1/token", token, methods=["POST"]),
        Route("/oauth/v3/token", token, methods=["POST"]),
        Route(
            "/crm/v3/objects/{object_type}/search",
            _guard(sim, search_deals, search=True),
            methods=["POST"],
        ),
        Route(
            "/crm/v3/objects/{object_type}/batch/read",
            _guard(sim, reads.batch_read),
            methods=["POST"],
        ),
        Route("/crm/v3/objects/{object_type}", _guard(sim, reads.list_objects), methods=["GET"]),
        Route(
            "/crm/v4/associations/{from_type}/{to_type}/batch/read",
            _guard(sim, reads.associations),
            methods=["POST"],
        ),
        Route("/crm/v3/properties/{object_type}", _guard(sim, reads.properties), methods=["GET"]),
        Route("/crm/v3/owners", _guard(sim, reads.owners), methods=["GET"]),
        Route("/crm/v3/owners/", _guard(sim, reads.owners), methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _guard(sim: HubSpotSimulator, handler: Handler, *, search: bool = False) -> Handler:
    """Auth, then the limit that applies, then the handler; rate headers on non-search calls."""

    async def endpoint(request: Request) -> Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        refused = _auth(sim, token)
        if refused is not None:
            return refused
        headers: dict[str, str] = {}
        throttled = _search_limit(sim) if search else _window_limit(sim, token, headers)
        if throttled is None:
            throttled = _daily_limit(sim, headers)
        response = throttled or await handler(request)
        response.headers.update(headers)
        return response

    return endpoint


def _auth(sim: HubSpotSimulator, token: str) -> Response | None:
    if token and token == sim.private_token:
        return None
    expires = sim.access_tokens.get(token)
    if expires is None:
        return bodies.error(401, bodies.AUTH_MISSING, "INVALID_AUTHENTICATION")
    ago = sim.clock() - expires
    if ago >= 0:
        message = f"The OAuth token used to make this call expired {int(ago)} second(s) ago."
        return bodies.error(401, message, "EXPIRED_AUTHENTICATION")
    return None


def _search_limit(sim: HubSpotSimulator) -> Response | None:
    limiter = sim.search_limiter
    if limiter is None or limiter.hit("search")[0]:
        return None
    return bodies.rate_limited("SECONDLY")


def _window_limit(sim: HubSpotSimulator, token: str, headers: dict[str, str]) -> Response | None:
    limiter = sim.ten_second_limiter
    if limiter is None:
        return None
    allowed, remaining, _ = limiter.hit("app")
    headers["X-HubSpot-RateLimit-Max"] = str(limiter.limit)
    headers["X-HubSpot-RateLimit-Remaining"] = str(remaining)
    headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(limiter.window * 1000))
    if token == sim.private_token:
        left = max(0, sim.daily_limit - sim.daily_used - 1)
        headers["X-HubSpot-RateLimit-Daily"] = str(sim.daily_limit)
        headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(left)
    return None if allowed else bodies.rate_limited("TEN_SECONDLY_ROLLING", dict(headers))


def _daily_limit(sim: HubSpotSimulator, headers: dict[str, str]) -> Response | None:
    if sim.daily_used >= sim.daily_limit:
        return bodies.rate_limited("DAILY", dict(headers))
    sim.daily_used += 1
    return None


def _token(sim: HubSpotSimulator, form: dict[str, list[str]]) -> Response:
    field = {k: v[0] for k, v in form.items() if v}
    client_id, client_secret, refresh = sim.oauth_client
    if field.get("grant_type") != "refresh_token":
        return bodies.oauth_error("BAD_GRANT_TYPE", "grant_type must be refresh_token here")
    if field.get("client_id") != client_id or field.get("client_secret") != client_secret:
        return bodies.oauth_error("BAD_CLIENT_ID", "missing or invalid client_id or client_secret")
    if field.get("refresh_token") != refresh:
        return bodies.oauth_error("BAD_REFRESH_TOKEN", "missing or unknown refresh token")
    access, ttl = sim.issue_token()
    body = {"token_type": "bearer", "refresh_token": refresh, "access_token": access}
    return JSONResponse(body | {"expires_in": ttl})


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
