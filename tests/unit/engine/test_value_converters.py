"""The converters a mapping types source values with: whatever a rep typed or a vendor sent,
each returns a value or raises ValueError (which the mapping reports against the deal and the
field); nothing else escapes to stop the page, and no typed value is silently misread."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sync_jobs.domain.values import CONVERTERS, LARGEST, to_date, to_decimal, to_money, to_percent

SPECIAL_TEXT = st.sampled_from(
    ["inf", "-Infinity", "NaN", "sNaN", "1e999999999", "-1e999999999", "1e-999999999",
     "0e999999999", "9" * 5000, "99999999999999999999", "253402300800000", "7,5", "1.200,50",
     "12k", "1e3", "USD", "$", "€ 1,200.50", "0001-01-01T00:00:00+01:00", "\ud83d", "\x00"]
)  # fmt: skip
RAW_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**40), 10**40)
    | st.floats()
    | st.decimals()
    | st.text(max_size=12)
    | SPECIAL_TEXT
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5))]))
    | st.dates()
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(CONVERTERS)), raw=RAW_VALUES)
@example(kind="money", raw=float("inf"))
@example(kind="percent", raw="NaN")
@example(kind="date", raw="99999999999999999999")
@example(kind="date", raw=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))))
@example(kind="decimal", raw="1e999999999")
def test_any_raw_value_converts_or_raises_value_error(kind: str, raw: Any) -> None:
    value, refusal = converted(kind, raw)
    if refusal is not None:
        assert refusal  # the mapping shows it to an admin, naming the deal and the field
    elif isinstance(value, Decimal):
        assert value.is_finite()
        assert value.copy_abs() < LARGEST


def converted(kind: str, raw: Any) -> tuple[Any, str | None]:
    """The converter's value, or the text of the ValueError it raised (any other exception
    fails the test)."""
    try:
        return CONVERTERS[kind](raw), None
    except ValueError as error:
        return None, str(error)


FINITE = st.decimals(
    min_value=-LARGEST + 1, max_value=LARGEST - 1, allow_nan=False, allow_infinity=False
)


@given(FINITE)
def test_a_number_with_grouped_thousands_reads_as_itself(number: Decimal) -> None:
    assert to_decimal(f"{number:,f}") == number


@given(FINITE, st.sampled_from(["USD {}", "{} EUR", "${}", "{} €", "£ {}", "{}"]))
def test_an_amount_with_a_currency_sign_or_code_reads_as_the_amount(
    number: Decimal, form: str
) -> None:
    cents = number.quantize(Decimal("0.01"))
    assert to_money(form.format(f"{cents:,f}")) == cents


@given(
    st.integers(0, 999),
    st.text("0123456789", min_size=1, max_size=6).filter(lambda tail: len(tail) != 3),
)
def test_a_comma_that_does_not_group_thousands_is_refused_not_dropped(
    whole: int, tail: str
) -> None:
    """``7,5`` is seven and a half where a comma marks decimals: read as 75 it would be a
    discount ten times too large."""
    with pytest.raises(ValueError, match="a comma may only group thousands"):
        to_decimal(f"{whole},{tail}")


@pytest.mark.parametrize("typed", ["12k", "1.5m", "1e3", "12 mio", "2,5 tsd"])
def test_letters_in_an_amount_are_refused_not_dropped(typed: str) -> None:
    with pytest.raises(ValueError, match="is not"):
        to_money(typed)


@pytest.mark.parametrize("typed", ["inf", "NaN", "-Infinity", "sNaN"])
def test_a_percent_that_is_not_a_finite_number_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="is not a number"):
        to_percent(typed)


def test_epoch_milliseconds_outside_the_calendar_are_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="outside the years 1-9999"):
        to_date("99999999999999999999")
    assert to_date("1715359841180") == date(2024, 5, 10)
