"""Freshdesk JSON <-> dealbridge records: identity, writable field values, update bodies.

Field paths (what mappings write):

* ``description`` on companies and contacts, ``note`` on companies only (both shown to agents
  on the ticket sidebar and profile pages);
* ``custom_fields.<name>`` where ``<name>`` is the field's ``name`` from
  ``/api/v2/company_fields`` or ``/api/v2/contact_fields`` (the demo uses ``cf_`` names).

Payloads are read defensively: ids may arrive as strings, ``custom_fields`` may be missing or
(in older payloads, python-freshdesk's fixtures) spelt ``custom_field``, dates may carry any
UTC offset or be null.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.jsonvalue import json_value
from connectors.record_values import (
    field_value,
    identity_value,
    iso_time,
    object_value,
    record_key,
    text_list,
    text_value,
)

COMPANY, CONTACT = "company", "contact"
KINDS = (COMPANY, CONTACT)
PLURAL = {COMPANY: "companies", CONTACT: "contacts"}
CUSTOM_PREFIX = "custom_fields."
TOP_LEVEL_FIELDS: dict[str, frozenset[str]] = {
    COMPANY: frozenset({"description", "note"}),
    CONTACT: frozenset({"description"}),
}
"""The built-in fields dealbridge writes; anything else is a custom field."""


class UnwritablePath(ValueError):
    """A change names a field this record kind does not have (reported per record)."""


def custom_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The record's custom field map, whatever spelling or null the payload used."""
    name = "custom_fields" if raw.get("custom_fields") is not None else "custom_field"
    return dict(object_value(raw.get(name), name))


def writable_values(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Current values of every writable path, keyed the way mappings write them."""
    fields = {name: field_value(raw.get(name), name) for name in sorted(TOP_LEVEL_FIELDS[kind])}
    for key, value in custom_values(raw).items():
        path = CUSTOM_PREFIX + key
        fields[path] = field_value(value, path)
    return fields


def company_record(raw: Mapping[str, Any], customer_number_field: str) -> CustomerRecord:
    """A company for the identity index; its customer number lives in a custom field."""
    number = custom_values(raw).get(customer_number_field)
    return CustomerRecord(
        ref=RecordRef(kind=COMPANY, id=record_id(raw)),
        name=text_value(raw.get("name"), "name"),
        external_id=identity_value(number, CUSTOM_PREFIX + customer_number_field),
        domains=text_list(raw.get("domains"), "domains"),
        fields=writable_values(COMPANY, raw),
        updated_at=iso_time(raw.get("updated_at")),
    )


def contact_record(raw: Mapping[str, Any], *, deleted: bool = False) -> CustomerRecord:
    """A contact for the identity index: primary and other emails, ``unique_external_id``."""
    email = text_value(raw.get("email"), "email")
    emails = text_list([email, *text_list(raw.get("other_emails"), "other_emails")], "email")
    return CustomerRecord(
        ref=RecordRef(kind=CONTACT, id=record_id(raw)),
        name=text_value(raw.get("name"), "name"),
        external_id=identity_value(raw.get("unique_external_id"), "unique_external_id"),
        emails=emails,
        fields=writable_values(CONTACT, raw),
        updated_at=iso_time(raw.get("updated_at")),
        deleted=deleted or raw.get("deleted") is True,
    )


def record_id(raw: Mapping[str, Any]) -> str:
    """Freshdesk ids are integers; some payloads send them as strings or floats."""
    return record_key(raw.get("id"))


def update_body(kind: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body carrying only the changed fields; ``None`` clears a field."""
    body: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for path, value in fields.items():
        if path.startswith(CUSTOM_PREFIX) and "." not in path.removeprefix(CUSTOM_PREFIX):
            custom[path.removeprefix(CUSTOM_PREFIX)] = json_value(value)
        elif path in TOP_LEVEL_FIELDS[kind]:
            body[path] = json_value(value)
        else:
            writable = ", ".join(sorted(TOP_LEVEL_FIELDS[kind])) + ", custom_fields.<name>"
            raise UnwritablePath(f"{kind} has no writable field {path!r} (writable: {writable})")
    if custom:
        body["custom_fields"] = custom
    return body


def stored_values(kind: str, stored: Mapping[str, Any], paths: Any) -> dict[str, Any]:
    """The written paths' values as Freshdesk stored them (read back from the PUT answer)."""
    custom = stored.get("custom_fields")
    custom = custom if isinstance(custom, dict) else stored.get("custom_field")
    custom = custom if isinstance(custom, dict) else {}
    return {
        path: field_value(
            stored.get(path)
            if path in TOP_LEVEL_FIELDS[kind]
            else custom.get(path.removeprefix(CUSTOM_PREFIX)),
            path,
        )
        for path in paths
    }


def path_of(error_field: str | None, sent: Mapping[str, Any]) -> str | None:
    """Freshdesk names custom fields bare (``cf_x``); give the path the mapping used."""
    if error_field is None:
        return None
    if CUSTOM_PREFIX + error_field in sent:
        return CUSTOM_PREFIX + error_field
    return error_field
