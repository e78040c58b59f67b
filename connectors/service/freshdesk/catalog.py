"""Writable Freshdesk fields for ``dealbridge validate``, from the field-definition endpoints.

``GET /api/v2/company_fields`` and ``GET /api/v2/contact_fields`` list every field with
``name``, ``label``, ``type`` (``default_*`` for built-ins, ``custom_text``,
``custom_paragraph``, ``custom_number``, ``custom_decimal``, ``custom_date``,
``custom_checkbox``, ``custom_dropdown``, ...), ``default`` and, for dropdowns, ``choices``.

A path may exist on both kinds (``description``, a custom field created twice); it is listed
once, its label saying which kinds have it, so a mapping for either kind validates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import chain
from typing import Any

from connectors.base import FieldInfo
from connectors.desk import labelled, merged_by_name
from connectors.service.freshdesk.payloads import COMPANY, CONTACT, CUSTOM_PREFIX

SINGLE_LINE_MAX = 255
"""Freshdesk single-line text fields hold 255 characters [unverified: vendor-apis notes]."""

BUILT_INS: dict[str, tuple[str, tuple[str, ...]]] = {
    "description": ("Description", (COMPANY, CONTACT)),
    "note": ("Note", (COMPANY,)),
}
"""Built-in free-text fields agents read on the ticket sidebar (path -> label, kinds)."""


def build_catalog(definitions: Mapping[str, Iterable[Any]], text_limit: int) -> list[FieldInfo]:
    """Merge both kinds' field definitions into one list of writable paths."""
    built_ins = (
        (kind, path, _built_in(path, label, text_limit))
        for path, (label, kinds) in BUILT_INS.items()
        for kind in kinds
    )
    custom = (
        (kind, info.path, info)
        for kind, fields in definitions.items()
        for raw in fields
        if (info := custom_field_info(raw, text_limit)) is not None
    )
    return [_labelled(info, kinds) for info, kinds in merged_by_name(chain(built_ins, custom))]


def custom_field_info(raw: Any, text_limit: int) -> FieldInfo | None:
    """One custom field definition as a writable path (built-ins and junk give None)."""
    if not isinstance(raw, dict) or raw.get("default") is True:
        return None
    name, field_type = raw.get("name"), str(raw.get("type") or raw.get("field_type") or "")
    if not isinstance(name, str) or not name or field_type.startswith("default_"):
        return None
    max_length = {"custom_text": SINGLE_LINE_MAX, "custom_paragraph": text_limit}.get(field_type)
    return FieldInfo(
        path=CUSTOM_PREFIX + name,
        type=field_type or "unknown",
        label=str(raw.get("label") or name),
        custom=True,
        writable=True,
        choices=parse_choices(raw.get("choices")),
        max_length=max_length,
    )


def parse_choices(raw: Any) -> tuple[str, ...]:
    """Dropdown values the API accepts: a list of strings, of ``{value|label}``, or a map."""
    if isinstance(raw, dict):
        return tuple(str(k) for k in raw)
    if not isinstance(raw, list):
        return ()
    values: list[str] = []
    for item in raw:
        value = item.get("value", item.get("label")) if isinstance(item, dict) else item
        if value is not None:
            values.append(str(value))
    return tuple(values)


def _built_in(path: str, label: str, text_limit: int) -> FieldInfo:
    return FieldInfo(path=path, type="paragraph", label=label, writable=True, max_length=text_limit)


def _labelled(info: FieldInfo, kinds: list[str]) -> FieldInfo:
    return info.model_copy(update={"label": labelled(info.label, sorted(set(kinds)))})
