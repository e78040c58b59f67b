"""Zendesk organizations and users read into the same records, and fail the same way, as
when each record was built through the models' constructors (the reference below)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from connectors.record_values import clean_list, identity_text
from connectors.service.zendesk.payloads import (
    ORGANIZATION,
    USER,
    organization_record,
    parse_time,
    record_id,
    to_record,
    user_record,
    writable_values,
)


def reference_organization(raw: Mapping[str, Any]) -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind=ORGANIZATION, id=record_id(raw)),
        name=str(raw.get("name") or ""),
        external_id=identity_text(raw.get("external_id")),
        domains=clean_list(raw.get("domain_names")),
        fields=writable_values(ORGANIZATION, raw),
        updated_at=parse_time(raw.get("updated_at")),
        deleted=raw.get("deleted_at") is not None,
    )


def reference_user(raw: Mapping[str, Any], identities: Iterable[Any] = ()) -> CustomerRecord:
    emails = [raw.get("email")]
    emails += [
        i.get("value") for i in identities if isinstance(i, dict) and i.get("type") == "email"
    ]
    return CustomerRecord(
        ref=RecordRef(kind=USER, id=record_id(raw)),
        name=str(raw.get("name") or ""),
        external_id=identity_text(raw.get("external_id")),
        emails=clean_list(emails),
        fields=writable_values(USER, raw),
        updated_at=parse_time(raw.get("updated_at")),
        deleted=raw.get("active") is False or raw.get("deleted_at") is not None,
    )


SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
IDS = st.integers(0, 10**15) | st.text(max_size=12) | st.floats() | st.none() | st.booleans()
TIMES = (
    st.datetimes().map(lambda d: d.isoformat() + "Z")
    | st.datetimes().map(lambda d: d.isoformat() + "+02:00")
    | st.integers(-(10**12), 10**12)
    | st.floats()
    | st.text(max_size=25)
    | st.none()
)
LISTS = st.lists(st.text(max_size=15) | st.none() | st.integers(), max_size=4) | JSON


def raw_record(custom: str) -> st.SearchStrategy[dict[str, Any]]:
    """A Zendesk record as an answer may carry it: any member may be missing, of any JSON
    type, or hostile text (surrogates, blanks, mixed case)."""
    members = {
        "id": IDS,
        "name": JSON,
        "external_id": JSON,
        "email": JSON,
        "domain_names": LISTS,
        "notes": JSON,
        "details": JSON,
        custom: st.dictionaries(st.text(max_size=10), JSON, max_size=5) | JSON,
        "updated_at": TIMES,
        "deleted_at": JSON,
        "active": JSON,
    }
    return st.fixed_dictionaries({}, optional=members)


def outcome(build: Any, *args: Any) -> tuple[str, Any]:
    """The record (its repr too: field order and types) and which fields were set, or the
    error's type and message."""
    try:
        record = build(*args)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return ("error", (type(exc).__name__, str(exc)))
    return ("record", (record, repr(record), record.model_fields_set, record.ref.model_fields_set))


@settings(max_examples=400)
@given(raw_record("organization_fields"))
@example({"id": 7, "name": "Acme", "domain_names": ["A.example ", "a.example"]})
@example({"name": "no id"})
@example({"id": 1, "updated_at": 1e20})
def test_an_organization_reads_as_through_the_constructors(raw: dict[str, Any]) -> None:
    assert outcome(organization_record, raw) == outcome(reference_organization, raw)
    assert outcome(to_record, ORGANIZATION, raw) == outcome(reference_organization, raw)


@settings(max_examples=400)
@given(
    raw_record("user_fields"),
    st.lists(JSON | st.fixed_dictionaries({"type": JSON, "value": JSON}), max_size=3),
)
@example(
    {"id": "12", "email": "A@x.example", "active": False},
    [{"type": "email", "value": "b@x.example"}],
)
def test_a_user_reads_as_through_the_constructors(
    raw: dict[str, Any], identities: list[Any]
) -> None:
    assert outcome(user_record, raw, identities) == outcome(reference_user, raw, identities)
    assert outcome(to_record, USER, raw) == outcome(reference_user, raw)
