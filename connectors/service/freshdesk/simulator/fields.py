"""Company and contact field definitions, and the validation Freshdesk applies on update.

Shapes follow ``GET /api/v2/company_fields`` / ``contact_fields`` (id, name, label, position,
type, default, required_for_agents, choices, created_at, updated_at). Validation errors use the
documented body ``{"description": "Validation failed", "errors": [{field, message, code}]}``;
the message wording follows the examples in the brief and third-party copies of the docs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

TEXT_MAX = 255
DEFINED_AT = "2024-01-02T09:00:00Z"

Problem = tuple[str, str]
"""(message, code) for one rejected value."""


@dataclass(frozen=True)
class FieldDef:
    """One field of a company or contact, as the field endpoints describe it."""

    id: int
    name: str
    label: str
    type: str
    position: int
    choices: tuple[str, ...] = ()
    default: bool = False

    def to_json(self) -> dict[str, Any]:
        """The field as ``GET /api/v2/{company|contact}_fields`` returns it."""
        body: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "label": self.label,
            "position": self.position,
            "required_for_agents": self.name == "name",
            "type": self.type,
            "default": self.default,
            "created_at": DEFINED_AT,
            "updated_at": DEFINED_AT,
        }
        if self.type == "custom_dropdown":
            body["choices"] = list(self.choices)
        return body


COMPANY_BUILT_INS = (
    ("name", "Company Name"),
    ("description", "Description"),
    ("note", "Notes"),
    ("domains", "Domains for this company"),
    ("health_score", "Health score"),
    ("account_tier", "Account tier"),
    ("renewal_date", "Renewal date"),
    ("industry", "Industry"),
)
CONTACT_BUILT_INS = (
    ("name", "Full Name"),
    ("job_title", "Title"),
    ("email", "Email"),
    ("phone", "Work Phone"),
    ("mobile", "Mobile Phone"),
    ("twitter_id", "Twitter"),
    ("company_name", "Company"),
    ("address", "Address"),
    ("time_zone", "Time Zone"),
    ("language", "Language"),
    ("tag_names", "Tags"),
    ("description", "About"),
    ("unique_external_id", "Unique external ID"),
)
DEAL_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("cf_special_discount", "Special discount (%)", "custom_decimal", ()),
    ("cf_payment_terms", "Payment terms", "custom_dropdown", ("Net 30", "Net 45", "Net 60")),
    ("cf_terms_valid_until", "Terms valid until", "custom_date", ()),
    ("cf_sla_promise", "SLA promise", "custom_text", ()),
    ("cf_free_services", "Free services", "custom_text", ()),
)
CUSTOMER_NUMBER = ("cf_customer_number", "Customer number", "custom_text", ())

UPDATABLE = {
    "company": frozenset(
        {
            "name",
            "description",
            "note",
            "domains",
            "custom_fields",
            "health_score",
            "account_tier",
            "renewal_date",
            "industry",
        }
    ),
    "contact": frozenset(
        {
            "name",
            "email",
            "phone",
            "mobile",
            "twitter_id",
            "unique_external_id",
            "other_emails",
            "company_id",
            "view_all_tickets",
            "other_companies",
            "address",
            "avatar",
            "custom_fields",
            "description",
            "job_title",
            "language",
            "tags",
            "time_zone",
        }
    ),
}
"""Top-level attributes ``PUT /api/v2/{companies|contacts}/{id}`` accepts."""


def demo_definitions(kind: str, first_id: int) -> dict[str, FieldDef]:
    """Built-ins plus the demo's deal fields (companies also hold the customer number)."""
    built_ins = COMPANY_BUILT_INS if kind == "company" else CONTACT_BUILT_INS
    empty: tuple[str, ...] = ()
    rows = [(name, label, f"default_{name}", empty, True) for name, label in built_ins]
    customs = (CUSTOMER_NUMBER, *DEAL_FIELDS) if kind == "company" else DEAL_FIELDS
    rows += [(*custom, False) for custom in customs]
    return {
        name: FieldDef(first_id + i, name, label, ftype, i + 1, choices, default)
        for i, (name, label, ftype, choices, default) in enumerate(rows)
    }


def error(field: str, message: str, code: str) -> dict[str, str]:
    """One entry of the ``errors`` list."""
    return {"field": field, "message": message, "code": code}


def validate_update(
    kind: str, body: Any, definitions: Mapping[str, FieldDef]
) -> list[dict[str, str]]:
    """Every problem with an update body (empty when Freshdesk would accept it)."""
    if not isinstance(body, dict):
        return [error("", "Request body has invalid json format", "invalid_json")]
    problems = [
        error(key, "Unexpected/invalid field in request", "invalid_field")
        for key in body
        if key not in UPDATABLE[kind]
    ]
    problems += [
        error(key, _mismatch(body[key], "String"), "datatype_mismatch")
        for key in ("description", "note", "name")
        if body.get(key) is not None and not isinstance(body[key], str)
    ]
    if "custom_fields" in body:
        problems += validate_custom(body["custom_fields"], definitions)
    return problems


def validate_custom(values: Any, definitions: Mapping[str, FieldDef]) -> list[dict[str, str]]:
    """Problems with a ``custom_fields`` object against the field definitions."""
    if not isinstance(values, dict):
        return [error("custom_fields", _mismatch(values, "key/value pair"), "datatype_mismatch")]
    problems = []
    for name, value in values.items():
        field = definitions.get(name)
        if field is None or field.default:
            problems.append(error(name, "Unexpected/invalid field in request", "invalid_field"))
            continue
        problem = check_value(field, value)
        if problem is not None:
            problems.append(error(name, *problem))
    return problems


def check_value(field: FieldDef, value: Any) -> Problem | None:
    """Why Freshdesk would refuse ``value`` for ``field`` (None: accepted; null clears)."""
    if value is None:
        return None
    check = CHECKS.get(field.type, _string)
    return check(field, value)


def _string(_field: FieldDef, value: Any) -> Problem | None:
    return None if isinstance(value, str) else (_mismatch(value, "String"), "datatype_mismatch")


def _text(field: FieldDef, value: Any) -> Problem | None:
    problem = _string(field, value)
    if problem is None and len(value) > TEXT_MAX:
        message = f"Has {len(value)} characters, it can have maximum of {TEXT_MAX} characters"
        return message, "invalid_value"
    return problem


def _integer(_field: FieldDef, value: Any) -> Problem | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else (_mismatch(value, "Integer"), "datatype_mismatch")


def _number(_field: FieldDef, value: Any) -> Problem | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else (_mismatch(value, "Number"), "datatype_mismatch")


def _boolean(_field: FieldDef, value: Any) -> Problem | None:
    return None if isinstance(value, bool) else (_mismatch(value, "Boolean"), "datatype_mismatch")


def _date(_field: FieldDef, value: Any) -> Problem | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            date.fromisoformat(value)
        except ValueError:
            pass
        else:
            return None
    return "It should be in the 'yyyy-mm-dd' format", "invalid_value"


def _dropdown(field: FieldDef, value: Any) -> Problem | None:
    if isinstance(value, str) and value in field.choices:
        return None
    return f"It should be one of these values: '{','.join(field.choices)}'", "invalid_value"


CHECKS: dict[str, Callable[[FieldDef, Any], Problem | None]] = {
    "custom_text": _text,
    "custom_paragraph": _string,
    "custom_number": _integer,
    "custom_decimal": _number,
    "custom_checkbox": _boolean,
    "custom_date": _date,
    "custom_dropdown": _dropdown,
}


def _mismatch(value: Any, expected: str) -> str:
    return f"Value set is of type {_type_name(value)}.It should be a/an {expected}"


def _type_name(value: Any) -> str:
    names = {
        bool: "Boolean",
        int: "Integer",
        float: "Float",
        str: "String",
        list: "Array",
        dict: "key/value pair",
        type(None): "Null",
    }
    return names.get(type(value), type(value).__name__)
