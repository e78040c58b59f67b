"""The metadata API: ``EntityDefinitions``, ``Attributes`` and the choice casts (FACTS.md §7).

* ``EntityDefinitions(LogicalName='<t>')`` with ``$select`` (``MetadataId`` always comes).
* ``.../Attributes`` with ``$select``; asking for ``OptionSet`` there is refused: it exists
  only on the casts (§7.2). Each attribute carries ``@odata.type``.
* ``.../Attributes/Microsoft.Dynamics.CRM.{Picklist|State|Status|MultiSelectPicklist}
  AttributeMetadata`` with ``$expand=OptionSet(...)`` and, for picklists, ``GlobalOptionSet``.
  A column bound to a global choice carries its options under ``GlobalOptionSet`` and has no
  local ``OptionSet`` (which of the two Dataverse fills is not documented: FACTS.md §7.2).
* Labels are ``Label {LocalizedLabels: [...], UserLocalizedLabel}`` in language 1033; an
  option whose label is missing has empty ``LocalizedLabels`` and a null ``UserLocalizedLabel``.

Metadata is not paged: everything is in the first response (§7.1).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from connectors.sales.dynamics.simulator.errors import ODATA_QUERY, ODataError
from connectors.sales.dynamics.simulator.schema import (
    CHOICE_KINDS,
    MULTI,
    ColumnDef,
    OptionSet,
    TableDef,
)

ENTITY_PROPERTIES = frozenset(
    {
        "LogicalName",
        "SchemaName",
        "EntitySetName",
        "PrimaryIdAttribute",
        "PrimaryNameAttribute",
        "ChangeTrackingEnabled",
        "DisplayName",
        "IsCustomEntity",
        "MetadataId",
    }
)
ATTRIBUTE_PROPERTIES = frozenset(
    {
        "LogicalName",
        "SchemaName",
        "AttributeType",
        "AttributeTypeName",
        "IsCustomAttribute",
        "IsValidForRead",
        "AttributeOf",
        "DisplayName",
        "MetadataId",
        "RequiredLevel",
    }
)
CASTS: dict[str, str] = {
    "Microsoft.Dynamics.CRM.PicklistAttributeMetadata": "Picklist",
    "Microsoft.Dynamics.CRM.StateAttributeMetadata": "State",
    "Microsoft.Dynamics.CRM.StatusAttributeMetadata": "Status",
    "Microsoft.Dynamics.CRM.MultiSelectPicklistAttributeMetadata": MULTI,
}
LANGUAGE = 1033
_IDS: dict[str, str] = {}


def metadata_id(name: str) -> str:
    """A stable MetadataId per name (the same GUID every time it is asked for)."""
    return _IDS.setdefault(name, str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataverse-sim:{name}")))


def label(text: str | None) -> dict[str, Any]:
    """A ``Label`` complex value in the org's base language (empty when ``text`` is None)."""
    if text is None:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    item = {
        "Label": text,
        "LanguageCode": LANGUAGE,
        "IsManaged": True,
        "MetadataId": metadata_id(f"label:{text}"),
        "HasChanged": None,
    }
    return {"LocalizedLabels": [item], "UserLocalizedLabel": dict(item)}


def entity(table: TableDef, params: Mapping[str, str]) -> dict[str, Any]:
    """``EntityDefinitions(LogicalName='<t>')``."""
    full = {
        "LogicalName": table.logical,
        "SchemaName": table.logical.capitalize(),
        "EntitySetName": table.entity_set,
        "PrimaryIdAttribute": table.key,
        "PrimaryNameAttribute": table.primary_name,
        "ChangeTrackingEnabled": table.change_tracking,
        "DisplayName": label(table.logical.capitalize()),
        "IsCustomEntity": False,
        "MetadataId": metadata_id(f"entity:{table.logical}"),
    }
    return _selected(full, params.get("$select"), ENTITY_PROPERTIES)


def attributes(table: TableDef, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """``.../Attributes``: every column, companions and unreadable ones included."""
    if params.get("$expand"):
        raise ODataError(
            400,
            "Could not find a property named 'OptionSet' on type "
            "'Microsoft.Dynamics.CRM.AttributeMetadata'.",
            ODATA_QUERY,
        )
    return [
        _selected(_attribute(table, c), params.get("$select"), ATTRIBUTE_PROPERTIES)
        for c in table.columns.values()
    ]


def cast(table: TableDef, cast_name: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """``.../Attributes/Microsoft.Dynamics.CRM.<Kind>AttributeMetadata`` with option sets."""
    kind = CASTS.get(cast_name)
    if kind is None:
        raise ODataError(404, f"Resource not found for the segment '{cast_name}'.", "0x8006088a")
    expand = _expanded(params.get("$expand"), kind)
    found = []
    for column in table.columns.values():
        if _kind_of(column) != kind:
            continue
        item = _selected(_attribute(table, column), params.get("$select"), ATTRIBUTE_PROPERTIES)
        options = column.options
        if "OptionSet" in expand:
            local = options is not None and not options.is_global
            item["OptionSet"] = option_set(options) if local and options else None
        if "GlobalOptionSet" in expand:
            shared = options is not None and options.is_global
            item["GlobalOptionSet"] = option_set(options) if shared and options else None
        found.append(item)
    return found


def option_set(options: OptionSet) -> dict[str, Any]:
    """An ``OptionSetMetadata`` with its options (FACTS.md §7.2 shape)."""
    return {
        "Options": [
            {
                "Value": o.value,
                "Label": label(o.label),
                "Description": {"LocalizedLabels": [], "UserLocalizedLabel": None},
                "Color": None,
                "IsManaged": True,
                "MetadataId": None,
                "HasChanged": None,
            }
            for o in options.options
        ],
        "IsGlobal": options.is_global,
        "Name": options.name,
        "OptionSetType": "Picklist",
        "MetadataId": metadata_id(f"optionset:{options.name}"),
    }


def _expanded(raw: str | None, kind: str) -> set[str]:
    found = set()
    for part in (raw or "").split(","):
        name = part.split("(")[0].strip()
        if not name:
            continue
        allowed = {"OptionSet", "GlobalOptionSet"}
        if name not in allowed:
            raise ODataError(
                400,
                f"Could not find a property named '{name}' on the {kind} metadata.",
                ODATA_QUERY,
            )
        found.add(name)
    return found


def _kind_of(column: ColumnDef) -> str:
    return MULTI if column.type_name == MULTI else column.kind


def _attribute(table: TableDef, column: ColumnDef) -> dict[str, Any]:
    kind = _kind_of(column)
    odata_type = f"#Microsoft.Dynamics.CRM.{kind.removesuffix('Type')}AttributeMetadata"
    if kind not in CHOICE_KINDS and kind != MULTI:
        odata_type = f"#Microsoft.Dynamics.CRM.{column.kind}AttributeMetadata"
    return {
        "@odata.type": odata_type,
        "LogicalName": column.name,
        "SchemaName": column.name,
        "AttributeType": column.kind,
        "AttributeTypeName": {"Value": column.type_name or f"{column.kind}Type"},
        "IsCustomAttribute": column.custom,
        "IsValidForRead": column.readable,
        "AttributeOf": column.attribute_of,
        "DisplayName": label(column.label),
        "RequiredLevel": {"Value": "SystemRequired" if column.name == table.key else "None"},
        "MetadataId": metadata_id(f"attribute:{table.logical}.{column.name}"),
    }


def _selected(full: dict[str, Any], select: str | None, known: frozenset[str]) -> dict[str, Any]:
    if not select:
        return full
    names = [n.strip() for n in select.split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise ODataError(400, f"Could not find a property named '{name}'.", ODATA_QUERY)
    return {k: v for k, v in full.items() if k in names or k in ("MetadataId", "@odata.type")}
