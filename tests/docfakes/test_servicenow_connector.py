"""The real ServiceNow connector against a ServiceNow written from FACTS.md alone.

``tests/docfakes/servicenow.py`` was written by a research helper without reading the
connector's simulator; the connector is built through the registry as the engine builds it.
Where the two disagree, FACTS.md decides (see the report of issue 17): the doc-fake has no
``sys_db_object`` (FACTS.md never names it), so the connector falls back to the documented
hierarchy and says so; it sends no ``Date`` header, so the feed's settle window uses the
connector's clock; it keeps every column under its own table (FACTS.md 6.1 says so of it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.base import (
    DeskTicket,
    IdentityKey,
    RecordChange,
    RecordRef,
    ServiceTarget,
    TicketDesk,
)
from connectors.errors import BudgetExhausted
from connectors.registry import get_spec
from connectors.settings import ConnectorOptions
from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.servicenow import INSTANCE, RateRule, ServiceNowFake

pytestmark = pytest.mark.anyio

ACCOUNT, CONTACT, CASE = "customer_account", "customer_contact", "sn_customerservice_case"


def make_fake(**options: Any) -> ServiceNowFake:
    """The doc-fake with the columns an admin adds for dealbridge (FACTS.md 6.2)."""
    fake = ServiceNowFake(FakeClock(), **options)
    fake.define_column(ACCOUNT, "u_customer_number", "string", 40)
    fake.define_column(ACCOUNT, "u_special_discount", "decimal", 15)
    fake.define_column(ACCOUNT, "u_payment_terms", "string", 40)
    for value, label in (("net30", "Net 30"), ("net45", "Net 45"), ("net60", "Net 60")):
        fake.add_choice(ACCOUNT, "u_payment_terms", value, label)
    fake.define_column(CONTACT, "u_dealbridge_note", "string", 4000)
    return fake


def connect(fake: ServiceNowFake, **config: Any) -> ServiceTarget:
    """The connector from the registry, talking to the fake and sleeping on its clock."""
    spec = get_spec("servicenow")
    settings_: dict[str, Any] = {
        "kind": "servicenow",
        "base_url": INSTANCE,
        "auth": {
            "flow": "client_credentials",
            "client_id": "cid",
            "client_secret": SecretStr("csecret"),
        },
        "external_id_fields": {"account": "u_customer_number"},
        **config,
    }

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    options = ConnectorOptions(transport=httpx.ASGITransport(app=fake.app), sleep=sleep)
    target: ServiceTarget = spec.factory(
        "desk", spec.config_model.model_validate(settings_), options
    )
    return target


def account(fake: ServiceNowFake, name: str, number: str, **values: str) -> str:
    return fake.insert(
        ACCOUNT,
        {
            "name": name,
            "u_customer_number": number,
            "website": f"https://www.{name.lower()}.example",
            **values,
        },
    )


@pytest.fixture
def fake() -> ServiceNowFake:
    return make_fake()


@pytest.fixture
async def target(fake: ServiceNowFake) -> AsyncIterator[ServiceTarget]:
    connector = connect(fake)
    yield connector
    await connector.aclose()


def ref(sys_id: str) -> RecordRef:
    return RecordRef(kind="account", id=sys_id)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=3), min_size=1, max_size=25),
    page_size=st.integers(min_value=1, max_value=6),
)
async def test_the_feed_indexes_every_account_once_across_ties_and_pages(
    seconds: list[int], page_size: int
) -> None:
    fake = make_fake()
    made = []
    for n, gap in enumerate(seconds):
        fake.clock.advance(gap)  # several accounts share each second (FACTS.md 4.6)
        made.append(account(fake, f"Tie{n}", f"T-{n}"))
    target = connect(fake, page_size=page_size)
    pages, checkpoints = [], []
    async for page in target.customers(None):
        pages.append([r.ref.id for r in page.records])
        checkpoints.append(page.checkpoint)
    seen = [i for p in pages for i in p]
    assert sorted(seen) == sorted(made)
    for index, checkpoint in enumerate(checkpoints):
        before = {i for p in pages[: index + 1] for i in p}
        after = {r.ref.id async for page in target.customers(checkpoint) for r in page.records}
        assert set(made) <= before | after
    await target.aclose()


async def test_records_carry_their_identity_and_sys_mod_count(
    fake: ServiceNowFake, target: ServiceTarget
) -> None:
    acme = account(fake, "Acme", "CUST-1001")
    records = [r async for page in target.customers(None) for r in page.records]
    (record,) = [r for r in records if r.ref.id == acme]
    assert (record.external_id, record.domains, record.version) == (
        "CUST-1001",
        ("acme.example",),
        "0",
    )
    fake.agent_edit(ACCOUNT, acme, {"notes": "Call Riley first."})
    (current,) = await target.read([ref(acme)])
    assert current.version == "1"
    assert current.fields["notes"] == "Call Riley first."


async def test_index_misses_are_looked_up_in_the_table_by_each_key(
    fake: ServiceNowFake,
) -> None:
    acme = account(fake, "Acme", "CUST-1001")
    person = fake.insert(
        CONTACT, {"name": "Riley Chen", "email": "riley@acme.example", "account": acme}
    )
    target = connect(fake, record_kinds=("account", "contact"))
    found = await target.lookup(
        [
            IdentityKey(match="external_id", value="cust-1001", kind="account"),
            IdentityKey(match="domain", value="acme.example", kind="account"),
            IdentityKey(match="email", value="riley@acme.example", kind="contact"),
        ]
    )
    assert sorted(r.ref.key for r in found) == sorted([f"account:{acme}", f"contact:{person}"])
    notices = " ".join(target.notices())
    assert "cannot read sys_db_object (HTTP 400: Invalid table sys_db_object)" in notices
    await target.aclose()


async def test_writes_go_through_the_batch_api_and_read_back(
    fake: ServiceNowFake, target: ServiceTarget
) -> None:
    ids = [account(fake, f"Co{n}", f"C-{n}") for n in range(3)]
    results = await target.write(
        [RecordChange(ref=ref(i), fields={"notes": "terms", "u_special_discount": 15}) for i in ids]
    )
    assert all(r.ok for r in results)
    assert results[0].fields == {"notes": "terms", "u_special_discount": "15"}
    assert ("POST", "/api/now/v1/batch") in fake.requests
    assert not [r for r in fake.requests if r[0] == "PATCH"]
    assert all(fake.tables[ACCOUNT][i]["sys_mod_count"] == "1" for i in ids)


async def test_the_issues_bad_input_fails_record_by_record(
    fake: ServiceNowFake, target: ServiceTarget
) -> None:
    good, typo, choice, gone, long = (account(fake, f"Co{n}", f"C-{n}") for n in range(5))
    catalog = {f.path for f in await target.field_catalog()}
    assert {"notes", "u_payment_terms", "u_special_discount"} <= catalog
    del fake.tables[ACCOUNT][gone]  # deleted on the desk between lookup and write
    results = await target.write(
        [
            RecordChange(ref=ref(good), fields={"u_payment_terms": "net60"}),
            RecordChange(ref=ref(typo), fields={"u_payment_term": "net60"}),
            RecordChange(ref=ref(choice), fields={"u_payment_terms": "net90"}),
            RecordChange(ref=ref(gone), fields={"notes": "x"}),
            RecordChange(ref=ref(long), fields={"notes": "agents' own text " * 250}),
        ]
    )
    errors = [r.error or "" for r in results]
    assert results[0].ok
    assert "'u_payment_term' is not a column of customer_account" in errors[1]
    assert "'net90' is not a choice of customer_account.u_payment_terms" in errors[2]
    assert "no longer exists in ServiceNow" in errors[3]
    assert "customer_account.notes holds 4,000 characters" in errors[4]
    assert fake.tables[ACCOUNT][choice]["u_payment_terms"] == ""
    assert fake.tables[ACCOUNT][long]["notes"] == ""


async def test_items_the_quota_leaves_unserviced_are_sent_again_until_all_are_written(
    fake: ServiceNowFake,
) -> None:
    fake.batch_item_seconds = lambda _method, _url: 12.0  # two items fit 30 seconds
    ids = [account(fake, f"Co{n}", f"C-{n}") for n in range(7)]
    target = connect(fake, batch_max_items=7, batch_item_seconds=0.1)
    results = await target.write([RecordChange(ref=ref(i), fields={"notes": "n"}) for i in ids])
    assert all(r.ok for r in results)
    assert all(fake.tables[ACCOUNT][i]["sys_mod_count"] == "1" for i in ids), "each once"
    await target.aclose()


async def test_an_agent_save_after_the_read_refuses_the_write(
    fake: ServiceNowFake, target: ServiceTarget
) -> None:
    acme = account(fake, "Acme", "CUST-1001")
    (before,) = await target.read([ref(acme)])
    fake.agent_edit(ACCOUNT, acme, {"notes": "agent's text"})
    (result,) = await target.write(
        [
            RecordChange(
                ref=ref(acme), fields={"notes": "deal note"}, expected_version=before.version
            )
        ]
    )
    assert result.error is not None
    assert "changed since it was read (sys_mod_count 0 -> 1)" in result.error
    assert result.moved, "the engine plans a moved record again at once"
    assert fake.tables[ACCOUNT][acme]["notes"] == "agent's text"


async def test_without_the_batch_api_records_are_patched_one_by_one() -> None:
    fake = make_fake(batch_enabled=False)
    ids = [account(fake, f"Co{n}", f"C-{n}") for n in range(2)]
    target = connect(fake)
    results = await target.write([RecordChange(ref=ref(i), fields={"notes": "n"}) for i in ids])
    assert all(r.ok for r in results)
    assert len([r for r in fake.requests if r[0] == "PATCH"]) == 2
    assert any("refused the Batch API (HTTP 400" in n for n in target.notices())
    await target.aclose()


async def test_an_expired_token_is_replaced(fake: ServiceNowFake, target: ServiceTarget) -> None:
    acme = account(fake, "Acme", "CUST-1001")
    assert await target.read([ref(acme)])
    fake.clock.advance(1800)
    assert await target.read([ref(acme)])
    assert len([r for r in fake.requests if r[1] == "/oauth_token.do"]) == 2


async def test_paced_under_its_share_of_the_hourly_rule_the_connector_is_never_refused() -> None:
    fake = make_fake(rate_rules=[RateRule(sys_id="r" * 32, api="Table API", per_hour=30)])
    acme = account(fake, "Acme", "CUST-1001")
    target = connect(fake, requests_per_hour=30, max_throttle_wait=7200)
    for _ in range(40):
        assert await target.read([ref(acme)])
    assert target.api.http.stats.by_status[429] == 0  # type: ignore[attr-defined]
    await target.aclose()


async def test_a_rule_spent_by_someone_else_holds_the_job_until_the_instances_reset() -> None:
    rule = RateRule(sys_id="r" * 32, api="Table API", per_hour=3)
    fake = make_fake(rate_rules=[rule])
    acme = account(fake, "Acme", "CUST-1001")
    rule.committed["client:cid"] = 3
    rule.window = int(fake.clock.now()) - int(fake.clock.now()) % 3600
    rule.commit_tick = int(fake.clock.now()) - int(fake.clock.now()) % 30
    target = connect(fake)
    with pytest.raises(BudgetExhausted) as caught:
        await target.read([ref(acme)])
    assert caught.value.until.timestamp() == rule.window + 3600
    await target.aclose()


async def test_alerts_open_a_case_with_work_notes_and_follow_ups_append(
    fake: ServiceNowFake,
) -> None:
    fake.define_column(CASE, "correlation_id", "string", 100)
    target = connect(fake)
    assert isinstance(target, TicketDesk)
    alert = DeskTicket(key="k1", subject="Out of policy: Acme", body="35% discount, held.")
    case = await target.open_ticket(alert)
    assert await target.open_ticket(alert) == case
    follow_up = alert.model_copy(update={"body": "Approved."})
    assert await target.add_internal_note(case, follow_up) == case
    notes = [j["value"] for j in fake.journal(case) if j["element"] == "work_notes"]
    assert notes == ["35% discount, held.", "Approved."]
    assert (
        fake.tables[CASE][case]["short_description"] == "[dealbridge warning] Out of policy: Acme"
    )
    await target.aclose()
