"""Stage 1 on its own: what it pulls from the CRM and the desk, what it stores, what it queues
for stage 2 and which deal conflicts it raises (an in-memory store, fake connectors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from connectors.base import Cursor, CustomerPage, CustomerRecord, IdentityKey, RecordRef
from sync_jobs.domain.matching import IdentityIndex
from sync_jobs.run import stage1
from sync_jobs.store import conflicts, cursors, deals, identity, work
from sync_jobs.store.db import read_tx
from tests.unit.run.kit import JOB, TARGET, World, deal, org, written

pytestmark = pytest.mark.anyio


async def pull(world: World, **options: Any) -> set[str]:
    """One stage 1: refresh the index, then read the changed deals."""
    ctx = world.stage1(**options)
    unsaved = await stage1.refresh_index(ctx)
    return await stage1.pull(ctx, unsaved)


async def stored(world: World) -> dict[str, Any]:
    """What the store holds after the run: deals, queue, open conflicts, cursors."""
    async with read_tx(world.store) as conn:
        known = await deals.deal_states(conn, JOB, ["D1", "D2", "D3"])
        return {
            "deals": {d: k.customer_key for d, k in known.items()},
            "queued": sorted(await work.queued_keys(conn, TARGET)),
            "conflicts": sorted(
                (c.kind, (c.details or {}).get("deal"))
                for c in await conflicts.open_conflicts(conn)
            ),
            "source_cursor": await cursors.get_cursor(conn, "source", JOB),
            "index_cursor": await cursors.get_cursor(conn, "target", TARGET),
        }


async def test_a_deal_is_matched_by_the_desks_identity_index_stored_and_its_record_queued(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    world.crm.pages = [[deal("D1")]]

    await pull(world)

    assert await stored(world) == {
        "deals": {"D1": "organization:1"},
        "queued": ["organization:1"],
        "conflicts": [],
        "source_cursor": "1",
        "index_cursor": "1",
    }
    assert world.desk.looked_up == [], "the index answered: nothing asked at the desk"
    assert world.state.counts["deals_matched"] == 1


async def test_records_an_index_page_left_out_are_reported_and_the_rest_indexed(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed desk record is left out of its page by the connector (its problem rides
    on the page): the run reports it, and indexes, matches and moves past the others."""
    problem = "Fake organization #2 of the page: field id is True, not a record id"

    async def customers(since: Cursor | None) -> AsyncIterator[CustomerPage]:
        if since is None:
            page = (org("1", number="CUST-1"),)
            yield CustomerPage(records=page, checkpoint=Cursor(value="1"), problems=(problem,))

    monkeypatch.setattr(world.desk, "customers", customers)
    world.crm.pages = [[deal("D1")]]

    await pull(world)

    assert world.state.errors == [problem]
    assert world.state.counts["record_errors"] == 1
    assert (await stored(world))["deals"] == {"D1": "organization:1"}
    assert (await stored(world))["index_cursor"] == "1"


async def test_a_holder_the_desk_answers_malformed_keeps_its_claim_when_holders_are_read(
    world: World,
) -> None:
    """Two records claim one customer number; read again, one does not read. Nothing is
    known against its claim, so the deal stays ambiguous rather than going to the other."""
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-1"))
    await stage1.refresh_index(world.stage1())
    problem = "Fake organization 2: field name is 5, not text"
    world.desk.records["organization:2"] = CustomerRecord(
        ref=RecordRef(kind="organization", id="2"), problem=problem
    )
    world.crm.pages = [[deal("D1")]]

    await pull(world)

    assert (await stored(world))["conflicts"] == [("ambiguous", "D1")]
    assert (await stored(world))["deals"] == {"D1": None}


async def test_the_identity_index_holds_every_desk_record_by_its_normalised_keys(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1", domain="www.Acme.example"))

    await stage1.refresh_index(world.stage1())

    wanted = [("external_id", "cust-1"), ("domain", "acme.example")]
    async with read_tx(world.store) as conn:
        hits = await identity.index_hits(conn, TARGET, wanted)
    assert sorted(hits) == [
        ("domain", "acme.example", "organization", "1"),
        ("external_id", "cust-1", "organization", "1"),
    ]


async def test_a_fresh_index_is_not_read_again_from_the_desk(world: World) -> None:
    await stage1.refresh_index(world.stage1())
    world.later(timedelta(minutes=1))

    await stage1.refresh_index(world.stage1(index_fresh_for=300))

    assert world.desk.feed_reads == 1


async def test_the_next_run_reads_only_pages_after_the_stored_cursor(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")]]
    await pull(world)
    world.crm.pages.append([deal("D2")])
    world.later(timedelta(hours=1))

    await pull(world)

    assert world.crm.asked_since == [None, "1"]
    assert (await stored(world))["source_cursor"] == "2"


async def test_an_unchanged_re_read_changes_nothing_and_queues_nothing(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")]]
    await pull(world)
    await written(world)
    world.later(timedelta(hours=1))

    await stage1.pull(world.stage1(), IdentityIndex(), full=True)  # D1 again, unchanged

    assert world.state.counts["deals_unchanged"] == 1
    assert world.state.counts["deals_changed"] == 0
    assert (await stored(world))["queued"] == []


async def test_a_customer_the_index_lacks_is_looked_up_at_the_desk_before_matching(
    world: World,
) -> None:
    world.crm.pages = [[deal("D1")]]
    await stage1.refresh_index(world.stage1())  # the index is empty
    world.desk.holding(org("7", number="CUST-1"))  # created at the desk after the refresh

    await stage1.pull(world.stage1(index_fresh_for=300), IdentityIndex())

    asked = IdentityKey(match="external_id", value="cust-1", kind="organization")
    assert asked in world.desk.looked_up
    assert (await stored(world))["deals"] == {"D1": "organization:7"}


async def test_a_lookup_hit_the_desk_answers_malformed_is_reported_and_other_deals_still_match(
    world: World,
) -> None:
    """The record a deal needed is found at the desk but does not read: the run's report says
    which record and field (the deal is unmatched for want of it), and the other deals'
    lookups of the same page go on."""
    problem = "Fake organization 9: field external_id is [1], not text or a number"
    world.desk.unreadable["cust-1"] = problem
    world.crm.pages = [[deal("D1"), deal("D2", customer_number="CUST-2", website="b.example")]]
    await stage1.refresh_index(world.stage1())  # the index is empty
    world.desk.holding(org("7", number="CUST-2"))  # created at the desk after the refresh

    await stage1.pull(world.stage1(index_fresh_for=300), IdentityIndex())

    assert world.state.errors == [problem]
    assert world.state.counts["record_errors"] == 1
    state = await stored(world)
    assert state["deals"] == {"D1": None, "D2": "organization:7"}
    assert state["conflicts"] == [("unmatched", "D1")]


async def test_a_malformed_record_two_identity_rules_find_is_reported_once_in_the_run(
    world: World,
) -> None:
    """The deal's customer number and its website both lead to one record the desk answers
    malformed: each rule's lookup meets it, and the run reports it once (one record, one
    problem)."""
    problem = "Fake organization 9: field name is 5, not text"
    world.desk.unreadable |= {"cust-1": problem, "acme.example": problem}
    world.crm.pages = [[deal("D1")]]
    await stage1.refresh_index(world.stage1())  # the index is empty

    await stage1.pull(world.stage1(index_fresh_for=300), IdentityIndex())

    assert {k.match for k in world.desk.looked_up} == {"external_id", "domain"}
    assert world.state.errors == [problem]
    assert world.state.counts["record_errors"] == 1


async def test_a_malformed_record_the_refresh_left_out_and_a_lookup_met_is_reported_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = "Fake organization 9: field name is 5, not text"

    async def customers(since: Cursor | None) -> AsyncIterator[CustomerPage]:
        yield CustomerPage(records=(), checkpoint=Cursor(value="1"), problems=(problem,))

    monkeypatch.setattr(world.desk, "customers", customers)
    world.desk.unreadable["cust-1"] = problem
    world.crm.pages = [[deal("D1")]]

    await pull(world)

    assert world.desk.looked_up, "the deal's record was looked up after the refresh"
    assert world.state.errors == [problem]
    assert world.state.counts["record_errors"] == 1


async def test_a_deal_no_desk_record_carries_is_reported_unmatched_and_queues_nothing(
    world: World,
) -> None:
    world.crm.pages = [[deal("D1", customer_number="CUST-404", website="nobody.example")]]

    await pull(world)

    state = await stored(world)
    assert state["deals"] == {"D1": None}
    assert state["queued"] == []
    assert state["conflicts"] == [("unmatched", "D1")]


async def test_a_deal_two_records_carry_is_ambiguous_and_never_guessed(world: World) -> None:
    world.desk.holding(org("1", domain="acme.example"), org("2", domain="acme.example"))
    world.crm.pages = [[deal("D1", customer_number=None)]]

    await pull(world)

    state = await stored(world)
    assert state["deals"] == {"D1": None}
    assert state["conflicts"] == [("ambiguous", "D1")]


async def test_terms_beyond_the_guardrails_are_held_as_out_of_policy(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1", discount=35)]]

    await pull(world)

    state = await stored(world)
    assert state["conflicts"] == [("out_of_policy", "D1")]
    assert state["deals"] == {"D1": "organization:1"}, "still matched: stage 2 shows it as held"


async def test_a_deal_that_no_longer_maps_keeps_its_last_good_terms_and_is_reported(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")]]
    await pull(world)
    async with read_tx(world.store) as conn:
        before = (await deals.deal_states(conn, JOB, ["D1"]))["D1"].payload_hash
    world.later(timedelta(hours=1))
    world.crm.pages.append([deal("D1", discount="a lot")])

    await pull(world)

    async with read_tx(world.store) as conn:
        after = (await deals.deal_states(conn, JOB, ["D1"]))["D1"].payload_hash
    assert after == before
    assert world.state.counts["record_errors"] == 1
    assert "discount" in world.state.errors[0]


async def test_a_deal_deleted_at_the_source_leaves_its_record_which_is_queued_again(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")]]
    await pull(world)
    await written(world)
    world.later(timedelta(hours=1))
    world.crm.pages.append([deal("D1").model_copy(update={"deleted": True})])

    await pull(world)

    assert world.state.counts["deals_deleted"] == 1
    assert (await stored(world))["queued"] == ["organization:1"]


async def test_a_dry_run_stores_nothing_and_returns_the_customers_it_would_queue(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.crm.pages = [[deal("D1")]]
    world.state.dry_run = True

    touched = await pull(world)

    assert touched == {"organization:1"}
    assert await stored(world) == {
        "deals": {},
        "queued": [],
        "conflicts": [],
        "source_cursor": None,
        "index_cursor": None,
    }


async def test_each_page_is_one_commit_announced_to_stage_2(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    world.crm.pages = [[deal("D1")], [deal("D2", customer_number="CUST-2")]]
    commits: list[str] = []
    world.control = replace(world.control, checkpoint=commits.append)

    await pull(world)

    assert commits == ["after_stage1_commit", "after_stage1_commit"]
    assert world.control.queued.count == 2
