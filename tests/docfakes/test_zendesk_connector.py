"""The real Zendesk connector against a Zendesk written from Zendesk's documentation alone.

Sources are abbreviated as in ``zendesk_account.py``. A test marked ``xfail(strict=True)`` keeps
the documented behaviour and names the connector defect; it turns green when the defect is
fixed (none is open: issue 13 covered the index misses; date fields printed as timestamps are
now read and reported as the day).
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

from connectors.base import (
    Cursor,
    CustomerRecord,
    IdentityKey,
    RecordChange,
    RecordRef,
    ServiceTarget,
)
from connectors.errors import AuthError, PermanentError, TransientError
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from tests.docfakes.zendesk import ZendeskFake
from tests.docfakes.zendesk_account import CustomField, Kind, Record

pytestmark = pytest.mark.anyio

BASE_URL = "https://acme.zendesk.com"
ORG_FIELDS = [
    CustomField("special_discount", "decimal", "Special discount"),
    CustomField("payment_terms", "dropdown", "Payment terms", ("net30", "net45", "net60")),
    CustomField("terms_valid_until", "date", "Terms valid until"),
    CustomField("sla_promise", "text", "SLA promise"),
]
USER_FIELDS = [CustomField("deal_terms", "textarea", "Deal terms")]


def make_fake(**account_options: Any) -> ZendeskFake:
    fake = ZendeskFake(**account_options)
    fake.account.fields["organization"] = list(ORG_FIELDS)
    fake.account.fields["user"] = list(USER_FIELDS)
    return fake


def connect(fake: ZendeskFake, **config: Any) -> ServiceTarget:
    """The connector as the registry builds it, talking to the fake, sleeping on its clock."""
    spec = get_spec("zendesk")
    settings_ = {
        "kind": "zendesk",
        "base_url": BASE_URL,
        "email": fake.account.email,
        "api_token": SecretStr(fake.account.token),
        **config,
    }
    options = ConnectorOptions(transport=httpx.ASGITransport(app=fake.app), sleep=fake.clock.sleep)
    target: ServiceTarget = spec.factory(
        "desk", spec.config_model.model_validate(settings_), options
    )
    return target


@pytest.fixture
def fake() -> ZendeskFake:
    return make_fake()


@pytest.fixture
async def target(fake: ZendeskFake) -> AsyncIterator[ServiceTarget]:
    connector = connect(fake)
    yield connector
    await connector.aclose()


async def read_feed(
    target: ServiceTarget, since: Cursor | None = None
) -> tuple[list[CustomerRecord], Cursor | None]:
    """Every record one identity read yields, and the last checkpoint."""
    records: list[CustomerRecord] = []
    checkpoint = since
    with anyio.fail_after(20):
        async for page in target.customers(since):
            records += page.records
            checkpoint = page.checkpoint
    return records, checkpoint


def org_ref(record: Record) -> RecordRef:
    return RecordRef(kind=record.kind, id=str(record.id))


def keys(records: Sequence[CustomerRecord]) -> list[str]:
    return [r.ref.key for r in records]


# -- check and auth ------------------------------------------------------------------------


async def test_check_accepts_the_token_and_reports_the_minute_budget(target: ServiceTarget) -> None:
    health = await target.check()
    assert health.ok
    assert health.api_usage is not None
    assert "700" in health.api_usage  # X-Rate-Limit [RL]


async def test_wrong_token_is_an_auth_error_that_names_no_secret(fake: ZendeskFake) -> None:
    connector = connect(fake, api_token=SecretStr("not-the-token-987"))
    try:
        health = await connector.check()
        with pytest.raises(AuthError) as raised:
            await read_feed(connector)
    finally:
        await connector.aclose()
    assert not health.ok
    assert "not-the-token-987" not in health.detail + str(raised.value)
    assert fake.log.refused(401), "the fake answered 401 {'error': \"Couldn't authenticate you\"}"


async def test_exports_refused_to_a_non_admin_are_a_permanent_error(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    fake.account.role = "agent"  # [IE] incremental exports are allowed for admins only
    fake.account.add("organization", "Acme", external_id="C-1")
    with pytest.raises(PermanentError) as raised:
        await read_feed(target)
    assert "403" in str(raised.value) or "Forbidden" in str(raised.value)


# -- identity feed: organizations (time-based) and users (cursor-based) --------------------


async def test_full_read_indexes_every_organization_and_user_with_identity(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add(
        "organization", "Acme", external_id="C-1", domain_names=["acme.example", "acme.test"]
    )
    dana = fake.account.add(
        "user", "Dana", external_id="U-7", email="dana@acme.example", seconds_ago=120
    )
    records, _ = await read_feed(target)
    by_key = {r.ref.key: r for r in records}
    assert set(by_key) == {org_ref(acme).key, org_ref(dana).key}
    assert by_key[org_ref(acme).key].external_id == "C-1"
    assert set(by_key[org_ref(acme).key].domains) == {"acme.example", "acme.test"}
    assert by_key[org_ref(dana).key].emails == ("dana@acme.example",)


# One second's items may fill a whole page (ties >= per_page, or any per_page=1 read): the
# page's end_time is then its own start_time. Zendesk returns every item of a second on one
# page, exceeding per_page [IE per_page note], so the read goes on from end_time + 1.


async def test_organizations_sharing_one_second_across_small_pages_are_indexed_once(
    fake: ZendeskFake,
) -> None:
    # [IE] a time-based page may exceed per_page when items share a timestamp, and the next
    # page starts at end_time again, so the boundary second comes twice [GIE].
    for n in range(7):
        fake.account.add("organization", f"Tie {n}", external_id=f"T-{n}", seconds_ago=600)
    fake.account.add("organization", "Later", external_id="L-1", seconds_ago=300)
    connector = connect(fake, per_page=2, record_kinds=("organization",))
    try:
        records, _ = await read_feed(connector)
    finally:
        await connector.aclose()
    assert sorted(r.external_id or "" for r in records) == sorted(
        [f"T-{n}" for n in range(7)] + ["L-1"]
    )
    assert len(keys(records)) == len(set(keys(records))), "a record was yielded twice"


@settings(max_examples=30, deadline=None)
@given(
    per_page=st.integers(min_value=2, max_value=5),
    org_ages=st.lists(st.sampled_from([900, 899, 898, 600]), max_size=12),
    user_ages=st.lists(st.sampled_from([900, 899, 600]), max_size=12),
)
def test_every_record_reaches_the_index_exactly_once_per_full_read(
    per_page: int, org_ages: list[int], user_ages: list[int]
) -> None:
    """Invariant over page sizes and update-time ties: the organization export is time-based
    and repeats the boundary second [GIE]; the user export is cursor-based [IE]; exports are
    limited to 10 a minute [IE]."""

    async def scenario() -> None:
        fake = make_fake()
        expected = [
            fake.account.add("organization", f"Org {n}", seconds_ago=age)
            for n, age in enumerate(org_ages)
        ] + [
            fake.account.add("user", f"User {n}", seconds_ago=age)
            for n, age in enumerate(user_ages)
        ]
        connector = connect(fake, per_page=per_page)
        try:
            records, _ = await read_feed(connector)
        finally:
            await connector.aclose()
        assert sorted(keys(records)) == sorted(org_ref(r).key for r in expected)

    asyncio.run(scenario())


async def test_incremental_read_brings_changes_made_since_the_checkpoint(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add("organization", "Acme", external_id="C-1", seconds_ago=3600)
    fake.account.add("organization", "Beta", external_id="C-2", seconds_ago=1800)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(120)
    fake.account.agent_edit(acme, external_id="C-1-NEW", domain_names=["acme.example"])
    fake.clock.advance(61)  # out of the excluded last minute [GIE]
    records, _ = await read_feed(target, checkpoint)
    assert not fake.log.refused(422), "no start_time within the last minute [IE]"
    changed = [r for r in records if r.ref == org_ref(acme)]
    assert changed
    assert changed[-1].external_id == "C-1-NEW"
    assert changed[-1].domains == ("acme.example",)


async def test_users_changed_after_the_cursor_come_back_on_the_next_cursor_read(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    dana = fake.account.add("user", "Dana", email="dana@acme.example", seconds_ago=900)
    _, checkpoint = await read_feed(target)
    fake.account.agent_edit(dana, email="dana@new.example")
    fake.clock.advance(90)
    records, _ = await read_feed(target, checkpoint)
    assert [r.emails for r in records if r.ref == org_ref(dana)] == [("dana@new.example",)]


async def test_a_record_changed_while_the_feed_is_paging_is_in_this_read_or_the_next(
    fake: ZendeskFake,
) -> None:
    orgs = [
        fake.account.add("organization", f"Org {n}", external_id=f"C-{n}", seconds_ago=900 - n)
        for n in range(6)
    ]
    connector = connect(fake, per_page=2, record_kinds=("organization",))
    try:
        first_read: list[CustomerRecord] = []
        checkpoint: Cursor | None = None
        with anyio.fail_after(20):
            async for page in connector.customers(None):
                first_read += page.records
                checkpoint = page.checkpoint
                if len(first_read) == 2:
                    # an agent edits one record already read and one not read yet
                    fake.account.agent_edit(orgs[0], external_id="C-0-EDITED")
                    fake.account.agent_edit(orgs[5], external_id="C-5-EDITED")
        fake.clock.advance(120)
        second_read, _ = await read_feed(connector, checkpoint)
    finally:
        await connector.aclose()
    both = {r.ref.key for r in first_read + second_read}
    assert both == {org_ref(o).key for o in orgs}
    latest = {r.ref.key: r.external_id for r in first_read + second_read}
    assert latest[org_ref(orgs[0]).key] == "C-0-EDITED"
    assert latest[org_ref(orgs[5]).key] == "C-5-EDITED"


async def test_exports_stay_within_ten_requests_a_minute(fake: ZendeskFake) -> None:
    for n in range(25):
        fake.account.add("organization", f"Org {n}", seconds_ago=3000 - 10 * n)
    # per_page=2 with distinct seconds: each page repeats the boundary record and adds one.
    connector = connect(fake, per_page=2, record_kinds=("organization",))
    try:
        records, _ = await read_feed(connector)
    finally:
        await connector.aclose()
    assert len({r.ref.key for r in records}) == 25
    exports = fake.log.to("/api/v2/incremental/")
    assert len(exports) > 20
    assert not [c for c in exports if c.status == 429], "the connector paces itself at 10/min [IE]"


@pytest.mark.parametrize("kind", ["organization", "user"])
async def test_a_customer_created_ten_seconds_ago_is_findable(
    fake: ZendeskFake, target: ServiceTarget, kind: Kind
) -> None:
    """The export leaves out the last minute [GIE], so the feed cannot show the new record;
    the direct lookup of an index miss (``show_many?external_ids=``) must."""
    fake.account.add(kind, "Old", external_id="C-OLD", seconds_ago=3600)
    fresh = fake.account.add(kind, "Fresh", external_id="C-NEW", seconds_ago=10)
    records, _ = await read_feed(target)
    assert org_ref(fresh).key not in keys(records), "the export shows the last minute [GIE]"
    found = await target.lookup([IdentityKey(match="external_id", value="c-new", kind=kind)])
    assert [r.ref.key for r in found] == [org_ref(fresh).key]


async def test_an_organization_created_ten_seconds_before_a_run_is_found_by_the_next_run(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    """What the documented export does guarantee: the record is exported once it is a minute
    old, so a later incremental read must not have moved past it."""
    fake.account.add("organization", "Old", external_id="C-OLD", seconds_ago=3600)
    fresh = fake.account.add("organization", "Fresh", external_id="C-NEW", seconds_ago=10)
    _, checkpoint = await read_feed(target)
    fake.clock.advance(300)
    records, _ = await read_feed(target, checkpoint)
    assert org_ref(fresh).key in keys(records)


# -- reads ---------------------------------------------------------------------------------


async def test_read_returns_current_values_and_leaves_out_missing_records(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add(
        "organization",
        "Acme",
        external_id="C-1",
        notes="Key account",
        custom={"payment_terms": "net30", "sla_promise": "4h"},
    )
    missing = RecordRef(kind="organization", id="999999")
    records = await target.read([org_ref(acme), missing])
    assert keys(records) == [org_ref(acme).key]
    fields = records[0].fields
    assert fields["notes"] == "Key account"
    assert fields["organization_fields.payment_terms"] == "net30"
    assert fields["organization_fields.sla_promise"] == "4h"


async def test_read_asks_show_many_for_at_most_100_ids_at_a_time(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(230)]
    records = await target.read([org_ref(o) for o in orgs])
    assert len(records) == 230
    assert not fake.log.violations
    batches = [
        parse_qs(c.query)["ids"][0].split(",")
        for c in fake.log.to("/api/v2/organizations/show_many")
    ]
    assert [len(b) for b in batches] == [100, 100, 30]


# -- writes --------------------------------------------------------------------------------


async def test_write_sets_fields_and_the_note_through_a_bulk_job(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add("organization", "Acme", external_id="C-1", notes="Agents' own text")
    note = "Agents' own text\n\n=== dealbridge ===\n- 15% discount; Net 60\n=== end dealbridge ==="
    change = RecordChange(
        ref=org_ref(acme),
        fields={
            "notes": note,
            "organization_fields.special_discount": 15,
            "organization_fields.payment_terms": "net60",
            "organization_fields.sla_promise": "4h response on P1",
        },
    )
    [result] = await target.write([change])
    assert result.ok, result.error
    assert fake.log.to("/api/v2/organizations/update_many", "PUT")
    assert acme.attrs["notes"] == note
    assert acme.custom == {
        "special_discount": 15.0,
        "payment_terms": "net60",
        "sla_promise": "4h response on P1",
    }
    [after] = await target.read([org_ref(acme)])
    for path, value in change.fields.items():
        assert after.fields[path] == value


async def test_clearing_a_field_writes_null(fake: ZendeskFake, target: ServiceTarget) -> None:
    acme = fake.account.add("organization", "Acme", custom={"sla_promise": "4h"})
    [result] = await target.write(
        [RecordChange(ref=org_ref(acme), fields={"organization_fields.sla_promise": None})]
    )
    assert result.ok
    assert acme.custom["sla_promise"] is None


async def test_a_written_date_reads_back_equal_to_what_the_write_reported(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add("organization", "Acme")
    [result] = await target.write(
        [
            RecordChange(
                ref=org_ref(acme), fields={"organization_fields.terms_valid_until": "2027-04-22"}
            )
        ]
    )
    assert result.ok
    [after] = await target.read([org_ref(acme)])
    path = "organization_fields.terms_valid_until"
    assert after.fields[path] == result.fields[path]


async def test_a_job_that_reports_one_record_failed_fails_only_that_record(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(3)]
    fake.account.fail_next_update("organization", orgs[1].id, "PermissionDenied", "Locked by admin")
    results = await target.write(
        [RecordChange(ref=org_ref(o), fields={"notes": f"note {n}"}) for n, o in enumerate(orgs)]
    )
    assert [r.ref for r in results] == [org_ref(o) for o in orgs]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None
    assert "Locked by admin" in results[1].error or "PermissionDenied" in results[1].error
    assert orgs[0].attrs["notes"] == "note 0"
    assert orgs[1].attrs["notes"] is None
    assert orgs[2].attrs["notes"] == "note 2"


async def test_a_dropdown_label_instead_of_its_value_fails_that_record(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    good, bad = fake.account.add("organization", "Good"), fake.account.add("organization", "Bad")
    results = await target.write(
        [
            RecordChange(ref=org_ref(good), fields={"organization_fields.payment_terms": "net45"}),
            RecordChange(ref=org_ref(bad), fields={"organization_fields.payment_terms": "Net 45"}),
        ]
    )
    assert [r.ok for r in results] == [True, False]
    assert good.custom["payment_terms"] == "net45"
    assert "payment_terms" not in bad.custom


async def test_many_changes_go_out_in_jobs_of_at_most_100(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(250)]
    results = await target.write(
        [RecordChange(ref=org_ref(o), fields={"notes": "terms"}) for o in orgs]
    )
    assert all(r.ok for r in results)
    assert len(fake.log.to("/api/v2/organizations/update_many", "PUT")) == 3
    assert not fake.log.violations


async def test_writes_wait_for_a_free_job_slot_when_30_jobs_are_in_flight(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    # Other integrations hold 29 of the 30 slots for two minutes [RL via SA1].
    fake.account.occupy_job_slots(29, seconds=120)
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(300)]
    with anyio.fail_after(20):
        results = await target.write(
            [RecordChange(ref=org_ref(o), fields={"notes": "terms"}) for o in orgs]
        )
    assert all(r.ok for r in results), {r.error for r in results if not r.ok}
    assert all(o.attrs["notes"] == "terms" for o in orgs)


async def test_a_too_many_jobs_refusal_is_waited_out(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    # All 30 slots are taken for 15 s; the refusal body is TooManyJobs [RL via SA1].
    fake.account.occupy_job_slots(30, seconds=15)
    acme = fake.account.add("organization", "Acme")
    with anyio.fail_after(20):
        [result] = await target.write([RecordChange(ref=org_ref(acme), fields={"notes": "x"})])
    assert result.ok, result.error
    assert acme.attrs["notes"] == "x"
    statuses = [c.status for c in fake.log.to("/api/v2/organizations/update_many", "PUT")]
    assert statuses[0] == 429
    assert statuses[-1] == 200


async def test_job_slots_busy_past_the_retries_are_a_transient_error_not_failed_records(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    fake.account.occupy_job_slots(30, seconds=600)
    acme = fake.account.add("organization", "Acme")
    with anyio.fail_after(20), pytest.raises(TransientError):
        await target.write([RecordChange(ref=org_ref(acme), fields={"notes": "x"})])
    assert acme.attrs["notes"] is None


async def test_a_job_that_failed_as_a_whole_fails_its_records(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(2)]
    fake.account.next_job_failure = "Job failed: internal error"  # status "failed" [JOB]
    results = await target.write(
        [RecordChange(ref=org_ref(o), fields={"notes": "x"}) for o in orgs]
    )
    assert [r.ok for r in results] == [False, False]
    assert all(o.attrs["notes"] is None for o in orgs)


async def test_a_job_whose_status_expired_is_settled_by_reading_the_records_back() -> None:
    # Job statuses expire [3p: community post 4408867925914; JOB says one day].
    fake = make_fake(job_expiry_seconds=1.2, job_queued_seconds=0.5, job_working_seconds=1.0)
    connector = connect(fake, job_seconds=2.0)
    try:
        acme = fake.account.add("organization", "Acme")
        [result] = await connector.write(
            [RecordChange(ref=org_ref(acme), fields={"notes": "terms"})]
        )
    finally:
        await connector.aclose()
    assert result.ok, result.error
    assert acme.attrs["notes"] == "terms"
    assert fake.log.to("/api/v2/organizations/show_many"), "the connector read the record back"


# -- field catalog -------------------------------------------------------------------------


async def test_field_catalog_lists_custom_fields_with_dropdown_option_values(
    target: ServiceTarget,
) -> None:
    catalog = {f.path: f for f in await target.field_catalog()}
    assert catalog["organization_fields.payment_terms"].choices == ("net30", "net45", "net60")
    assert catalog["organization_fields.payment_terms"].writable
    assert catalog["organization_fields.special_discount"].type == "decimal"
    assert {"notes", "details"} <= set(catalog)
    assert "user_fields.deal_terms" in catalog


async def test_field_catalog_follows_next_page_past_100_fields(fake: ZendeskFake) -> None:
    fake.account.fields["user"] = [CustomField(f"f_{n}", "text", f"F {n}") for n in range(130)]
    connector = connect(fake)
    try:
        catalog = {f.path for f in await connector.field_catalog()}
    finally:
        await connector.aclose()
    assert {f"user_fields.f_{n}" for n in range(130)} <= catalog


# -- rate limits ---------------------------------------------------------------------------


async def test_a_429_is_waited_out_for_its_retry_after_and_the_read_succeeds(
    fake: ZendeskFake, target: ServiceTarget
) -> None:
    acme = fake.account.add("organization", "Acme")
    fake.throttle.count, fake.throttle.seconds = 1, 7
    records = await target.read([org_ref(acme)])
    assert keys(records) == [org_ref(acme).key]
    assert fake.log.refused(429)
    assert sum(fake.clock.sleeps) >= 7


async def test_a_throttled_export_page_is_retried_without_losing_records(
    fake: ZendeskFake,
) -> None:
    for n in range(5):
        fake.account.add("organization", f"Org {n}", seconds_ago=900 - n)
    connector = connect(fake, per_page=2, record_kinds=("organization",))
    try:
        pages = connector.customers(None)
        first = await anext(pages)
        fake.throttle.count, fake.throttle.seconds = 2, 30
        rest = [page async for page in pages]
    finally:
        await connector.aclose()
    seen = keys(list(first.records) + [r for p in rest for r in p.records])
    assert len(set(seen)) == 5
    assert sum(fake.clock.sleeps) >= 60


async def test_a_one_record_page_size_still_reads_every_organization(fake: ZendeskFake) -> None:
    for n in range(3):
        fake.account.add("organization", f"Org {n}", seconds_ago=900 - n)
    connector = connect(fake, per_page=1, record_kinds=("organization",))
    try:
        records, _ = await read_feed(connector)
    finally:
        await connector.aclose()
    assert len(set(keys(records))) == 3


async def test_requests_stay_within_the_plans_minute_budget() -> None:
    """X-Rate-Limit per minute by plan [RL]: the connector configured for the plan paces
    itself instead of collecting 429s."""
    fake = make_fake(plan_rpm=10)
    orgs = [fake.account.add("organization", f"Org {n}") for n in range(1500)]
    connector = connect(fake, plan_rpm=10)
    try:
        records = await connector.read([org_ref(o) for o in orgs])
    finally:
        await connector.aclose()
    assert len(records) == 1500
    assert not fake.log.refused(429)
    assert fake.clock.offset >= 30  # 15 requests at 10 a minute
