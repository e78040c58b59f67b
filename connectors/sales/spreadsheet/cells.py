"""Cell values as uniform text, and the conservative date reading used for ``modified_at``.

CSV cells are already text. XLSX cells arrive as Python objects (openpyxl, ``data_only``), so
they are rendered the way a person reads them in Excel: dates in ISO form, numbers as plain
decimals at Excel's 15 significant digits (so ``12.499999999999998`` reads ``12.5``), and
percent-formatted numbers as ``12.5%``. The mapping then types every source the same way.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from connectors.record_values import as_utc

EXCEL_DIGITS = 15
"""Excel keeps and shows at most 15 significant digits; anything beyond is float noise."""


def cell_text(value: object, number_format: str | None = None) -> str:
    """One cell as trimmed text; ``None`` (an empty cell) is ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return _number_text(value, percent="%" in (number_format or ""))
    if isinstance(value, date | time):
        return _temporal_text(value)
    return str(value).strip()


def _temporal_text(value: date | time) -> str:
    if isinstance(value, datetime):
        return _datetime_text(value)
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    return value.isoformat()


def _datetime_text(value: datetime) -> str:
    """Midnight means a date-only cell (Excel has no separate date type)."""
    if value.microsecond >= 500_000:  # Excel stores fractions of a day: round, not truncate
        value += timedelta(seconds=1)
    value = value.replace(microsecond=0)
    if value.time() == time(0) and value.tzinfo is None:
        return value.date().isoformat()
    return value.isoformat()


def _number_text(value: float | Decimal, *, percent: bool) -> str:
    """Plain decimal text, never exponent form; a percent cell reads as Excel shows it."""
    as_float = isinstance(value, float)
    number = Decimal(format(value, f".{EXCEL_DIGITS}g")) if as_float else Decimal(value)
    if percent:
        number *= 100
    text = format(number.normalize(), "f")
    return f"{text}%" if percent else text


def parse_modified(text: str, date_format: str | None = None) -> datetime | None:
    """ISO 8601 date or date-time, else ``date_format``; naive values are taken as UTC.

    Returns ``None`` when the text is neither, so the caller can report the cell and fall back.
    Day-first or month-first guesses are never made: ``03/04/2026`` needs ``date_format``.
    """
    text = text.strip()
    if not text:
        return None
    parsed = _iso(text)
    if parsed is None and date_format:
        try:
            parsed = datetime.strptime(text, date_format)  # noqa: DTZ007 - made aware below
        except ValueError:
            return None
    if parsed is None:
        return None
    return as_utc(parsed)


def _iso(text: str) -> datetime | None:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0))
        return datetime.fromisoformat(text)
    except ValueError:
        return None
