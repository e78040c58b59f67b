"""Identity values read out of a vendor's record: ids, numbers, emails and domain names as
clean text, whatever JSON type the vendor chose for them."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple, TypeVar

import structlog

from connectors.base import CustomerRecord, RecordRef

T = TypeVar("T")
log = structlog.get_logger("dealbridge.connectors")


def identity_text(value: Any) -> str | None:
    """A value as trimmed text (``1234.0`` as ``"1234"``: vendors send customer numbers as
    numbers too); None for nothing, booleans and blank text."""
    if value is None or isinstance(value, bool):
        return None
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    return text.strip() or None


def as_list(value: Any) -> list[Any]:
    """A JSON array (or tuple) as a list; anything else as no items."""
    return list(value) if isinstance(value, list | tuple) else []


def clean_list(values: Any) -> tuple[str, ...]:
    """Lower-cased, trimmed, de-duplicated strings (emails, domain names), first seen first;
    anything that is not a string is left out."""
    if not isinstance(values, list | tuple):
        return ()
    cleaned: dict[str, None] = {}  # a plain loop: every desk record passes here, most with one
    for value in values:
        if isinstance(value, str) and (text := value.strip().lower()):
            cleaned[text] = None
    return tuple(cleaned)


def iso_time(value: Any) -> datetime | None:
    """ISO 8601 with ``Z`` or any offset -> aware UTC; naive -> UTC; anything else -> None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return as_utc(parsed)


def as_utc(moment: datetime) -> datetime | None:
    """``moment`` in UTC (a naive one taken as UTC); None when its UTC date is outside the
    calendar's years 1-9999 (year 1 at +01:00, year 9999 at -01:00: ``astimezone`` raises
    OverflowError there, and a vendor's or a person's text can say either)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def unix_time(seconds: Any) -> datetime | None:
    """Seconds since the epoch (an int or float) -> aware UTC; anything else -> None, and
    so is a count outside the calendar's years 1-9999 (``fromtimestamp`` raises
    ``OverflowError``, ``OSError`` or ``ValueError`` for those, by platform)."""
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def unix_ms_time(millis: float | str) -> datetime | None:
    """Epoch milliseconds (a number, or its digits) as a moment; None for a count no calendar
    date has, however it fails: ``int`` of an infinity or of thousands of digits, a float
    division of a huge integer, or ``fromtimestamp`` itself."""
    try:
        return unix_time(int(millis) / 1000)
    except (ValueError, OverflowError):
        return None


def option_values(raw: Any) -> tuple[str, ...]:
    """The values a choice field accepts, from a vendor's option list (``[{"value": ...}]``):
    options marked ``active: false`` and options without a value are left out."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        str(item["value"])
        for item in raw
        if isinstance(item, dict)
        and item.get("active", True)
        and item.get("value") not in (None, "")
    )


# Reading a page of a desk's records, one record at a time ------------------------------------
#
# A desk answers a page of records (an export page, a show_many, a lookup's hits); one record
# a desk (or an integration writing to it) got wrong must not stop the others. The checks
# below refuse a value of the wrong JSON type with :class:`MalformedRecord`, naming the field;
# :func:`read_each` reads a page with them, each malformed record one problem naming the desk,
# the record (by id, or by position when the id itself is bad) and the field.

ID_TEXT_LIMIT = 255
"""Longest record id taken as text (every desk's ids are under 40 characters)."""
ID_NUMBER_LIMIT = 2**64
"""Numeric ids are 64-bit at every desk that has them: a larger one is no record's."""


class MalformedRecord(ValueError):
    """One desk record whose ``field`` holds a value of the wrong kind (``expected``)."""

    def __init__(self, field: str, found: Any, expected: str) -> None:
        self.field = field
        super().__init__(f"field {field} is {shown(found)}, not {expected}")


def shown(value: Any, limit: int = 60) -> str:
    """A JSON value as a short text for a problem message (never fails: ``repr`` of an
    integer of thousands of digits would)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return "a number of more than 60 digits"
    if isinstance(value, Decimal):  # the decoder's form of an integer too long for an int
        return f"a number of {len(value.as_tuple().digits)} digits"
    kind = {dict: "an object ", list: "a list ", float: "the number "}.get(type(value), "")
    text = repr(value)
    return kind + (text if len(text) <= limit else text[: limit - 1] + "…")


def record_key(value: Any, field: str = "id") -> str:
    """A record's id as text: a whole number (also sent as ``7.0``) or non-blank text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if type(value) is int and abs(value) < ID_NUMBER_LIMIT:
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= ID_TEXT_LIMIT:
        return value.strip()
    raise MalformedRecord(field, value, "a record id (a whole number or text)")


def identity_value(value: Any, field: str) -> str | None:
    """:func:`identity_text` of text, a number or null (an external id, a customer
    number); an object, a list, NaN or an infinity is refused."""
    if value is None or type(value) in (str, int, bool):
        return identity_text(value)
    if type(value) is float and math.isfinite(value):
        return identity_text(value)
    raise MalformedRecord(field, value, "text or a number")


def text_value(value: Any, field: str) -> str:
    """A name as text ("" for null); anything but text is refused."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise MalformedRecord(field, value, "text")


def text_list(value: Any, field: str) -> tuple[str, ...]:
    """:func:`clean_list` of a JSON array of texts (null: none); another value, or an item
    that is neither text nor null, is refused."""
    if value is None:
        return ()
    if isinstance(value, list) and all(item is None or isinstance(item, str) for item in value):
        return clean_list(value)
    raise MalformedRecord(field, value, "a list of texts")


def object_value(value: Any, field: str) -> dict[str, Any]:
    """A JSON object ({} for null); anything else is refused."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    raise MalformedRecord(field, value, "an object")


def _plain(value: Any) -> bool:
    kind = type(value)
    return (
        kind is str
        or kind is bool
        or kind is int
        or value is None
        or (kind is float and math.isfinite(value))
    )


def field_value(value: Any, field: str) -> Any:
    """A desk field's value as read, unchanged: text, true/false, null, a finite number or a
    list of those (a multi-select). An object, NaN or an infinity (Python's JSON reads
    ``NaN`` and ``Infinity``; JSON itself, the state store's JSON columns and every desk's
    API have neither) or an integer too long to be one is refused."""
    if _plain(value) or (type(value) is list and all(_plain(item) for item in value)):
        return value
    raise MalformedRecord(field, value, "text, a number, true/false or a list of those")


class RecordProblem(NamedTuple):
    """One record of a page that did not read: its id when that much was readable, and the
    message for the run's report."""

    record: str | None
    message: str


def read_each(
    rows: Iterable[Any],
    read: Callable[[dict[str, Any]], T],
    *,
    desk: str,
    kind: str,
    problems: list[RecordProblem],
    id_field: str = "id",
) -> list[T]:
    """``read(row)`` of every row that is a JSON object and reads; each other row becomes one
    entry of ``problems`` (the desk, the record or its position, the field, what to do), so
    one malformed record leaves the rest of its page as each would read alone."""
    read_rows: list[T] = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            what = f"is {shown(row)}, not an object"
            problems.append(RecordProblem(None, _problem(desk, kind, f"#{position}", what)))
            continue
        try:
            read_rows.append(read(row))
        except ValueError as exc:  # MalformedRecord, or a check a desk's reader makes itself
            record = _readable_id(row, id_field, exc)
            which = f"#{position}" if record is None else record
            what = str(exc).splitlines()[0]
            problems.append(RecordProblem(record, _problem(desk, kind, which, what)))
    return read_rows


def objects(rows: Iterable[Any]) -> list[dict[str, Any]]:
    """The rows of a desk's answer that are JSON objects, for a caller that reads no customer
    record out of them (a catalog listing, a version check, the search for an alert case).
    A page of records goes to :func:`read_each` whole instead, which reports the other rows:
    so a desk client hands its rows on as sent, and only such a caller leaves some out."""
    return [row for row in rows if isinstance(row, dict)]


def _readable_id(row: dict[str, Any], id_field: str, exc: ValueError) -> str | None:
    """The id a problem names its record by; None (its position, then) when the id is what
    was refused, or is no id."""
    if isinstance(exc, MalformedRecord) and exc.field == id_field:
        return None
    try:
        return record_key(row.get(id_field), id_field)
    except MalformedRecord:
        return None


def _problem(desk: str, kind: str, which: str, what: str) -> str:
    where = f"{kind} {which} of the page" if which.startswith("#") else f"{kind} {which}"
    return (
        f"{desk} {where}: {what}; the record was left out "
        f"(correct it at {desk}: the next read takes it)"
    )


def unread_records(
    problems: Iterable[RecordProblem],
    asked: Mapping[str, RecordRef],
    read: Iterable[CustomerRecord],
) -> list[CustomerRecord]:
    """The records a read asked for (``asked``, by id) that did not read, each as a record
    carrying only its ref and its problem (``CustomerRecord.problem``): the engine fails its
    write with the message instead of taking it for a record that no longer exists.

    A problem that names no record (a row that is not an object, or whose id is what was
    wrong) may be any asked record the answer otherwise lacks (``read`` are those that did
    read): each of those carries it, so its write fails naming the desk's fault and the next
    run reads it again, rather than the record being taken for deleted with no word."""
    problems = list(problems)
    unread = {
        problem.record: CustomerRecord(ref=asked[problem.record], problem=problem.message)
        for problem in problems
        if problem.record is not None and problem.record in asked
    }
    unplaced = [problem.message for problem in problems if problem.record is None]
    if unplaced:
        more = f" (and {len(unplaced) - 1} more such rows)" if len(unplaced) > 1 else ""
        message = f"not in the desk's answer but for a row that did not read: {unplaced[0]}{more}"
        accounted = {record.ref.key for record in read} | {r.ref.key for r in unread.values()}
        for record_id, ref in asked.items():
            if ref.key not in accounted:
                unread[record_id] = CustomerRecord(ref=ref, problem=message)
    return list(unread.values())


def log_problems(problems: Iterable[RecordProblem]) -> None:
    """Log the records a lookup left out (their deals stay unmatched, and are reported so)."""
    for problem in problems:
        log.warning("desk_record_unreadable", problem=problem.message)


def unreadable_answer(desk: str, ref: RecordRef, exc: MalformedRecord) -> str:
    """The error of a write the desk accepted whose answer holds a value of the wrong kind
    in a written field: the record fails (and is tried again) rather than such a value
    becoming its stored base."""
    return (
        f"{desk} {ref.kind} {ref.id} was written, but in its answer {exc}; correct it at "
        f"{desk}: the record's next attempt reads it again"
    )
