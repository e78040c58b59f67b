"""Typing raw source values into canonical ones, and normalising values for comparison.

Sources disagree on shapes: Salesforce sends numbers as numbers, HubSpot sends every property
as a string, spreadsheets send whatever a person typed. Each converter accepts the reasonable
forms and raises ``ValueError`` with a message an admin can act on.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.record_values import as_utc, unix_ms_time

_TRUE = {"true", "yes", "y", "1", "x", "on"}
_FALSE = {"false", "no", "n", "0", "", "off"}


def to_text(value: Any) -> str:
    """Any scalar as trimmed text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


LARGEST = Decimal("1e18")
"""Numbers this large are refused: no discount, amount or count in a deal's terms comes near
it, and such a number is cheap to type (``1e999999999``) but written to a desk as an integer
of as many digits."""

_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
"""Commas as thousands separators: ``1,200`` and ``12,500,000.50``, never ``7,5``."""


def to_decimal(value: Any) -> Decimal:
    """``12``, ``"12.5"``, ``"1,200.00"`` -> Decimal; bools, infinities, NaN and numbers past
    :data:`LARGEST` are refused, and so is a comma that does not group thousands (``"7,5"``
    is seven and a half where a comma marks decimals: reading it as 75 would be wrong)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is a yes/no value, not a number")
    if isinstance(value, int | Decimal):
        return _checked(Decimal(value), value)
    if isinstance(value, float):
        return _checked(Decimal(repr(value)), value)
    return _number_of(str(value).strip().replace(" ", ""), value)


def _number_of(text: str, value: Any) -> Decimal:
    """``text`` as a number; errors name ``value``, what the source said."""
    try:
        number = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if "," in text and not _GROUPED.fullmatch(text):
        raise ValueError(
            f"{value!r} is not a number: a comma may only group thousands (1,200.50); "
            "write decimals with a dot"
        )
    return _checked(number, value)


def _checked(number: Decimal, value: Any) -> Decimal:
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number")
    # adjusted(): the leading digit's power of ten, asked without arithmetic (abs() of
    # 1e999999999 would itself overflow the decimal context)
    if number and number.adjusted() >= LARGEST.adjusted():
        raise ValueError(f"{value!r} is too large a number for deal terms")
    return number


def to_percent(value: Any) -> Decimal:
    """Percent points: ``15``, ``"15%"`` and ``"15.0"`` all mean fifteen percent."""
    text = str(value).strip() if isinstance(value, str) else value
    if isinstance(text, str) and text.endswith("%"):
        text = text[:-1]
    number = to_decimal(text)
    if not Decimal(0) <= number <= Decimal(100):
        raise ValueError(f"{value!r} is outside 0-100 percent")
    return number.normalize() if number == number.to_integral() else number


# Compiled once: these run per value of every deal and every compared field.
_CURRENCY_CODE = re.compile(r"^([A-Za-z]{3})?(.*?)([A-Za-z]{3})?$")
"""A three-letter currency code (``USD 1,200``, ``1200 eur``) on either side of an amount."""
_MAGNITUDES = frozenset({"mio", "mil", "mln", "mrd", "bln", "tsd"})
"""Three letters that scale a number rather than name a currency: refused, not dropped."""
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")
_MIDNIGHT = re.compile(r"\d{4}-\d{2}-\d{2}T00:00:00(\.0+)?(Z|[+-]00:?00)?")


def to_money(value: Any) -> Decimal:
    """An amount: a number, optionally with a currency sign (``$``, ``€``) or a three-letter
    code around it, to the cent. Any other letter is refused rather than dropped: ``12k``
    and ``1e3`` are not 12 and 13."""
    if not isinstance(value, str):
        return to_decimal(value).quantize(_CENT)
    text = "".join(c for c in value if not c.isspace() and unicodedata.category(c) != "Sc")
    code = _CURRENCY_CODE.fullmatch(text)
    if code is not None and not {(code[1] or "").lower(), (code[3] or "").lower()} & _MAGNITUDES:
        text = code[2]
    if any(c.isalpha() for c in text):
        raise ValueError(
            f"{value!r} is not an amount; write the number with an optional currency sign or "
            "code, such as 1,200.50 or USD 1200"
        )
    return _number_of(text, value).quantize(_CENT)


_CENT = Decimal("0.01")


def to_date(value: Any) -> date:
    """ISO dates, ISO datetimes (date part) and epoch milliseconds (HubSpot)."""
    if isinstance(value, datetime):
        return _in_utc(value, value, "a date").date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if text.isdigit() and len(text) >= 12:
        return _from_epoch_ms(text, value, "a date").date()
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError(f"{value!r} is not a date; expected YYYY-MM-DD") from None


def to_datetime(value: Any) -> datetime:
    """ISO datetimes (``Z``, ``+0000`` and ``+00:00`` offsets) and epoch ms -> aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.isdigit() and len(text) >= 12:
        return _from_epoch_ms(text, value, "a date-time")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a date-time; expected ISO 8601") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _from_epoch_ms(digits: str, value: Any, what: str) -> datetime:
    """Epoch milliseconds as a UTC moment; a count no calendar date has is a ValueError that
    says so, like any other unreadable value."""
    moment = unix_ms_time(digits)
    if moment is None:
        raise ValueError(
            f"{value!r} is not {what}: as epoch milliseconds it is outside the years 1-9999"
        )
    return moment


def _in_utc(moment: datetime, value: Any, what: str) -> datetime:
    in_utc = as_utc(moment)
    if in_utc is None:  # year 1 at +01:00, year 9999 at -01:00
        raise ValueError(f"{value!r} is not {what}: in UTC it is outside the years 1-9999")
    return in_utc


def to_bool(value: Any) -> bool:
    """true/false, yes/no, 1/0, x (a ticked spreadsheet cell)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no; write true or false")


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": to_text,
    "decimal": to_decimal,
    "percent": to_percent,
    "money": to_money,
    "date": to_date,
    "datetime": to_datetime,
    "bool": to_bool,
}


def normalize_domain(value: str) -> str:
    """``https://www.Acme.example/about`` -> ``acme.example``; emails give their domain."""
    text = value.strip().lower()
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" in text:  # (``_SCHEME`` cannot match without it)
        text = _SCHEME.sub("", text)
    text = text.split("/", 1)[0].split(":", 1)[0].split("?", 1)[0]
    return text.removeprefix("www.").strip(".")


def normalize_identity(match: str, value: str) -> str:
    """The form an identity value is indexed and looked up in (case-insensitive everywhere)."""
    if match == "domain":
        return normalize_domain(value)
    return value.strip().lower()


def to_target(value: Any) -> Any:
    """A canonical value as JSON a service desk accepts (dates ISO, lists comma-joined)."""
    if type(value) is str:  # the common case (payment terms, SLA text): asked first
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral() else float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or None
    return value


def same_value(left: Any, right: Any) -> bool:
    """Compare a value we wrote with what the target reports, ignoring harmless reformatting."""
    return comparable(left) == comparable(right)


def comparable(value: Any) -> str | None:
    """Canonical text of a value: numbers normalised, empties unified, dates as ISO."""
    if type(value) is str:  # the common case: desks report most values as text
        if len(value) <= _SHORT_TEXT:
            return _comparable_short_text(value)
        return _comparable_text(value)
    if value is None or value == []:
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return _comparable_number(value)
    return _comparable_text(str(value))


def _comparable_number(value: int | float | Decimal) -> str:
    if type(value) is int:  # a discount's write form, a desk's whole numbers: few a run
        return _comparable_int(value)
    return _number_text(Decimal(repr(value)) if isinstance(value, float) else Decimal(value))


_SHORT_TEXT = 64
"""Texts up to this long are remembered: the same few values (a discount, a payment term, a
date) are compared for every customer of a run, and a long text is rarely seen twice."""


def _comparable_text(value: str) -> str | None:
    if value == "":
        return None
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return _number_text(Decimal(text))
    if _MIDNIGHT.fullmatch(text):
        return text[:10]
    return text


_comparable_short_text = functools.lru_cache(maxsize=4096)(_comparable_text)


def _number_text(number: Decimal) -> str:
    normal = number.normalize()
    return format(normal, "f") if normal == normal.to_integral() else str(normal)


@functools.lru_cache(maxsize=4096)
def _comparable_int(value: int) -> str:
    """An int's canonical text, remembered (only ever asked with an exact int: ``True``
    equals ``1`` as a key, and reads ``true``)."""
    return _number_text(Decimal(value))
