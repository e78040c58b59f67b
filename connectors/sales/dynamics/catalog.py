"""Table schemas -> the field catalog ``dealbridge validate`` checks mapping paths against.

Paths are the payload's (:mod:`.payloads`): opportunity columns by logical name
(``new_specialdiscount``), lookups as ``_<name>_value``, and the columns of each configured
navigation property under its name (``parentaccountid.websiteurl``). Choice columns list their
labels as ``choices``: the payload carries labels, so a mapping's enum keys are labels too.
"""

from __future__ import annotations

from connectors.base import FieldInfo
from connectors.sales.dynamics.metadata import Column, TableSchema

TYPE_NAMES: dict[str, str] = {"MultiSelectPicklistType": "multiselectpicklist"}


def field_catalog(deals: TableSchema, related: dict[str, TableSchema]) -> list[FieldInfo]:
    """Every readable path: the deal's columns, then each navigation property's columns."""
    fields = [field_info("", column) for column in deals.columns.values()]
    for navigation, schema in related.items():
        fields += [field_info(f"{navigation}.", column) for column in schema.columns.values()]
    return fields


def field_info(prefix: str, column: Column) -> FieldInfo:
    """One column as a FieldInfo (choices are the option labels, in option order)."""
    options = column.options or {}
    choices = tuple(options[value] for value in sorted(options))
    return FieldInfo(
        path=f"{prefix}{column.path}",
        type=TYPE_NAMES.get(column.kind, column.kind.lower()),
        label=column.label,
        custom=column.custom,
        writable=False,
        choices=choices,
    )
