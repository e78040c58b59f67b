"""Intercom JSON <-> dealbridge records: identity, writable values, update bodies.

Field paths (what mappings write):

* ``custom_attributes.<name>`` on companies and contacts, ``<name>`` being the attribute's
  ``name`` in ``GET /data_attributes`` (FACTS.md §6.1);
* ``notes`` on contacts when the note lives in contact notes (``note_place: contact_note``):
  the text of the newest note dealbridge's admin added (see ``contact_notes``).

Identity (FACTS.md §4.1, §5.1): a company's ``company_id`` (yours) is its external id and the
host of its ``website`` its domain; a contact's ``external_id`` and ``email``. Timestamps are
Unix seconds.

``CustomerRecord.version`` is a digest of the record's custom attributes: Intercom has no ETag
or change counter (§5.6, §9), and ``updated_at`` also moves for activity that changes none of
the values dealbridge writes, so the digest says exactly "the values we plan on changed".
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.record_values import (
    field_value,
    identity_value,
    object_value,
    record_key,
    text_value,
    unix_time,
)

COMPANY, CONTACT = "company", "contact"
KINDS = (COMPANY, CONTACT)
PLURAL = {COMPANY: "companies", CONTACT: "contacts"}
CUSTOM_PREFIX = "custom_attributes."
NOTES_PATH = "notes"


class UnwritablePath(ValueError):
    """A change names a path this record kind cannot take (reported per record)."""


def custom_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The record's custom attributes (an absent or null map is empty)."""
    return dict(object_value(raw.get("custom_attributes"), "custom_attributes"))


def writable_values(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Current values of every writable path, keyed the way mappings write them."""
    fields: dict[str, Any] = {}
    for name, value in custom_values(raw).items():
        path = CUSTOM_PREFIX + name
        fields[path] = field_value(value, path)
    return fields


def version_of(raw: Mapping[str, Any]) -> str:
    """A digest of the custom attributes: moves when any of them changes, and only then."""
    values = raw.get("custom_attributes")  # as sent: a digest never refuses (the reader does)
    values = {} if values is None else values
    text = json.dumps(values, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def company_record(raw: Mapping[str, Any]) -> CustomerRecord:
    """A company: ``company_id`` as external id, the website's host as its domain."""
    ref = RecordRef(kind=COMPANY, id=record_id(raw))
    name = text_value(raw.get("name"), "name")
    external_id = identity_value(raw.get("company_id"), "company_id")
    domain = website_domain(text_value(raw.get("website"), "website"))
    return CustomerRecord(
        ref=ref,
        name=name.strip(),
        external_id=external_id,
        domains=(domain,) if domain else (),
        fields=writable_values(raw),
        updated_at=unix_time(raw.get("updated_at")),
        version=version_of(raw),
    )


def contact_record(raw: Mapping[str, Any], *, notes: str | None = None) -> CustomerRecord:
    """A contact: ``external_id`` and ``email``; ``notes`` when the note lives in notes."""
    ref = RecordRef(kind=CONTACT, id=record_id(raw))
    name = text_value(raw.get("name"), "name")
    external_id = identity_value(raw.get("external_id"), "external_id")
    email = text_value(raw.get("email"), "email").strip()
    fields = writable_values(raw)
    if notes is not None:
        fields[NOTES_PATH] = notes
    return CustomerRecord(
        ref=ref,
        name=name.strip(),
        external_id=external_id,
        emails=(email.lower(),) if email else (),
        fields=fields,
        updated_at=unix_time(raw.get("updated_at")),
        version=version_of(raw),
    )


def to_record(kind: str, raw: Mapping[str, Any]) -> CustomerRecord:
    """A company or contact record of ``kind``."""
    return company_record(raw) if kind == COMPANY else contact_record(raw)


def record_id(raw: Mapping[str, Any]) -> str:
    """Intercom's own id (a string; never ``company_id`` or ``external_id``)."""
    return record_key(raw.get("id"))


def split_changes(kind: str, fields: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """``(custom attribute values by name, the note text or None)`` of one change.

    Raises :class:`UnwritablePath` for a path dealbridge does not write on ``kind``."""
    attributes: dict[str, Any] = {}
    note: str | None = None
    for path, value in fields.items():
        name = path.removeprefix(CUSTOM_PREFIX)
        if path.startswith(CUSTOM_PREFIX) and name:
            attributes[name] = value
        elif path == NOTES_PATH and kind == CONTACT:
            note = "" if value is None else str(value)
        elif path == NOTES_PATH:
            raise UnwritablePath(
                "Intercom companies take no notes through the API (FACTS.md §7.3): keep the "
                "note in a company custom attribute (note.field: custom_attributes.<name>)"
            )
        else:
            raise UnwritablePath(
                f"{kind} has no path {path!r} dealbridge writes; write custom_attributes.<name>"
                + (" or notes" if kind == CONTACT else "")
            )
    return attributes, note


def stored_values(raw: Mapping[str, Any], paths: Any) -> dict[str, Any]:
    """The written paths' values as Intercom stored them (from the PUT answer)."""
    custom = raw.get("custom_attributes")
    custom = custom if isinstance(custom, dict) else {}
    return {
        path: field_value(custom.get(path.removeprefix(CUSTOM_PREFIX)), path)
        for path in paths
        if path != NOTES_PATH
    }


def website_domain(website: Any) -> str | None:
    """``https://www.Acme.example/about`` -> ``acme.example`` (None for no website)."""
    text = _text(website)
    if text is None:
        return None
    host = text.lower().split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0]
    host = host.removeprefix("www.").strip(".")
    return host or None


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None
