"""The simulator's read endpoints other than search: lists, batch reads, associations, metadata.

Documented behaviour reproduced (HubSpot objects, associations v4, properties and owners specs):
object lists page by ``after`` with ``limit`` up to 100 and ``archived=true`` for archived
records; batch reads take up to 100 inputs and answer 207 with ``OBJECT_NOT_FOUND`` for unknown
ids; association batch reads take up to 1,000 inputs, page each object's associations, and
answer 207 with ``NO_ASSOCIATIONS_FOUND`` for objects that have none; owners page by ``after``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from connectors.sales.hubspot.simulator import bodies
from connectors.sales.hubspot.simulator.store import (
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    SINGULAR,
    CrmObject,
)

if TYPE_CHECKING:
    from connectors.sales.hubspot.simulator.simulator import HubSpotSimulator

LIST_MAX = 100
BATCH_MAX = 100
ASSOCIATION_BATCH_MAX = 1000
OWNERS_MAX = 500
TYPE_IDS = {("deals", "companies"): 341, ("deals", "contacts"): 3, ("companies", "deals"): 342}
PRIMARY_DEAL_COMPANY = 5


class Reads:
    """Read handlers bound to one simulator."""

    def __init__(self, sim: HubSpotSimulator) -> None:
        self.sim = sim
        self.store = sim.store

    async def list_objects(self, request: Request) -> Response:
        """``GET /crm/v3/objects/{type}``: id order, ``after`` = the next id to return."""
        kind = OBJECT_TYPES.get(request.path_params["object_type"])
        if kind is None:
            return _unknown_type(request.path_params["object_type"])
        params = request.query_params
        limit = _bounded(params.get("limit"), default=10, top=LIST_MAX)
        if limit is None:
            return bodies.validation(f"limit must be between 1 and {LIST_MAX}")
        archived = params.get("archived", "false").lower() == "true"
        start = int(params.get("after") or 0) if (params.get("after") or "0").isdigit() else 0
        rows = sorted(
            (o for o in self.store.objects[kind].values()
             if (o.archived_at is not None) == archived and int(o.id) >= start),
            key=lambda o: int(o.id),
        )  # fmt: skip
        names = self._names(kind, _list_param(params.getlist("properties")))
        body: dict[str, Any] = {"results": [o.as_json(names) for o in rows[:limit]]}
        if len(rows) > limit:
            nxt = rows[limit].id
            body["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
        return JSONResponse(body)

    async def batch_read(self, request: Request) -> Response:
        """``POST /crm/v3/objects/{type}/batch/read``: up to 100 ids; unknown ids -> 207."""
        kind = OBJECT_TYPES.get(request.path_params["object_type"])
        if kind is None:
            return _unknown_type(request.path_params["object_type"])
        body = await _json(request)
        inputs = body.get("inputs") if body else None
        if not isinstance(inputs, list):
            return bodies.validation("Invalid input JSON: inputs is required")
        if len(inputs) > BATCH_MAX:
            return bodies.validation(f"Too many inputs: {len(inputs)}, the maximum is {BATCH_MAX}")
        archived = request.query_params.get("archived", "false").lower() == "true"
        names = self._names(kind, body.get("properties") if body else None)
        found, missing = [], []
        for item in inputs:
            object_id = str(item.get("id")) if isinstance(item, dict) else ""
            obj = self._one(kind, object_id, archived)
            if obj is None:
                missing.append(object_id)
            else:
                found.append(obj.as_json(names))
        return _batch(
            found, [bodies.not_found_in_batch(SINGULAR[kind], missing)] if missing else []
        )

    async def associations(self, request: Request) -> Response:
        """``POST /crm/v4/associations/{from}/{to}/batch/read``: per-object paging, 207 if none."""
        from_kind = OBJECT_TYPES.get(request.path_params["from_type"])
        to_kind = OBJECT_TYPES.get(request.path_params["to_type"])
        if from_kind is None or to_kind is None:
            return _unknown_type(
                f"{request.path_params['from_type']}/{request.path_params['to_type']}"
            )
        body = await _json(request)
        inputs = body.get("inputs") if body else None
        if not isinstance(inputs, list):
            return bodies.validation("Invalid input JSON: inputs is required")
        if len(inputs) > ASSOCIATION_BATCH_MAX:
            return bodies.validation(
                f"Too many inputs: {len(inputs)}, the maximum is {ASSOCIATION_BATCH_MAX}"
            )
        results, errors = [], []
        for item in inputs:
            from_id = str(item.get("id")) if isinstance(item, dict) else ""
            linked = self.store.linked(from_kind, from_id, to_kind)
            if not linked:
                errors.append(
                    bodies.no_associations(SINGULAR[from_kind], from_id, SINGULAR[to_kind])
                )
                continue
            results.append(self._links(from_kind, from_id, to_kind, linked, item.get("after")))
        return _batch(results, errors)

    async def properties(self, request: Request) -> Response:
        """``GET /crm/v3/properties/{type}``: every property definition of the type."""
        kind = OBJECT_TYPES.get(request.path_params["object_type"])
        if kind is None:
            return _unknown_type(request.path_params["object_type"])
        return JSONResponse({"results": self.sim.properties[kind]})

    async def owners(self, request: Request) -> Response:
        """``GET /crm/v3/owners``: active owners, ``limit`` up to 500, ``after`` = position."""
        params = request.query_params
        limit = _bounded(params.get("limit"), default=100, top=OWNERS_MAX)
        if limit is None:
            return bodies.validation(f"limit must be between 1 and {OWNERS_MAX}")
        start = int(params.get("after") or 0) if (params.get("after") or "0").isdigit() else 0
        owners = list(self.store.owners.values())
        body: dict[str, Any] = {"results": owners[start : start + limit]}
        if start + limit < len(owners):
            body["paging"] = {"next": {"after": str(start + limit)}}
        return JSONResponse(body)

    def _links(
        self, from_kind: str, from_id: str, to_kind: str, linked: list[str], after: Any
    ) -> dict[str, Any]:
        page = self.sim.association_page
        start = int(after) if str(after or "").isdigit() else 0
        chunk = linked[start : start + page]
        entry: dict[str, Any] = {
            "from": {"id": from_id},
            "to": [
                {
                    "toObjectId": int(t),
                    "associationTypes": self._types(from_kind, from_id, to_kind, t),
                }
                for t in chunk
            ],
        }
        if start + page < len(linked):
            entry["paging"] = {"next": {"after": str(start + page), "link": None}}
        return entry

    def _types(
        self, from_kind: str, from_id: str, to_kind: str, to_id: str
    ) -> list[dict[str, Any]]:
        unlabeled = {"category": "HUBSPOT_DEFINED", "typeId": TYPE_IDS.get((from_kind, to_kind), 1),
                     "label": None}  # fmt: skip
        if from_kind == "deals" and (from_id, to_id) in self.store.primary:
            primary = {
                "category": "HUBSPOT_DEFINED",
                "typeId": PRIMARY_DEAL_COMPANY,
                "label": "Primary",
            }
            return [primary, unlabeled]
        return [unlabeled]

    def _one(self, kind: str, object_id: str, archived: bool) -> CrmObject | None:
        obj = self.store.objects[kind].get(object_id)
        if obj is None or (obj.archived_at is not None) != archived:
            return None
        return obj

    def _names(self, kind: str, asked: Any) -> list[str]:
        known = self.sim.property_types(kind)
        names = [str(n) for n in asked] if isinstance(asked, list) else []
        always = ["hs_object_id", "createdate", MODIFIED_PROPERTY[kind]]
        return list(dict.fromkeys([*always, *(n for n in names if n in known)]))


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]]) -> Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": "2025-01-01T00:00:00.000Z",
        "completedAt": "2025-01-01T00:00:00.050Z",
    }
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
    return JSONResponse(body, status_code=207 if errors else 200)


def _unknown_type(name: str) -> Response:
    return bodies.error(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")


def _bounded(raw: str | None, *, default: int, top: int) -> int | None:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= top else None


def _list_param(values: list[str]) -> list[str]:
    """``properties`` may be repeated or comma-separated (``style: form, explode: true``)."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
