"""Custom field definitions of the simulated account, and the validation Zendesk applies.

Definitions have the shape of ``GET /api/v2/organization_fields.json`` (go-zendesk fixture
``organization_fields.json``): ``id, url, key, type, title, raw_title, description, active,
position, custom_field_options[{id, name, raw_name, value}]`` for dropdowns.

Validation mirrors what Zendesk refuses with ``RecordInvalid``: dropdown values that are not
an option's ``value``, non-numeric decimals and integers, unparseable dates, text longer than
the column (65,535 characters assumed: Zendesk documents no limit). Unknown custom field keys
are ignored, as Zendesk does. Date fields are stored and printed as midnight-UTC timestamps
(``"2018-11-04T00:00:00+00:00"``), as the Organizations API examples show them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TEXT_MAX = 65_535

ORGANIZATION_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("special_discount", "decimal", "Special discount (%)", ()),
    ("payment_terms", "dropdown", "Payment terms", ("net30", "net45", "net60")),
    ("terms_valid_until", "date", "Terms valid until", ()),
    ("sla_promise", "text", "SLA promise", ()),
    ("free_services", "text", "Free services", ()),
)
USER_FIELDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("special_discount", "decimal", "Special discount (%)", ()),
    ("payment_terms", "dropdown", "Payment terms", ("net30", "net45", "net60")),
    ("terms_valid_until", "date", "Terms valid until", ()),
    ("deal_owner", "text", "Deal owner", ()),
)
TYPES = {"organization": ORGANIZATION_FIELDS, "user": USER_FIELDS}

Problems = dict[str, list[dict[str, str]]]


def definitions(kind: str, base_url: str) -> list[dict[str, Any]]:
    """The account's field definitions for ``organization`` or ``user``, Zendesk-shaped."""
    first_id = 360_000_100 if kind == "organization" else 360_000_200
    found = []
    for position, (key, field_type, title, options) in enumerate(TYPES[kind]):
        field_id = first_id + position
        found.append(
            {
                "id": field_id,
                "url": f"{base_url}/api/v2/{kind}_fields/{field_id}.json",
                "key": key,
                "type": field_type,
                "title": title,
                "raw_title": title,
                "description": "",
                "raw_description": "",
                "position": position,
                "active": True,
                "system": False,
                "regexp_for_validation": None,
                "created_at": "2024-01-02T09:00:00Z",
                "updated_at": "2024-01-02T09:00:00Z",
                "custom_field_options": [
                    {"id": field_id * 10 + n, "name": v.title(), "raw_name": v.title(), "value": v}
                    for n, v in enumerate(options)
                ],
            }
        )
    return found


def clean_row(kind: str, row: Mapping[str, Any]) -> tuple[dict[str, Any], Problems]:
    """The stored form of an update row's notes/details/custom fields, and what is invalid."""
    changes: dict[str, Any] = {}
    problems: Problems = {}
    for name in ("notes", "details"):
        if name in row:
            value = row[name]
            if value is not None and not isinstance(value, str):
                problems[name] = [_problem(f"{name.title()}: must be text", "InvalidValue")]
            elif value is not None and len(value) > TEXT_MAX:
                text = f"{name.title()}: is too long (maximum is {TEXT_MAX} characters)"
                problems[name] = [_problem(text, "TooLong")]
            else:
                changes[name] = value
    custom = row.get(f"{kind}_fields")
    if isinstance(custom, dict):
        known = {key: (ftype, title, opts) for key, ftype, title, opts in TYPES[kind]}
        stored: dict[str, Any] = {}
        for key, value in custom.items():
            if key not in known:
                continue
            ftype, title, options = known[key]
            try:
                stored[key] = coerce(ftype, options, value)
            except ValueError as exc:
                problems[key] = [_problem(f"{title}: {exc}", "InvalidValue")]
        changes[f"{kind}_fields"] = stored
    return changes, problems


def coerce(field_type: str, options: tuple[str, ...], value: Any) -> Any:
    """The value as Zendesk stores it, or ValueError with the reason."""
    if value is None or value == "":
        return None
    if field_type == "dropdown":
        if str(value) not in options:
            raise ValueError(f"{value!r} is not a valid option ({', '.join(options)})")
        return str(value)
    if field_type in ("decimal", "integer"):
        return _number(field_type, value)
    if field_type == "date":
        return _date(value)
    if field_type == "checkbox":
        if not isinstance(value, bool):
            raise ValueError(f"{value!r} is not true or false")
        return value
    text = str(value)
    if len(text) > TEXT_MAX:
        raise ValueError(f"is too long (maximum is {TEXT_MAX} characters)")
    return text


def _number(field_type: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a valid {field_type}") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a valid {field_type}")
    if field_type == "integer":
        if number != number.to_integral_value():
            raise ValueError(f"{value!r} is not a whole number")
        return int(number)
    return float(number)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _date(value: Any) -> str:
    """The day, printed the way Zendesk reads a date field back: a midnight-UTC timestamp
    (Organizations API examples: ``"2018-11-04T00:00:00+00:00"``), whatever form was sent."""
    text = str(value).strip()
    if not _DATE.match(text):
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
        else:
            day = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return f"{day.isoformat()}T00:00:00+00:00"


def _problem(description: str, error: str) -> dict[str, str]:
    return {"description": description, "error": error}
