"""comparable(): the canonical text two values are compared by (numbers normalised, empties
unified, midnight timestamps as their day), the same whether a text was seen before or not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_jobs.domain.values import comparable, same_value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ([], None),
        ("   ", ""),
        (True, "true"),
        (15, "15"),
        (15.0, "15"),
        (Decimal("15.50"), "15.5"),
        (" 15.00 ", "15"),
        ("-3.10", "-3.1"),
        ("2027-03-23T00:00:00Z", "2027-03-23"),
        ("2027-03-23T00:00:00.000+00:00", "2027-03-23"),
        ("2027-03-23T10:00:00Z", "2027-03-23T10:00:00Z"),
        (" Net 30 ", "Net 30"),
        (date(2027, 3, 23), "2027-03-23"),
        (("a", "b"), "('a', 'b')"),
        ("x" * 100 + " ", "x" * 100),
    ],
)
def test_canonical_text(value: Any, expected: str | None) -> None:
    assert comparable(value) == expected


@given(st.text(max_size=80))
def test_a_text_compares_the_same_the_second_time(text: str) -> None:
    first = comparable(text)
    assert comparable(text) == first
    assert comparable(text + "") == first


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000)
)
def test_a_number_equals_its_text(number: Decimal) -> None:
    assert same_value(number, str(number))
    assert same_value(number, f" {number} ")


@given(st.integers(), st.booleans())
def test_a_whole_number_compares_as_its_number_and_a_boolean_never_as_one(
    number: int, flag: bool
) -> None:
    """Whole numbers' texts are remembered; True and 1 are one key to a cache, not here."""
    for _ in range(2):
        assert comparable(number) == comparable(Decimal(number)) == comparable(str(number))
        assert comparable(int(flag)) == str(int(flag))
        assert comparable(flag) == str(flag).lower()
