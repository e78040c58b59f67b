"""Custom fields by name: the ``dealFields`` / ``organizationFields`` / ``personFields`` catalogs.

Pipedrive keys custom values by a 40-character hash that differs per company and never
changes; only the field's *name* can be renamed (FACTS.md §5.3, PD-CF). Admins think in names,
so the payload addresses each custom field by a path segment made from its name (its *slug*):
lowercase, every run of characters that are not letters or digits becomes ``_``::

    "Special discount (%)"  ->  custom_fields.special_discount
    "Payment terms"         ->  custom_fields.payment_terms

Two fields whose names give the same slug are both addressed as ``<slug>_<first 8 characters of
the key>``, so neither silently shadows the other.

Catalog items (v2, FACTS.md §5.1; ``organizationFields`` and ``personFields`` have the same
shape, SDK ``organization-fields-api.ts``): ``field_code`` (the hash, for custom fields),
``field_name``, ``field_type``, ``is_custom_field``, ``options`` (``[{id, label}]`` for enum and
set), ``subfields``. Option ids become their labels (§5.4); an id the catalog no longer lists
(an option deleted since) becomes an :func:`~connectors.base.unreadable` marker, so the deal
fails mapping with the reason instead of carrying a number an agent cannot read.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from connectors.base import FieldInfo, unreadable

ENTITY_CATALOGS = {
    "deal": "/api/v2/dealFields",
    "organization": "/api/v2/organizationFields",
    "person": "/api/v2/personFields",
}
"""Catalog endpoint per entity (cursor paging, limit up to 500)."""

PARTS_BY_TYPE: dict[str, tuple[str, ...]] = {
    # v2 custom values that are objects, and their keys (FACTS.md §5.4, PD-V2MIG)
    "monetary": ("value", "currency"),
    "daterange": ("value", "until"),
    "time": ("value", "timezone_id", "timezone_name"),
    "timerange": ("value", "until", "timezone_id", "timezone_name"),
    "address": (
        "value", "route", "street_number", "locality", "sublocality", "admin_area_level_1",
        "admin_area_level_2", "country", "postal_code", "formatted_address",
    ),
}  # fmt: skip

_NOT_WORD = re.compile(r"[\W_]+", re.UNICODE)


def slug(name: str) -> str:
    """The path segment a field name gives (``"Special discount (%)"`` -> ``special_discount``)."""
    return _NOT_WORD.sub("_", name.casefold()).strip("_") or "field"


@dataclass(frozen=True)
class CustomField:
    """One custom field of one entity, as the catalog describes it."""

    key: str
    name: str
    path_name: str
    field_type: str
    options: dict[int, str] = field(default_factory=dict)

    def readable(self, value: Any, *, entity: str) -> Any:
        """The value with option ids replaced by labels (unreadable where there is none)."""
        if value is None:
            return None
        if self.field_type == "enum":
            return self._label(value, entity)
        if self.field_type == "set":
            ids = value if isinstance(value, list) else str(value).split(",")
            return [self._label(item, entity) for item in ids if str(item).strip() != ""]
        return value

    def _label(self, raw: Any, entity: str) -> Any:
        try:
            option = int(str(raw).strip())
        except ValueError:
            return unreadable(f"{entity} field '{self.name}' holds {raw!r}, not an option id")
        label = self.options.get(option)
        if label is None:
            return unreadable(
                f"option id {option} of the {entity} field '{self.name}' has no label in "
                "Pipedrive (the option was deleted); pick a current option on the record"
            )
        return label


@dataclass(frozen=True)
class EntityFields:
    """The custom fields of one entity, by hash key and by path name."""

    entity: str
    fields: tuple[CustomField, ...]

    @property
    def by_key(self) -> dict[str, CustomField]:
        """Hash key -> field."""
        return {f.key: f for f in self.fields}

    @property
    def by_path_name(self) -> dict[str, CustomField]:
        """Path segment -> field."""
        return {f.path_name: f for f in self.fields}

    def readable(self, custom: Any) -> dict[str, Any]:
        """A record's ``custom_fields`` object keyed by path name, with labels for option ids.

        Keys the catalog does not list (a field created after it was read) are left out: no
        mapping can address them by name yet.
        """
        if not isinstance(custom, dict):
            return {}
        by_key = self.by_key
        return {
            by_key[key].path_name: by_key[key].readable(value, entity=self.entity)
            for key, value in custom.items()
            if key in by_key
        }


def parse_catalog(entity: str, items: Iterable[dict[str, Any]]) -> EntityFields:
    """The custom fields among a catalog's items, with collision-free path names."""
    raw = [item for item in items if _is_custom(item)]
    counts = Counter(slug(str(item.get("field_name") or "")) for item in raw)
    fields = []
    for item in raw:
        key = str(item["field_code"])
        name = str(item.get("field_name") or key)
        base = slug(name)
        fields.append(
            CustomField(
                key=key,
                name=name,
                path_name=base if counts[base] == 1 else f"{base}_{key[:8]}",
                field_type=str(item.get("field_type") or "varchar"),
                options=_options(item.get("options")),
            )
        )
    return EntityFields(entity=entity, fields=tuple(fields))


def custom_field_infos(prefix: str, fields: EntityFields) -> list[FieldInfo]:
    """``<prefix>custom_fields.<path name>`` (and ``.<part>`` for object values)."""
    infos = []
    for custom in fields.fields:
        path = f"{prefix}custom_fields.{custom.path_name}"
        parts = PARTS_BY_TYPE.get(custom.field_type)
        if parts is None:
            infos.append(
                FieldInfo(
                    path=path,
                    type=custom.field_type,
                    label=custom.name,
                    custom=True,
                    choices=tuple(custom.options.values()),
                )
            )
            continue
        infos += [
            FieldInfo(
                path=f"{path}.{part}",
                type=custom.field_type if part == "value" else "varchar",
                label=f"{custom.name} ({part})",
                custom=True,
            )
            for part in parts
        ]
    return infos


def _is_custom(item: dict[str, Any]) -> bool:
    code = item.get("field_code")
    return item.get("is_custom_field") is True and isinstance(code, str) and bool(code)


def _options(raw: Any) -> dict[int, str]:
    if not isinstance(raw, list):
        return {}
    found = {}
    for option in raw:
        if isinstance(option, dict) and option.get("label") is not None:
            try:
                found[int(option["id"])] = str(option["label"])
            except (KeyError, TypeError, ValueError):
                continue
    return found
