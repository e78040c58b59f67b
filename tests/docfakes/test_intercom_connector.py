"""The real Intercom connector against an Intercom written from its documentation alone
(``tests/docfakes/intercom.py``: FACTS.md and the OpenAPI description; ``§n`` is FACTS.md).

The connector is built through the registry, as config.yaml would build it, and sleeps on the
fake's clock. Where the two disagree, FACTS.md and the description decide (see each test).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.base import (
    Cursor,
    CustomerRecord,
    IdentityKey,
    RecordChange,
    RecordRef,
    ServiceTarget,
)
from connectors.errors import AuthError
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.intercom import DataAttribute, IntercomFake

pytestmark = pytest.mark.anyio

TOKEN = "tok-dealbridge"
ADMIN_ID = "991200001"
COMPANY_ATTRIBUTES = [
    DataAttribute("dealbridge_terms", "company", "string"),
    DataAttribute("sla_promise", "company", "string"),
    DataAttribute("special_discount", "company", "float"),
    DataAttribute("payment_terms", "company", "string", options=["Net 30", "Net 45", "Net 60"]),
]


def make_fake(**options: Any) -> IntercomFake:
    fake = IntercomFake(FakeClock(), tokens=frozenset({TOKEN}), **options)
    for attribute in COMPANY_ATTRIBUTES:
        fake.define_attribute(attribute)
    fake.define_attribute(DataAttribute("dealbridge_terms", "contact", "string"))
    return fake


def connect(fake: IntercomFake, **config: Any) -> ServiceTarget:
    """The connector as the registry builds it, talking to the fake, sleeping on its clock."""
    spec = get_spec("intercom")

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    settings_ = {
        "kind": "intercom",
        "access_token": SecretStr(TOKEN),
        "admin_id": ADMIN_ID,
        **config,
    }
    options = ConnectorOptions(transport=httpx.ASGITransport(app=fake.app), sleep=sleep)
    target: ServiceTarget = spec.factory(
        "desk", spec.config_model.model_validate(settings_), options
    )
    return target


@pytest.fixture
def fake() -> IntercomFake:
    return make_fake()


@pytest.fixture
async def target(fake: IntercomFake) -> AsyncIterator[ServiceTarget]:
    connector = connect(fake)
    yield connector
    await connector.aclose()


async def read_feed(
    target: ServiceTarget, since: Cursor | None = None
) -> tuple[list[CustomerRecord], Cursor | None]:
    records: list[CustomerRecord] = []
    checkpoint = since
    with anyio.fail_after(20):
        async for page in target.customers(since):
            records += page.records
            checkpoint = page.checkpoint
    return records, checkpoint


def keys(records: Sequence[CustomerRecord]) -> list[str]:
    return [r.ref.key for r in records]


def company_ref(company_id: str) -> RecordRef:
    return RecordRef(kind="company", id=company_id)


# -- the identity index (§4.7, §5.3, §5.4) ----------------------------------------------------


async def test_the_first_refresh_indexes_every_company_and_user_once(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    companies = [fake.add_company(f"C-{n}", f"Co {n}") for n in range(40)]
    users = [fake.add_contact(f"p{n}@x.example", external_id=f"u{n}") for n in range(7)]
    fake.add_contact("lead@x.example", role="lead")
    fake.clock.advance(600)  # seed data the search has long indexed
    records, _ = await read_feed(target)
    assert sorted(keys(records)) == sorted(
        [f"company:{c}" for c in companies] + [f"contact:{u}" for u in users]
    )
    by_key = {r.ref.key: r for r in records}
    assert by_key[f"company:{companies[3]}"].external_id == "C-3"
    assert by_key[f"contact:{users[2]}"].emails == ("p2@x.example",)


@settings(max_examples=20, deadline=None)
@given(
    scroll_page=st.integers(min_value=1, max_value=9),
    contact_page=st.integers(min_value=1, max_value=9),
    companies=st.integers(min_value=0, max_value=25),
    contacts=st.integers(min_value=0, max_value=20),
)
def test_any_page_sizes_index_every_record_exactly_once(
    scroll_page: int, contact_page: int, companies: int, contacts: int
) -> None:
    async def scenario() -> None:
        fake = make_fake(scroll_page_size=scroll_page)
        expected = {f"company:{fake.add_company(f'C-{n}', f'Co {n}')}" for n in range(companies)}
        expected |= {f"contact:{fake.add_contact(f'p{n}@x.example')}" for n in range(contacts)}
        fake.clock.advance(600)
        connector = connect(fake, contact_page_size=contact_page)
        try:
            records, _ = await read_feed(connector)
        finally:
            await connector.aclose()
        assert sorted(keys(records)) == sorted(expected)

    asyncio.run(scenario())


@pytest.mark.parametrize("offset", [-11, 0, 9, 13])
async def test_later_changes_are_found_by_the_day_granular_search_in_any_time_zone(
    offset: int,
) -> None:
    fake = make_fake(workspace_utc_offset_hours=offset)
    first = fake.add_contact("first@x.example")
    fake.clock.advance(3600)
    target = connect(fake)
    _, cursor = await read_feed(target)
    fake.clock.advance(7 * 3600)  # crosses the workspace's midnight for some offsets
    fake.agent_edits_contact(first, dealbridge_terms="x")
    late = fake.add_contact("late@x.example")
    fake.clock.advance(fake.search_index_delay)  # §5.3: new contacts take minutes to be found
    records, _ = await read_feed(target, cursor)
    assert sorted(keys(records)) == sorted([f"contact:{first}", f"contact:{late}"])
    await target.aclose()


async def test_a_contact_the_search_had_not_indexed_is_found_by_the_next_refresh(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    fake.clock.advance(3600)
    _, cursor = await read_feed(target)
    young = fake.add_contact("young@x.example")
    fake.clock.advance(5)
    records, cursor = await read_feed(target, cursor)
    assert f"contact:{young}" not in keys(records)  # §5.3: not searchable yet
    fake.clock.advance(fake.search_index_delay + 60)
    records, _ = await read_feed(target, cursor)
    assert f"contact:{young}" in keys(records)


async def test_companies_are_not_scrolled_again_before_their_interval(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    fake.add_company("C-1", "Co 1")
    _, cursor = await read_feed(target)
    scrolls = sum(1 for _m, path in fake.requests if path == "/companies/scroll")
    fake.clock.advance(300)
    await read_feed(target, cursor)
    assert sum(1 for _m, path in fake.requests if path == "/companies/scroll") == scrolls


async def test_an_open_scroll_of_another_integration_leaves_companies_for_later(
    fake: IntercomFake,
) -> None:
    fake.add_company("C-1", "Co 1")
    fake.add_contact("p@x.example")
    fake.clock.advance(600)
    other = connect(fake, record_kinds=["company"])
    async for _page in other.customers(None):
        break  # another integration's scroll stays open (§4.7: one per app)
    target = connect(fake)
    records, _ = await read_feed(target)
    assert {r.ref.kind for r in records} == {"contact"}
    assert any("another company scroll is open" in n for n in target.notices())
    fake.clock.advance(fake.scroll_ttl + 1)
    records, _ = await read_feed(target)
    assert "company" in {r.ref.kind for r in records}
    await other.aclose()
    await target.aclose()


# -- lookups for misses (§4.4, §5.2, §5.3) ---------------------------------------------------


async def test_new_customers_are_found_directly_not_reported_unmatched(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    await read_feed(target)
    company = fake.add_company("CUST-7", "Brand new")
    user = fake.add_contact("new@x.example", external_id="u-7")
    found = await target.lookup(
        [
            IdentityKey(match="external_id", value="cust-7", kind="company"),
            IdentityKey(match="external_id", value="u-7", kind="contact"),
        ]
    )
    assert sorted(keys(found)) == sorted([f"company:{company}", f"contact:{user}"])
    assert all(method != "POST" or path != "/companies" for method, path in fake.requests)


async def test_an_email_is_found_once_the_search_has_indexed_it(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    user = fake.add_contact("someone@x.example")
    key = IdentityKey(match="email", value="someone@x.example", kind="contact")
    assert await target.lookup([key]) == []  # §5.3: the only way to an email is the search
    fake.clock.advance(fake.search_index_delay)
    assert keys(await target.lookup([key])) == [f"contact:{user}"]


# -- writes (§4.3, §5.5, §5.6, §6) -----------------------------------------------------------


async def test_changed_attributes_are_written_by_intercom_id_and_read_back(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    company = fake.add_company("C-1", "Acme")
    [record] = await target.read([company_ref(company)])
    results = await target.write(
        [
            RecordChange(
                ref=record.ref,
                fields={
                    "custom_attributes.sla_promise": "4h on P1",
                    "custom_attributes.payment_terms": "Net 60",
                    "custom_attributes.dealbridge_terms": "- 15% net60 (West)",
                },
                expected_version=record.version,
            )
        ]
    )
    assert results[0].ok, results[0].error
    assert fake.companies[company]["custom_attributes"] == {
        "sla_promise": "4h on P1",
        "payment_terms": "Net 60",
        "dealbridge_terms": "- 15% net60 (West)",
    }
    assert ("PUT", f"/companies/{company}") in fake.requests
    assert ("POST", "/companies") not in fake.requests


@pytest.mark.xfail(
    strict=True,
    reason="doc-fake error: it refuses every non-string company attribute value because the "
    "description's schema says additionalProperties: {type: string}; FACTS.md §10.1 records "
    "that the same schemas' own examples send numbers and booleans, data attributes are typed "
    "integer/float/boolean (§6.1), and Intercom's own generated client types custom attribute "
    "values as string | number (intercom-client 7.0.3 CustomAttributes). The connector sends "
    "a float attribute a number.",
)
async def test_a_number_goes_to_a_float_attribute_as_a_number(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    """FACTS.md §10.1: a float attribute takes a number, as the description's examples send."""
    company = fake.add_company("C-1", "Acme")
    results = await target.write(
        [RecordChange(ref=company_ref(company), fields={"custom_attributes.special_discount": 15})]
    )
    assert results[0].ok, results[0].error
    assert fake.companies[company]["custom_attributes"]["special_discount"] == 15.0


async def test_bad_input_fails_one_record_each_and_the_others_are_written(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    ids = [fake.add_company(f"C-{n}", f"Co {n}") for n in range(5)]
    await target.read([company_ref(i) for i in ids])
    del fake.companies[ids[4]]  # deleted by a teammate between lookup and write
    results = await target.write(
        [
            RecordChange(ref=company_ref(ids[0]), fields={"custom_attributes.nowhere": "x"}),
            RecordChange(
                ref=company_ref(ids[1]), fields={"custom_attributes.payment_terms": "Net 90"}
            ),
            RecordChange(
                ref=company_ref(ids[2]), fields={"custom_attributes.dealbridge_terms": "y" * 256}
            ),
            RecordChange(ref=company_ref(ids[3]), fields={"custom_attributes.sla_promise": "kept"}),
            RecordChange(ref=company_ref(ids[4]), fields={"custom_attributes.sla_promise": "gone"}),
        ]
    )
    assert [r.ok for r in results] == [False, False, False, True, False]
    assert "not a company data attribute" in str(results[0].error)
    assert "not one of its options" in str(results[1].error)
    assert "at most 255" in str(results[2].error)
    assert "not found in Intercom" in str(results[4].error)
    assert fake.companies[ids[3]]["custom_attributes"] == {"sla_promise": "kept"}
    assert all(fake.companies[i]["custom_attributes"] == {} for i in ids[:3])
    assert ids[4] not in fake.companies


async def test_an_agents_edit_since_the_read_is_never_overwritten(
    fake: IntercomFake, target: ServiceTarget
) -> None:
    company = fake.add_company("C-1", "Acme", sla_promise="old")
    [record] = await target.read([company_ref(company)])
    fake.agent_edits_company(company, sla_promise="agent's")
    results = await target.write(
        [
            RecordChange(
                ref=record.ref,
                fields={"custom_attributes.sla_promise": "ours"},
                expected_version=record.version,
            )
        ]
    )
    assert not results[0].ok
    assert "changed in Intercom since it was read" in str(results[0].error)
    assert results[0].moved
    assert fake.companies[company]["custom_attributes"]["sla_promise"] == "agent's"


async def test_a_contact_note_is_added_and_read_back_as_written(fake: IntercomFake) -> None:
    user = fake.add_contact("p@x.example")
    target = connect(fake, note_place="contact_note")
    text = "=== dealbridge ===\n- 15% net60 (West)\n=== end ==="
    results = await target.write(
        [RecordChange(ref=RecordRef(kind="contact", id=user), fields={"notes": text})]
    )
    assert results[0].ok, results[0].error
    [record] = await target.read([RecordRef(kind="contact", id=user)])
    assert record.fields["notes"] == text
    await target.aclose()


# -- limits and auth (§1.2, §3) ----------------------------------------------------------------


async def test_a_backfill_keeps_to_the_ten_second_windows_without_a_429() -> None:
    fake = make_fake(per_minute=120)  # 20 per 10 s
    ids = [fake.add_company(f"C-{n}", f"Co {n}") for n in range(60)]
    target = connect(fake, requests_per_minute=120)
    records = await target.read([company_ref(i) for i in ids])
    changes = [
        RecordChange(ref=r.ref, fields={"custom_attributes.sla_promise": "x"}) for r in records
    ]
    results = await target.write(changes)
    assert all(r.ok for r in results)
    assert sum(1 for method, _ in fake.requests if method == "PUT") == 60
    stats = target.http_stats  # type: ignore[attr-defined]
    assert stats.throttled == 0
    await target.aclose()


async def test_a_refused_token_is_an_admins_problem(fake: IntercomFake) -> None:
    fake.tokens = frozenset({"rotated"})
    target = connect(fake)
    with pytest.raises(AuthError):
        await read_feed(target)
    await target.aclose()
