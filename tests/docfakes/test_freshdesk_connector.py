"""The real Freshdesk connector against a Freshdesk written from Freshdesk's documentation alone.

Sources are abbreviated as in ``freshdesk_account.py``. A test marked ``xfail(strict=True)``
keeps the documented behaviour and names the connector defect. Issue 13 moved the identity
refresh off the lagging filter API; the two tests that were marked for it pass since.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.base import Cursor, CustomerRecord, RecordChange, RecordRef, ServiceTarget
from connectors.errors import AuthError
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from tests.docfakes.freshdesk import FreshdeskFake
from tests.docfakes.freshdesk_account import FdField, FdRecord

pytestmark = pytest.mark.anyio

BASE_URL = "https://acme.freshdesk.com"
COMPANY_FIELDS = [
    FdField("cf_customer_number", "Customer number", "custom_text"),
    FdField("cf_special_discount", "Special discount", "custom_decimal"),
    FdField("cf_payment_terms", "Payment terms", "custom_dropdown", ("Net 30", "Net 45", "Net 60")),
    FdField("cf_terms_valid_until", "Terms valid until", "custom_date"),
    FdField("cf_sla_promise", "SLA promise", "custom_text"),
]
INDEX_LAG = 180.0


def make_fake(**account_options: Any) -> FreshdeskFake:
    fake = FreshdeskFake(index_lag_seconds=INDEX_LAG, **account_options)
    fake.account.fields["company"] += COMPANY_FIELDS
    fake.account.fields["contact"] += [FdField("cf_deal_terms", "Deal terms", "custom_paragraph")]
    return fake


def connect(fake: FreshdeskFake, **config: Any) -> ServiceTarget:
    """The connector as the registry builds it, talking to the fake, sleeping on its clock."""
    spec = get_spec("freshdesk")
    settings_ = {
        "kind": "freshdesk",
        "base_url": BASE_URL,
        "api_key": SecretStr(fake.account.api_key),
        **config,
    }
    options = ConnectorOptions(transport=httpx.ASGITransport(app=fake.app), sleep=fake.clock.sleep)
    target: ServiceTarget = spec.factory(
        "desk", spec.config_model.model_validate(settings_), options
    )
    return target


def company(fake: FreshdeskFake, name: str, number: str, **options: Any) -> FdRecord:
    return fake.account.add("company", name, custom={"cf_customer_number": number}, **options)


@pytest.fixture
def fake() -> FreshdeskFake:
    return make_fake()


@pytest.fixture
async def target(fake: FreshdeskFake) -> AsyncIterator[ServiceTarget]:
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


def ref(record: FdRecord) -> RecordRef:
    return RecordRef(kind=record.kind, id=str(record.id))


def keys(records: Sequence[CustomerRecord]) -> list[str]:
    return [r.ref.key for r in records]


def latest(records: Sequence[CustomerRecord], record: FdRecord) -> CustomerRecord:
    found = [r for r in records if r.ref == ref(record)]
    assert found, f"{ref(record).key} is not in the read"
    return found[-1]


# -- check and auth ------------------------------------------------------------------------


async def test_check_accepts_the_key_and_reports_the_minute_budget(target: ServiceTarget) -> None:
    health = await target.check()
    assert health.ok
    assert health.api_usage is not None
    assert "200" in health.api_usage  # X-RateLimit-Total [RLFD]


async def test_wrong_key_is_an_auth_error_that_names_no_secret(fake: FreshdeskFake) -> None:
    connector = connect(fake, api_key=SecretStr("wrong-key-55555"))
    try:
        health = await connector.check()
        with pytest.raises(AuthError) as raised:
            await read_feed(connector)
    finally:
        await connector.aclose()
    assert not health.ok
    assert "wrong-key-55555" not in health.detail + str(raised.value)
    assert fake.log.refused(401)


# -- identity feed -------------------------------------------------------------------------


async def test_first_read_indexes_companies_and_contacts_with_identity(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1", domains=["acme.example", "acme.test"])
    dana = fake.account.add(
        "contact",
        "Dana",
        email="dana@acme.example",
        other_emails=["d.ortiz@acme.example"],
        unique_external_id="U-7",
        company_id=acme.id,
    )
    records, _ = await read_feed(target)
    assert sorted(keys(records)) == sorted([ref(acme).key, ref(dana).key])
    assert latest(records, acme).external_id == "C-1"  # customer number field [SA2]
    assert set(latest(records, acme).domains) == {"acme.example", "acme.test"}
    assert latest(records, dana).external_id == "U-7"
    assert set(latest(records, dana).emails) == {"dana@acme.example", "d.ortiz@acme.example"}


async def test_listing_follows_the_link_header_to_the_last_page(fake: FreshdeskFake) -> None:
    everyone = [company(fake, f"Co {n}", f"C-{n}") for n in range(250)]
    connector = connect(fake, per_page=100)
    try:
        records, _ = await read_feed(connector)
    finally:
        await connector.aclose()
    assert sorted(keys(records)) == sorted(ref(c).key for c in everyone)
    pages = [parse_qs(c.query).get("page", ["1"])[0] for c in fake.log.to("/api/v2/companies")]
    assert {"1", "2", "3"} <= set(pages)
    assert not fake.log.violations


@settings(max_examples=25, deadline=None)
@given(
    per_page=st.integers(min_value=1, max_value=7),
    companies=st.integers(min_value=0, max_value=20),
    contacts=st.integers(min_value=0, max_value=12),
)
def test_every_record_reaches_the_index_exactly_once_per_full_read(
    per_page: int, companies: int, contacts: int
) -> None:
    """Invariant over page sizes [SA2 page/per_page, LINK]; the contact list's own budget
    [RLFD] is paced on the fake clock."""

    async def scenario() -> None:
        fake = make_fake()
        expected = {ref(company(fake, f"Co {n}", f"C-{n}")).key for n in range(companies)}
        expected |= {
            ref(fake.account.add("contact", f"P {n}", email=f"p{n}@x.example")).key
            for n in range(contacts)
        }
        connector = connect(fake, per_page=per_page)
        try:
            records, _ = await read_feed(connector)
        finally:
            await connector.aclose()
        assert sorted(keys(records)) == sorted(expected)

    asyncio.run(scenario())


async def test_contact_listing_stays_within_its_own_minute_budget(fake: FreshdeskFake) -> None:
    for n in range(45):
        fake.account.add("contact", f"P {n}", email=f"p{n}@x.example")
    connector = connect(fake, per_page=1)
    try:
        records, _ = await read_feed(connector)
    finally:
        await connector.aclose()
    assert len(set(keys(records))) == 45
    assert len(fake.log.to("/api/v2/contacts")) >= 45
    assert not fake.log.refused(429), "contact listing is capped at 20 a minute on Growth [RLFD]"


async def test_a_contact_edited_after_the_checkpoint_comes_back_with_its_new_identity(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    dana = fake.account.add("contact", "Dana", email="dana@acme.example", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fake.account.agent_edit(dana, email="dana@new.example")
    records, _ = await read_feed(target, checkpoint)
    assert latest(records, dana).emails == ("dana@new.example",)
    assert not fake.log.violations, "only documented list filters (_updated_since) [PFD]"


async def test_a_soft_deleted_contact_is_reported_deleted(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    dana = fake.account.add("contact", "Dana", email="dana@acme.example", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fake.account.soft_delete(dana)
    records, _ = await read_feed(target, checkpoint)
    assert latest(records, dana).deleted


async def test_a_company_identity_change_reaches_the_index_once_the_search_index_has_it(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fake.account.agent_edit(acme, custom={"cf_customer_number": "C-1-NEW"}, domains=["acme.io"])
    fake.clock.advance(INDEX_LAG + 60)  # the filter API has caught up [FLT]
    records, _ = await read_feed(target, checkpoint)
    assert latest(records, acme).external_id == "C-1-NEW"
    assert latest(records, acme).domains == ("acme.io",)


async def test_a_company_created_ten_seconds_before_a_later_read_is_findable(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    company(fake, "Old", "C-OLD", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fresh = company(fake, "Fresh", "C-NEW", seconds_ago=10)
    records, _ = await read_feed(target, checkpoint)
    assert ref(fresh).key in keys(records)


async def test_a_contact_created_ten_seconds_before_a_later_read_is_findable(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    """Contacts come from the list endpoint with ``_updated_since`` [PFD], which has no lag."""
    fake.account.add("contact", "Old", email="old@x.example", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fresh = fake.account.add("contact", "Fresh", email="fresh@x.example", seconds_ago=10)
    records, _ = await read_feed(target, checkpoint)
    assert ref(fresh).key in keys(records)


async def test_a_company_identity_change_made_just_before_a_read_is_not_indexed_stale(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fake.account.agent_edit(acme, custom={"cf_customer_number": "C-1-NEW"})
    fake.clock.advance(10)
    records, _ = await read_feed(target, checkpoint)
    numbers = [r.external_id for r in records if r.ref == ref(acme)]
    assert "C-1" not in numbers


async def test_a_company_created_shortly_before_a_run_is_found_by_a_later_run(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    company(fake, "Old", "C-OLD", seconds_ago=7200)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    fresh = company(fake, "Fresh", "C-NEW", seconds_ago=10)
    _, checkpoint = await read_feed(target, checkpoint)
    fake.clock.advance(INDEX_LAG + 60)
    records, _ = await read_feed(target, checkpoint)
    assert ref(fresh).key in keys(records)


async def test_more_changed_companies_than_the_filter_api_returns_are_all_indexed(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    old = [company(fake, f"Co {n}", f"C-{n}", seconds_ago=7200) for n in range(320)]
    _, checkpoint = await read_feed(target)
    fake.clock.advance(600)
    for record in old:
        fake.account.agent_edit(record, note="touched")
    fake.clock.advance(INDEX_LAG + 60)
    records, _ = await read_feed(target, checkpoint)
    assert {ref(c).key for c in old} <= set(keys(records))  # the filter API stops at 300 [PFD]
    assert not fake.log.violations


async def test_records_changed_while_the_list_is_paging_are_all_indexed(
    fake: FreshdeskFake,
) -> None:
    companies = [company(fake, f"Co {n}", f"C-{n}", seconds_ago=7200) for n in range(6)]
    connector = connect(fake, per_page=2)
    try:
        seen: list[CustomerRecord] = []
        checkpoint: Cursor | None = None
        with anyio.fail_after(20):
            async for page in connector.customers(None):
                seen += page.records
                checkpoint = page.checkpoint
                if len(seen) == 2:
                    fake.account.agent_edit(companies[0], custom={"cf_customer_number": "C-0-NEW"})
                    fake.account.agent_edit(companies[5], custom={"cf_customer_number": "C-5-NEW"})
        fake.clock.advance(INDEX_LAG + 600)
        later, _ = await read_feed(connector, checkpoint)
    finally:
        await connector.aclose()
    assert {ref(c).key for c in companies} <= set(keys(seen))
    assert latest(seen + later, companies[0]).external_id == "C-0-NEW"
    assert latest(seen + later, companies[5]).external_id == "C-5-NEW"


# -- reads ---------------------------------------------------------------------------------


async def test_read_returns_current_values_and_leaves_out_missing_records(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add(
        "company",
        "Acme",
        description="Key account",
        note="VIP",
        custom={"cf_customer_number": "C-1", "cf_payment_terms": "Net 30"},
    )
    missing = RecordRef(kind="company", id="404404")
    records = await target.read([ref(acme), missing])
    assert keys(records) == [ref(acme).key]
    assert records[0].fields["description"] == "Key account"
    assert records[0].fields["note"] == "VIP"
    assert records[0].fields["custom_fields.cf_payment_terms"] == "Net 30"


# -- writes --------------------------------------------------------------------------------


async def test_write_sets_custom_fields_and_the_note_field_one_put_per_record(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1", description="Agents' own text")
    note = "Agents' own text\n\n=== dealbridge ===\n- 15% discount; Net 60\n=== end dealbridge ==="
    change = RecordChange(
        ref=ref(acme),
        fields={
            "description": note,
            "custom_fields.cf_special_discount": 15,
            "custom_fields.cf_payment_terms": "Net 60",
            "custom_fields.cf_terms_valid_until": "2027-04-22",
        },
    )
    [result] = await target.write([change])
    assert result.ok, result.error
    assert len(fake.log.to(f"/api/v2/companies/{acme.id}", "PUT")) == 1
    assert acme.attrs["description"] == note
    assert acme.custom["cf_payment_terms"] == "Net 60"
    [after] = await target.read([ref(acme)])
    for path in change.fields:
        assert after.fields[path] == result.fields[path]


async def test_a_validation_error_fails_only_that_record_and_names_the_field(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    good, bad = company(fake, "Good", "C-1"), company(fake, "Bad", "C-2")
    results = await target.write(
        [
            RecordChange(ref=ref(good), fields={"custom_fields.cf_payment_terms": "Net 45"}),
            RecordChange(ref=ref(bad), fields={"custom_fields.cf_payment_terms": "net45"}),
        ]
    )
    assert [r.ok for r in results] == [True, False]
    assert results[1].error is not None
    assert "cf_payment_terms" in results[1].error
    assert good.custom["cf_payment_terms"] == "Net 45"
    assert "cf_payment_terms" not in bad.custom


async def test_a_write_refused_for_the_agents_role_stops_with_an_auth_error(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    """403 means the agent's role may not make this call [ERR]: no record can succeed, so it
    is a run-level error, not one failed record after another."""
    acme = company(fake, "Acme", "C-1")
    fake.read_only_agent = True
    with pytest.raises(AuthError) as raised:
        await target.write([RecordChange(ref=ref(acme), fields={"description": "x"})])
    assert "access_denied" in str(raised.value) or "403" in str(raised.value)
    assert fake.account.api_key not in str(raised.value)
    assert acme.attrs["description"] is None


async def test_a_write_to_a_record_deleted_meanwhile_fails_that_record(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    gone = RecordRef(kind="company", id="404404")
    acme = company(fake, "Acme", "C-1")
    results = await target.write(
        [
            RecordChange(ref=gone, fields={"description": "x"}),
            RecordChange(ref=ref(acme), fields={"description": "y"}),
        ]
    )
    assert [r.ok for r in results] == [False, True]
    assert acme.attrs["description"] == "y"


# -- field catalog -------------------------------------------------------------------------


async def test_field_catalog_lists_custom_fields_with_dropdown_choices(
    target: ServiceTarget,
) -> None:
    catalog = {f.path: f for f in await target.field_catalog()}
    terms = catalog["custom_fields.cf_payment_terms"]
    assert terms.choices == ("Net 30", "Net 45", "Net 60")
    assert terms.writable
    assert {"description", "note"} <= set(catalog)
    assert "custom_fields.cf_deal_terms" in catalog


# -- rate limits ---------------------------------------------------------------------------


async def test_a_429_is_waited_out_for_its_retry_after_and_the_read_succeeds(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1")
    fake.throttle.count, fake.throttle.seconds = 2, 9
    records = await target.read([ref(acme)])
    assert keys(records) == [ref(acme).key]
    assert len(fake.log.refused(429)) == 2
    assert sum(fake.clock.sleeps) >= 18


async def test_a_throttled_write_is_retried_not_failed(
    fake: FreshdeskFake, target: ServiceTarget
) -> None:
    acme = company(fake, "Acme", "C-1")
    fake.throttle.count, fake.throttle.seconds = 1, 30
    [result] = await target.write([RecordChange(ref=ref(acme), fields={"note": "terms"})])
    assert result.ok, result.error
    assert acme.attrs["note"] == "terms"
    assert sum(fake.clock.sleeps) >= 30


async def test_requests_stay_within_the_plans_minute_budget() -> None:
    """Per-minute account budget [RLFD]: the connector configured for it paces itself."""
    fake = make_fake(requests_per_minute=10)
    companies = [company(fake, f"Co {n}", f"C-{n}") for n in range(25)]
    connector = connect(fake, requests_per_minute=10)
    try:
        records = await connector.read([ref(c) for c in companies])
    finally:
        await connector.aclose()
    assert len(records) == 25
    assert not fake.log.refused(429)
    assert fake.clock.offset >= 60  # 25 requests at 10 a minute
