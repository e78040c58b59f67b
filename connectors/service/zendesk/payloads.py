"""Zendesk JSON <-> dealbridge records: identity, writable field values, update rows.

Field paths (what mappings write), per record kind:

* ``notes`` and ``details``: built-in free-text fields on organizations and users, shown to
  agents on the profile sidebar and updatable in place;
* ``organization_fields.<key>`` / ``user_fields.<key>``: custom fields keyed by the field
  ``key`` that ``/api/v2/organization_fields`` and ``/api/v2/user_fields`` report.

Payloads are read defensively: ids may arrive as strings, custom field maps may be null,
timestamps may carry any offset or be missing.

Date custom fields are written as ``YYYY-MM-DD`` but Zendesk prints them back as midnight-UTC
timestamps (``"2018-11-04T00:00:00+00:00"`` in the Organizations API examples; the User Fields
write example sends ``"2019-07-23T00:00:00Z"``). Custom values in that exact midnight-UTC shape
are reported as the calendar day, on reads and in write results alike, so what a write
reports is what the next read returns (the stored base then equals the next read). Telling
the shape rather than the field type apart costs no field-definition request on reads; a text
field holding exactly a midnight-UTC timestamp reads as its day too, which the engine already
treats as the same value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.jsonvalue import json_value
from connectors.record_values import (
    clean_list,
    field_value,
    identity_value,
    iso_time,
    object_value,
    record_key,
    shown,
    text_list,
    text_value,
    unix_time,
)

ORGANIZATION, USER = "organization", "user"
KINDS = (ORGANIZATION, USER)
PLURAL = {ORGANIZATION: "organizations", USER: "users"}
CUSTOM = {ORGANIZATION: "organization_fields", USER: "user_fields"}
BUILT_INS = ("notes", "details")
PRINTED_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})T00:00:00(?:\.0+)?(?:Z|\+00:?00)")
"""How Zendesk prints a date custom field: midnight UTC, ``Z`` or ``+00:00``."""


class UnwritablePath(ValueError):
    """A change names a field this record kind does not have (reported per record)."""


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 (``Z`` or offset) or unix seconds -> aware UTC; garbage -> None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return unix_time(value)
    return iso_time(value)


def record_id(raw: Mapping[str, Any]) -> str:
    """Zendesk ids are integers; some payloads send them as strings or floats
    (:class:`~connectors.record_values.MalformedRecord` for anything else)."""
    return record_key(raw.get("id"))


def custom_value(value: Any) -> Any:
    """A custom field value in canonical form: a printed date (midnight UTC) as its day."""
    if (
        isinstance(value, str)
        and "T00:00:00" in value  # the regex's cheap precondition, asked in C first
        and (printed := PRINTED_DATE.fullmatch(value.strip()))
    ):
        return printed.group(1)
    return value


_PREFIX = {kind: f"{custom}." for kind, custom in CUSTOM.items()}
_PATHS: dict[str, dict[str, str]] = {kind: {} for kind in CUSTOM}
"""Custom field paths by key, per kind: every record of an account carries the same few
dozen keys, so each record's field names are the same text objects, not new joins."""
PATHS_KEPT = 1_000
"""Keys kept per kind (a hostile answer's keys beyond this are joined every time)."""


def writable_values(kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Current values of every writable path, keyed the way mappings write them."""
    # BUILT_INS spelt out: every organization's record passes here (a comprehension is a
    # function call of its own)
    fields: dict[str, Any] = {
        "notes": field_value(raw.get("notes"), "notes"),
        "details": field_value(raw.get("details"), "details"),
    }
    custom = object_value(raw.get(CUSTOM[kind]), CUSTOM[kind])
    paths = _PATHS[kind]
    for key, value in custom.items():
        path = paths.get(key)
        if path is None:
            path = _PREFIX[kind] + key
            if len(paths) < PATHS_KEPT:
                paths[key] = path
        fields[path] = custom_value(value) if type(value) is str else field_value(value, path)
    return fields


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
"""What ``json_value`` returns unchanged, asked before calling it: the plain text and numbers
almost every written field holds."""


_VALIDATE_RECORD = CustomerRecord.__pydantic_validator__.validate_python


def _record(values: dict[str, Any]) -> CustomerRecord:
    """``CustomerRecord(**values)``, its ``ref`` given as a dict: the same validation, made in
    one call into pydantic-core instead of through two models' Python ``__init__``s (every
    record an export page or a read brings passes here; about 1 us of its 8)."""
    record: CustomerRecord = _VALIDATE_RECORD(values)
    return record


NO_REFS: Mapping[str, RecordRef] = {}


def _ref(kind: str, raw: Mapping[str, Any], asked: Mapping[str, RecordRef]) -> Any:
    """The record's ``ref``: the one it was asked for by (``asked``, by id, all of ``kind``)
    when there is one, the same value; else as a dict for the record's validation to make."""
    record = record_id(raw)
    ref = asked.get(record)
    return {"kind": kind, "id": record} if ref is None else ref


def organization_record(
    raw: Mapping[str, Any], asked: Mapping[str, RecordRef] = NO_REFS
) -> CustomerRecord:
    """An organization for the identity index: external id, domain names, name. ``asked``:
    the refs a read asked for, by id; a record's own is taken as its ``ref`` (a ``ref``
    validated again per record cost a third of the record's validation)."""
    return _record(
        {
            "ref": _ref(ORGANIZATION, raw, asked),
            "name": text_value(raw.get("name"), "name"),
            "external_id": identity_value(raw.get("external_id"), "external_id"),
            "domains": text_list(raw.get("domain_names"), "domain_names"),
            "fields": writable_values(ORGANIZATION, raw),
            "updated_at": parse_time(raw.get("updated_at")),
            "deleted": raw.get("deleted_at") is not None,
        }
    )


def user_record(
    raw: Mapping[str, Any],
    identities: Sequence[Mapping[str, Any]] = (),
    asked: Mapping[str, RecordRef] = NO_REFS,
) -> CustomerRecord:
    """An end-user: primary email plus the addresses of its email ``identities`` (side-loaded
    rows, see :func:`identity_emails`); inactive users are deleted (``asked``: as for
    :func:`organization_record`)."""
    more = identity_emails(identities) if identities else ()
    return _record(
        {
            "ref": _ref(USER, raw, asked),
            "name": text_value(raw.get("name"), "name"),
            "external_id": identity_value(raw.get("external_id"), "external_id"),
            "emails": clean_list([text_value(raw.get("email"), "email"), *more]),
            "fields": writable_values(USER, raw),
            "updated_at": parse_time(raw.get("updated_at")),
            "deleted": raw.get("active") is False or raw.get("deleted_at") is not None,
        }
    )


def identity_owner(raw: Mapping[str, Any]) -> str:
    """The user a side-loaded identity row belongs to (its ``user_id``;
    :class:`~connectors.record_values.MalformedRecord` when that is no id)."""
    return record_key(raw.get("user_id"), "user_id")


def identity_emails(identities: Iterable[Mapping[str, Any]]) -> list[str]:
    """The addresses of a user's email identities. An identity whose ``type`` or email
    ``value`` is not text is refused (:class:`~connectors.record_values.MalformedRecord`,
    naming the identity): its user would otherwise be indexed without that address."""
    emails: list[str] = []
    for identity in identities:
        which = identity.get("id")
        of = f" of identity {shown(which)}" if which is not None else " of an identity"
        if text_value(identity.get("type"), "type" + of) == "email":
            emails.append(text_value(identity.get("value"), "value" + of))
    return emails


def to_record(
    kind: str, raw: Mapping[str, Any], asked: Mapping[str, RecordRef] = NO_REFS
) -> CustomerRecord:
    """A record of either kind (read and show_many answers); ``asked``: the refs of ``kind``
    the read asked for, by id (see :func:`organization_record`)."""
    if kind == ORGANIZATION:
        return organization_record(raw, asked)
    return user_record(raw, (), asked)


_ROUTES: dict[str, dict[str, str]] = {kind: {} for kind in CUSTOM}
"""Where each path a write names goes in an update row, per kind: ``""`` for a built-in
field, else its custom field's key. A mapping writes the same few paths for every record,
so each is worked out once (at most ``PATHS_KEPT`` a kind, as ``_PATHS``)."""


def _route(kind: str, path: str) -> str:
    """``""`` for ``notes`` and ``details``, the key of a custom field path; any other path
    is not writable (:class:`UnwritablePath`)."""
    routes = _ROUTES[kind]
    route = routes.get(path)
    if route is not None:
        return route
    prefix = _PREFIX[kind]
    key = path.removeprefix(prefix)
    if path in BUILT_INS:
        route = ""
    elif path.startswith(prefix) and key and "." not in key:
        route = key
    else:
        writable = f"notes, details, {prefix}<key>"
        raise UnwritablePath(f"{kind} has no writable field {path!r} (writable: {writable})")
    if len(routes) < PATHS_KEPT:
        routes[path] = route
    return route


def planned_update(
    kind: str, record: str, fields: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One ``update_many`` row (``{"id", "notes", "organization_fields": {...}}``), and what a
    write of it reports once Zendesk accepted it: each value as sent, in the form a read gives
    it back (custom dates as the day), keyed and ordered as ``fields``. Both come from one
    JSON form of each value, made once."""
    row: dict[str, Any] = {"id": int(record) if record.isdigit() else record}
    custom: dict[str, Any] = {}
    reported: dict[str, Any] = {}
    routes = _ROUTES[kind]
    for path, value in fields.items():  # every written field of every record passes here
        key = routes.get(path)
        if key is None:
            key = _route(kind, path)
        sent = value if type(value) in _JSON_SCALARS else json_value(value)
        if not key:
            row[path] = reported[path] = sent
        else:
            custom[key] = sent
            reported[path] = custom_value(sent)
    if custom:
        row[CUSTOM[kind]] = custom
    return row, reported


def stored_values(kind: str, stored: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The written paths' values as Zendesk stored them (only those are read: a value of
    the wrong kind in one of them is refused, :class:`MalformedRecord`)."""
    custom = stored.get(CUSTOM[kind])
    custom = custom if isinstance(custom, dict) else {}
    prefix = _PREFIX[kind]
    values: dict[str, Any] = {}
    for path in paths:
        if path.startswith(prefix):
            value = field_value(custom.get(path.removeprefix(prefix)), path)
            values[path] = custom_value(value) if type(value) is str else value
        else:
            values[path] = field_value(stored.get(path), path)
    return values


def path_of(kind: str, field: str | None, sent: Mapping[str, Any]) -> str | None:
    """Zendesk names custom fields by bare key; give the path the mapping used."""
    if field is None:
        return None
    for candidate in (f"{CUSTOM[kind]}.{field}", field):
        if candidate in sent:
            return candidate
    return field
