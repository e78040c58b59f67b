"""The field catalog from ``GET /crm/v8/settings/fields?module=<module>`` (FACTS.md §6).

Each field has ``api_name`` (what every API call uses; labels may change, API names stay:
§6.2), ``field_label``/``display_label``, ``data_type`` (``text``, ``picklist``,
``multiselectpicklist``, ``lookup``, ``ownerlookup``, ``currency``, ``date``, ``datetime``...),
``custom_field``, ``length``, ``lookup.module.api_name`` for lookups, and ``pick_list_values``
(``actual_value`` is what records carry, ``display_value`` the label people see, ``type`` used
or unused: §6.1, §6.3).

Payload paths (see :mod:`.payloads`): a deal field by its API name (``Special_Discount``); a
lookup as an object, ``Account_Name.id`` and ``Account_Name.name``; for the configured
``related_lookups``, every field of the related record (``Account_Name.Website``); the owner as
``Owner.id``, ``Owner.name``, ``Owner.email``; and a picklist's label as ``$display.<api_name>``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FieldInfo

TEXT_TYPES = frozenset({"text", "textarea", "email", "website", "phone", "picklist"})
LOOKUP_TYPES = frozenset({"lookup", "ownerlookup"})
PICKLIST_TYPES = frozenset({"picklist", "multiselectpicklist"})
UNSELECTABLE_TYPES = frozenset(
    {"subform", "multiselectlookup", "imageupload", "fileupload", "profileimage"}
)
"""Field types a plain record read cannot carry (COQL refuses image uploads, §4; subforms and
multi-select lookups are separate modules): left out of the default column set."""

NAME_FIELDS: dict[str, str] = {
    "Accounts": "Account_Name",
    "Contacts": "Full_Name",
    "Deals": "Deal_Name",
    "Leads": "Full_Name",
    "Campaigns": "Campaign_Name",
    "Products": "Product_Name",
    "Vendors": "Vendor_Name",
}
"""The field that holds a record's name, per module: a lookup's ``name`` in COQL, where
selecting the lookup itself gives only its id (§4.5)."""

OWNER_KEYS: dict[str, str] = {"name": "full_name", "email": "email"}
"""``Owner.<key>`` -> the Users field COQL traverses to [unverified, FACTS.md §11]."""

DISPLAY = "$display"
"""Payload key holding picklist labels; ``$`` cannot start an API name, so it never clashes."""


@dataclass(frozen=True)
class ZohoField:
    """One field of one module, as the fields metadata describes it."""

    api_name: str
    data_type: str
    label: str
    custom: bool = False
    length: int | None = None
    lookup_module: str | None = None
    used_values: tuple[str, ...] = ()
    unused_values: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    """actual_value -> display_value, only where they differ."""

    @property
    def known_values(self) -> frozenset[str]:
        """Every picklist value the catalog lists, used or unused."""
        return frozenset(self.used_values) | frozenset(self.unused_values)


@dataclass(frozen=True)
class ModuleFields:
    """Every field of one module by API name."""

    module: str
    fields: dict[str, ZohoField]

    def get(self, api_name: str) -> ZohoField | None:
        """The field with this API name (exact: API names are case-sensitive)."""
        return self.fields.get(api_name)


FetchFields = Callable[[str], Awaitable[Any]]


async def module_fields(fetch: FetchFields, module: str) -> ModuleFields:
    """Read one module's fields metadata into :class:`ModuleFields`."""
    body = await fetch(module)
    raw = body.get("fields") if isinstance(body, dict) else None
    parsed = [parse_field(item) for item in raw or [] if isinstance(item, dict)]
    return ModuleFields(module=module, fields={f.api_name: f for f in parsed if f is not None})


def parse_field(raw: dict[str, Any]) -> ZohoField | None:
    """One metadata entry (None without an API name)."""
    api_name = raw.get("api_name")
    if not isinstance(api_name, str) or not api_name:
        return None
    data_type = str(raw.get("data_type") or "text")
    lookup = raw.get("lookup")
    module = lookup.get("module") if isinstance(lookup, dict) else None
    module_name = module.get("api_name") if isinstance(module, dict) else None
    used, unused, labels = _picklist(raw.get("pick_list_values"))
    length = raw.get("length")
    return ZohoField(
        api_name=api_name,
        data_type=data_type,
        label=str(raw.get("field_label") or raw.get("display_label") or api_name),
        custom=raw.get("custom_field") is True,
        length=length if isinstance(length, int) and length > 0 else None,
        lookup_module=module_name if isinstance(module_name, str) else None,
        used_values=used,
        unused_values=unused,
        labels=labels,
    )


def _picklist(raw: object) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, str]]:
    used: list[str] = []
    unused: list[str] = []
    labels: dict[str, str] = {}
    for option in raw if isinstance(raw, list) else []:
        if not isinstance(option, dict) or option.get("actual_value") is None:
            continue
        actual = str(option["actual_value"])
        (unused if option.get("type") == "unused" else used).append(actual)
        display = option.get("display_value")
        if isinstance(display, str) and display != actual:
            labels[actual] = display
    return tuple(used), tuple(unused), labels


def field_infos(deals: ModuleFields, related: dict[str, ModuleFields]) -> list[FieldInfo]:
    """Every readable payload path: deal fields, lookups, related records, owner, labels.

    ``related`` maps a lookup field of the deal (``Account_Name``) to its module's fields.
    """
    infos = [FieldInfo(path="id", type="bigint", label="Record Id")]
    for item in deals.fields.values():
        infos.append(_info(item.api_name, item))
        if item.data_type == "ownerlookup":
            infos += [
                FieldInfo(path=f"{item.api_name}.{key}", type="text", label=f"{item.label} {key}")
                for key in ("id", "name", "email")
            ]
        elif item.data_type == "lookup":
            infos += _lookup_paths(item, related.get(item.api_name))
        if item.data_type in PICKLIST_TYPES and item.labels:
            infos.append(
                FieldInfo(
                    path=f"{DISPLAY}.{item.api_name}",
                    type=item.data_type,
                    label=f"{item.label} (label)",
                    custom=item.custom,
                    choices=tuple(item.labels.get(v, v) for v in item.used_values),
                )
            )
    return _unique(infos)


def _lookup_paths(item: ZohoField, module: ModuleFields | None) -> list[FieldInfo]:
    paths = [FieldInfo(path=f"{item.api_name}.id", type="bigint", label=f"{item.label} id")]
    if item.lookup_module in NAME_FIELDS:
        paths.append(FieldInfo(path=f"{item.api_name}.name", type="text", label=item.label))
    if module is not None:
        paths += [
            _info(f"{item.api_name}.{sub.api_name}", sub)
            for sub in module.fields.values()
            if sub.data_type not in LOOKUP_TYPES
        ]
    return paths


def _info(path: str, item: ZohoField) -> FieldInfo:
    return FieldInfo(
        path=path,
        type=item.data_type,
        label=item.label,
        custom=item.custom,
        writable=False,
        choices=item.used_values,
        max_length=item.length if item.data_type in TEXT_TYPES else None,
    )


def _unique(infos: Iterable[FieldInfo]) -> list[FieldInfo]:
    seen: dict[str, FieldInfo] = {}
    for info in infos:
        seen.setdefault(info.path, info)
    return list(seen.values())
