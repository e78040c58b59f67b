"""Identity values read out of a vendor's record: ids, numbers, emails and domain names as
clean text, whatever JSON type the vendor chose for them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


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
