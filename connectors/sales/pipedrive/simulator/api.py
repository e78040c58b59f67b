"""The simulator's HTTP surface: the endpoints the connector uses, behind auth and limits.

Every API call needs ``x-api-token`` (the company user's token) or ``Authorization: Bearer``
with a live OAuth access token and the scope the URL needs (FACTS.md §2). Then the burst window
and the daily token budget are charged (§7), then the handler answers. v1 deal, person and
organization endpoints answer 410: out of support since 1 Aug 2026 and "may be removed without
notice" (§1.3, §8.2); the simulator plays the removal so a client that still uses them fails.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sales.pipedrive.simulator import bodies, limits, listing
from connectors.sales.pipedrive.simulator.store import Record

if TYPE_CHECKING:
    from connectors.sales.pipedrive.simulator.simulator import PipedriveSimulator

Handler = Callable[[Request], Awaitable[Response]]

COST = {  # tokens per call (FACTS.md §7.2)
    "deals": 10, "archived": 20, "deal": 1, "organizations": 10, "persons": 10,
    "fields": 10, "users": 20,
}  # fmt: skip
SCOPES = {  # what the URL needs (FACTS.md §2.4; SDK organization-fields-api.ts, users-api.ts)
    "deals": ("deals:read", "deals:full"),
    "archived": ("deals:read", "deals:full"),
    "deal": ("deals:read", "deals:full"),
    "organizations": ("contacts:read", "contacts:full"),
    "persons": ("contacts:read", "contacts:full"),
    "fields": ("deals:read", "deals:full", "contacts:read", "contacts:full", "admin"),
    "users": ("users:read", "admin"),
}
FIELD_ENTITIES = {
    "dealFields": "deal",
    "organizationFields": "organization",
    "personFields": "person",
}
REMOVED_V1 = ("deals", "persons", "organizations")


def build_app(sim: PipedriveSimulator) -> Starlette:
    """The Starlette app for one simulator (its SimControls wrap it)."""

    async def deals(request: Request) -> Response:
        return _list_deals(sim, request, archived=False)

    async def archived(request: Request) -> Response:
        return _list_deals(sim, request, archived=True)

    async def one_deal(request: Request) -> Response:
        record = sim.store.records["deal"].get(int(request.path_params["deal_id"]))
        if record is None or (
            record.deleted_at is not None and not sim.store.visible_deleted(record, sim.clock())
        ):
            return bodies.error(404, "Deal not found")
        return bodies.ok(record.deal_json(), paged=False)

    def related(entity: str) -> Handler:
        async def handler(request: Request) -> Response:
            return _list_related(sim, request, entity)

        return handler

    async def fields(request: Request) -> Response:
        return _list_fields(sim, request)

    async def users(request: Request) -> Response:
        return _list_users(sim, request)

    async def gone(_request: Request) -> Response:
        return bodies.error(
            410, "This endpoint is out of support and no longer available; use API v2"
        )

    async def unknown(_request: Request) -> Response:
        return bodies.error(404, "A resource required for this operation was not found.")

    routes = [
        Route("/oauth/token", sim.oauth.token_endpoint, methods=["POST"]),
        Route("/api/v2/deals", _guard(sim, deals, "deals"), methods=["GET"]),
        Route("/api/v2/deals/archived", _guard(sim, archived, "archived"), methods=["GET"]),
        Route("/api/v2/deals/{deal_id:int}", _guard(sim, one_deal, "deal"), methods=["GET"]),
        Route(
            "/api/v2/organizations",
            _guard(sim, related("organization"), "organizations"),
            methods=["GET"],
        ),
        Route("/api/v2/persons", _guard(sim, related("person"), "persons"), methods=["GET"]),
        *(
            Route(f"/api/v2/{name}", _guard(sim, fields, "fields"), methods=["GET"])
            for name in FIELD_ENTITIES
        ),
        Route("/v1/users", _guard(sim, users, "users"), methods=["GET"]),
        Route("/api/v1/users", _guard(sim, users, "users"), methods=["GET"]),
        *(
            Route(f"{root}/{name}{tail}", gone, methods=["GET"])
            for root in ("/v1", "/api/v1")
            for name in REMOVED_V1
            for tail in ("", "/collection", "/search", "/{item_id:int}")
        ),
        Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
    ]
    return Starlette(routes=routes)


def _guard(sim: PipedriveSimulator, handler: Handler, endpoint: str) -> Handler:
    """Auth and scope, the edge block, the burst window, the daily budget, then the handler;
    every answer carries ``Date`` from the simulator's clock, as any HTTP server's does."""

    async def dated(request: Request) -> Response:
        response = await guarded(request)
        if sim.send_date:
            response.headers["date"] = formatdate(sim.clock(), usegmt=True)
        return response

    async def guarded(request: Request) -> Response:
        api_token = request.headers.get("x-api-token")
        if api_token is not None:
            if api_token != sim.api_token:
                return bodies.unauthorized()
            who = f"api:{api_token}"
        else:
            header = request.headers.get("authorization")
            if header is None:
                return bodies.unauthorized()
            refused, scopes = sim.oauth.check(header)
            if refused is not None:
                return refused
            if not scopes & set(SCOPES[endpoint]):
                return bodies.error(403, "Scope and URL mismatch")
            who = f"oauth:{sim.oauth.client_id}"
        return await _limited(sim, request, handler, endpoint, who, api=api_token is not None)

    return dated


async def _limited(
    sim: PipedriveSimulator,
    request: Request,
    handler: Handler,
    endpoint: str,
    who: str,
    *,
    api: bool,
) -> Response:
    now = sim.clock()
    if sim.blocked_until.get(who, 0.0) > now:
        return bodies.blocked()
    limit = sim.burst_limit(oauth=not api)
    allowed, remaining, reset = (True, limit, 0)
    window = sim.burst_window(oauth=not api)
    if window is not None:
        allowed, remaining, reset = window.hit(who)
    found = limits.headers(limit, remaining, reset, api_token=api)
    if not allowed:
        return _throttled(sim, who, {**found, "retry-after": str(reset)})
    if not sim.budget.spend(COST[endpoint]):
        return _throttled(sim, who, found)
    sim.strikes[who] = 0
    response = await handler(request)
    response.headers.update(found)
    return response


def _throttled(sim: PipedriveSimulator, who: str, headers: dict[str, str]) -> Response:
    """429, and Cloudflare's block for an integration that keeps going (FACTS.md §7.6)."""
    sim.strikes[who] = sim.strikes.get(who, 0) + 1
    if sim.edge_block_after is not None and sim.strikes[who] >= sim.edge_block_after:
        sim.blocked_until[who] = sim.clock() + sim.edge_block_seconds
        sim.strikes[who] = 0
    return bodies.over_limit(headers)


def _list_deals(sim: PipedriveSimulator, request: Request, *, archived: bool) -> Response:
    try:
        query = listing.parse(request.query_params, deals=True)
        now = sim.clock()
        wanted = [
            r
            for r in sim.store.records["deal"].values()
            if _deal_visible(sim, r, query, now, archived=archived)
            and listing.matches(r, query, sim.store.filters.get)
        ]
    except listing.BadRequest as exc:
        return bodies.error(400, str(exc))
    chunk, following = listing.page(wanted, query)
    return bodies.ok([r.deal_json(query.custom_keys) for r in chunk], next_cursor=following)


def _deal_visible(
    sim: PipedriveSimulator, record: Record, query: listing.ListQuery, now: float, *, archived: bool
) -> bool:
    if (record.archived_at is not None) != archived:
        return False  # archived deals are only in /deals/archived (FACTS.md §3.5)
    if record.listed_from is not None and now < record.listed_from:
        return False  # not in the list yet (read-after-write lag, §9.3: off unless a test asks)
    if record.deleted_at is not None:
        return "deleted" in query.statuses and sim.store.visible_deleted(record, now)
    return record.data.get("status") in query.statuses


def _list_related(sim: PipedriveSimulator, request: Request, entity: str) -> Response:
    try:
        query = listing.parse(request.query_params, deals=False)
    except listing.BadRequest as exc:
        return bodies.error(400, str(exc))
    wanted = [
        r
        for r in sim.store.records[entity].values()
        if r.deleted_at is None and (query.ids is None or r.id in query.ids)
    ]
    chunk, following = listing.page(wanted, query)
    return bodies.ok([r.as_json() for r in chunk], next_cursor=following)


def _list_fields(sim: PipedriveSimulator, request: Request) -> Response:
    """A v2 field catalog; its cursor is opaque to clients (an offset here)."""
    entity = FIELD_ENTITIES[request.url.path.rsplit("/", 1)[-1]]
    try:
        limit = listing.parse(request.query_params, deals=False).limit
        start = _offset(request.query_params.get("cursor"))
    except listing.BadRequest as exc:
        return bodies.error(400, str(exc))
    items = [f.as_json() for f in sim.store.fields[entity]]
    following = str(start + limit) if start + limit < len(items) else None
    return bodies.ok(items[start : start + limit], next_cursor=following)


def _list_users(sim: PipedriveSimulator, request: Request) -> Response:
    """``GET /v1/users`` in v1 offset pages (FACTS.md §3.7)."""
    try:
        start = _offset(request.query_params.get("start"), "start")
        limit = listing.parse(request.query_params, deals=False).limit
    except listing.BadRequest as exc:
        return bodies.error(400, str(exc))
    everyone = [dict(u) for u in sim.store.users.values()]
    return bodies.v1_page(everyone[start : start + limit], start, limit, len(everyone))


def _offset(raw: str | None, name: str = "cursor") -> int:
    if raw is None:
        return 0
    if not raw.isdigit():
        raise listing.BadRequest(f"{name} is not valid")
    return int(raw)
