"""Zoho records -> ``SourceDeal`` payloads, time values, and the cursor's JSON text.

The payload is the deal as Zoho's list API returns it (FACTS.md §3.3, §3.4): fields by API
name, values as Zoho sends them (numbers, picklist actual values as strings, multi-select
picklists as lists of strings), lookups as objects. Related records are embedded in their
lookup object, keyed by API name, whichever reader fetched them::

    {"id": "3652397000009851001", "Deal_Name": "Acme renewal", "Stage": "Closed Won",
     "Modified_Time": "2026-11-21T15:12:13+05:30", "Special_Discount": 15,
     "Account_Name": {"id": "3652397000000624046", "name": "Acme",
                      "Account_Name": "Acme", "Website": "https://acme.example"},
     "Owner": {"id": "...", "name": "Dana Ortiz", "email": "dana@seller.example"},
     "$display": {"Payment_Terms": "Net 60 days"}}

COQL answers lookups as ``{"id"}`` plus flat traversal keys (``"Account_Name.Website"``,
§4.5); :func:`coql_payload` folds them into the same shape.

Times carry the org's UTC offset and whole seconds (``+05:30``, §3.4, §10.1); they are compared
and stored as UTC instants.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from connectors.base import Cursor, SourceDeal
from connectors.errors import PermanentError
from connectors.record_values import as_utc
from connectors.sales.zoho.catalog import DISPLAY
from connectors.sales.zoho.plan import ReadPlan

log = structlog.get_logger("dealbridge.zoho")

Point = tuple[datetime, str]
"""(Modified_Time as UTC, record id): a position in the (time, id) order."""


def parse_time(value: object) -> datetime | None:
    """An aware UTC datetime from Zoho's ISO 8601 with offset (None when unreadable)."""
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # Zoho always sends an offset; a bare time is not ours to guess
    return as_utc(moment)


def zoho_time(moment: datetime) -> str:
    """``2026-11-21T09:42:13+00:00``: whole seconds with an offset, as Zoho accepts it in
    ``If-Modified-Since`` and COQL criteria (§3.1, §4.7). Fractions are cut, so a bound
    never lies after the instant it stands for."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def record_id(raw: dict[str, Any]) -> str | None:
    """The record id as a string (Zoho sends numeric strings, §3.4)."""
    value = raw.get("id")
    return str(value) if value not in (None, "") else None


def usable_row(row: dict[str, Any]) -> bool:
    """A record the readers can place: it has an id and a readable Modified_Time."""
    if record_id(row) is None or parse_time(row.get("Modified_Time")) is None:
        log.warning("zoho_record_skipped", id=str(row.get("id"))[:30], reason="no id or time")
        return False
    return True


def row_point(row: dict[str, Any]) -> Point:
    """(Modified_Time, id) of a row :func:`usable_row` accepted."""
    moment = parse_time(row.get("Modified_Time"))
    deal_id = record_id(row)
    assert moment is not None
    assert deal_id is not None
    return moment, deal_id


@dataclass(frozen=True)
class CursorState:
    """Where the last run stopped: live deals by (Modified_Time, id), deletions by time."""

    live: Point | None
    deleted: datetime | None


def encode_cursor(state: CursorState) -> Cursor:
    """``{"ts": ..., "id": ..., "del": ...}`` (UTC ISO times; ``del`` may be null)."""
    data: dict[str, Any] = {
        "ts": state.live[0].isoformat() if state.live else None,
        "id": state.live[1] if state.live else "",
        "del": state.deleted.isoformat() if state.deleted else None,
    }
    return Cursor(value=json.dumps(data))


def decode_cursor(cursor: Cursor | None) -> CursorState:
    """Read a checkpoint back; a cursor this connector did not write is refused clearly."""
    if cursor is None:
        return CursorState(live=None, deleted=None)
    try:
        data = json.loads(cursor.value)
        live_ts = parse_time(data["ts"]) if data["ts"] is not None else None
        deleted = parse_time(data.get("del")) if data.get("del") is not None else None
        valid = isinstance(data, dict) and (data["ts"] is None or live_ts is not None)
    except (ValueError, TypeError, KeyError):
        valid, live_ts, deleted, data = False, None, None, {}
    if not valid:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a Zoho cursor "
            '({"ts", "id", "del"}); run the job once with --full to reset it',
            who_acts="admin",
            operation="read cursor",
        )
    live = (live_ts, str(data.get("id") or "")) if live_ts is not None else None
    return CursorState(live=live, deleted=deleted)


def coql_payload(row: dict[str, Any], plan: ReadPlan) -> dict[str, Any]:
    """A COQL row in the payload shape: traversal keys folded into their lookup objects."""
    aliases = plan.coql_aliases()
    payload: dict[str, Any] = {}
    flat: list[tuple[str, Any]] = []
    for key, value in row.items():
        if key in aliases:
            flat.append((key, value))
        else:
            payload[key] = _copy(value)
    for key, value in flat:
        for lookup, name in aliases[key]:
            target = payload.get(lookup)
            if isinstance(target, dict):
                target[name] = value
    return finish(payload, plan)


def list_payload(
    record: dict[str, Any], related: dict[str, dict[str, dict[str, Any]]], plan: ReadPlan
) -> dict[str, Any]:
    """A list-API record with the related records (lookup -> id -> record) merged in."""
    payload = {key: _copy(value) for key, value in record.items()}
    for embed in plan.embeds:
        target = payload.get(embed.lookup)
        if not isinstance(target, dict) or target.get("id") is None:
            continue
        found = related.get(embed.lookup, {}).get(str(target["id"]))
        if found is not None:
            target.update({name: _copy(found.get(name)) for name in embed.fields})
    return finish(payload, plan)


def finish(payload: dict[str, Any], plan: ReadPlan) -> dict[str, Any]:
    """Ids as strings, and the labels of picklist values where they differ (``$display``)."""
    if payload.get("id") is not None:
        payload["id"] = str(payload["id"])
    labels: dict[str, Any] = {}
    for item in plan.picklists:
        value = payload.get(item.api_name)
        if not item.labels or value is None:
            continue
        if isinstance(value, list):
            labels[item.api_name] = [item.labels.get(str(v), v) for v in value]
        else:
            labels[item.api_name] = item.labels.get(str(value), value)
    if labels:
        payload[DISPLAY] = labels
    return payload


def problems(deal_id: str, payload: dict[str, Any], plan: ReadPlan) -> list[str]:
    """What is wrong with one deal's data though it reads fine: values the catalog does not
    list, and lookups to records that no longer exist (FACTS.md §7.2)."""
    found = []
    for item in plan.picklists:
        value = payload.get(item.api_name)
        values = value if isinstance(value, list) else [value]
        stray = [str(v) for v in values if v not in (None, "") and str(v) not in item.known_values]
        if stray:
            options = ", ".join(item.used_values[:12]) or "none"
            found.append(
                f"deal {deal_id}: {item.api_name} = {', '.join(map(repr, stray))} is not an "
                f"option of that picklist in Zoho's fields list (options: {options}); it is "
                "passed on unchanged, so a mapping enum without it reports the deal"
            )
    for embed in plan.embeds:
        target = payload.get(embed.lookup)
        if (
            embed.name_field
            and isinstance(target, dict)
            and target.get("id") is not None
            and target.get(embed.name_field) is None
        ):
            found.append(
                f"deal {deal_id}: its {embed.lookup} points at {embed.module} record "
                f"{target['id']}, which Zoho no longer has (deleted?); the mapping's "
                f"{embed.lookup}.* fields are empty, so identity rules reading them find "
                f"nothing: link the deal to an existing {embed.module} record in Zoho"
            )
    return found


def deleted_deal(entry: dict[str, Any], url: str | None) -> SourceDeal | None:
    """One ``/deleted`` entry as a deletion, dated by ``deleted_time`` (§5.2)."""
    deal_id = record_id(entry)
    when = parse_time(entry.get("deleted_time"))
    if deal_id is None or when is None:
        return None
    return SourceDeal(id=deal_id, modified_at=when, payload=dict(entry), deleted=True, url=url)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value
