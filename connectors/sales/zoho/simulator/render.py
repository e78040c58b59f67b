"""Stored records as Zoho's APIs show them (FACTS.md §3.3, §3.4, §4.5).

* List API: lookups are ``{"name", "id"}`` (the owner also ``email``); a lookup to a deleted
  record keeps its id and last name (§7.2, as modelled); datetimes carry the org's offset.
* COQL: a selected lookup is ``{"id"}`` only; ``Account_Name.Website`` is a flat key holding the
  related record's value, null when that record is gone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.sales.zoho.simulator.org import Org, Record

USER_FIELDS = ("id", "email", "full_name", "first_name", "last_name")
"""Users fields a COQL traversal through an owner lookup may read [unverified, §11]."""


def stored(record: Record, api_name: str) -> Any:
    """A field's stored value (the system times live on the record itself)."""
    if api_name == "Modified_Time":
        return record.modified
    if api_name == "Created_Time":
        return record.created
    if api_name == "id":
        return record.id
    return record.values.get(api_name)


def list_value(org: Org, module: str, api_name: str, record: Record) -> Any:
    """One field as the list API renders it."""
    value = stored(record, api_name)
    definition = org.field(module, api_name)
    kind = definition["data_type"] if definition else ""
    if value is None:
        return None
    if kind == "ownerlookup":
        user = org.users.get(str(value))
        if user is None:
            return {"name": None, "id": str(value)}
        return {"name": user.full_name, "id": user.id, "email": user.email}
    if kind == "lookup":
        target = org.lookup_module(module, api_name) or ""
        related = org.any_state(target, str(value))
        name = org.display_name(target, related) if related else None
        return {"name": name, "id": str(value)}
    return plain(org, value)


def coql_value(org: Org, module: str, api_name: str, record: Record) -> Any:
    """One selected column of the record itself, as COQL renders it."""
    value = stored(record, api_name)
    definition = org.field(module, api_name)
    if value is not None and definition and definition["data_type"] in ("lookup", "ownerlookup"):
        return {"id": str(value)}
    return plain(org, value)


def traverse(org: Org, module: str, record: Record, lookup: str, name: str) -> Any:
    """``lookup.name`` through a lookup: the live related record's value, else null."""
    value = stored(record, lookup)
    target = org.lookup_module(module, lookup)
    if value is None or target is None:
        return None
    if target == "users":
        user = org.users.get(str(value))
        return getattr(user, name, None) if user and name in USER_FIELDS else None
    related = org.get(target, str(value))
    return plain(org, stored(related, name)) if related else None


def plain(org: Org, value: Any) -> Any:
    """Datetimes in the org's offset; everything else as stored (copied)."""
    if isinstance(value, datetime):
        return org.render_time(value)
    if isinstance(value, list):
        return list(value)
    return value
