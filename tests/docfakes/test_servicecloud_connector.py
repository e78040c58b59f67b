"""The real Service Cloud connector against a Service Cloud written from FACTS.md alone.

The doc-fake (``tests/docfakes/servicecloud.py``, built without reading the simulator) is used
through its public seeding API only (``define_field``, ``insert``, ``add_person_account``,
``agent_edit``, ``delete``, its clock, and its ``objects`` schema for a field an admin deletes).
Where the two disagree, FACTS.md and the vendor docs decide:

* ``queryAll`` (the connector's identity feed, which must see deletions): the REST API has it
  beside ``query`` (REST API guide "QueryAll"; shared/vendor-apis/sales-apis.md section 1), the
  doc-fake serves ``query`` only and purges deleted records outright. The fake is reached
  through :func:`query_all_as_query`, which sends ``/queryAll`` to ``/query``; for the fake the
  two differ only in deleted rows, which it never keeps.
* ``IsDeleted``: a system field of every object; the doc-fake's describe lacks it. The
  connector now selects only system fields describe lists (so the doc-fake found a fragility:
  fixed in the connector).
* Text comparison: SOQL ignores case except on unique case-sensitive fields (SOQL reference,
  "Comparison Operators"); the doc-fake compares exactly, so a customer number asked in the
  engine's lower case is not found there (strict xfail). The connector also asks the upper-case
  form when describe marks the field ``caseSensitive``.
* ``LIKE``: a SOQL comparison operator (SOQL reference, "Comparison Operators"); the doc-fake's
  SOQL subset has none, so domain lookups are refused there (strict xfail below: the
  documented expectation is kept).
* ``GET /limits``: documented (FACTS.md 7.1) but not served by the fake; ``check`` now reads one
  record id instead, which also proves read access.
* Stamps in whole seconds: an agent edit saved in the same second as the connector's read
  keeps ``SystemModstamp`` as it was, so no version check can see it; the tests let a second
  pass, and the connector's docs name the limit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.base import (
    Cursor,
    CustomerPage,
    DeskTicket,
    IdentityKey,
    RecordChange,
    RecordRef,
    ServiceTarget,
)
from connectors.errors import BudgetExhausted
from connectors.registry import get_spec
from connectors.service.servicecloud import ServiceCloudTarget
from connectors.settings import ConnectorOptions
from sandbox.controls import ASGIApp, Receive, Scope, Send
from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.servicecloud import FieldDef, ServiceCloudFake

pytestmark = pytest.mark.anyio

MY_DOMAIN = "https://acme.my.salesforce.com"
ACCOUNT_FIELDS = (
    FieldDef("Customer_Number__c", "string", 40, custom=True, external_id=True),
    FieldDef("Website", "string", 255),
    FieldDef("Deal_Terms__c", "textarea", 32_768, custom=True),
    FieldDef("SLA_Promise__c", "string", 255, custom=True),
    FieldDef(
        "Payment_Terms__c",
        "picklist",
        255,
        custom=True,
        picklist=("Net 30", "Net 45", "Net 60"),
        restricted=True,
    ),
    FieldDef("Service_Tier__c", "picklist", 255, custom=True, picklist=("Gold", "Silver")),
)


def query_all_as_query(app: ASGIApp) -> ASGIApp:
    """The doc-fake serves ``/query`` only: send ``/queryAll`` there (see the module doc)."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "/queryAll" in scope["path"]:
            path = scope["path"].replace("/queryAll", "/query")
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await app(scope, receive, send)

    return routed


def make_fake(**options: Any) -> ServiceCloudFake:
    fake = ServiceCloudFake(FakeClock(), **options)
    for definition in ACCOUNT_FIELDS:
        fake.define_field("Account", definition)
    return fake


def connect(fake: ServiceCloudFake, **config: Any) -> ServiceCloudTarget:
    """The connector as the registry builds it, talking to the fake, sleeping on its clock."""
    spec = get_spec("servicecloud")
    settings_ = {
        "kind": "servicecloud",
        "base_url": MY_DOMAIN,
        "api_version": fake.version,
        "auth": {
            "flow": "client_credentials",
            "client_id": "consumer-key",
            "client_secret": SecretStr("consumer-secret"),
        },
        "account_external_id_field": "Customer_Number__c",
        "note_field": "Deal_Terms__c",
        **config,
    }

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    app = query_all_as_query(fake.app)
    options = ConnectorOptions(transport=httpx.ASGITransport(app=app), sleep=sleep)
    target: ServiceCloudTarget = spec.factory(
        "desk", spec.config_model.model_validate(settings_), options
    )
    return target


def customer(fake: ServiceCloudFake, n: int) -> str:
    return fake.insert(
        "Account",
        {
            "Name": f"Customer {n}",
            "Customer_Number__c": f"CUST-{n:04d}",
            "Website": f"https://www.customer{n}.example/",
        },
    )


async def read_all(target: ServiceTarget, since: Cursor | None = None) -> list[CustomerPage]:
    return [page async for page in target.customers(since)]


@pytest.fixture
def fake() -> ServiceCloudFake:
    return make_fake()


@pytest.fixture
async def target(fake: ServiceCloudFake) -> AsyncIterator[ServiceCloudTarget]:
    connector = connect(fake)
    yield connector
    await connector.aclose()


# -- identity -----------------------------------------------------------------------------------


async def test_the_feed_indexes_business_and_person_accounts(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    business = customer(fake, 1)
    person = fake.add_person_account("Whitfield", "Dana@Whitfield.example")
    records = {r.ref.id: r for page in await read_all(target) for r in page.records}
    assert records[business].external_id == "CUST-0001"
    assert records[business].domains == ("https://www.customer1.example/",)
    assert records[person].emails == ("dana@whitfield.example",)  # §2.2: by PersonEmail
    assert records[person].version is not None


async def test_the_feed_resumes_after_its_checkpoint_without_repeating_ties() -> None:
    fake = make_fake(query_batch=3)
    ids = [customer(fake, n) for n in range(7)]  # one second: seven records share a stamp
    target = connect(fake)
    pages = await read_all(target)
    first = [r.ref.id for r in pages[0].records]
    rest = [r.ref.id for p in await read_all(target, pages[0].checkpoint) for r in p.records]
    await target.aclose()
    assert len(pages) == 3
    assert sorted(first + rest) == sorted(ids)
    assert not set(first) & set(rest)


async def test_lookups_find_a_person_account_created_after_the_index_by_its_email(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    await read_all(target)
    person = fake.add_person_account("Whitfield", "dana@whitfield.example")
    found = await target.lookup(
        [IdentityKey(match="email", value="dana@whitfield.example", kind="account")]
    )
    assert [r.ref.id for r in found] == [person]


@pytest.mark.xfail(
    strict=True,
    reason="doc-fake: SOQL compares text case-sensitively only on unique case-sensitive fields "
    "(SOQL reference, Comparison Operators); the fake compares CUST-0002 with the engine's "
    "lower-case key exactly although describe does not mark the field caseSensitive",
)
async def test_lookups_find_a_record_created_after_the_index_by_its_number(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    await read_all(target)
    fresh = customer(fake, 2)
    found = await target.lookup(
        [IdentityKey(match="external_id", value="cust-0002", kind="account")]
    )
    assert [r.ref.id for r in found] == [fresh]


@pytest.mark.xfail(
    strict=True,
    reason="doc-fake: its SOQL subset has no LIKE, a documented SOQL operator (SOQL reference, "
    "Comparison Operators); a Website holds a URL, so a host is found with LIKE '%host%'",
)
async def test_a_domain_is_looked_up_inside_the_website(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    record = customer(fake, 3)
    found = await target.lookup(
        [IdentityKey(match="domain", value="customer3.example", kind="account")]
    )
    assert [r.ref.id for r in found] == [record]


# -- reads and writes ----------------------------------------------------------------------


async def test_reads_give_current_values_and_the_stamp_and_the_note_limit_in_characters(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    record = customer(fake, 4)
    fake.agent_edit("Account", record, {"Deal_Terms__c": "VIP: call first"})
    [current] = await target.read([RecordRef(kind="account", id=record)])
    assert current.fields["Deal_Terms__c"] == "VIP: call first"
    assert current.version == fake.objects["Account"].records[record]["SystemModstamp"]
    assert target.text_limit == 32_768 // 4  # §3.2: bytes are enforced, a character takes <= 4


async def test_writes_go_through_one_collection_and_bad_records_fail_alone(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    ids = [customer(fake, n) for n in range(5)]
    fake.delete("Account", ids[3])
    results = await target.write(
        [
            RecordChange(
                ref=RecordRef(kind="account", id=ids[0]),
                fields={"Payment_Terms__c": "Net 60", "Deal_Terms__c": "block"},
            ),
            RecordChange(ref=RecordRef(kind="account", id=ids[1]), fields={"Nope__c": "x"}),
            RecordChange(
                ref=RecordRef(kind="account", id=ids[2]), fields={"Service_Tier__c": "Platinum"}
            ),
            RecordChange(ref=RecordRef(kind="account", id=ids[3]), fields={"SLA_Promise__c": "4h"}),
            RecordChange(
                ref=RecordRef(kind="account", id=ids[4]), fields={"Deal_Terms__c": "€" * 11_000}
            ),
        ]
    )
    assert [r.ok for r in results] == [True, False, False, False, False]
    stored = fake.objects["Account"].records
    assert stored[ids[0]]["Payment_Terms__c"] == "Net 60"
    assert stored[ids[2]]["Service_Tier__c"] is None  # §3.3: Salesforce would have stored it
    assert stored[ids[4]]["Deal_Terms__c"] is None
    errors = [r.error or "" for r in results]
    assert "has no field 'Nope__c'" in errors[1]
    assert "'Platinum' is not one of the unrestricted" in errors[2]
    assert "no longer exists in Salesforce" in errors[3]
    assert "33000 UTF-8 bytes, over the 32768" in errors[4]
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    assert len(patches) == 1


async def test_a_restricted_picklist_refusal_from_salesforce_fails_only_its_record(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    ids = [customer(fake, n) for n in range(2)]
    await target.field_catalog()  # the describe is cached with Net 45 still offered
    fake.define_field(
        "Account",
        FieldDef(
            "Payment_Terms__c",
            "picklist",
            255,
            custom=True,
            picklist=("Net 30", "Net 60"),
            restricted=True,
        ),
    )
    results = await target.write(
        [
            RecordChange(
                ref=RecordRef(kind="account", id=ids[0]), fields={"Payment_Terms__c": "Net 45"}
            ),
            RecordChange(ref=RecordRef(kind="account", id=ids[1]), fields={"SLA_Promise__c": "4h"}),
        ]
    )
    assert [r.ok for r in results] == [False, True]
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in (results[0].error or "")


async def test_a_field_deleted_after_the_describe_fails_only_the_records_writing_it(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    ids = [customer(fake, n) for n in range(2)]
    await target.field_catalog()
    del fake.objects["Account"].fields["SLA_Promise__c"]  # an admin deletes the field
    results = await target.write(
        [
            RecordChange(ref=RecordRef(kind="account", id=ids[0]), fields={"SLA_Promise__c": "4h"}),
            RecordChange(ref=RecordRef(kind="account", id=ids[1]), fields={"Website": "x.example"}),
        ]
    )
    assert [r.ok for r in results] == [False, True]
    assert fake.objects["Account"].records[ids[1]]["Website"] == "x.example"


async def test_an_agent_edit_after_the_read_is_refused_by_its_moved_stamp(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    ids = [customer(fake, n) for n in range(2)]
    read = {r.ref.id: r for r in await target.read([RecordRef(kind="account", id=i) for i in ids])}
    fake.clock.advance(1)  # the doc-fake stamps whole seconds (see the module doc)
    fake.agent_edit("Account", ids[0], {"Deal_Terms__c": "agent wrote this"})
    results = await target.write(
        [
            RecordChange(
                ref=RecordRef(kind="account", id=i),
                fields={"Deal_Terms__c": "dealbridge block"},
                expected_version=read[i].version,
            )
            for i in ids
        ]
    )
    assert [r.ok for r in results] == [False, True]
    assert "changed since read" in (results[0].error or "")
    assert results[0].moved
    assert fake.objects["Account"].records[ids[0]]["Deal_Terms__c"] == "agent wrote this"


# -- limits, sessions, alerts --------------------------------------------------------------


async def read_until_refused(target: ServiceCloudTarget, record: str, times: int) -> None:
    for _ in range(times):
        await target.read([RecordRef(kind="account", id=record)])


async def test_the_spent_allocation_stops_the_job() -> None:
    small = make_fake(daily_limit=3)
    record = customer(small, 1)
    target = connect(small, api_reserve=0)
    with pytest.raises(BudgetExhausted, match="allocation is spent"):
        await read_until_refused(target, record, 4)
    await target.aclose()


async def test_dealbridge_leaves_the_reserve_to_the_org() -> None:
    small = make_fake(daily_limit=10)
    record = customer(small, 1)
    target = connect(small, api_reserve=0.5)
    with pytest.raises(BudgetExhausted, match="api_reserve"):
        await read_until_refused(target, record, 10)
    await target.aclose()
    assert len([r for r in small.requests if r[0] == "GET"]) == 5  # half of 10, then it stops


async def test_an_expired_session_is_renewed_once(fake: ServiceCloudFake) -> None:
    record = customer(fake, 1)
    target = connect(fake)
    await target.read([RecordRef(kind="account", id=record)])
    fake.clock.advance(fake.session_seconds + 1)
    [again] = await target.read([RecordRef(kind="account", id=record)])
    await target.aclose()
    assert again.ref.id == record


async def test_check_is_healthy_and_shows_the_usage(target: ServiceCloudTarget) -> None:
    health = await target.check()
    assert health.ok, health.detail
    assert health.api_usage is not None


async def test_an_alert_opens_a_case_with_an_internal_comment(
    fake: ServiceCloudFake, target: ServiceCloudTarget
) -> None:
    ticket = DeskTicket(key="k1", subject="3 deals held", body="Acme: discount differs")
    case_id = await target.open_ticket(ticket)
    [comment] = fake.objects["CaseComment"].records.values()
    assert fake.objects["Case"].records[case_id]["Subject"] == "3 deals held"
    assert (comment["ParentId"], comment["CommentBody"], comment["IsPublished"]) == (
        case_id,
        "Acme: discount differs",
        False,
    )
    assert await target.add_internal_note(case_id, ticket) == case_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(min_value=1, max_value=5),
    seconds=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=15),
)
def test_every_record_reaches_the_index_once_over_any_batch_and_ties(
    batch: int, seconds: list[int]
) -> None:
    """§4.1, §4.2: batches of any size, records sharing stamps: one read yields each once."""

    async def scenario() -> None:
        fake = make_fake(query_batch=batch)
        ids = []
        for n, gap in enumerate(seconds):
            fake.clock.advance(gap)
            ids.append(customer(fake, n))
        target = connect(fake)
        try:
            pages = await read_all(target)
        finally:
            await target.aclose()
        seen = [r.ref.id for p in pages for r in p.records]
        assert sorted(seen) == sorted(ids)
        assert json.loads(pages[-1].checkpoint.value)["account"]["id"] in ids

    asyncio.run(scenario())
