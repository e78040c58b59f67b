"""Service Cloud JSON <-> dealbridge records, SOQL literals, and values as the API takes them.

Record kinds and the objects behind them: ``account`` is an ``Account`` (a business account,
or a person account where Person Accounts are enabled: ``IsPersonAccount``, FACTS.md 2.2);
``contact`` is a business ``Contact`` (a person account's own contact is reached through its
account, so it is left out). Field paths are bare API names as describe spells them
(``Deal_Terms__c``, ``Special_Discount__c``), the same on either kind.

Identity of a record:

* external id: the configured External ID field (``Customer_Number__c``);
* domains: an account's ``Website`` (the engine reduces it to its host);
* emails: a contact's ``Email``; a person account's ``PersonEmail`` (a business account has
  none: its contacts carry them).

``version`` is ``SystemModstamp`` as Salesforce wrote it: it moves on every save (FACTS.md 6.1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from connectors.coerce import or_refuse, read_boolean, read_date, read_number
from connectors.record_values import (
    MalformedRecord,
    clean_list,
    field_value,
    identity_value,
    record_key,
    text_value,
)
from connectors.service.servicecloud.catalog import NUMBER_TYPES, Column

ACCOUNT, CONTACT = "account", "contact"
KINDS = (ACCOUNT, CONTACT)
SOBJECT = {ACCOUNT: "Account", CONTACT: "Contact"}
STAMP = "SystemModstamp"
PERSON_FLAG = "IsPersonAccount"
ALWAYS = ("Id", "Name", STAMP, "IsDeleted")
"""System fields every read selects, where the object's describe lists them."""


class Unwritable(ValueError):
    """A value this field cannot take (reported for the record, never sent)."""


@dataclass(frozen=True)
class IdentityFields:
    """The fields one kind is found by, as this org spells them (None: the org has none)."""

    external_id: str | None = None
    domain: str | None = None
    email: str | None = None
    person_flag: bool = False
    """The object has ``IsPersonAccount`` (Person Accounts are enabled)."""
    system: tuple[str, ...] = ALWAYS
    exact_external_id: bool = False
    """The external-id field is unique case-sensitive: SOQL compares it exactly."""
    """The :data:`ALWAYS` fields the object's describe lists (an unknown column fails a query)."""

    def select(self) -> list[str]:
        """What an identity read selects."""
        extra = [
            self.external_id,
            self.domain,
            self.email,
            PERSON_FLAG if self.person_flag else None,
        ]
        return list(dict.fromkeys(["Id", *self.system, *(f for f in extra if f)]))

    def field_for(self, match: str) -> str | None:
        """The field an identity rule of this match type is looked up in."""
        return {"external_id": self.external_id, "domain": self.domain, "email": self.email}.get(
            match
        )


def parse_stamp(value: Any) -> datetime | None:
    """``2026-01-02T03:04:05.000+0000`` (or any ISO 8601 form) as aware UTC; junk -> None."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def to_record(
    kind: str, raw: Mapping[str, Any], identity: IdentityFields, fields: Sequence[str] = ()
) -> CustomerRecord:
    """One SOQL row as a customer record; ``fields`` are the writable values to carry."""
    record_id = raw.get("Id")
    if not isinstance(record_id, str):  # Salesforce ids are text: a number is no record's
        raise MalformedRecord("Id", record_id, "a record id (text)")
    record_id = record_key(record_id, "Id")
    name = text_value(raw.get("Name"), "Name")
    external = identity.external_id
    external_id = identity_value(raw.get(external), external) if external else None
    person = raw.get(PERSON_FLAG) is True
    emails: list[str] = []
    if identity.email and (kind == CONTACT or person):
        emails.append(text_value(raw.get(identity.email), identity.email))
    domains = [text_value(raw.get(identity.domain), identity.domain)] if identity.domain else []
    stamp = raw.get(STAMP)
    return CustomerRecord(
        ref=RecordRef(kind=kind, id=record_id),
        name=name,
        external_id=external_id,
        emails=clean_list(emails),
        domains=clean_list(domains),
        fields={path: field_value(raw.get(path), path) for path in fields},
        updated_at=parse_stamp(stamp),
        deleted=raw.get("IsDeleted") is True,
        version=stamp if isinstance(stamp, str) and stamp else None,
    )


def reader(
    kind: str, identity: IdentityFields, fields: Sequence[str] = ()
) -> Callable[[Mapping[str, Any]], CustomerRecord]:
    """:func:`to_record` of one row, for reading a page row by row (``read_each``)."""
    return lambda raw: to_record(kind, raw, identity, fields)


# -- SOQL text --------------------------------------------------------------------------------

_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}


def literal(value: str) -> str:
    """A quoted SOQL string: backslash escapes, never doubled quotes [SOQL reference,
    "Quoted String Escape Sequences"]."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def like_literal(value: str) -> str:
    """A ``LIKE '%value%'`` pattern in which ``%`` and ``_`` of the value match themselves."""
    escaped = "".join(_ESCAPES.get(c, "\\" + c if c in "%_" else c) for c in value)
    return f"'%{escaped}%'"


def datetime_literal(moment: datetime) -> str:
    """A SOQL datetime in UTC, whole seconds rounded down: ``2026-11-23T14:05:00Z``.

    The SOQL reference lists only whole-second forms for WHERE clauses, so a stamp with
    milliseconds is compared through its second (callers drop what they already read)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- values as the API takes them ---------------------------------------------------------------


def _text_value(column: Column, value: Any) -> str:
    if column.type == "multipicklist" and isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, bool | dict | list | tuple):
        raise Unwritable(f"{column.name} takes text, not {type(value).__name__} {value!r}")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _date_value(column: Column, value: Any) -> str:
    return _date(column, value).isoformat()


def _datetime_value(column: Column, value: Any) -> str:
    moment = _datetime(column, value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _number(column: Column, value: Any) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    number = or_refuse(
        read_number(value), Unwritable(f"{column.name} takes a number, not {value!r}")
    )
    return int(number) if number == number.to_integral_value() else float(number)


def _boolean(column: Column, value: Any) -> bool:
    return or_refuse(
        read_boolean(value), Unwritable(f"{column.name} takes true or false, not {value!r}")
    )


def _date(column: Column, value: Any) -> date:
    refusal = Unwritable(f"{column.name} takes a date (YYYY-MM-DD), not {value!r}")
    return or_refuse(read_date(value), refusal)


def _datetime(column: Column, value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else parse_stamp(str(value))
    if moment is None:
        raise Unwritable(f"{column.name} takes a date and time (ISO 8601), not {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


Converter = Callable[[Column, Any], Any]
_CONVERTERS: dict[str, Converter] = {
    **dict.fromkeys(NUMBER_TYPES, _number),
    "boolean": _boolean,
    "date": _date_value,
    "datetime": _datetime_value,
}


def api_value(column: Column, value: Any) -> Any:
    """``value`` in the JSON form ``column`` takes (FACTS.md 3.1 types); Unwritable otherwise."""
    if value is None:
        if not column.nillable:
            raise Unwritable(f"{column.name} is required and cannot be cleared")
        return None
    convert: Converter = _CONVERTERS.get(column.type) or _text_value
    return convert(column, value)


def size_of(column: Column, text: str) -> int:
    """How Salesforce measures ``text`` in this field: UTF-8 bytes for text areas, characters
    for one-line text (FACTS.md 3.2)."""
    return len(text.encode("utf-8")) if column.counts_bytes else len(text)
