"""Data attributes: the workspace's catalog, and what a write of custom attributes may carry.

Modelled (connectors/service/intercom/FACTS.md):

* §6.1: ``data_attribute`` objects for built-in and custom attributes per model; a list
  attribute is a ``string`` attribute with ``options``; archived ones are listed only with
  ``include_archived=true``.
* §6.2a: a value for a custom attribute that does not exist (or is archived) is refused with
  400 ``parameter_invalid``; nothing of that request is stored.
* §6.4: attribute names must not hold ``.`` or ``$``; values are strings, numbers or booleans,
  never objects or arrays (refused the same way).

Not enforced, because Intercom's behaviour is not documented (FACTS.md Gaps): a list value
outside the options (§6.5) and a string over 255 characters (§6.4) are stored as sent. The
connector must check both itself; its tests show it never sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LIST_OPTIONS = ("Net 30", "Net 45", "Net 60")

BUILT_INS: dict[str, tuple[tuple[str, str, str, bool], ...]] = {
    "company": (
        ("name", "name", "string", True),
        ("company_id", "company_id", "string", False),
        ("website", "website", "string", True),
        ("industry", "industry", "string", True),
        ("size", "size", "integer", True),
        ("monthly_spend", "monthly_spend", "float", True),
        ("name", "plan.name", "string", False),
        ("user_count", "user_count", "integer", False),
        ("created_at", "created_at", "date", False),
        ("updated_at", "updated_at", "date", False),
    ),
    "contact": (
        ("name", "name", "string", True),
        ("email", "email", "string", True),
        ("phone", "phone", "string", True),
        ("external_id", "external_id", "string", True),
        ("role", "role", "string", False),
        ("created_at", "created_at", "date", False),
        ("updated_at", "updated_at", "date", False),
    ),
}
"""(name, full_name, data_type, api_writable) of the built-ins the simulator lists."""

DEMO_CUSTOM: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "company": (
        ("dealbridge_terms", "string", ()),
        ("special_discount", "float", ()),
        ("payment_terms", "string", LIST_OPTIONS),
        ("terms_valid_until", "string", ()),
        ("sla_promise", "string", ()),
        ("seats", "integer", ()),
        ("strategic", "boolean", ()),
        ("renewal_date", "date", ()),
    ),
    "contact": (
        ("dealbridge_terms", "string", ()),
        ("special_discount", "float", ()),
        ("payment_terms", "string", LIST_OPTIONS),
    ),
}
"""(name, data_type, options) of the demo workspace's custom attributes."""


class AttributeError400(ValueError):
    """A custom attribute write Intercom refuses with 400 ``parameter_invalid``."""


def built_in(
    kind: str, name: str, full_name: str, data_type: str, writable: bool
) -> dict[str, Any]:
    """A built-in attribute's ``data_attribute`` object."""
    return {
        "type": "data_attribute",
        "name": name,
        "full_name": full_name,
        "label": name.replace("_", " ").capitalize(),
        "description": f"The {kind}'s {name.replace('_', ' ')}",
        "data_type": data_type,
        "api_writable": writable,
        "ui_writable": False,
        "messenger_writable": True,
        "custom": False,
        "archived": False,
        "model": kind,
    }


def custom(
    kind: str, name: str, data_type: str, options: tuple[str, ...], *, ident: int, now: int
) -> dict[str, Any]:
    """A custom attribute's ``data_attribute`` object (``options`` for list attributes)."""
    item: dict[str, Any] = {
        "id": ident,
        "type": "data_attribute",
        "name": name,
        "full_name": f"custom_attributes.{name}",
        "label": name.replace("_", " ").capitalize(),
        "description": f"{name} (custom)",
        "data_type": data_type,
        "api_writable": True,
        "ui_writable": True,
        "messenger_writable": False,
        "custom": True,
        "archived": False,
        "admin_id": "991200001",
        "created_at": now,
        "updated_at": now,
        "model": kind,
    }
    if options:
        item["options"] = list(options)
    return item


def check_custom_values(values: Any, defined: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The custom attribute values of a write, or :class:`AttributeError400` (§6.2a, §6.4)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise AttributeError400("custom_attributes must be an object")
    for name, value in values.items():
        if "." in name or "$" in name:
            raise AttributeError400(f"Custom attribute name '{name}' may not contain '.' or '$'")
        attribute = defined.get(name)
        if attribute is None or attribute.get("archived"):
            raise AttributeError400(f"Custom attribute '{name}' does not exist")
        if isinstance(value, dict | list):
            raise AttributeError400(
                f"Custom attribute '{name}' takes a string, number or boolean, not an "
                f"{'object' if isinstance(value, dict) else 'array'}"
            )
    return dict(values)
