"""ServiceNow target: the identity feed (keyset polling of sys_updated_on), lookups and reads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, IdentityKey, RecordRef
from connectors.errors import PermanentError
from connectors.service.servicenow import ServiceNowTarget
from connectors.service.servicenow.simulator import ServiceNowSimulator
from sandbox.controls import Fault
from tests.unit.connectors.servicenow_kit import account, connect, contact

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return ServiceNowSimulator().seed_demo()


async def everything(target: ServiceNowTarget, since: Cursor | None = None) -> list[str]:
    return [r.ref.id async for page in target.customers(since) for r in page.records]


def identity_queries(sim: ServiceNowSimulator, table: str) -> list[dict[str, list[str]]]:
    return [
        parse_qs(r.query)
        for r in sim.controls.requests
        if r.path == f"/api/now/table/{table}" and "sys_updated_on" in r.query
    ]


async def test_the_feed_asks_only_identity_columns_in_update_order(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    records = [r async for page in target.customers(None) for r in page.records]
    acme = next(r for r in records if r.ref.id == sim.customers["acme"][0])
    assert acme.external_id == "CUST-1001"
    assert acme.domains == ("acme.example",)
    assert acme.name == "Acme Corporation"
    assert acme.version == "0"
    assert acme.fields == {}  # the index needs identity only
    (query,) = identity_queries(sim, "customer_account")
    assert query["sysparm_fields"] == [
        "sys_id,sys_updated_on,sys_mod_count,name,u_customer_number,website"
    ]
    assert query["sysparm_query"] == ["ORDERBYsys_updated_on^ORDERBYsys_id"]
    await target.aclose()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seconds=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=30),
    page_size=st.integers(min_value=1, max_value=7),
)
async def test_every_record_reaches_the_index_once_whatever_the_ties_and_page_size(
    seconds: list[int], page_size: int
) -> None:
    sim = ServiceNowSimulator(clock=lambda: START + timedelta(hours=1))
    made = []
    for n, second in enumerate(seconds):
        row = sim.add("account", name=f"Tie {n}", u_customer_number=f"T-{n}")
        sim.set_updated_on("account", row["sys_id"], START + timedelta(seconds=second))
        made.append(row["sys_id"])
    target = connect(sim, page_size=page_size)
    pages: list[list[str]] = []
    checkpoints = []
    async for page in target.customers(None):
        pages.append([r.ref.id for r in page.records])
        checkpoints.append(page.checkpoint)
    seen = [i for page_ids in pages for i in page_ids]
    assert sorted(seen) == sorted(made), "every record once, none twice"
    # A run that stopped after any page and resumed from its checkpoint misses nothing.
    for index, checkpoint in enumerate(checkpoints):
        before = {i for page_ids in pages[: index + 1] for i in page_ids}
        after = set(await everything(target, checkpoint))
        assert set(made) <= before | after
    await target.aclose()


async def test_a_resumed_feed_reads_only_what_changed_since(sim: ServiceNowSimulator) -> None:
    target = connect(sim)
    sim.pass_time(60)  # the demo records were saved a minute ago, outside the settle window
    checkpoint = None
    async for page in target.customers(None):
        checkpoint = page.checkpoint
    sim.pass_time(60)
    acme = sim.customers["acme"][0]
    sim.agent_edit("account", acme, website="https://acme-corp.example")
    changed = [r async for page in target.customers(checkpoint) for r in page.records]
    assert [r.ref.id for r in changed] == [acme]
    assert changed[0].domains == ("acme-corp.example",)
    await target.aclose()


async def test_a_checkpoint_never_passes_the_last_seconds_so_a_late_save_is_not_lost(
    sim: ServiceNowSimulator,
) -> None:
    """A save in the same second as the read, sorting before the read's last row, would be
    skipped by a keyset resumed right after that row."""
    target = connect(sim, settle_seconds=5)
    checkpoint = None
    async for page in target.customers(None):
        checkpoint = page.checkpoint
    assert checkpoint is not None
    stored = json.loads(checkpoint.value)["account"]
    now = sim.time.wall().replace(microsecond=0)
    assert stored["id"] is None
    assert stored["t"] == (now - timedelta(seconds=6)).strftime("%Y-%m-%d %H:%M:%S")
    late = sim.add("account", name="Saved in the same second", u_customer_number="LATE-1")
    again = await everything(target, checkpoint)
    assert late["sys_id"] in again
    await target.aclose()


async def test_pages_emptied_or_shortened_by_acls_do_not_end_the_feed(
    sim: ServiceNowSimulator,
) -> None:
    rows = []
    for n in range(9):
        row = sim.add("account", name=f"Hidden-or-not {n}", u_customer_number=f"H-{n}")
        sim.set_updated_on("account", row["sys_id"], START + timedelta(seconds=n))
        rows.append(row["sys_id"])
    for sys_id in rows[:3] + rows[4:6]:  # a whole page of 3, then 2 of the next one
        sim.hide(sys_id)
    target = connect(sim, page_size=3)
    seen = await everything(target)
    assert set(rows) - set(seen) == set(rows[:3] + rows[4:6])
    assert {rows[3], *rows[6:]} <= set(seen)
    assert len(seen) == len(set(seen))
    await target.aclose()


async def test_a_misconfigured_identity_column_stops_the_feed_before_any_listing(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim, external_id_fields={"account": "u_customer_numbr"})
    with pytest.raises(PermanentError, match="u_customer_numbr") as caught:
        await everything(target)
    assert caught.value.who_acts == "admin"
    assert identity_queries(sim, "customer_account") == []  # no unfiltered listing was sent
    await target.aclose()


async def test_contacts_are_indexed_by_email_and_consumers_by_email_and_number(
    sim: ServiceNowSimulator,
) -> None:
    consumer = sim.add("consumer", name="Pat Doe", email="Pat.Doe@Mail.example")
    target = connect(sim, record_kinds=("contact", "consumer"))
    records = {r.ref.key: r async for page in target.customers(None) for r in page.records}
    riley = records[f"contact:{sim.customers['acme'][1]}"]
    assert riley.emails == ("ops@acme.example",)  # email lives on sys_user, the parent
    pat = records[f"consumer:{consumer['sys_id']}"]
    assert pat.emails == ("pat.doe@mail.example",)
    assert pat.external_id == consumer["number"]
    await target.aclose()


async def test_lookup_finds_a_record_created_a_moment_ago_by_each_key_type(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim, record_kinds=("account", "contact"))
    fresh = sim.add(
        "account",
        name="Brand New",
        u_customer_number="CUST-9001",
        website="http://www.New.example/",
    )
    person = sim.add("contact", name="Nia Lee", email="nia@new.example", account=fresh["sys_id"])
    found = await target.lookup(
        [
            IdentityKey(match="external_id", value="cust-9001", kind="account"),
            IdentityKey(match="domain", value="new.example", kind="account"),
            IdentityKey(match="email", value="nia@new.example", kind="contact"),
            IdentityKey(match="email", value="nia@new.example", kind="account"),  # costs nothing
            IdentityKey(match="external_id", value="nobody", kind="account"),
        ]
    )
    keys = sorted(r.ref.key for r in found)
    assert keys == sorted([f"account:{fresh['sys_id']}", f"contact:{person['sys_id']}"])
    by_key = {r.ref.key: r for r in found}
    assert by_key[f"account:{fresh['sys_id']}"].fields["u_customer_number"] == "CUST-9001"
    asked = [
        parse_qs(r.query)["sysparm_query"][0]
        for r in sim.controls.requests
        if r.path.startswith("/api/now/table/customer_")
    ]
    assert sorted(asked) == sorted(
        [
            "u_customer_numberINcust-9001,CUST-9001,nobody,NOBODY",
            "websiteLIKEnew.example^ORwebsiteLIKENEW.EXAMPLE",
            "emailINnia@new.example,NIA@NEW.EXAMPLE",
        ]
    )
    await target.aclose()


async def test_a_domain_lookup_keeps_only_websites_whose_host_is_the_domain(
    sim: ServiceNowSimulator,
) -> None:
    sim.add("account", name="Lookalike", website="https://notacme.example.org")
    target = connect(sim)
    found = await target.lookup([IdentityKey(match="domain", value="acme.example", kind="account")])
    assert [r.ref.id for r in found] == [sim.customers["acme"][0]]
    await target.aclose()


async def test_lookup_values_that_would_break_the_query_are_not_asked(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    await target.field_catalog()
    sim.controls.reset_log()
    found = await target.lookup(
        [IdentityKey(match="external_id", value="x^ORu_customer_numberISNOTEMPTY", kind="account")]
    )
    assert found == []
    assert sim.controls.requests == []
    await target.aclose()


async def test_read_returns_current_values_and_version_and_leaves_out_deleted_records(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    sim.agent_edit("account", acme.id, u_sla_promise="4h", u_terms_valid_until="2027-01-31")
    sim.delete("account", globex.id)
    gone = RecordRef(kind="account", id="0" * 32)
    records = await target.read([gone, globex, acme, contact(sim, "acme")])
    assert [r.ref for r in records] == [acme]
    assert records[0].version == "1"
    assert records[0].fields["u_sla_promise"] == "4h"
    assert records[0].fields["u_terms_valid_until"] == "2027-01-31"
    assert "sys_mod_count" not in records[0].fields  # system columns are not writable values
    await target.aclose()


async def test_reads_batch_a_hundred_ids_a_call(sim: ServiceNowSimulator) -> None:
    ids = sim.seed_bulk(250)
    target = connect(sim)
    records = await target.read([RecordRef(kind="account", id=i) for i in ids])
    assert len(records) == 250
    reads = [
        r
        for r in sim.controls.requests
        if parse_qs(r.query).get("sysparm_query", [""])[0].startswith("sys_idIN")
    ]
    assert len(reads) == 3
    await target.aclose()


async def test_a_hidden_sys_db_object_falls_back_to_the_documented_hierarchy(
    sim: ServiceNowSimulator,
) -> None:
    forbidden = {
        "error": {"message": "Operation Failed", "detail": "ACL restricts sys_db_object"},
        "status": "failure",
    }
    sim.controls.inject(Fault(status=403, body=forbidden, path_contains="sys_db_object", times=99))
    target = connect(sim, record_kinds=("contact",))
    records = [r async for page in target.customers(None) for r in page.records]
    assert ("ops@acme.example",) in [r.emails for r in records]  # email lives on sys_user
    assert any("cannot read sys_db_object (HTTP 403" in fact for fact in target.notices())
    await target.aclose()
