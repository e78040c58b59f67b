"""The simulated org: records by module, users, deletions, fields metadata, and its clock.

Times are kept as UTC instants with whole seconds (``Modified_Time`` has one-second resolution,
FACTS.md §10.1) and rendered with the org's UTC offset (§3.4). A deleted record moves to the
tombstones, where ``/deleted`` finds it (recycle bin 60 days, permanent 120: §5.3) and a deal's
lookup to it stays a dangling id (§7.2, modelled as the doc-fake does).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from connectors.sales.zoho.simulator.fields import FieldDef, all_modules

ORG_ID_PREFIX = "5725767"
NAME_FIELDS = {"Deals": "Deal_Name", "Accounts": "Account_Name", "Contacts": "Full_Name"}
RECYCLE_DAYS = 60
PERMANENT_DAYS = 120


@dataclass
class Record:
    """One stored record: field values by API name (lookups hold the related id)."""

    id: str
    values: dict[str, Any]
    created: datetime
    modified: datetime
    written: int
    """Order of the last write; ties on Modified_Time are listed in this order."""


@dataclass(frozen=True)
class User:
    """A CRM user (a deal owner)."""

    id: str
    first_name: str
    last_name: str
    email: str

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Deletion:
    """An entry of ``/deleted``."""

    id: str
    module: str
    display_name: str | None
    deleted_time: datetime
    kind: Literal["recycle", "permanent"]
    deleted_by: str | None


def whole_seconds(moment: datetime) -> datetime:
    """An aware UTC instant cut to the second."""
    return moment.astimezone(UTC).replace(microsecond=0)


@dataclass
class Org:
    """Everything one simulated Zoho CRM org holds."""

    data_centre: str = "eu"
    offset: timezone = timezone(timedelta(hours=5, minutes=30))
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    fields: dict[str, list[FieldDef]] = field(default_factory=all_modules)
    records: dict[str, dict[str, Record]] = field(default_factory=dict)
    tombstones: dict[str, dict[str, Record]] = field(default_factory=dict)
    deletions: list[Deletion] = field(default_factory=list)
    users: dict[str, User] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(412_001))
    _writes: itertools.count[int] = field(default_factory=itertools.count)

    def now(self) -> datetime:
        """The org's current time, whole seconds, UTC."""
        return whole_seconds(self.clock())

    def new_id(self) -> str:
        """A record id in Zoho's form: a 19-digit numeric string."""
        return f"{ORG_ID_PREFIX}{next(self._ids):012d}"

    def render_time(self, moment: datetime) -> str:
        """``2026-11-21T15:12:13+05:30``: the org's offset, whole seconds (§3.4)."""
        return moment.astimezone(self.offset).replace(microsecond=0).isoformat()

    # --- schema ---------------------------------------------------------------------------

    def field(self, module: str, api_name: str) -> FieldDef | None:
        """The metadata of one field (API names are case-sensitive)."""
        return next((f for f in self.fields.get(module, []) if f["api_name"] == api_name), None)

    def rename_field(self, module: str, old: str, new: str) -> None:
        """An admin changes a custom field's API name: metadata and stored values follow."""
        definition = self.field(module, old)
        assert definition is not None, f"{module} has no field {old}"
        definition["api_name"] = new
        for store in (self.records.get(module, {}), self.tombstones.get(module, {})):
            for record in store.values():
                if old in record.values:
                    record.values[new] = record.values.pop(old)

    def lookup_module(self, module: str, api_name: str) -> str | None:
        """The module a lookup field points to (``users`` for owner lookups)."""
        definition = self.field(module, api_name)
        if definition is None:
            return None
        target = (definition.get("lookup") or {}).get("module") or {}
        name = target.get("api_name")
        return name if isinstance(name, str) else None

    # --- records --------------------------------------------------------------------------

    def add_user(self, first: str, last: str, email: str) -> str:
        """Add a CRM user; returns its id."""
        user_id = self.new_id()
        self.users[user_id] = User(user_id, first, last, email)
        return user_id

    def put(
        self,
        module: str,
        values: dict[str, Any],
        *,
        modified: datetime | None = None,
        record_id: str | None = None,
    ) -> str:
        """Create a record (modified now unless given); returns its id."""
        when = whole_seconds(modified) if modified else self.now()
        new_id = record_id or self.new_id()
        self.records.setdefault(module, {})[new_id] = Record(
            id=new_id,
            values=copy.deepcopy(values),
            created=when,
            modified=when,
            written=next(self._writes),
        )
        return new_id

    def update(
        self,
        module: str,
        record_id: str,
        values: dict[str, Any],
        *,
        modified: datetime | None = None,
    ) -> None:
        """Change fields; Modified_Time moves to ``modified`` (default now)."""
        record = self.records[module][record_id]
        record.values.update(copy.deepcopy(values))
        record.modified = whole_seconds(modified) if modified else self.now()
        record.written = next(self._writes)

    def delete(
        self,
        module: str,
        record_id: str,
        *,
        at: datetime | None = None,
        permanent: bool = False,
        by: str | None = None,
    ) -> None:
        """Move a record to the recycle bin (or delete it for good)."""
        record = self.records[module].pop(record_id)
        self.tombstones.setdefault(module, {})[record_id] = record
        self.deletions.append(
            Deletion(
                id=record_id,
                module=module,
                display_name=self.display_name(module, record),
                deleted_time=whole_seconds(at) if at else self.now(),
                kind="permanent" if permanent else "recycle",
                deleted_by=by,
            )
        )

    def get(self, module: str, record_id: str) -> Record | None:
        """A live record."""
        return self.records.get(module, {}).get(record_id)

    def any_state(self, module: str, record_id: str) -> Record | None:
        """A live or deleted record (for names of dangling lookups)."""
        return self.get(module, record_id) or self.tombstones.get(module, {}).get(record_id)

    def live(self, module: str) -> list[Record]:
        """Every live record of a module."""
        return list(self.records.get(module, {}).values())

    def listed_deletions(self, module: str, kind: str) -> list[Deletion]:
        """What ``/deleted`` still lists: recycle bin 60 days, permanent 120 (§5.3)."""
        now = self.now()
        found = []
        for entry in self.deletions:
            keep = PERMANENT_DAYS if entry.kind == "permanent" else RECYCLE_DAYS
            if entry.module != module or now - entry.deleted_time > timedelta(days=keep):
                continue
            if kind in ("all", entry.kind):
                found.append(entry)
        return found

    def display_name(self, module: str, record: Record) -> str | None:
        """The record's name (Deal_Name, Account_Name, Full_Name)."""
        value = record.values.get(NAME_FIELDS.get(module, ""))
        return value if isinstance(value, str) else None
