"""HubSpot records -> SourceDeal payloads, properties -> FieldInfo, and the cursor's JSON text.

Property values stay the strings HubSpot sends (numbers, dates, ``"true"``, ``"a;b"`` for
multi-checkboxes): the mapping types them. Only ``hs_lastmodifieddate`` is parsed, into
``modified_at``. A property HubSpot does not know is silently absent from ``properties``
(the search API ignores unknown names): the payload leaves it missing, and
``dealbridge validate`` catches it against :func:`catalog_fields`.
"""

from __future__ import annotations

import json
from typing import Any

from connectors.base import Cursor, FieldInfo, SourceDeal
from connectors.errors import PermanentError
from connectors.sales.hubspot.search import Hit
from connectors.sales.hubspot.timefmt import from_ms, iso_ms, parse_time

OWNER_FIELDS = ("id", "email", "firstName", "lastName")
RECORD_FIELDS = ("id", "createdAt", "updatedAt", "archived")


def deal_payload(
    hit: Hit,
    related: dict[str, dict[str, list[dict[str, Any]]]],
    owners: dict[str, dict[str, Any]] | None,
) -> dict[str, Any]:
    """The deal as HubSpot sent it, with companies, contacts and owner embedded."""
    payload = dict(hit.raw)
    props = payload.get("properties")
    payload["properties"] = dict(props) if isinstance(props, dict) else {}
    for kind, by_deal in related.items():
        payload[kind] = by_deal.get(hit.id, [])
    if owners is not None:
        owner_id = payload["properties"].get("hubspot_owner_id")
        payload["owner"] = owners.get(str(owner_id)) if owner_id not in (None, "") else None
    return payload


def source_deal(hit: Hit, payload: dict[str, Any], url: str | None) -> SourceDeal:
    """A live deal for the engine."""
    return SourceDeal(id=hit.id, modified_at=from_ms(hit.ms), payload=payload, url=url)


def archived_deal(raw: dict[str, Any], url: str | None) -> SourceDeal | None:
    """An archived deal as a deletion, dated by ``archivedAt`` (None if it has no id)."""
    if raw.get("id") is None:
        return None
    when = parse_time(raw.get("archivedAt")) or parse_time(raw.get("updatedAt")) or from_ms(0)
    return SourceDeal(id=str(raw["id"]), modified_at=when, payload=raw, deleted=True, url=url)


def catalog_fields(prefix: str, properties: list[dict[str, Any]]) -> list[FieldInfo]:
    """FieldInfo for each property: ``<prefix><name>``, type ``<type>/<fieldType>``, options."""
    fields = []
    for prop in properties:
        name = prop.get("name")
        if not isinstance(name, str) or prop.get("archived") is True:
            continue
        found = prop.get("options")
        options: list[Any] = found if isinstance(found, list) else []
        fields.append(
            FieldInfo(
                path=f"{prefix}{name}",
                type=f"{prop.get('type') or 'string'}/{prop.get('fieldType') or 'text'}",
                label=str(prop.get("label") or name),
                custom=prop.get("hubspotDefined") is not True,
                choices=tuple(
                    str(o["value"]) for o in options if isinstance(o, dict) and "value" in o
                ),
            )
        )
    return fields


def fixed_fields(*, with_related: bool = True) -> list[FieldInfo]:
    """Paths the payload always has besides properties: record keys, related ids, owner."""
    fields = [
        FieldInfo(path=k, type="string" if k != "archived" else "bool") for k in RECORD_FIELDS
    ]
    if with_related:
        for kind in ("companies", "contacts"):
            fields.append(FieldInfo(path=f"{kind}.id", type="string"))
            fields.append(FieldInfo(path=f"{kind}.primary", type="bool"))
    fields += [
        FieldInfo(path=f"owner.{k}", type="string", label=f"Deal owner {k}") for k in OWNER_FIELDS
    ]
    return fields


def encode_cursor(ms: int, deal_id: str) -> Cursor:
    """``{"ts": "<ISO, ms, Z>", "id": "<deal id>"}``: all deals up to this point are read."""
    return Cursor(value=json.dumps({"ts": iso_ms(from_ms(ms)), "id": deal_id}))


def decode_cursor(cursor: Cursor) -> tuple[int, str]:
    """The cursor's instant (epoch ms) and deal id; a foreign or broken cursor is refused."""
    try:
        data = json.loads(cursor.value)
        moment = parse_time(data["ts"])
    except (ValueError, KeyError, TypeError):
        moment = None
        data = {}
    if moment is None:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a HubSpot cursor; run with --full once",
            who_acts="admin",
            operation="cursor",
        )
    return int(moment.timestamp() * 1000), str(data.get("id") or "")
