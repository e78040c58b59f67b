"""Reading a canonical value as the type a desk field takes: yes/no, a date, a number.

Each reader answers None for a value it cannot read; the connector turns that into its own
refusal, naming the field and what it takes (the value is that record's problem, not a bug).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

T = TypeVar("T")


def read_boolean(value: Any) -> bool | None:
    """A boolean, or the text ``true``/``false`` in any case; None for anything else."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return text == "true" if text in ("true", "false") else None


def read_date(value: Any) -> date | None:
    """A date, a datetime's date (an aware one in UTC), or ``YYYY-MM-DD`` text (a longer ISO
    timestamp is cut to its date); None for anything else."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return None


def read_number(value: Any) -> Decimal | None:
    """A finite number from a number or numeric text; None for booleans and anything else."""
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def or_refuse(value: T | None, refusal: Exception) -> T:
    """``value`` when a reader could read it; otherwise the connector's ``refusal`` is raised
    (built by the caller, naming the field and what it takes)."""
    if value is None:
        raise refusal
    return value
