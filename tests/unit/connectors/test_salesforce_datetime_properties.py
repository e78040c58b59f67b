"""Salesforce's datetimes read by the short way (its own form, read as it is) answer as the
general reading did for every text: the reference below is ``parse_datetime`` as it was
(every compact offset rewritten before ``datetime.fromisoformat``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.sales.salesforce.payloads import parse_datetime

_COMPACT_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def reference_parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    text = value.strip()
    if compact := _COMPACT_OFFSET.search(text):
        text = f"{text[: compact.start()]}{compact[1]}:{compact[2]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


FORM = "2026-11-23T14:05:00.000+0000"
DIGITS = st.sampled_from("0123456789") | st.sampled_from("\u0660\u0661\u0669\uff10\uff19")
"""ASCII digits, and digits of other scripts (``\\d`` matches them unless ASCII-only)."""
ANY_CHARACTER = st.characters(codec=None, exclude_categories=())
"""Any code point: control characters, bidi marks, lone surrogates."""


@st.composite
def near_salesforce_form(draw: st.DrawFn) -> str:
    """Salesforce's form with any of its characters replaced: other digits (out-of-range
    months, hours, offsets), signs, separators, other scripts' digits, any character."""
    text = list(FORM)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text) - 1))
        text[at] = draw(DIGITS | st.sampled_from("+-:.TZ ") | ANY_CHARACTER)
    return "".join(text)


@settings(max_examples=2000, deadline=None)
@given(value=near_salesforce_form() | st.text(ANY_CHARACTER, max_size=32) | st.none())
@example(value=FORM)
@example(value="2026-11-23T14:05:00.000-0130")
@example(value="2026-11-23T24:05:00.000+0000")
@example(value="2026-11-23T14:05:00.000+2400")
@example(value="2026-11-23T14:05:00.000+0060")
@example(value="2026-02-30T14:05:00.000+0000")
@example(value="2026-11-23T14:05:00.000+\u0660\u0660\u0660\u0660")
@example(value=" 026-11-23T14:05:00.000+0000")
def test_a_datetime_reads_as_it_always_did(value: str | None) -> None:
    assert parse_datetime(value) == reference_parse_datetime(value)
    read = parse_datetime(value)
    if read is not None:
        assert read.tzinfo is UTC


def test_salesforce_form_is_read_to_utc() -> None:
    """Else the property could hold with the short way answering wrongly for both."""
    assert parse_datetime("2026-11-23T14:05:00.250-0130") == datetime(
        2026, 11, 23, 15, 35, 0, 250000, tzinfo=UTC
    )
