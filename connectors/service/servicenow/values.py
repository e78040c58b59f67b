"""Values checked against the catalog and written as ServiceNow takes them, and read back.

ServiceNow does not protect its columns through the API: an unknown column in a body is
ignored without a word (FACTS.md 7.4), a value outside a choice list is stored and shown as an
"invalid choice" (6.5), a value over ``max_length`` may be cut without an error (6.4). So every
value is checked here before it is sent, and a value that cannot be written fails its record
with a message naming the column, the value and what to do.

Written forms (FACTS.md 2.1-2.4): every value as a string; ``""`` clears a column, except a
choice column, which an empty value does not clear (doc RESTAPI "Special data handling");
date-times ``YYYY-MM-DD HH:MM:SS`` in UTC (with ``sysparm_input_display_value=false``, the
default, they are taken as GMT); dates ``YYYY-MM-DD``; booleans ``true``/``false``.
Read values come back as strings too; date-times are turned into ISO 8601 UTC so they compare
equal to what the engine wrote.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.coerce import or_refuse, read_boolean, read_date
from connectors.record_values import MalformedRecord
from connectors.service.servicenow.catalog import Column, TableSchema

INTEGER_TYPES = frozenset({"integer", "longint"})
NUMBER_TYPES = frozenset({"decimal", "float", "currency", "price", "percent_complete"})
DATE_TYPES = frozenset({"glide_date"})
DATETIME_TYPES = frozenset({"glide_date_time", "due_date", "date_time"})
BOOLEAN_TYPES = frozenset({"boolean"})
SYS_ID = re.compile(r"^[0-9a-f]{32}$")
STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})$")


class Rejected(ValueError):
    """A value this record cannot have; the message names the column and what to do."""


def encode_fields(schema: TableSchema, fields: Mapping[str, Any]) -> dict[str, str]:
    """The PATCH body for ``fields`` on a record of ``schema.table``; raises ``Rejected`` for
    the first value that cannot be written (nothing of the record is written then)."""
    body: dict[str, str] = {}
    for path, value in fields.items():
        column = schema.column(path)
        if column is None:
            raise _unknown(schema, path)
        body[path] = encode(column, value, schema.table)
    return body


def _unknown(schema: TableSchema, path: str) -> Rejected:
    where = schema.table
    if len(schema.chain) > 1:
        where += f" or its parent tables ({', '.join(schema.chain[1:])})"
    return Rejected(
        f"{path!r} is not a column of {where} in sys_dictionary; ServiceNow would ignore it "
        "without an error, so nothing was written. Fix the write: path in the mapping "
        "(dealbridge validate lists the columns)"
    )


def encode(column: Column, value: Any, table: str) -> str:
    """``value`` as the string ServiceNow stores in ``column``; raises ``Rejected``."""
    where = f"{table}.{column.name}"
    if not column.writable:
        raise Rejected(f"{where} is not writable (system, journal or read-only column)")
    if not column.active:
        raise Rejected(f"{where} is inactive in sys_dictionary (agents cannot see it)")
    if value is None or value == "":
        if column.enforces_choices:
            raise Rejected(
                f"{where} is a choice column, which ServiceNow does not clear through the API; "
                "clear it in ServiceNow, or map the expired terms to one of its choices "
                f"({_listed(column.choices)})"
            )
        return ""
    text = _typed(column, value, where)
    if column.enforces_choices and text not in column.choices:
        raise Rejected(
            f"{text!r} is not a choice of {where} (choices: {_listed(column.choices)}); "
            "ServiceNow would store it as an invalid choice. Add the value to the mapping's "
            "map: or the choice list in ServiceNow"
        )
    if column.max_length is not None and len(text) > column.max_length:
        raise Rejected(
            f"{where} holds {column.max_length:,} characters and the value has {len(text):,}; "
            "ServiceNow may cut it without an error, so nothing was written. If this is the "
            "note, the agents' own text in it leaves too little room: shorten it in ServiceNow"
        )
    return text


def _typed(column: Column, value: Any, where: str) -> str:
    kind = column.internal_type
    if kind in INTEGER_TYPES or kind in NUMBER_TYPES:
        number = _number(value, where)
        if kind in INTEGER_TYPES and number != number.to_integral_value():
            raise Rejected(f"{where} takes whole numbers; {value!r} is not one")
        return _plain(number)
    if kind in BOOLEAN_TYPES:
        return _boolean(value, where)
    if kind in DATE_TYPES:
        return _date(value, where).isoformat()
    if kind in DATETIME_TYPES:
        return _datetime(value, where).strftime("%Y-%m-%d %H:%M:%S")
    if kind == "reference" and not SYS_ID.match(str(value)):
        raise Rejected(f"{where} refers to another record by sys_id; {value!r} is not one")
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


VALUE_MEMBERS = frozenset({"value", "display_value", "link"})
"""What the Table API sends a column as when it sends an object: a reference as ``{"link",
"value"}`` (FACTS.md 2.2), any column as ``{"display_value", "value"}`` with
``sysparm_display_value=all`` (doc TableAPI)."""


def column_value(raw: Any, name: str) -> Any:
    """A column's value as sent: a bare value, or the ``value`` of an object of the documented
    shape (:data:`VALUE_MEMBERS`). Another object (no ``value``, or members ServiceNow does not
    send) is refused, :class:`~connectors.record_values.MalformedRecord` naming the column:
    reading it as its ``value`` (or as null) would take a guess for what the record holds."""
    if isinstance(raw, Mapping):
        if "value" not in raw or not raw.keys() <= VALUE_MEMBERS:
            raise MalformedRecord(name, raw, "a value or a {value, display_value, link} object")
        return raw["value"]
    return raw


def decode(column: Column | None, raw: Any) -> Any:
    """A value as read: references as their sys_id, date-times as ISO 8601 UTC; an object not
    of the documented shape is refused (:func:`column_value`)."""
    raw = column_value(raw, column.name if column is not None else "value")
    if column is not None and column.internal_type in DATETIME_TYPES and isinstance(raw, str):
        match = STAMP.match(raw.strip())
        if match:
            return f"{match.group(1)}T{match.group(2)}+00:00"
    return raw


def same_stored(sent: str, stored: Any, column: Column) -> bool:
    """Whether the instance holds what was sent (numbers compare by value: ``15`` = ``15.00``)."""
    if isinstance(stored, Mapping):
        stored = stored.get("value")
    text = "" if stored is None else str(stored)
    if column.internal_type in INTEGER_TYPES | NUMBER_TYPES and sent and text:
        try:
            return Decimal(sent) == Decimal(text)
        except InvalidOperation:
            return False
    return text == sent


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool):
        raise Rejected(f"{where} takes a number; {value!r} is a yes/no value")
    try:
        return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
    except InvalidOperation:
        raise Rejected(f"{where} takes a number; {value!r} is not one") from None


def _plain(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _boolean(value: Any, where: str) -> str:
    flag = or_refuse(
        read_boolean(value), Rejected(f"{where} takes true or false; {value!r} is neither")
    )
    return "true" if flag else "false"


def _date(value: Any, where: str) -> date:
    return or_refuse(
        read_date(value), Rejected(f"{where} takes a date (YYYY-MM-DD); {value!r} is not one")
    )


def _datetime(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise Rejected(f"{where} takes a date and time; {value!r} is not one") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _listed(choices: tuple[str, ...], most: int = 12) -> str:
    shown = ", ".join(choices[:most])
    return shown + (f", ... ({len(choices)} in all)" if len(choices) > most else "")
