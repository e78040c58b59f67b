"""A page of a desk's records with malformed ones among them: every desk's row readers, as
its identity feed, its read before a write and its lookups use them (``read_each``).

The property, per desk and record kind: the well-formed records of a page read exactly as
each reads alone; each malformed record (one field given a value of the wrong JSON kind:
an id that is ``true``, a list, a fraction or a 65-bit number; a name or domain that is a
number or an object; a custom field map that is not an object; NaN or Infinity, which
Python's JSON reads, or an object where a field holds a value) is one problem naming the
desk, the record (its position when the id itself is bad) and the field; a row that is no
object at all (a number, text, null, a list) is one problem naming the desk, the kind and its
position; nothing raises.

The pages are built from the vendors' own example records (tests/fixtures/<desk>, copied
from client libraries' and the vendors' published examples), as the desks answer them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord
from connectors.jsonbody import decode_json
from connectors.record_values import MalformedRecord, RecordProblem, field_value, read_each
from connectors.service.freshdesk import payloads as freshdesk
from connectors.service.intercom import payloads as intercom
from connectors.service.servicecloud import payloads as servicecloud
from connectors.service.servicenow import payloads as servicenow
from connectors.service.servicenow.catalog import Column, TableSchema
from connectors.service.zendesk import payloads as zendesk

FIXTURES = Path(__file__).parents[2] / "fixtures"


def fixture(path: str) -> Any:
    return json.loads((FIXTURES / path).read_text(encoding="utf-8"))


# -- hostile values, by what the field holds ---------------------------------------------------

HUGE = Decimal("9" * 5000)
"""What the decoder gives for an integer too long for ``int`` (``decode_json``)."""
NAN, INF = float("nan"), float("inf")

BAD_IDS = [True, False, None, "", "   ", [1], {"id": 1}, 1.5, 2**64, -(2**70), NAN, INF, HUGE]
BAD_IDS += ["x" * 300]
BAD_TEXTS = [5, 1.5, True, [], ["acme"], {"a": 1}, NAN, HUGE]
BAD_IDENTITIES = [[], ["C-1"], {"a": 1}, NAN, INF, -INF, HUGE]
BAD_LISTS = [5, "acme.example", {"a": 1}, [1], [{"a": 1}], [["x"]], True, NAN]
BAD_OBJECTS = [5, "x", [], [{"a": 1}], True, NAN]
BAD_VALUES = [NAN, INF, -INF, {"a": 1}, [{"a": 1}], [NAN], [[1]], HUGE]


@dataclass(frozen=True)
class Place:
    """Where a hostile value goes in a row (a member, or a key of a member's object), and
    the field name the problem must give."""

    path: tuple[str, ...]
    field: str
    values: list[Any] = dataclass_field(repr=False)


@dataclass(frozen=True)
class DeskKind:
    """One desk's records of one kind as a page carries them."""

    desk: str
    kind: str
    base: list[dict[str, Any]]
    read: Callable[[dict[str, Any]], CustomerRecord]
    id_field: str
    places: list[Place]
    new_id: Callable[[int], Any]


def _zendesk(kind: str, base: list[dict[str, Any]]) -> DeskKind:
    custom = zendesk.CUSTOM[kind]
    places = [
        Place(("name",), "name", BAD_TEXTS),
        Place(("external_id",), "external_id", BAD_IDENTITIES),
        Place((custom,), custom, BAD_OBJECTS),
        Place((custom, "tier"), f"{custom}.tier", BAD_VALUES),
        Place(("notes",), "notes", BAD_VALUES),
    ]
    if kind == zendesk.ORGANIZATION:
        places.append(Place(("domain_names",), "domain_names", BAD_LISTS))
        read: Callable[[dict[str, Any]], CustomerRecord] = zendesk.organization_record
    else:
        places.append(Place(("email",), "email", BAD_TEXTS))
        read = zendesk.user_record
    return DeskKind("Zendesk", kind, base, read, "id", places, lambda n: 360_000_000 + n)


def _freshdesk_company(row: dict[str, Any]) -> CustomerRecord:
    return freshdesk.company_record(row, "cf_customer_number")


def _freshdesk(kind: str, base: list[dict[str, Any]]) -> DeskKind:
    places = [
        Place(("name",), "name", BAD_TEXTS),
        Place(("custom_fields",), "custom_fields", BAD_OBJECTS),
        Place(("custom_fields", "cf_tier"), "custom_fields.cf_tier", BAD_VALUES),
        Place(("description",), "description", BAD_VALUES),
    ]
    if kind == freshdesk.COMPANY:
        places += [
            Place(("domains",), "domains", BAD_LISTS),
            Place(
                ("custom_fields", "cf_customer_number"),
                "custom_fields.cf_customer_number",
                BAD_IDENTITIES,
            ),
        ]
        read: Callable[[dict[str, Any]], CustomerRecord] = _freshdesk_company
    else:
        places += [
            Place(("email",), "email", BAD_TEXTS),
            Place(("other_emails",), "other_emails", BAD_LISTS),
            Place(("unique_external_id",), "unique_external_id", BAD_IDENTITIES),
        ]
        read = freshdesk.contact_record
    return DeskKind("Freshdesk", kind, base, read, "id", places, lambda n: 4_000 + n)


def _intercom(kind: str, base: list[dict[str, Any]]) -> DeskKind:
    places = [
        Place(("name",), "name", BAD_TEXTS),
        Place(("custom_attributes",), "custom_attributes", BAD_OBJECTS),
        Place(("custom_attributes", "tier"), "custom_attributes.tier", BAD_VALUES),
    ]
    if kind == intercom.COMPANY:
        places += [
            Place(("company_id",), "company_id", BAD_IDENTITIES),
            Place(("website",), "website", BAD_TEXTS),
        ]
        read: Callable[[dict[str, Any]], CustomerRecord] = intercom.company_record
    else:
        places += [
            Place(("external_id",), "external_id", BAD_IDENTITIES),
            Place(("email",), "email", BAD_TEXTS),
        ]
        read = intercom.contact_record
    return DeskKind("Intercom", kind, base, read, "id", places, lambda n: f"6762f07f1bb69f{n:010x}")


SN_SCHEMA = TableSchema(
    table="customer_account",
    chain=("core_company",),
    columns={
        name: Column(name=name, table="customer_account", internal_type=kind)
        for name, kind in [
            ("name", "string"),
            ("number", "string"),
            ("website", "url"),
            ("u_tier", "string"),
            ("u_discount", "decimal"),
        ]
    },
)
SN_COLUMNS = servicenow.IdentityColumns(external_id="number", domain="website", name="name")
SN_UNDOCUMENTED = {"value": "A", "text": "A"}  # a member no Table API object has
SN_BAD_TEXTS = [
    *([[], ["acme"], NAN, INF, {"value": [1]}, {"value": {"a": 1}}, {"text": "A"}, HUGE]),
    SN_UNDOCUMENTED,
]
SN_BAD_VALUES = [
    *([NAN, INF, [{"a": 1}], {"value": NAN}, {"value": {"a": 1}}, {"a": 1}, HUGE]),
    SN_UNDOCUMENTED,
]


def _servicenow() -> DeskKind:
    base: list[dict[str, Any]] = [
        {
            "sys_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "sys_updated_on": "2026-02-01 09:30:00",
            "sys_mod_count": "3",
            "name": "Acme Corporation",
            "number": "ACCT0001001",
            "website": "https://www.acme.example/",
            "u_tier": "gold",
            "u_discount": "12.5",
        },
        {
            "sys_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
            "sys_updated_on": "2026-02-01 09:31:00",
            "sys_mod_count": "0",
            "name": "Initech",
            "number": {"link": "https://x.service-now.com/api/now/table/x", "value": "A-2"},
            "website": "",
            "u_tier": "",
            "u_discount": "",
        },
    ]
    places = [
        Place(("name",), "name", SN_BAD_TEXTS),
        Place(("number",), "number", SN_BAD_TEXTS),
        Place(("website",), "website", SN_BAD_TEXTS),
        Place(("u_tier",), "u_tier", SN_BAD_VALUES),
    ]
    read = servicenow.reader("account", SN_SCHEMA, SN_COLUMNS)
    return DeskKind("ServiceNow", "account", base, read, "sys_id", places, lambda n: f"{n:032x}")


SC_IDENTITY = servicecloud.IdentityFields(
    external_id="Customer_Number__c", domain="Website", email="PersonEmail", person_flag=True
)


def _servicecloud() -> DeskKind:
    base = [
        {k: v for k, v in row.items() if k != "attributes"} | {"Tier__c": "Gold"}
        for row in fixture("servicecloud/accounts_page1.json")["records"]
    ]
    places = [
        Place(("Name",), "Name", BAD_TEXTS),
        Place(("Customer_Number__c",), "Customer_Number__c", BAD_IDENTITIES),
        Place(("Website",), "Website", BAD_TEXTS),
        Place(("Tier__c",), "Tier__c", BAD_VALUES),
    ]
    read = servicecloud.reader("account", SC_IDENTITY, ["Tier__c"])
    bad_ids = [*BAD_IDS, 7, 0]  # Salesforce ids are text only
    return DeskKind(
        "Service Cloud",
        "account",
        base,
        read,
        "Id",
        [*places, Place(("Id",), "Id", bad_ids)],
        lambda n: f"001RO{n:013d}",
    )


def _with_ids(kinds: list[DeskKind]) -> dict[str, DeskKind]:
    named = {}
    for desk_kind in kinds:
        places = desk_kind.places
        if not any(place.path == (desk_kind.id_field,) for place in places):
            places = [*places, Place((desk_kind.id_field,), desk_kind.id_field, BAD_IDS)]
        named[f"{desk_kind.desk}/{desk_kind.kind}"] = DeskKind(
            desk_kind.desk,
            desk_kind.kind,
            desk_kind.base,
            desk_kind.read,
            desk_kind.id_field,
            places,
            desk_kind.new_id,
        )
    return named


def _intercom_base(name: str) -> list[dict[str, Any]]:
    body = fixture(f"intercom/{name}")["responses"]["200"]
    return [next(iter(body.values()))]


DESKS = _with_ids(
    [
        _zendesk(zendesk.ORGANIZATION, fixture("zendesk/organizations.json")["organizations"]),
        _zendesk(zendesk.USER, [fixture("zendesk/user.json")["user"]]),
        _freshdesk(freshdesk.COMPANY, fixture("freshdesk/companies.json")),
        _freshdesk(freshdesk.CONTACT, [fixture("freshdesk/contact.json")]),
        _intercom(intercom.COMPANY, _intercom_base("company_get.json")),
        _intercom(intercom.CONTACT, _intercom_base("contact_get.json")),
        _servicenow(),
        _servicecloud(),
    ]
)


# -- pages -------------------------------------------------------------------------------------


NOT_AN_OBJECT = Place((), "", [5, 1.5, "x", "", None, True, [], [{"id": 1}]])
"""A row that is not a JSON object at all: no record, no field."""


@dataclass(frozen=True)
class Row:
    raw: Any
    spoiled: Place | None = None
    """The place given a hostile value (None: a well-formed record; ``NOT_AN_OBJECT``: the
    row itself is hostile)."""


def _spoil(raw: dict[str, Any], place: Place, value: Any) -> dict[str, Any]:
    spoiled = dict(raw)
    if len(place.path) == 1:
        spoiled[place.path[0]] = value
    else:
        member, key = place.path
        inner = spoiled.get(member)
        spoiled[member] = {**(inner if isinstance(inner, dict) else {}), key: value}
    return spoiled


@st.composite
def pages(draw: st.DrawFn, desk_kind: DeskKind) -> list[Row]:
    """Records of the desk's examples, each with an id of its own; some with one field given
    a hostile value, some replaced by a row that is not an object."""
    count = draw(st.integers(1, 6))
    rows = []
    for number in range(count):
        raw = dict(draw(st.sampled_from(desk_kind.base)))
        raw[desk_kind.id_field] = desk_kind.new_id(number)
        if draw(st.integers(0, 5)) == 0:
            rows.append(Row(draw(st.sampled_from(NOT_AN_OBJECT.values)), NOT_AN_OBJECT))
        elif draw(st.booleans()):
            place = draw(st.sampled_from(desk_kind.places))
            rows.append(Row(_spoil(raw, place, draw(st.sampled_from(place.values))), place))
        else:
            rows.append(Row(raw))
    return rows


def _alone(desk_kind: DeskKind, raw: dict[str, Any]) -> CustomerRecord:
    return desk_kind.read(dict(raw))


def _id_text(desk_kind: DeskKind, raw: dict[str, Any]) -> str:
    return str(desk_kind.read(raw).ref.id)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(sorted(DESKS)), st.data())
@example("Zendesk/organization", None)
def test_a_page_reads_its_well_formed_records_and_names_each_malformed_one(
    name: str, data: st.DataObject | None
) -> None:
    desk_kind = DESKS[name]
    if data is None:  # an organization whose id is true between two good ones
        good = desk_kind.base[0]
        rows = [
            Row(good | {"id": 1}),
            Row(good | {"id": True}, Place(("id",), "id", [])),
            Row(good | {"id": 3}),
        ]
    else:
        rows = data.draw(pages(desk_kind))
    problems: list[RecordProblem] = []
    records = read_each(
        [row.raw for row in rows],
        desk_kind.read,
        desk=desk_kind.desk,
        kind=desk_kind.kind,
        problems=problems,
        id_field=desk_kind.id_field,
    )
    good_rows = [row for row in rows if row.spoiled is None]
    assert records == [_alone(desk_kind, row.raw) for row in good_rows]
    spoiled = [(position, row) for position, row in enumerate(rows, 1) if row.spoiled]
    assert len(problems) == len(spoiled)
    for problem, (position, row) in zip(problems, spoiled, strict=True):
        assert row.spoiled is not None
        message = problem.message
        assert message.startswith(f"{desk_kind.desk} {desk_kind.kind} ")
        assert f"correct it at {desk_kind.desk}" in message
        if row.spoiled is NOT_AN_OBJECT:
            assert problem.record is None
            where = f"{desk_kind.desk} {desk_kind.kind} #{position} of the page: is "
            assert message.startswith(where)
            assert ", not an object; the record was left out" in message
            continue
        assert f"field {row.spoiled.field} is " in message
        if row.spoiled.path == (desk_kind.id_field,):
            assert problem.record is None
            assert f" #{position} of the page:" in message
        else:
            record = desk_kind.new_id(position - 1)
            assert problem.record == str(record)
            assert message.startswith(f"{desk_kind.desk} {desk_kind.kind} {record}: ")


@pytest.mark.parametrize("name", sorted(DESKS))
@pytest.mark.parametrize("row", [5, "x", None, [], [{"id": 1}]])
def test_a_row_that_is_not_an_object_is_one_problem_at_its_position(name: str, row: Any) -> None:
    desk_kind = DESKS[name]
    good = desk_kind.base[0] | {desk_kind.id_field: desk_kind.new_id(0)}
    problems: list[RecordProblem] = []
    records = read_each(
        [good, row], desk_kind.read, desk=desk_kind.desk, kind=desk_kind.kind, problems=problems
    )
    assert records == [_alone(desk_kind, good)]
    assert [p.record for p in problems] == [None]
    assert f"{desk_kind.desk} {desk_kind.kind} #2 of the page: is " in problems[0].message


@pytest.mark.parametrize(
    ("sent", "problem"),
    [
        ({"display_value": "Acme", "value": "Acme"}, None),  # sysparm_display_value=all
        ({"link": "https://x.example/api/now/table/x", "value": "Acme"}, None),  # a reference
        (SN_UNDOCUMENTED, f"field name is an object {SN_UNDOCUMENTED!r}, not a value or a"),
        ({"display_value": "Acme"}, "field name is an object {'display_value': 'Acme'}, not"),
    ],
)
def test_a_servicenow_column_object_reads_only_in_the_table_apis_documented_shapes(
    sent: dict[str, Any], problem: str | None
) -> None:
    desk_kind = DESKS["ServiceNow/account"]
    raw = desk_kind.base[0] | {"sys_id": desk_kind.new_id(0), "name": sent}
    problems: list[RecordProblem] = []
    records = read_each([raw], desk_kind.read, desk="ServiceNow", kind="account", problems=problems)
    if problem is None:
        assert [(r.name, problems) for r in records] == [("Acme", [])]
    else:
        assert records == []
        assert [problem in p.message for p in problems] == [True]


def test_the_examples_the_pages_are_made_of_read_as_they_are() -> None:
    """Every base record is well formed (else the property would prove nothing)."""
    for desk_kind in DESKS.values():
        for number, raw in enumerate(desk_kind.base):
            record = _alone(desk_kind, raw | {desk_kind.id_field: desk_kind.new_id(number)})
            assert record.ref.id == str(desk_kind.new_id(number))


def test_a_problem_names_the_record_without_spelling_out_a_huge_value() -> None:
    raw = DESKS["Zendesk/organization"].base[0] | {"id": 7, "external_id": HUGE}
    problems: list[RecordProblem] = []
    read_each([raw], zendesk.organization_record, desk="Zendesk", kind="organization",
              problems=problems)  # fmt: skip
    (problem,) = problems
    assert problem.record == "7"
    assert "field external_id is a number of 5000 digits, not text or a number" in problem.message
    assert len(problem.message) < 300


# -- a whole answer with a malformed record decodes; values stay JSON --------------------------


def test_an_integer_too_long_for_int_decodes_as_a_decimal_not_an_unreadable_answer() -> None:
    body = b'{"organizations": [{"id": 1}, {"id": ' + b"9" * 5000 + b"}]}"
    decoded = decode_json(body)
    assert decoded["organizations"][0] == {"id": 1}
    assert decoded["organizations"][1]["id"] == Decimal("9" * 5000)


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=10)
VALUES = st.recursive(
    JSON_SCALARS | st.floats(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@settings(max_examples=300)
@given(VALUES)
def test_a_field_value_read_is_plain_json_or_refused_naming_the_field(value: Any) -> None:
    """What a reader keeps of a field can be stored as JSON anywhere (no NaN, no infinity,
    no object): the state store's JSON columns refuse the rest (PostgreSQL: "Token "NaN" is
    invalid")."""
    try:
        kept = field_value(value, "organization_fields.tier")
    except MalformedRecord as exc:
        refused: MalformedRecord | None = exc
    else:
        refused = None
    if refused is not None:
        assert refused.field == "organization_fields.tier"
        assert str(refused).startswith("field organization_fields.tier is ")
        return
    assert kept is value
    assert json.loads(json.dumps(kept, allow_nan=False)) == kept
    items = kept if isinstance(kept, list) else [kept]
    assert all(not isinstance(item, dict | list) for item in items)
    assert all(math.isfinite(item) for item in items if isinstance(item, float))


def test_a_problem_message_names_no_more_than_the_start_of_a_long_text() -> None:
    problems: list[RecordProblem] = []
    raw = {"id": 9, "name": ["x" * 10_000]}
    read_each([raw], zendesk.organization_record, desk="Zendesk", kind="organization",
              problems=problems)  # fmt: skip
    assert re.search(r"field name is a list \['x+…, not text", problems[0].message)
    assert len(problems[0].message) < 300
