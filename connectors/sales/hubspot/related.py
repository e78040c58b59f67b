"""Companies, contacts and owners of a page of deals, fetched in batches (never per deal).

Per page of deals (HubSpot associations v4 spec; objects spec; changelog "batch read limit for
associations", Feb 2025):

1. ``POST /crm/v4/associations/deals/{companies|contacts}/batch/read`` with up to 1,000
   ``{"id"}`` inputs. A deal with none comes back in ``errors`` as ``NO_ASSOCIATIONS_FOUND``
   with HTTP 207, which is a success. A deal with more than one page of associations carries
   ``paging.next.after``; it is asked again with ``{"id", "after"}``.
2. ``POST /crm/v3/objects/{companies|contacts}/batch/read`` with up to 100 inputs and the
   properties the mapping reads. Ids HubSpot no longer has (207 ``OBJECT_NOT_FOUND``) are left
   out.
3. Owners: ``GET /crm/v3/owners`` (paged, 100 each), once per run, keyed by owner id, for
   ``properties.hubspot_owner_id``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import structlog

from connectors.errors import AuthError
from connectors.http import VendorClient

log = structlog.get_logger("dealbridge.hubspot")

ASSOCIATION_BATCH = 1000
OBJECT_BATCH = 100
OWNER_PAGE = 100
BENIGN_BATCH_ERRORS = frozenset({"NO_ASSOCIATIONS_FOUND", "OBJECT_NOT_FOUND"})

Related = dict[str, list[dict[str, Any]]]
"""Deal id -> embedded related records, in association order (primary first)."""


class RelatedReader:
    """Reads the objects related to deals through one VendorClient."""

    def __init__(self, client: VendorClient) -> None:
        self._client = client

    async def related(
        self, deal_ids: Sequence[str], to_type: str, properties: Sequence[str]
    ) -> Related:
        """Each deal's associated ``to_type`` records with ``properties`` (missing ones skipped)."""
        links = await self.associations(deal_ids, to_type)
        wanted = list(dict.fromkeys(i for ids in links.values() for i, _ in ids))
        records = await self.objects(to_type, wanted, properties)
        return {
            deal: [_embed(records[i], primary) for i, primary in ids if i in records]
            for deal, ids in links.items()
        }

    async def associations(
        self, deal_ids: Sequence[str], to_type: str
    ) -> dict[str, list[tuple[str, bool]]]:
        """Deal id -> [(associated id, is primary)], following per-deal paging."""
        found: dict[str, list[tuple[str, bool]]] = {d: [] for d in deal_ids}
        pending: list[dict[str, str]] = [{"id": d} for d in deal_ids]
        path = f"/crm/v4/associations/deals/{to_type}/batch/read"
        while pending:
            following: list[dict[str, str]] = []
            for chunk in _chunks(pending, ASSOCIATION_BATCH):
                data = await self._post(path, {"inputs": chunk}, f"read deal {to_type}")
                following += _collect_links(data, found)
            pending = following
        for ids in found.values():
            ids.sort(key=lambda pair: not pair[1])  # primary association first, stable
        return found

    async def objects(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Records by id, read 100 at a time with the given properties."""
        records: dict[str, dict[str, Any]] = {}
        path = f"/crm/v3/objects/{object_type}/batch/read"
        for chunk in _chunks([{"id": i} for i in ids], OBJECT_BATCH):
            body = {"properties": list(properties), "propertiesWithHistory": [], "inputs": chunk}
            data = await self._post(path, body, f"read {object_type}")
            for record in _list(data.get("results")):
                if record.get("id") is not None:
                    records[str(record["id"])] = record
        return records

    async def owners(self, *, required: bool) -> dict[str, dict[str, Any]]:
        """Active owners by id; without the owners scope, an empty map unless ``required``."""
        try:
            return await self._owner_pages()
        except AuthError as exc:
            if required:
                raise
            log.warning("hubspot_owners_unreadable", error=str(exc))
            return {}

    async def _owner_pages(self) -> dict[str, dict[str, Any]]:
        owners: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {"limit": OWNER_PAGE}
        while True:
            data = await self._client.get_json("/crm/v3/owners", operation="owners", params=params)
            for owner in _list(data.get("results") if isinstance(data, dict) else None):
                if owner.get("id") is not None:
                    owners[str(owner["id"])] = _owner(owner)
            after = _after(data)
            if after is None or after == params.get("after"):
                return owners
            params = {"limit": OWNER_PAGE, "after": after}

    async def _post(self, path: str, body: dict[str, Any], operation: str) -> dict[str, Any]:
        response = await self._client.request(
            "POST", path, operation=operation, json=body, idempotent=True
        )
        data = self._client.decode(response, operation)
        if not isinstance(data, dict):
            return {}
        _log_batch_errors(data, operation)
        return data


async def related_for(
    reader: RelatedReader,
    deal_ids: Sequence[str],
    wanted: Mapping[str, Sequence[str] | None],
) -> dict[str, Related]:
    """Companies and contacts side by side (two independent chains of calls)."""
    kinds = [(kind, props) for kind, props in wanted.items() if props is not None]
    results = await asyncio.gather(*(reader.related(deal_ids, k, p) for k, p in kinds))
    return {kind: result for (kind, _), result in zip(kinds, results, strict=True)}


def _collect_links(
    data: dict[str, Any], found: dict[str, list[tuple[str, bool]]]
) -> list[dict[str, str]]:
    following = []
    for result in _list(data.get("results")):
        deal = str((result.get("from") or {}).get("id", ""))
        if deal not in found:
            continue
        for target in _list(result.get("to")):
            if target.get("toObjectId") is not None:
                found[deal].append((str(target["toObjectId"]), _is_primary(target)))
        after = _after(result)
        if after is not None:
            following.append({"id": deal, "after": after})
    return following


def _is_primary(target: dict[str, Any]) -> bool:
    types = _list(target.get("associationTypes"))
    return any(str(t.get("label") or "").lower() == "primary" for t in types)


def _embed(record: dict[str, Any], primary: bool) -> dict[str, Any]:
    properties = record.get("properties")
    return {
        "id": str(record["id"]),
        "primary": primary,
        "properties": dict(properties) if isinstance(properties, dict) else {},
    }


def _owner(owner: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "email", "firstName", "lastName", "userId", "type")
    return {k: owner.get(k) for k in keys} | {"id": str(owner["id"])}


def _log_batch_errors(data: dict[str, Any], operation: str) -> None:
    for error in _list(data.get("errors")):
        code = str(error.get("subCategory") or error.get("category") or "")
        if code.rsplit(".", 1)[-1] not in BENIGN_BATCH_ERRORS:
            log.warning("hubspot_batch_error", operation=operation, code=code,
                        message=str(error.get("message", ""))[:200])  # fmt: skip


def _after(data: Any) -> str | None:
    paging = data.get("paging") if isinstance(data, dict) else None
    nxt = paging.get("next") if isinstance(paging, dict) else None
    after = nxt.get("after") if isinstance(nxt, dict) else None
    return str(after) if after not in (None, "") else None


def _list(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _chunks(items: Sequence[dict[str, str]], size: int) -> Iterable[list[dict[str, str]]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
