"""Salesforce field types as SOQL filters and describe see them, for both simulators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

TEXT = frozenset({"string", "textarea", "email", "url", "phone", "picklist", "multipicklist"})
IDS = frozenset({"id", "reference"})
NUMBERS = frozenset({"double", "currency", "percent", "int"})

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
"""The SOQL comparison operators on values already made comparable with the field."""


class TypedField(Protocol):
    """Any simulator's field spec: only its API name and Salesforce type matter here."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...


def expected_kind(field: TypedField) -> str:
    """The literal kind (``string``, ``number``, ...) a WHERE clause must use for the field."""
    if field.type in NUMBERS:
        return "number"
    if field.type in ("boolean", "date", "datetime"):
        return field.type
    return "string"


def type_message(field: TypedField, expected: str) -> str:
    """Salesforce's INVALID_FIELD message for a literal of the wrong kind."""
    soap = {"datetime": "dateTime", "number": "double"}.get(expected, expected)
    quotes = (
        "should be enclosed in quotes"
        if expected == "string"
        else "should not be enclosed in quotes"
    )
    return f"value of filter criterion for field '{field.name}' must be of type {soap} and {quotes}"


def soap_type(kind: str) -> str:
    """Describe's ``soapType`` for a field type."""
    if kind in IDS:
        return "tns:ID"
    if kind in NUMBERS:
        return "xsd:double"
    return {"boolean": "xsd:boolean", "date": "xsd:date", "datetime": "xsd:dateTime"}.get(
        kind, "xsd:string"
    )
