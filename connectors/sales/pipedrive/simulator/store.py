"""The simulated company's data: deals, organizations, persons, users and the field catalogs.

Times are whole epoch seconds, as Pipedrive's are (FACTS.md §1.4, §9.1), so ties on
``update_time`` happen as often as they do in a real account. Every change moves
``update_time`` to the simulator's clock, deleting included (§4.2: documented for persons,
assumed for deals) and archiving too (§3.5: not documented either way, Gap 6).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DELETED_KEPT_SECONDS = 30 * 24 * 3600
"""Deleted records are soft-deleted, then gone 30 days later (FACTS.md §4.1)."""


def iso(epoch: float) -> str:
    """RFC 3339 in UTC with whole seconds, the v2 form (``2024-07-01T05:46:33Z``)."""
    return datetime.fromtimestamp(int(epoch), tz=UTC).isoformat().replace("+00:00", "Z")


def field_key(entity: str, name: str) -> str:
    """A 40-character hex key like Pipedrive's hashes, stable for one (entity, name)."""
    return hashlib.sha1(f"{entity}/{name}".encode(), usedforsecurity=False).hexdigest()


@dataclass
class FieldDef:
    """One entry of ``GET /api/v2/{entity}Fields`` (FACTS.md §5.1)."""

    code: str
    name: str
    field_type: str
    custom: bool
    options: list[dict[str, Any]] | None = None

    def as_json(self) -> dict[str, Any]:
        """The v2 catalog item."""
        return {
            "field_name": self.name,
            "field_code": self.code,
            "description": None,
            "field_type": self.field_type,
            "is_custom_field": self.custom,
            "is_optional_response_field": False,
            "options": [dict(o) for o in self.options] if self.options is not None else None,
            "subfields": None,
        }


@dataclass
class Record:
    """A deal, organization or person as the company stores it (v2 field names)."""

    id: int
    data: dict[str, Any]
    custom: dict[str, Any]
    add_time: int
    update_time: int
    deleted_at: int | None = None
    archived_at: int | None = None
    listed_from: float | None = None
    """Clock time from which list endpoints show this version (a read-after-write lag)."""

    def as_json(self, custom_keys: list[str] | None = None) -> dict[str, Any]:
        """The record as v2 lists it; ``custom_keys`` narrows ``custom_fields``."""
        custom = (
            dict(self.custom)
            if custom_keys is None
            else {k: v for k, v in self.custom.items() if k in custom_keys}
        )
        return {
            "id": self.id,
            **self.data,
            "add_time": iso(self.add_time),
            "update_time": iso(self.update_time),
            "is_deleted": self.deleted_at is not None,
            "custom_fields": custom,
        }

    def deal_json(self, custom_keys: list[str] | None = None) -> dict[str, Any]:
        """A deal: the record plus its archive state (FACTS.md §3.2)."""
        body = self.as_json(custom_keys)
        body["is_archived"] = self.archived_at is not None
        body["archive_time"] = iso(self.archived_at) if self.archived_at is not None else None
        return body


ENTITIES = ("deal", "organization", "person")


@dataclass
class Store:
    """Records by entity and id, users, field catalogs, and saved filters."""

    records: dict[str, dict[int, Record]] = field(
        default_factory=lambda: {entity: {} for entity in ENTITIES}
    )
    users: dict[int, dict[str, Any]] = field(default_factory=dict)
    fields: dict[str, list[FieldDef]] = field(
        default_factory=lambda: {entity: [] for entity in ENTITIES}
    )
    filters: dict[int, dict[str, Any]] = field(default_factory=dict)
    _next_id: dict[str, int] = field(
        default_factory=lambda: {"deal": 100, "organization": 10, "person": 20, "user": 1000}
    )

    def new_id(self, kind: str) -> int:
        """The next id of ``kind`` (ids only grow, as Pipedrive's do)."""
        self._next_id[kind] += 1
        return self._next_id[kind]

    def live(self, entity: str, record_id: int) -> Record | None:
        """The record unless it is deleted."""
        record = self.records[entity].get(record_id)
        return record if record is not None and record.deleted_at is None else None

    def visible_deleted(self, record: Record, now: float) -> bool:
        """A deleted record still inside its 30-day window."""
        return record.deleted_at is not None and now - record.deleted_at < DELETED_KEPT_SECONDS

    def custom_field(self, entity: str, name: str) -> FieldDef:
        """The custom field of ``entity`` named ``name`` (KeyError if none)."""
        for definition in self.fields[entity]:
            if definition.custom and definition.name == name:
                return definition
        raise KeyError(f"no {entity} custom field named {name!r}")

    def option_id(self, entity: str, name: str, label: str) -> int:
        """The id of option ``label`` of the enum/set field ``name``."""
        for option in self.custom_field(entity, name).options or []:
            if option["label"] == label:
                return int(option["id"])
        raise KeyError(f"{entity} field {name!r} has no option {label!r}")
