"""The Zendesk connector's fast paths against their plain definitions (the references here):
organizations and users read into the same records, and fail the same way, as when each was
built through the models' constructors; an update's row and the values its write reports are
what the row builder and the report of the values sent made separately."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordChange, RecordRef
from connectors.jsonvalue import json_value
from connectors.record_values import clean_list, identity_value, text_list, text_value
from connectors.service.zendesk import writer
from connectors.service.zendesk.client import _listed, json_body
from connectors.service.zendesk.payloads import (
    BUILT_INS,
    CUSTOM,
    ORGANIZATION,
    USER,
    UnwritablePath,
    custom_value,
    identity_emails,
    organization_record,
    parse_time,
    planned_update,
    record_id,
    to_record,
    user_record,
    writable_values,
)


def reference_organization(raw: Mapping[str, Any]) -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind=ORGANIZATION, id=record_id(raw)),
        name=text_value(raw.get("name"), "name"),
        external_id=identity_value(raw.get("external_id"), "external_id"),
        domains=text_list(raw.get("domain_names"), "domain_names"),
        fields=writable_values(ORGANIZATION, raw),
        updated_at=parse_time(raw.get("updated_at")),
        deleted=raw.get("deleted_at") is not None,
    )


def reference_user(
    raw: Mapping[str, Any], identities: Sequence[Mapping[str, Any]] = ()
) -> CustomerRecord:
    more = identity_emails(identities)
    return CustomerRecord(
        ref=RecordRef(kind=USER, id=record_id(raw)),
        name=text_value(raw.get("name"), "name"),
        external_id=identity_value(raw.get("external_id"), "external_id"),
        emails=clean_list([text_value(raw.get("email"), "email"), *more]),
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


IDENT = {"id": IDS, "user_id": IDS}


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
    # side-loaded identities reach a user as objects (the feed reports any other row)
    st.lists(
        st.dictionaries(st.text(max_size=8), JSON, max_size=3)
        | st.fixed_dictionaries({"type": JSON | st.just("email"), "value": JSON}, optional=IDENT),
        max_size=3,
    ),
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


def _id_of(raw: Mapping[str, Any]) -> str | None:
    try:
        return record_id(raw)
    except ValueError:
        return None


@settings(max_examples=400)
@given(
    st.sampled_from([ORGANIZATION, USER]),
    st.data(),
    st.lists(st.integers(0, 10**12).map(str) | st.text(max_size=6), max_size=3),
    st.booleans(),
)
@example(ORGANIZATION, None, ["0123"], True)  # a ref "0123" is not record 123's
def test_a_record_read_for_the_refs_asked_is_the_record_read_alone(
    kind: str, data: st.DataObject | None, others: list[str], own: bool
) -> None:
    """``show_many``'s records take the ref they were asked for (the same value); refs of
    other ids, or none, leave the record as it is read alone."""
    raw: dict[str, Any] = (
        data.draw(raw_record(CUSTOM[kind])) if data is not None else {"id": 123, "name": "A"}
    )
    ids = [*others, *([i] if own and (i := _id_of(raw)) is not None else [])]
    asked = {i: RecordRef(kind=kind, id=i) for i in ids}
    alone = reference_organization if kind == ORGANIZATION else reference_user
    got = outcome(to_record, kind, raw, asked)
    assert got == outcome(alone, raw)
    if got[0] == "record" and record_id(raw) in asked:
        assert got[1][0].ref is asked[record_id(raw)]


def reference_row(kind: str, record: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The ``update_many`` row as it was built on its own."""
    row: dict[str, Any] = {"id": int(record) if record.isdigit() else record}
    custom: dict[str, Any] = {}
    prefix = f"{CUSTOM[kind]}."
    for path, value in fields.items():
        key = path.removeprefix(prefix)
        if path.startswith(prefix) and key and "." not in key:
            custom[key] = json_value(value)
        elif path in BUILT_INS:
            row[path] = json_value(value)
        else:
            writable = f"notes, details, {prefix}<key>"
            raise UnwritablePath(f"{kind} has no writable field {path!r} (writable: {writable})")
    if custom:
        row[CUSTOM[kind]] = custom
    return row


def reference_reported(kind: str, sent: Mapping[str, Any]) -> dict[str, Any]:
    """What a write reported, worked out again from the values sent."""
    prefix = f"{CUSTOM[kind]}."
    return {
        path: custom_value(json_value(value)) if path.startswith(prefix) else json_value(value)
        for path, value in sent.items()
    }


def reference_update(kind: str, record: str, fields: Mapping[str, Any]) -> Any:
    row = reference_row(kind, record, fields)
    return row, reference_reported(kind, fields)


WRITTEN = (
    SCALARS
    | st.decimals()  # sNaN too: comparing it raises
    | st.dates()
    | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))]))
    | st.datetimes()  # naive
    | st.tuples(st.text(max_size=5), st.integers())
    | st.frozensets(st.text(max_size=5), max_size=2)
    | st.lists(st.text(max_size=5), max_size=2)
    | st.sampled_from(["2027-03-01T00:00:00Z", " 2027-03-01T00:00:00+00:00", "T00:00:00"])
)
PATHS = st.sampled_from(
    [
        "notes",
        "details",
        "name",
        "organization_fields.",
        "organization_fields.a.b",
        "user_fields.",
        "user_fields.a.b",
    ]
) | st.builds(
    lambda custom, key: f"{custom}.{key}",
    st.sampled_from(["organization_fields", "user_fields"]),
    st.text(max_size=8),
)
RECORD_IDS = st.integers(0, 10**12).map(str) | st.text(max_size=6)


def written(build: Any, *args: Any) -> tuple[str, Any]:
    """The row and report (their reprs too: order and types), or the error's type and text."""
    try:
        row, reported = build(*args)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return ("error", (type(exc).__name__, str(exc)))
    return ("written", (repr(row), repr(reported)))


@settings(max_examples=500)
@given(
    st.sampled_from([ORGANIZATION, USER]),
    RECORD_IDS,
    st.dictionaries(PATHS, WRITTEN, max_size=6),
)
@example(ORGANIZATION, "7", {"organization_fields.due": date(2027, 3, 1), "notes": None})
@example(ORGANIZATION, "7", {"organization_fields.at": datetime(2027, 3, 1, tzinfo=UTC)})
@example(ORGANIZATION, "7", {"name": Decimal("sNaN")})
@example(ORGANIZATION, "7", {"organization_fields.x": Decimal("sNaN"), "name": 1})
@example(USER, "\u00b2", {"notes": "n"})
@example(ORGANIZATION, "7", {"notes": "2027-03-01T00:00:00Z"})  # a printed date: only custom
def test_an_update_and_its_report_are_what_they_were_made_apart(
    kind: str, record: str, fields: dict[str, Any]
) -> None:
    assert written(planned_update, kind, record, fields) == written(
        reference_update, kind, record, fields
    )


VERDICT_VALUES = (
    st.none()
    | st.booleans()
    | st.integers(-1, 2)
    | st.text(max_size=8)
    | (st.sampled_from(["Updated", "updated", "Failed", "RecordNotFound", "RecordInvalid", ""]))
)


@settings(max_examples=400)
@given(
    st.dictionaries(
        st.sampled_from(["id", "index", "status", "success", "error", "details", "action"]),
        VERDICT_VALUES,
    ),
    st.sampled_from([None, {"id": "j", "status": "completed"}]),
)
@example({"id": 7, "index": 0, "action": "update", "success": True, "status": "Updated"}, None)
@example({"status": "Updated", "success": True, "error": "RecordInvalid"}, None)
@example({"status": "Updated", "success": 1}, None)
def test_a_result_taken_as_plainly_updated_is_the_one_judged_in_full(
    verdict: dict[str, Any], job: dict[str, Any] | None
) -> None:
    """``_result`` takes a plainly updated record's result without judging it in full: only
    where ``_judged`` would have found it written, the same values reported."""
    ref = RecordRef(kind=ORGANIZATION, id="7")
    fields = {"notes": "n", "organization_fields.due": date(2027, 3, 1)}
    planned = (RecordChange(ref=ref, fields=fields), *planned_update(ORGANIZATION, "7", fields))
    judged = writer._judged(planned, verdict, None, job)
    if writer._plainly_updated(verdict):
        assert writer._written(ref, planned[2]) == judged
        assert judged.ok


ID_LISTS = st.lists(
    st.integers(min_value=0, max_value=10**15).map(str)
    | st.uuids().map(lambda u: u.hex)
    | st.text(st.sampled_from(list("az09_.-,=&%+ é#?")) | st.characters(codec="utf-8"), max_size=6),
    max_size=5,
)
"""Ids as the connector holds them: decoded from a vendor's JSON, where a lone surrogate has
become U+FFFD (``connectors.jsonbody``), so every id is UTF-8 text; a surrogate would make
the reference (httpx ``params``) raise before anything is compared."""


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["ids", "external_ids"]), ID_LISTS)
@example("ids", ["1", "22"])
@example("ids", [])
@example("ids", [""])
@example("ids", ["1", ""])
@example("external_ids", ["a,b", "c"])
@example("ids", ["1&ids=2"])
@example("ids", ["١٢"])  # Arabic-Indic digits: not plain
def test_a_listed_query_means_what_httpx_params_send(name: str, values: list[str]) -> None:
    """An id list sent as query text reaches the server as the same parameter values as
    ``params={name: ",".join(values)}`` would; any other list is sent as those params."""
    base = httpx.URL("https://acme.zendesk.com/api/v2/organizations/show_many.json")
    joined = ",".join(values)
    old = httpx.Request("GET", base, params={name: joined}).url
    sent = _listed(name, values)
    if "params" in sent:
        assert sent == {"params": {name: joined}}
        return
    new = base.copy_with(query=sent["query"].encode("utf-8"))
    assert new.params.multi_items() == old.params.multi_items() == [(name, joined)]


PLAIN_MEMBERS = (
    st.text()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.booleans()
    | st.none()
    | st.sampled_from(["\x00\x1f\x7f\u2028\ud800", '"\\/', "é✓𝄞", "\ud800"])
)
MEMBERS = (
    PLAIN_MEMBERS
    | st.floats()
    | st.dictionaries(st.text(max_size=5), PLAIN_MEMBERS | st.floats(), max_size=3)
    | st.lists(PLAIN_MEMBERS, max_size=2)
    | st.dictionaries(st.integers() | st.none(), PLAIN_MEMBERS, max_size=2)
    | st.sampled_from([date(2027, 3, 1), Decimal("1.5")])
)
ROWS = st.lists(
    st.dictionaries(st.text(max_size=8), MEMBERS, max_size=4)
    | st.fixed_dictionaries(
        {"id": st.integers(0, 10**15), "notes": st.text()},
        optional={"organization_fields": st.dictionaries(st.text(max_size=8), PLAIN_MEMBERS)},
    ),
    max_size=4,
)


def _put(**sent: Any) -> tuple[Any, ...]:
    """What reaches the vendor of an ``update_many`` sent with these arguments, or the
    error's type."""
    got: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        got.append((request.method, str(request.url), request.headers.raw, request.content))
        return httpx.Response(200)

    client = httpx.Client(
        base_url="https://acme.zendesk.com",
        headers={"Accept": "application/json"},
        transport=httpx.MockTransport(answer),
    )
    try:
        client.put("/api/v2/organizations/update_many.json", **sent)
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return ("error", type(exc).__name__)
    return ("sent", got[0])


@settings(max_examples=400, deadline=None)
@given(ROWS)
@example([{"id": 1, "notes": "n", "organization_fields": {"due": "2027-03-01"}}])
@example([{"id": 1, "notes": "\ud800"}])
@example([{"id": 1, "organization_fields": {"x": 1.5}}])
@example([{"id": 1, "notes": float("nan")}])
@example([{"id": 2**70, "notes": True, "details": None}])
@example([])
def test_an_update_body_is_sent_as_httpx_encodes_it(rows: list[dict[str, Any]]) -> None:
    """The body encoded ahead is the request httpx's ``json=`` makes of it, byte for byte
    and header for header (or fails as that does)."""
    body = {"organizations": rows}
    assert _put(**json_body(body)) == _put(json=body)
