"""A desk's answer with a malformed record among good ones, through the connector's own
paths: the identity export page, the read before a write, a lookup and a write's answer.
The good records come through as they would alone; the malformed one is a problem naming
the desk, the record and the field (or fails its own write), and nothing raises.

The bodies are JSON as a desk sends them (``NaN`` included: Python's JSON writes and reads
it), decoded by the connectors' own client."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from connectors.base import IdentityKey, RecordChange, RecordRef
from connectors.registry import demo_targets
from connectors.service.intercom.payloads import version_of
from connectors.service.zendesk.payloads import organization_record
from tests.unit.connectors import test_freshdesk as fd
from tests.unit.connectors import test_zendesk as zd
from tests.unit.connectors.desk_support import desk_target

pytestmark = pytest.mark.anyio

token_env = zd.token_env
api_key_env = fd.api_key_env


def _raw_json(body: Any, **headers: str) -> httpx.Response:
    """A JSON answer whose text may hold ``NaN`` (a desk's own serializer wrote it)."""
    text = json.dumps(body, allow_nan=True)
    return httpx.Response(200, text=text, headers={"Content-Type": "application/json", **headers})


# -- Zendesk -----------------------------------------------------------------------------------


async def test_a_zendesk_export_page_keeps_its_good_organizations_and_names_the_bad_ones(
    respx_mock: respx.MockRouter,
) -> None:
    rows = [
        zd.org(1),
        zd.org(2) | {"id": True},
        zd.org(3) | {"domain_names": 5},
        zd.org(4) | {"organization_fields": {"tier": float("nan")}},
        zd.org(5) | {"name": {"first": "Acme"}},
        zd.org(6, external_id="C-6"),
    ]
    body = {"organizations": rows, "end_time": 1714557600, "end_of_stream": True}
    respx_mock.get(zd.ORG_EXPORT).mock(return_value=_raw_json(body))
    respx_mock.get(zd.USER_EXPORT).mock(return_value=zd.user_page([], "c1", end=True))
    pages = await zd.collect(zd.make_target())
    assert [r.ref.id for r in pages[0].records] == ["1", "6"]
    assert pages[0].records[1] == organization_record(zd.org(6, external_id="C-6"))
    assert [p.split(":")[0] for p in pages[0].problems] == [
        "Zendesk organization #2 of the page",
        "Zendesk organization 3",
        "Zendesk organization 4",
        "Zendesk organization 5",
    ]
    assert "field id is True, not a record id" in pages[0].problems[0]
    assert "field domain_names is 5, not a list of texts" in pages[0].problems[1]
    assert "field organization_fields.tier is the number nan" in pages[0].problems[2]
    assert "field name is an object {'first': 'Acme'}, not text" in pages[0].problems[3]
    assert all("correct it at Zendesk" in p for p in pages[0].problems)
    assert json.loads(pages[0].checkpoint.value)["organization"]["start_time"] == 1714557600


async def test_a_zendesk_read_gives_the_malformed_record_asked_for_with_its_problem(
    respx_mock: respx.MockRouter,
) -> None:
    rows = [zd.org(1), zd.org(2) | {"organization_fields": [1]}]
    respx_mock.get(f"{zd.BASE}/api/v2/organizations/show_many.json").mock(
        return_value=_raw_json({"organizations": rows})
    )
    refs = [RecordRef(kind="organization", id="1"), RecordRef(kind="organization", id="2")]
    good, bad = await zd.make_target(record_kinds=["organization"]).read(refs)
    assert good == organization_record(zd.org(1))
    assert good.problem is None
    assert bad.ref == refs[1]
    assert bad.problem is not None
    assert bad.problem.startswith("Zendesk organization 2: field organization_fields is a list")


async def test_a_zendesk_lookup_leaves_the_malformed_record_out(
    respx_mock: respx.MockRouter,
) -> None:
    rows = [zd.org(1, external_id="C-1"), zd.org(2, external_id=float("inf"))]
    respx_mock.get(f"{zd.BASE}/api/v2/organizations/show_many.json").mock(
        return_value=_raw_json({"organizations": rows})
    )
    keys = [IdentityKey(match="external_id", value=v, kind="organization") for v in ("c-1", "x")]
    found = await zd.make_target().lookup(keys)
    assert [r.ref.id for r in found] == ["1"]


async def test_a_zendesk_lookup_hands_its_malformed_hits_problems_to_the_run(
    respx_mock: respx.MockRouter,
) -> None:
    """The run reports what a lookup left out: the desk, the record and the field. Both
    kinds are looked up in one call: a bad organization does not stop the users' lookup."""
    orgs = [zd.org(1, external_id="C-1"), zd.org(2, external_id=float("inf")), "org 3"]
    respx_mock.get(f"{zd.BASE}/api/v2/organizations/show_many.json").mock(
        return_value=_raw_json({"organizations": orgs})
    )
    users = [zd.user(7, "a@x.example") | {"external_id": "U-7"}]
    respx_mock.get(f"{zd.BASE}/api/v2/users/show_many.json").mock(
        return_value=_raw_json({"users": users})
    )
    keys = [
        IdentityKey(match="external_id", value="c-1", kind="organization"),
        IdentityKey(match="external_id", value="c-2", kind="organization"),
        IdentityKey(match="external_id", value="u-7", kind="user"),
    ]
    problems: list[str] = []
    found = await zd.make_target().lookup(keys, problems)
    assert [r.ref.key for r in found] == ["organization:1", "user:7"]
    left_out = "; the record was left out (correct it at Zendesk: the next read takes it)"
    assert problems == [
        "Zendesk organization 2: field external_id is the number inf, not text or a number"
        + left_out,
        "Zendesk organization #3 of the page: is 'org 3', not an object" + left_out,
    ]


async def test_zendesk_side_loaded_identities_that_do_not_read_are_reported_not_skipped(
    respx_mock: respx.MockRouter,
) -> None:
    """An identity that names no user is the page's problem (its user reads without it); one
    whose address is not text leaves its user out with a problem naming the identity (indexed
    without that address, a deal keyed by it would go unmatched, or to another record)."""
    identities = [
        {"id": 70, "user_id": "7", "type": "email", "value": "second@acme.example"},
        {"id": 71, "user_id": 8, "type": "email", "value": ["third@acme.example"]},
        {"id": 72, "user_id": None, "type": "email", "value": "lost@acme.example"},
        "not an identity",
        {"id": 90, "user_id": 9, "type": "phone_number", "value": 15551234},
        {"id": 100, "user_id": 10, "type": ["email"], "value": "fourth@acme.example"},
    ]
    users = [zd.user(n, f"{n}@acme.example") for n in (7, 8, 9, 10)]
    respx_mock.get(zd.ORG_EXPORT).mock(return_value=zd.org_page([], 1714557600, end=True))
    respx_mock.get(zd.USER_EXPORT).mock(
        return_value=zd.user_page(users, "c1", end=True, identities=identities)
    )
    (_, page) = await zd.collect(zd.make_target())
    assert [(r.ref.id, r.emails) for r in page.records] == [
        ("7", ("7@acme.example", "second@acme.example")),
        ("9", ("9@acme.example",)),
    ]
    left_out = "; the record was left out (correct it at Zendesk: the next read takes it)"
    assert list(page.problems) == [
        "Zendesk user identity 72: field user_id is None, not a record id (a whole number or "
        "text)" + left_out,
        "Zendesk user identity #4 of the page: is 'not an identity', not an object" + left_out,
        "Zendesk user 8: field value of identity 71 is a list ['third@acme.example'], not text"
        + left_out,
        "Zendesk user 10: field type of identity 100 is a list ['email'], not text" + left_out,
    ]


@pytest.mark.parametrize(
    ("path", "stored"),
    [
        ("user_fields.tier", {"user_fields": {"tier": float("nan"), "other": "x"}}),
        ("notes", {"notes": float("inf")}),
    ],
)
async def test_a_zendesk_write_whose_answer_holds_nan_in_a_written_field_fails_that_record(
    respx_mock: respx.MockRouter, path: str, stored: dict[str, Any]
) -> None:
    """Where the bulk endpoint is refused (403), updates go one at a time and each answer
    is the stored record. NaN there would become the field's stored base, and PostgreSQL's
    JSON column refuses it."""
    respx_mock.put(f"{zd.BASE}/api/v2/users/update_many.json").mock(
        return_value=httpx.Response(403, json={"error": "Forbidden"})
    )
    answer = zd.user(7, "a@x.example") | stored
    respx_mock.put(f"{zd.BASE}/api/v2/users/7.json").mock(return_value=_raw_json({"user": answer}))
    target = zd.make_target()
    change = RecordChange(ref=RecordRef(kind="user", id="7"), fields={path: "gold"})
    (result,) = await target.write([change])
    assert not result.ok
    assert result.error is not None
    assert result.error.startswith(f"Zendesk user 7 was written, but in its answer field {path}")


# -- Freshdesk ---------------------------------------------------------------------------------


async def test_a_freshdesk_listing_keeps_its_good_companies_and_names_the_bad_ones(
    respx_mock: respx.MockRouter,
) -> None:
    good = fd.load("company.json")
    rows = [
        good | {"id": 1},
        good | {"id": [2]},
        good | {"id": 3, "domains": "acme.example"},
        good | {"id": 4, "custom_fields": {"cf_tier": float("-inf")}},
        good | {"id": None},
        good | {"id": 6},
        "company 7",  # not an object: reported by its position, not dropped unseen
    ]
    respx_mock.get(fd.COMPANIES).mock(return_value=_raw_json(rows, Date=fd.VENDOR_DATE))
    respx_mock.get(fd.CONTACTS).mock(return_value=fd.listing([]))
    pages = await fd.collect(fd.make_target())
    assert [r.ref.key for r in pages[0].records] == ["company:1", "company:6"]
    assert [p.split(":")[0] for p in pages[0].problems] == [
        "Freshdesk company #2 of the page",
        "Freshdesk company 3",
        "Freshdesk company 4",
        "Freshdesk company #5 of the page",
        "Freshdesk company #7 of the page",
    ]
    assert "field custom_fields.cf_tier is the number -inf" in pages[0].problems[2]
    not_an_object = "Freshdesk company #7 of the page: is 'company 7', not an object; the record"
    assert pages[0].problems[4].startswith(not_an_object)


async def test_a_freshdesk_read_gives_the_malformed_record_asked_for_with_its_problem(
    respx_mock: respx.MockRouter,
) -> None:
    good = fd.load("company.json")
    respx_mock.get(f"{fd.COMPANIES}/1").mock(return_value=_raw_json(good | {"id": 1}))
    respx_mock.get(f"{fd.COMPANIES}/2").mock(return_value=_raw_json(good | {"id": 2, "name": 42}))
    refs = [RecordRef(kind="company", id="1"), RecordRef(kind="company", id="2")]
    records = await fd.make_target().read(refs)
    assert [(r.ref.id, r.problem is None) for r in records] == [("1", True), ("2", False)]
    assert records[1].problem is not None
    assert records[1].problem.startswith("Freshdesk company 2: field name is 42, not text")


# -- every desk, through its simulator ---------------------------------------------------------

DESK_LABEL = {
    "zendesk": ("Zendesk", "name", "text"),
    "freshdesk": ("Freshdesk", "name", "text"),
    "intercom": ("Intercom", "name", "text"),
    # the Table API sends objects of one shape only (a reference, a display value)
    "servicenow": ("ServiceNow", "name", "a value or a {value, display_value, link} object"),
    "servicecloud": ("Service Cloud", "Name", "text"),
}


@pytest.mark.parametrize("kind", demo_targets())
async def test_every_desk_reads_around_a_record_whose_name_is_an_object(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The desk's simulator holds a record whose name is an object: the identity feed leaves
    it out with its problem and reads the rest as before, and a read gives it back with its
    problem beside a good record."""
    label, name_field, expected = DESK_LABEL[kind]
    sim, target = desk_target(kind, monkeypatch)
    try:
        before = [r for page in [p async for p in target.customers(None)] for r in page.records]
        bad, good = before[0], before[1]
        stored_id: Any = int(bad.ref.id) if bad.ref.id.isdigit() else bad.ref.id
        sim.record(bad.ref.kind, stored_id)[name_field] = {"text": "Acme"}

        pages = [p async for p in target.customers(None)]

        after = [r for page in pages for r in page.records]
        assert after == [r for r in before if r.ref != bad.ref]
        problems = [problem for page in pages for problem in page.problems]
        (problem,) = problems
        assert problem.startswith(
            f"{label} {bad.ref.kind} {bad.ref.id}: field {name_field} is an object "
            f"{{'text': 'Acme'}}, not {expected}"
        )
        assert problem.endswith(f"(correct it at {label}: the next read takes it)")
        read = await target.read([bad.ref, good.ref])
        assert {r.ref: r.problem is None for r in read} == {bad.ref: False, good.ref: True}
    finally:
        await target.aclose()


def test_intercoms_version_of_a_malformed_record_is_a_digest_not_an_error() -> None:
    """The check before a write compares versions: a record whose attributes are not an
    object has another version (the write is refused as moved, and the record read again
    reports it), rather than the write raising."""
    assert version_of({"custom_attributes": None}) == version_of({})
    assert version_of({"custom_attributes": [1]}) != version_of({})
    assert version_of({"custom_attributes": {"tier": float("nan")}}) != version_of({})
