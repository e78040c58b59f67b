"""Writable Zendesk fields for ``dealbridge validate``, from the field-definition endpoints.

``GET /api/v2/organization_fields.json`` and ``/api/v2/user_fields.json`` (paged with
``next_page``) list custom fields with ``key``, ``title``, ``type`` (``text``, ``textarea``,
``date``, ``integer``, ``decimal``, ``checkbox``, ``regexp``, ``dropdown``, ``multiselect``,
``lookup``), ``active`` and, for dropdowns, ``custom_field_options[{name, value}]``: the API
writes the option ``value`` [doc: User Fields API]. Inactive fields are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connectors.base import FieldInfo
from connectors.record_values import option_values
from connectors.service.zendesk.payloads import BUILT_INS, CUSTOM

LABELS = {"notes": "Notes", "details": "Details"}


def build_catalog(
    definitions: Mapping[str, Iterable[Any]], kinds: Iterable[str], text_limit: int
) -> list[FieldInfo]:
    """Built-in ``notes``/``details`` plus every active custom field of the configured kinds."""
    kinds = tuple(kinds)
    where = ", ".join(kinds)
    catalog = [
        FieldInfo(
            path=name,
            type="textarea",
            label=f"{LABELS[name]} ({where})",
            writable=True,
            max_length=text_limit,
        )
        for name in BUILT_INS
    ]
    for kind in kinds:
        catalog += [info for raw in definitions.get(kind, ()) if (info := field_info(kind, raw))]
    return catalog


def field_info(kind: str, raw: Any) -> FieldInfo | None:
    """One custom field definition as a writable path (inactive fields and junk give None)."""
    if not isinstance(raw, dict) or raw.get("active") is False:
        return None
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        return None
    return FieldInfo(
        path=f"{CUSTOM[kind]}.{key}",
        type=str(raw.get("type") or "unknown"),
        label=str(raw.get("title") or raw.get("raw_title") or key),
        custom=True,
        writable=True,
        choices=option_values(raw.get("custom_field_options")),
    )
