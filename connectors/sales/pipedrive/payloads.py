"""Pipedrive v2 records -> the SourceDeal payload mappings address, and the fixed field paths.

The payload is the v2 deal as Pipedrive sent it (FACTS.md §3.2) with three changes:

* ``custom_fields`` is keyed by path name, not hash, and option ids are labels (:mod:`.catalog`);
* ``organization`` and ``person`` embed the v2 records ``org_id`` and ``person_id`` point to
  (§6.2-6.3), their own ``custom_fields`` treated the same way; ``None`` when the deal has none,
  an :func:`~connectors.base.unreadable` marker when Pipedrive no longer returns it (deleted or
  merged, §6.4);
* ``owner`` is ``{id, name, email}`` of ``owner_id`` from ``GET /v1/users``.

Mapping paths therefore read: ``title``, ``value``, ``status``, ``custom_fields.payment_terms``,
``organization.name``, ``organization.custom_fields.customer_number``, ``person.emails.value``,
``owner.email``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.base import FieldInfo, SourceDeal, unreadable
from connectors.record_values import as_utc
from connectors.sales.pipedrive.catalog import EntityFields

DEAL_FIELDS: dict[str, str] = {
    # v2 deal keys (FACTS.md §3.2, OAS2 example) -> type
    "id": "int", "title": "varchar", "value": "double", "currency": "varchar",
    "status": "status", "stage_id": "stage", "pipeline_id": "int", "owner_id": "user",
    "creator_user_id": "user", "person_id": "people", "org_id": "org", "probability": "double",
    "lost_reason": "varchar", "visible_to": "visible_to", "add_time": "date",
    "update_time": "date", "stage_change_time": "date", "close_time": "date",
    "won_time": "date", "lost_time": "date", "expected_close_date": "date",
    "archive_time": "date", "is_archived": "boolean", "is_deleted": "boolean",
    "label_ids": "set", "origin": "varchar", "channel": "int", "channel_id": "varchar",
    "acv": "double", "arr": "double", "mrr": "double",
}  # fmt: skip
ORGANIZATION_FIELDS: dict[str, str] = {
    # v2 organization keys (FACTS.md §6.3); there is no standard website or domain field
    "id": "int", "name": "varchar", "owner_id": "user", "add_time": "date",
    "update_time": "date", "is_deleted": "boolean", "visible_to": "visible_to",
    "label_ids": "set", "address.value": "address", "address.country": "varchar",
    "address.locality": "varchar", "address.postal_code": "varchar",
    "address.route": "varchar", "address.street_number": "varchar",
    "address.admin_area_level_1": "varchar", "address.admin_area_level_2": "varchar",
    "address.sublocality": "varchar",
}  # fmt: skip
PERSON_FIELDS: dict[str, str] = {
    # v2 person keys (FACTS.md §6.2): emails and phones are lists of {value, primary, label}
    "id": "int", "name": "varchar", "first_name": "varchar", "last_name": "varchar",
    "owner_id": "user", "org_id": "org", "add_time": "date", "update_time": "date",
    "is_deleted": "boolean", "visible_to": "visible_to", "label_ids": "set",
    "emails.value": "varchar", "emails.primary": "boolean", "emails.label": "varchar",
    "phones.value": "phone", "phones.primary": "boolean", "phones.label": "varchar",
}  # fmt: skip
OWNER_FIELDS = {"id": "int", "name": "varchar", "email": "varchar"}


def fixed_field_infos() -> list[FieldInfo]:
    """Every standard path of the payload (custom fields come from the catalogs)."""
    infos = [FieldInfo(path=p, type=t) for p, t in DEAL_FIELDS.items()]
    infos += [FieldInfo(path=f"organization.{p}", type=t) for p, t in ORGANIZATION_FIELDS.items()]
    infos += [FieldInfo(path=f"person.{p}", type=t) for p, t in PERSON_FIELDS.items()]
    infos += [
        FieldInfo(path=f"owner.{p}", type=t, label=f"Deal owner {p}")
        for p, t in OWNER_FIELDS.items()
    ]
    return infos


def parse_time(raw: object) -> datetime | None:
    """RFC 3339 (v2) or ``YYYY-MM-DD HH:MM:SS`` (v1), both UTC (FACTS.md §1.2, §1.4)."""
    if not isinstance(raw, str) or len(raw) < 19:
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return None
    return as_utc(moment)


def rfc3339(moment: datetime) -> str:
    """``2026-12-06T10:20:00Z``: the form ``updated_since`` takes (whole seconds)."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def readable_record(raw: dict[str, Any], fields: EntityFields | None) -> dict[str, Any]:
    """A v2 record with ``custom_fields`` by path name (empty when the catalog was not read)."""
    record = dict(raw)
    record["custom_fields"] = fields.readable(raw.get("custom_fields")) if fields else {}
    return record


def related(
    entity: str, deal: dict[str, Any], key: str, found: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    """The record ``deal[key]`` points to; a marker when Pipedrive did not return it."""
    ref = deal.get(key)
    if ref is None or isinstance(ref, bool):
        return None
    try:
        ref_id = int(ref)
    except (TypeError, ValueError):
        return None
    record = found.get(ref_id)
    if record is not None:
        return record
    return unreadable(
        f"{entity} {ref_id} (the deal's {key}) is not in Pipedrive any more: it was deleted or "
        "merged, or the API user cannot see it; link the deal to a current "
        f"{entity} in Pipedrive"
    )


def owner_of(deal: dict[str, Any], users: dict[int, dict[str, Any]] | None) -> Any:
    """``{id, name, email}`` of the deal's owner (None when unknown or not asked for)."""
    if users is None:
        return None
    owner = deal.get("owner_id")
    return users.get(owner) if isinstance(owner, int) else None


def user_record(raw: dict[str, Any]) -> dict[str, Any]:
    """The owner fields a mapping may read from a v1 user."""
    return {"id": raw.get("id"), "name": raw.get("name"), "email": raw.get("email")}


def source_deal(
    raw: dict[str, Any],
    payload: dict[str, Any],
    *,
    modified: datetime,
    deleted: bool,
    app_url: str | None,
) -> SourceDeal:
    """The SourceDeal for one deal (its id as text, as every source gives it)."""
    deal_id = str(raw["id"])
    url = f"{app_url}/deal/{deal_id}" if app_url else None
    return SourceDeal(id=deal_id, modified_at=modified, payload=payload, deleted=deleted, url=url)
