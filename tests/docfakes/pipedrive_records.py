"""Pipedrive records as the doc-fake keeps them, and the parsing of list parameters.

Section numbers (§) point to ``connectors/sales/pipedrive/FACTS.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request

from tests.docfakes.crm_common import Refused, b64url_json, from_b64url_json, parse_instant

MAX_LIMIT = 500  # §3.1
DEFAULT_LIMIT = 100  # §3.1
MAX_IDS = 100  # §3.1, §6.1
MAX_CUSTOM_FIELD_KEYS = 15  # §3.1
SOFT_DELETE_DAYS = 30  # §4.1
SORT_FIELDS = ("id", "update_time", "add_time")  # §3.1
STATUSES = ("open", "won", "lost", "deleted")  # §3.1


def iso(moment: datetime) -> str:
    """§1.2: v2 timestamps are RFC 3339 UTC, whole seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def field_key(name: str) -> str:
    """§5.3: custom fields are keyed by a random-looking 40-character hex hash."""
    return hashlib.sha1(f"pipedrive-fake:{name}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class Deal:
    id: int
    title: str
    add_time: datetime
    update_time: datetime
    status: str = "open"
    org_id: int | None = None
    person_id: int | None = None
    value: float = 0.0
    currency: str = "EUR"
    custom_fields: dict[str, Any] = field(default_factory=dict)
    is_deleted: bool = False
    is_archived: bool = False
    archive_time: datetime | None = None

    def sort_value(self, sort_by: str) -> int | str:
        if sort_by == "id":
            return self.id
        return iso(self.update_time if sort_by == "update_time" else self.add_time)

    def to_json(self, only_custom: list[str] | None) -> dict[str, Any]:
        """§3.2: the v2 deal, related objects as plain ids, custom fields in one object."""
        custom = self.custom_fields
        if only_custom is not None:
            custom = {key: value for key, value in custom.items() if key in only_custom}
        return {
            "id": self.id,
            "title": self.title,
            "owner_id": 1,
            "creator_user_id": 1,
            "person_id": self.person_id,
            "org_id": self.org_id,
            "stage_id": 1,
            "pipeline_id": 1,
            "value": self.value,
            "currency": self.currency,
            "add_time": iso(self.add_time),
            "update_time": iso(self.update_time),
            "status": self.status,
            "is_deleted": self.is_deleted,
            "is_archived": self.is_archived,
            "archive_time": iso(self.archive_time) if self.archive_time else None,
            "visible_to": 3,
            "label_ids": [],
            "custom_fields": custom,
        }


@dataclass
class DealField:
    name: str
    code: str
    field_type: str
    is_custom: bool
    options: list[dict[str, Any]] | None = None


@dataclass
class DealQuery:
    """The parsed ``GET /api/v2/deals`` parameters (§3.1)."""

    statuses: set[str]
    since: datetime | None
    until: datetime | None
    sort_by: str
    descending: bool
    limit: int
    ids: set[int] | None
    custom_keys: list[str] | None
    cursor: tuple[int | str, int] | None

    @classmethod
    def parse(cls, request: Request) -> DealQuery:
        """Raises :class:`Refused` when a parameter is outside its documented range."""
        params = request.query_params
        statuses = set(params.get("status", "open,won,lost").split(","))
        if not statuses <= set(STATUSES):
            raise Refused(f"Invalid status: {params['status']}")
        sort_by = params.get("sort_by", "id")
        direction = params.get("sort_direction", "asc")
        if sort_by not in SORT_FIELDS or direction not in ("asc", "desc"):
            raise Refused("sort_by must be id, update_time or add_time; sort_direction asc or desc")
        custom = params.get("custom_fields")
        custom_keys = custom.split(",") if custom else None
        if custom_keys is not None and len(custom_keys) > MAX_CUSTOM_FIELD_KEYS:
            raise Refused("custom_fields accepts at most 15 keys")
        cursor = None
        if "cursor" in params:
            decoded = from_b64url_json(params["cursor"])
            if decoded is None or (decoded.get("field"), decoded.get("sortDirection")) != (
                sort_by,
                direction,
            ):
                raise Refused("Invalid cursor")  # §3.3: the cursor belongs to one sort order
            cursor = (decoded["fieldValue"], int(decoded["id"]))
        return cls(
            statuses,
            parse_time(params.get("updated_since"), "updated_since"),
            parse_time(params.get("updated_until"), "updated_until"),
            sort_by,
            direction == "desc",
            parse_limit(request),
            parse_ids(request),
            custom_keys,
            cursor,
        )

    def matches(self, deal: Deal) -> bool:
        state = "deleted" if deal.is_deleted else deal.status
        return (
            state in self.statuses  # §3.1: deleted only when asked for
            and (self.since is None or deal.update_time >= self.since)  # inclusive
            and (self.until is None or deal.update_time < self.until)  # exclusive
            and (self.ids is None or deal.id in self.ids)
        )

    def page(self, rows: list[Deal]) -> dict[str, Any]:
        """§3.3: keyset order (sort value, id); the cursor names the next page's first item."""

        def key(deal: Deal) -> tuple[int | str, int]:
            return (deal.sort_value(self.sort_by), deal.id)

        rows.sort(key=key, reverse=self.descending)
        if self.cursor is not None:
            start = self.cursor
            rows = [d for d in rows if (key(d) <= start if self.descending else key(d) >= start)]
        page, rest = rows[: self.limit], rows[self.limit :]
        next_cursor = None
        if rest:
            first = rest[0]
            next_cursor = b64url_json(
                {
                    "field": self.sort_by,
                    "fieldValue": first.sort_value(self.sort_by),
                    "sortDirection": "desc" if self.descending else "asc",
                    "id": first.id,
                }
            )
        return {
            "success": True,
            "data": [deal.to_json(self.custom_keys) for deal in page],
            "additional_data": {"next_cursor": next_cursor},
        }


def by_ids(request: Request, table: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """§6.1: up to 100 ids, unknown or deleted ones silently left out (§6.4), cursor by id."""
    limit = parse_limit(request)
    ids = parse_ids(request)
    rows = [
        row
        for row_id, row in sorted(table.items())
        if not row["is_deleted"] and (ids is None or row_id in ids)
    ]
    after = cursor_id(request)
    if after is not None:
        rows = [row for row in rows if row["id"] >= after]
    page, rest = rows[:limit], rows[limit:]
    next_cursor = None
    if rest:
        first = rest[0]["id"]
        next_cursor = b64url_json(
            {"field": "id", "fieldValue": first, "id": first, "sortDirection": "asc"}
        )
    return {"success": True, "data": page, "additional_data": {"next_cursor": next_cursor}}


def parse_time(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    moment = parse_instant(text)
    if moment is None:
        raise Refused(f"{name} must be an RFC 3339 date-time, e.g. 2025-01-01T10:20:00Z")
    return moment


def parse_limit(request: Request) -> int:
    text = request.query_params.get("limit", str(DEFAULT_LIMIT))
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise Refused("limit must be an integer from 1 to 500")
    return int(text)


def parse_ids(request: Request) -> set[int] | None:
    text = request.query_params.get("ids")
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) > MAX_IDS or not all(p.isdigit() for p in parts):
        raise Refused("ids accepts up to 100 comma-separated integers")
    return {int(p) for p in parts}


def cursor_id(request: Request) -> int | None:
    decoded = from_b64url_json(request.query_params.get("cursor", ""))
    return int(decoded["id"]) if decoded and "id" in decoded else None
