"""Table definitions from the metadata API: columns, their types, and the labels of choices.

Per table (FACTS.md §7; metadata is not paged, everything comes in the first response):

* ``EntityDefinitions(LogicalName='<t>')?$select=LogicalName,EntitySetName,
  PrimaryIdAttribute,ChangeTrackingEnabled``: the entity set, and whether change tracking is on
  (§6.1, checked for the deals table).
* ``EntityDefinitions(LogicalName='<t>')/Attributes?$select=LogicalName,AttributeType,
  AttributeTypeName,IsCustomAttribute,IsValidForRead,AttributeOf,DisplayName``: every column
  (``IsCustomAttribute`` marks custom ones, §7.1). Columns that only accompany another
  (``AttributeOf`` set) or cannot be read are left out: they cannot be selected.
* One cast per kind of choice the table has (``PicklistAttributeMetadata``, ``State...``,
  ``Status...``, ``MultiSelectPicklistAttributeMetadata``) with ``$expand=OptionSet``
  (and ``GlobalOptionSet`` for picklists: which one carries a global choice's options is not
  documented, so both are read, §7.2). Labels are ``UserLocalizedLabel.Label``, else the first
  ``LocalizedLabels`` entry (§7.3).

Labels come from here rather than from ``FormattedValue`` annotations: metadata labels are the
same for every reader and every request, the catalog can list them as choices for
``validate``, and track-changes requests are safer without annotations (FACTS.md §3.5, §6.3).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from connectors.errors import AuthError, PermanentError

log = structlog.get_logger("dealbridge.dynamics")

LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
CHOICE_CASTS: dict[str, str] = {
    "Picklist": "PicklistAttributeMetadata",
    "State": "StateAttributeMetadata",
    "Status": "StatusAttributeMetadata",
    "MultiSelectPicklistType": "MultiSelectPicklistAttributeMetadata",
}
"""Column kind -> the metadata cast that carries its options."""
_VALUE_NAME = re.compile(r"^_\w+_value$")
"""A lookup listed under its Web API property name already (not Dataverse's own form)."""
UNSELECTABLE = frozenset({"CalendarRules", "EntityName", "ManagedProperty", "PartyList"})

ATTRIBUTE_PROPERTIES = (
    "LogicalName,AttributeType,AttributeTypeName,IsCustomAttribute,IsValidForRead,AttributeOf,"
    "DisplayName"
)
ENTITY_PROPERTIES = "LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled"

Fetch = Callable[[str, dict[str, str] | None], Awaitable[Any]]
"""GET a metadata path (relative to the Web API root) with query parameters -> JSON body."""


@dataclass(frozen=True)
class Column:
    """One readable column, under the name the Web API uses in ``$select`` and in rows."""

    logical_name: str
    kind: str
    """``AttributeType``, or ``AttributeTypeName`` for virtual kinds (multi-select choices)."""
    label: str = ""
    custom: bool = False
    options: dict[int, str] | None = None
    """Value -> label, for choice columns."""

    @property
    def path(self) -> str:
        """Lookups appear as ``_<name>_value`` (FACTS.md §3.2); other columns by their name."""
        if self.kind in LOOKUP_TYPES and not _VALUE_NAME.match(self.logical_name):
            return f"_{self.logical_name}_value"
        return self.logical_name

    @property
    def is_choice(self) -> bool:
        """True for choice columns, whose values are mapped to labels."""
        return self.kind in CHOICE_CASTS


@dataclass(frozen=True)
class TableSchema:
    """The readable columns of one table, by payload path."""

    logical_name: str
    columns: dict[str, Column]
    change_tracking: bool | None = None
    entity_set: str | None = None
    fetched_at: float = field(default=0.0, compare=False)

    def column(self, path: str) -> Column | None:
        """The column a payload path names (case-sensitive, as the Web API is)."""
        return self.columns.get(path)


class MetadataReader:
    """Reads table definitions through ``fetch`` and keeps them for ``max_age`` seconds."""

    def __init__(self, fetch: Fetch, *, clock: Callable[[], float], max_age: float) -> None:
        self._fetch = fetch
        self._clock = clock
        self._max_age = max_age
        self._cache: dict[str, TableSchema] = {}

    async def table(self, logical_name: str) -> TableSchema:
        """The schema of ``logical_name``, read again once older than ``max_age``."""
        cached = self._cache.get(logical_name)
        if cached is not None and self._clock() - cached.fetched_at < self._max_age:
            return cached
        schema = await self._read(logical_name)
        self._cache[logical_name] = schema
        return schema

    def forget(self) -> None:
        """Drop every cached definition (the next read fetches them again)."""
        self._cache.clear()

    async def _entity(self, root: str, logical_name: str) -> dict[str, Any]:
        """The table definition, or ``{}`` when it cannot be read: it only says whether change
        tracking is on, which the tracked read itself shows too (its delta link)."""
        try:
            found = await self._fetch(root, {"$select": ENTITY_PROPERTIES})
        except AuthError:
            raise
        except PermanentError as exc:
            log.warning("dynamics_table_definition_unreadable", table=logical_name, error=str(exc))
            return {}
        return found if isinstance(found, dict) else {}

    async def _read(self, logical_name: str) -> TableSchema:
        root = f"EntityDefinitions(LogicalName='{logical_name}')"
        entity = await self._entity(root, logical_name)
        body = await self._fetch(f"{root}/Attributes", {"$select": ATTRIBUTE_PROPERTIES})
        columns = parse_attributes(_values(body))
        for kind in sorted({c.kind for c in columns.values() if c.is_choice}):
            cast = CHOICE_CASTS[kind]
            expand = "OptionSet($select=Options)"
            if kind in ("Picklist", "MultiSelectPicklistType"):
                expand += ",GlobalOptionSet($select=Options)"
            found = await self._fetch(
                f"{root}/Attributes/Microsoft.Dynamics.CRM.{cast}",
                {"$select": "LogicalName", "$expand": expand},
            )
            columns = with_options(columns, _values(found))
        tracking = entity.get("ChangeTrackingEnabled")
        entity_set = entity.get("EntitySetName")
        return TableSchema(
            logical_name=logical_name,
            columns=columns,
            change_tracking=tracking if isinstance(tracking, bool) else None,
            entity_set=entity_set if isinstance(entity_set, str) else None,
            fetched_at=self._clock(),
        )


def parse_attributes(items: list[dict[str, Any]]) -> dict[str, Column]:
    """Readable, selectable columns by payload path."""
    columns: dict[str, Column] = {}
    for item in items:
        name = item.get("LogicalName")
        kind = _kind(item)
        if not isinstance(name, str) or kind is None:
            continue
        if item.get("AttributeOf") or item.get("IsValidForRead") is False:
            continue
        column = Column(
            logical_name=name,
            kind=kind,
            label=label_text(item.get("DisplayName")) or name,
            custom=item.get("IsCustomAttribute") is True,
        )
        columns[column.path] = column
    return columns


def with_options(columns: dict[str, Column], items: list[dict[str, Any]]) -> dict[str, Column]:
    """Columns with the options a cast response lists for them (value -> label)."""
    updated = dict(columns)
    by_name = {c.logical_name: path for path, c in columns.items()}
    for item in items:
        path = by_name.get(str(item.get("LogicalName")))
        if path is None:
            continue
        options: dict[int, str] = {}
        for key in ("GlobalOptionSet", "OptionSet"):
            options |= _options(item.get(key))
        current = updated[path]
        updated[path] = Column(
            logical_name=current.logical_name,
            kind=current.kind,
            label=current.label,
            custom=current.custom,
            options=options,
        )
    return updated


def label_text(label: Any) -> str:
    """The text of a ``Label`` complex value: the user's label, else the first localized one."""
    if not isinstance(label, dict):
        return ""
    user = label.get("UserLocalizedLabel")
    if isinstance(user, dict) and isinstance(user.get("Label"), str) and user["Label"]:
        return str(user["Label"])
    for item in label.get("LocalizedLabels") or []:
        if isinstance(item, dict) and isinstance(item.get("Label"), str) and item["Label"]:
            return str(item["Label"])
    return ""


def _options(option_set: Any) -> dict[int, str]:
    if not isinstance(option_set, dict):
        return {}
    found: dict[int, str] = {}
    for option in option_set.get("Options") or []:
        if not isinstance(option, dict) or not isinstance(option.get("Value"), int):
            continue
        text = label_text(option.get("Label"))
        if text:  # an option without any label is left out: its value shows as unlabelled
            found[int(option["Value"])] = text
    return found


def _kind(item: dict[str, Any]) -> str | None:
    kind = item.get("AttributeType")
    type_name = item.get("AttributeTypeName")
    name = type_name.get("Value") if isinstance(type_name, dict) else None
    if name == "MultiSelectPicklistType":
        return "MultiSelectPicklistType"
    if not isinstance(kind, str) or kind in UNSELECTABLE or kind == "Virtual":
        return None
    return kind


def _values(body: Any) -> list[dict[str, Any]]:
    items = body.get("value") if isinstance(body, dict) else None
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
