"""The simulator's HTTP surface.

==============================================================  =================================
``POST /{tenant}/oauth2/v2.0/token``                             Entra client credentials
``GET /api/data/v9.x/{entityset}``                               collection reads (:mod:`.reads`)
``GET /api/data/v9.x/{entityset}({id})``                         one row (404 ``0x80040217``)
``GET /api/data/v9.x/EntityDefinitions(LogicalName='t')``         table definition
``GET .../EntityDefinitions(LogicalName='t')/Attributes[/cast]``  columns and choices
==============================================================  =================================

Every API call needs a bearer token from the token endpoint: without a valid one the answer is
401 with an empty body and ``WWW-Authenticate: Bearer authorization_uri=...`` (FACTS.md §2.5,
body unverified). Then the caller's service-protection budget is checked (:mod:`.limits`).
Answers carry ``OData-Version: 4.0`` and ``Preference-Applied`` for what was applied (§1.3).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from connectors.sales.dynamics.simulator import metadata
from connectors.sales.dynamics.simulator.entra import TokenServer
from connectors.sales.dynamics.simulator.errors import NOT_FOUND, ODataError
from connectors.sales.dynamics.simulator.limits import ServiceProtection
from connectors.sales.dynamics.simulator.query import parse_query, render
from connectors.sales.dynamics.simulator.reads import CollectionReader, Prefer
from connectors.sales.dynamics.simulator.store import Environment

VERSIONS = frozenset({"v9.0", "v9.1", "v9.2"})
_ENTITY = re.compile(r"^EntityDefinitions\(LogicalName='([a-z0-9_]+)'\)(?:/Attributes(?:/(.+))?)?$")
_ATTRIBUTES = re.compile(r"^EntityDefinitions\(LogicalName='[a-z0-9_]+'\)/Attributes")
_ONE_ROW = re.compile(r"^([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)$")


@dataclass
class ApiState:
    """What the handlers share."""

    env: Environment
    entra: TokenServer
    protection: ServiceProtection
    reader: CollectionReader


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response:
    """A JSON answer as the Web API sends it."""
    return Response(
        json.dumps(body),
        status,
        headers=dict(headers or {}),
        media_type="application/json; odata.metadata=minimal",
    )


class _Handlers:
    def __init__(self, state: ApiState) -> None:
        self.state = state

    async def token(self, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", "replace")
        form = {key: values[0] for key, values in parse_qs(raw).items()}
        status, body = self.state.entra.grant(request.path_params["tenant"], form)
        return json_response(status, body, {"Cache-Control": "no-store, no-cache"})

    async def api(self, request: Request) -> Response:
        user = self.state.entra.user_of(request.headers.get("authorization"))
        if user is None:
            tenant = self.state.entra.settings.tenant_id
            challenge = (
                "Bearer authorization_uri="
                f"https://login.microsoftonline.com/{tenant}/oauth2/authorize"
            )
            return Response(b"", 401, headers={"WWW-Authenticate": challenge})
        protection = self.state.protection
        try:
            protection.admit(user)
        except ODataError as exc:
            return json_response(exc.status, exc.body(), exc.headers | protection.headers(user))
        rows = 0
        try:
            status, body, applied = self._answer(request)
            rows = len(body.get("value") or [])
        except ODataError as exc:
            status, body, applied = exc.status, exc.body(), []
        finally:
            protection.finish(user, rows)
        headers = {"OData-Version": "4.0"} | protection.headers(user)
        if applied:
            headers["Preference-Applied"] = ",".join(applied)
        return json_response(status, body, headers)

    def _answer(self, request: Request) -> tuple[int, dict[str, Any], list[str]]:
        version, rest = request.path_params["version"], request.path_params["rest"]
        if version not in VERSIONS:
            raise ODataError(404, f"Resource not found for the segment '{version}'.", "0x8006088a")
        params = dict(request.query_params)
        prefer = Prefer.parse(request.headers.get("prefer", ""))
        entity = _ENTITY.match(rest)
        if entity is not None:
            return 200, self._metadata(entity.group(1), rest, entity.group(2), params), []
        one = _ONE_ROW.match(rest)
        if one is not None:
            return 200, self._one(one.group(1), one.group(2), params), []
        table = self.state.env.by_set(rest)
        if table is None:
            raise ODataError(404, f"Resource not found for the segment '{rest}'.", "0x8006088a")
        answer = self.state.reader.read(table, params, prefer, str(request.url))
        return 200, answer.body, answer.applied

    def _metadata(
        self, logical: str, path: str, cast: str | None, params: Mapping[str, str]
    ) -> dict[str, Any]:
        table = self.state.env.tables.get(logical)
        if table is None:
            raise ODataError(
                404, f"Could not find entity with logical name '{logical}'.", NOT_FOUND
            )
        if cast is not None:
            return {"value": metadata.cast(table, cast, params)}
        if _ATTRIBUTES.match(path):
            return {"value": metadata.attributes(table, params)}
        return metadata.entity(table, params)

    def _one(self, entity_set: str, row_id: str, params: Mapping[str, str]) -> dict[str, Any]:
        env = self.state.env
        table = env.by_set(entity_set)
        if table is None:
            raise ODataError(
                404, f"Resource not found for the segment '{entity_set}'.", "0x8006088a"
            )
        query = parse_query(
            {k: v for k, v in params.items() if k in ("$select", "$expand")}, table, env
        )
        row = env.get(table.logical, row_id)
        if row is None:
            raise ODataError(
                404, f"{table.logical} With Id = {row_id.lower()} Does Not Exist", NOT_FOUND
            )
        return render(row, table, query.select, env, expand=query.expand)


def build_app(state: ApiState) -> Starlette:
    """The ASGI app for one simulated environment."""
    handlers = _Handlers(state)
    return Starlette(
        routes=[
            Route("/{tenant}/oauth2/v2.0/token", handlers.token, methods=["POST"]),
            Route("/api/data/{version}/{rest:path}", handlers.api, methods=["GET"]),
        ]
    )
