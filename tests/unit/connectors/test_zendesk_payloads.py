"""Zendesk record payloads read the same on their fast common path as by their definition."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.record_values import MalformedRecord, clean_list
from connectors.service.zendesk import payloads
from connectors.service.zendesk.payloads import (
    ORGANIZATION,
    USER,
    UnwritablePath,
    organization_record,
    planned_update,
    record_id,
    writable_values,
)

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 1, 1))
PRINTED = st.builds(
    lambda day, tail, pad: f"{pad}{day.isoformat()}T00:00:00{tail}{pad}",
    DAYS,
    st.sampled_from(["Z", "+00:00", "+0000", ".000Z", ".0+00:00"]),
    st.sampled_from(["", " "]),
)
NOT_MIDNIGHT_UTC = st.builds(
    lambda day, tail: f"{day.isoformat()}{tail}",
    DAYS,
    st.sampled_from(["T00:00:01Z", "T00:00:00+02:00", "T12:00:00Z", "", "T00:00:00"]),
)
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),  # refused: test_desk_record_pages.py
    st.text(max_size=30),
    PRINTED,
    NOT_MIDNIGHT_UTC,
)


def _expected_custom(value: Any) -> Any:
    """The rule as the module docstring states it: only a printed date changes."""
    if isinstance(value, str):
        text = value.strip()
        for tail in ("Z", "+00:00", "+0000", ".000Z", ".0+00:00"):
            head = text.removesuffix(tail)
            day, midnight = head[:10], head[10:]
            if head != text and midnight == "T00:00:00" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                return head[:10]
    return value


@given(st.sampled_from([ORGANIZATION, USER]), st.dictionaries(st.text(max_size=12), VALUES))
def test_custom_values_read_as_sent_except_printed_dates_which_read_as_their_day(
    kind: str, custom: dict[str, Any]
) -> None:
    raw = {"notes": "n", "details": None, f"{kind}_fields": custom}
    fields = writable_values(kind, raw)
    assert fields == {
        "notes": "n",
        "details": None,
        **{f"{kind}_fields.{key}": _expected_custom(value) for key, value in custom.items()},
    }


def test_a_custom_field_map_that_is_null_gives_only_the_built_in_fields() -> None:
    raw = {"notes": None, "details": "d", "organization_fields": None}
    assert writable_values(ORGANIZATION, raw) == {"notes": None, "details": "d"}


@pytest.mark.parametrize("custom", [[], "x", 3])
def test_a_custom_field_map_that_is_not_a_map_is_refused_naming_the_field(custom: Any) -> None:
    raw = {"notes": None, "details": "d", "organization_fields": custom}
    with pytest.raises(MalformedRecord, match=r"field organization_fields is .*not an object"):
        writable_values(ORGANIZATION, raw)


@given(st.one_of(st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none())), st.none()))
def test_clean_list_keeps_trimmed_lower_cased_text_once_in_first_seen_order(
    values: list[Any] | None,
) -> None:
    expected: list[str] = []
    for value in values or []:
        if isinstance(value, str) and value.strip() and value.strip().lower() not in expected:
            expected.append(value.strip().lower())
    assert clean_list(values) == tuple(expected)
    assert clean_list(tuple(values or ())) == tuple(expected)


def test_clean_list_takes_only_arrays() -> None:
    assert clean_list("acme.example") == ()
    assert clean_list({"acme.example": 1}) == ()


def test_ids_read_as_text_whether_sent_as_numbers_strings_or_whole_floats() -> None:
    assert record_id({"id": 361898904439}) == "361898904439"
    assert record_id({"id": "361898904439 "}) == "361898904439"
    assert record_id({"id": 361898904439.0}) == "361898904439"


def test_an_organization_reads_its_identity_and_every_writable_field() -> None:
    record = organization_record(
        {
            "id": 7,
            "name": "Acme",
            "external_id": 1234.0,
            "domain_names": ["Acme.example ", "acme.example", "", None],
            "notes": "agents' text",
            "organization_fields": {"terms_valid_until": "2027-03-01T00:00:00+00:00"},
            "updated_at": "2026-12-01T10:00:00Z",
        }
    )
    assert (record.ref.key, record.name, record.external_id) == ("organization:7", "Acme", "1234")
    assert record.domains == ("acme.example",)
    assert record.fields == {
        "notes": "agents' text",
        "details": None,
        "organization_fields.terms_valid_until": "2027-03-01",
    }
    assert record.updated_at == datetime(2026, 12, 1, 10, tzinfo=UTC)


def test_an_update_row_carries_values_as_json_and_a_write_reports_them_as_a_read_would() -> None:
    sent = {
        "notes": "note",
        "organization_fields.special_discount": Decimal("15"),
        "organization_fields.rate": Decimal("2.5"),
        "organization_fields.terms_valid_until": date(2027, 3, 1),
        "organization_fields.reviewed_at": datetime(2027, 3, 1, 0, 0, tzinfo=UTC),
        "organization_fields.free_services": ("Onsite training", "Priority support"),
        "organization_fields.active": True,
        "organization_fields.sla_promise": None,
    }
    row, reported = planned_update(ORGANIZATION, "7", sent)
    assert row == {
        "id": 7,
        "notes": "note",
        "organization_fields": {
            "special_discount": 15,
            "rate": 2.5,
            "terms_valid_until": "2027-03-01",
            "reviewed_at": "2027-03-01T00:00:00Z",
            "free_services": ["Onsite training", "Priority support"],
            "active": True,
            "sla_promise": None,
        },
    }
    assert list(reported) == list(sent), "reported under the paths sent, in their order"
    assert reported["organization_fields.reviewed_at"] == "2027-03-01"  # printed midnight: a day
    assert reported["organization_fields.special_discount"] == 15
    assert reported["notes"] == "note"


def test_custom_field_keys_past_the_kept_paths_read_the_same_and_are_not_kept() -> None:
    keys = [f"hostile_{n}" for n in range(payloads.PATHS_KEPT + 50)]
    raw = {"organization_fields": dict.fromkeys(keys, "v")}
    fields = writable_values(ORGANIZATION, raw)
    assert fields == {
        "notes": None,
        "details": None,
        **{f"organization_fields.{key}": "v" for key in keys},
    }
    assert len(payloads._PATHS[ORGANIZATION]) <= payloads.PATHS_KEPT
    assert writable_values(ORGANIZATION, raw) == fields, "read again, kept paths and joined ones"


def test_written_paths_past_the_kept_routes_go_where_they_did_and_are_not_kept() -> None:
    """Every path a write names is routed once and kept, up to ``PATHS_KEPT`` a kind; beyond
    them, and for a path that is not writable, nothing is kept and the answer is the same."""
    paths = [f"organization_fields.hostile_{n}" for n in range(payloads.PATHS_KEPT + 50)]
    fields = dict.fromkeys(paths, "v") | {"notes": "n"}
    want = (
        {"id": 7, "notes": "n", "organization_fields": {p.split(".")[1]: "v" for p in paths}},
        fields,
    )
    assert planned_update(ORGANIZATION, "7", fields) == want
    assert planned_update(ORGANIZATION, "7", fields) == want, "again: kept routes and new ones"
    assert len(payloads._ROUTES[ORGANIZATION]) <= payloads.PATHS_KEPT
    for _ in range(2):
        with pytest.raises(UnwritablePath, match=re.escape("organization_fields.a.b")):
            planned_update(ORGANIZATION, "7", {"organization_fields.a.b": 1})
    assert "organization_fields.a.b" not in payloads._ROUTES[ORGANIZATION]
