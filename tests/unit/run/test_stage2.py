"""Stage 2 on its own: for each queued customer, what it claims, reads and writes at the desk,
what it records (bases, audit, queue) and which conflicts it raises (an in-memory store, fake
connectors; stage 1 queues the customers as it would in a run)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import CustomerRecord, FieldInfo, RecordRef
from sync_jobs.domain.notes import NoteTemplates
from sync_jobs.run import stage1, stage2
from sync_jobs.store import bases, conflicts, tables, work
from sync_jobs.store.audit import unfold
from sync_jobs.store.db import read_tx, write_tx
from tests.unit.run.kit import DISCOUNT, TARGET, World, deal, org

pytestmark = pytest.mark.anyio
ACME = "organization:1"


async def queue(world: World, *deals: Any) -> None:
    """Stage 1 reads these deals and queues their customers."""
    world.crm.pages.append(list(deals))
    ctx = world.stage1()
    await stage1.pull(ctx, await stage1.refresh_index(ctx))


async def drain(world: World, **options: Any) -> None:
    """Stage 2 works the queue until it is empty (stage 1 has finished)."""
    await stage2.drain(world.stage2(**options), asyncio.sleep(0))


async def state(world: World) -> dict[str, Any]:
    """What the store holds for Acme after the batch."""
    async with read_tx(world.store) as conn:
        stored = await bases.load_bases(conn, TARGET, [ACME])
        audit = unfold(await conn.execute(sa.select(tables.audit)))
        return {
            "queued": await work.queued_keys(conn, TARGET),
            "bases": stored.get(ACME, {}),
            "audited": sorted(r.field for r in audit),
            "conflicts": sorted((c.kind, c.field) for c in await conflicts.open_conflicts(conn)),
        }


def acme_fields(world: World) -> dict[str, Any]:
    return world.desk.records[ACME].fields


async def test_a_queued_customer_gets_the_deals_fields_and_note_in_one_write(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    await queue(world, deal("D1", discount=15))

    await drain(world)

    (batch,) = world.desk.writes
    (change,) = batch
    assert change.ref.key == ACME
    assert Decimal(str(change.fields[DISCOUNT])) == 15
    assert "15% discount; until 2027-12-31 | West | Fake D1" in change.fields["notes"]
    assert acme_fields(world)[DISCOUNT] == change.fields[DISCOUNT]
    after = await state(world)
    assert after["queued"] == [], "the work item is done"
    assert set(after["bases"]) == {DISCOUNT}, "the written value is the base of the next compare"
    assert after["audited"] == sorted([DISCOUNT, "notes"])
    assert world.state.counts["customers_written"] == 1


async def test_a_replayed_batch_finds_the_desk_up_to_date_and_writes_nothing(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    await queue(world, deal("D1"))
    await drain(world)
    world.desk.writes.clear()
    async with write_tx(world.store) as conn:  # as if the batch crashed after its write
        await work.enqueue(conn, TARGET, [ACME], world.now)

    await drain(world)

    assert world.desk.writes == []
    assert (await state(world))["queued"] == []


async def test_an_agents_edit_after_the_last_write_is_kept_and_raised_as_a_conflict(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    await queue(world, deal("D1", discount=10))
    await drain(world)
    record = world.desk.records[ACME]
    world.desk.records[ACME] = record.model_copy(update={"fields": record.fields | {DISCOUNT: 5}})
    world.later(timedelta(hours=1))
    await queue(world, deal("D1", discount=12))

    await drain(world)

    assert acme_fields(world)[DISCOUNT] == 5, "manual policy: the agent's value stays"
    assert ("target_edited", DISCOUNT) in (await state(world))["conflicts"]


async def test_a_field_the_desk_lacks_fails_the_record_naming_it_and_writes_nothing(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    world.desk.catalog = [FieldInfo(path="notes", type="text", writable=True)]
    await queue(world, deal("D1"))

    await drain(world)

    assert world.desk.writes == []
    assert any(DISCOUNT in error for error in world.state.errors)
    async with read_tx(world.store) as conn:
        (failed,) = await work.failing(conn, TARGET)
    assert failed.customer_key == ACME
    assert failed.attempts == 1


@pytest.mark.parametrize(
    "stored",
    [
        '{"deal": 5}',  # JSON, but not terms (a row changed by hand, another version's shape)
        "{not json",
    ],
)
async def test_a_deal_whose_stored_terms_are_unreadable_fails_only_its_record(
    world: World, stored: str
) -> None:
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    await queue(world, deal("D1"), deal("D2", customer_number="CUST-2", website="globex.example"))
    async with write_tx(world.store) as conn:
        await conn.exec_driver_sql(
            "UPDATE deal SET terms = ?, payload_hash = 'tampered' WHERE deal_id = 'D1'", (stored,)
        )

    await drain(world)  # no exception: the batch goes on

    written = [change.ref.key for batch in world.desk.writes for change in batch]
    assert written == ["organization:2"], "Acme's record is not written without its deal"
    assert any("D1" in error and "unreadable" in error for error in world.state.errors)
    async with read_tx(world.store) as conn:
        (failed,) = await work.failing(conn, TARGET)
    assert (failed.customer_key, failed.attempts) == (ACME, 1)


async def test_a_record_the_desk_answers_malformed_fails_alone_and_keeps_its_deals(
    world: World,
) -> None:
    """The connector hands such a record over with its problem (``CustomerRecord.problem``):
    it is neither gone (its deals stay linked) nor moved, and it is tried again."""
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    await queue(world, deal("D1"), deal("D2", customer_number="CUST-2", website="globex.example"))
    problem = "Fake organization 1: field name is 5, not text; the record was left out"
    world.desk.records[ACME] = CustomerRecord(ref=RecordRef.from_key(ACME), problem=problem)

    await drain(world)

    written = [change.ref.key for batch in world.desk.writes for change in batch]
    assert written == ["organization:2"]
    assert f"Org 1: {problem}" in world.state.errors
    async with read_tx(world.store) as conn:
        (failed,) = await work.failing(conn, TARGET)
        (linked,) = await conn.execute(
            sa.select(tables.deal.c.customer_key).where(tables.deal.c.deal_id == "D1")
        )
    assert (failed.customer_key, failed.attempts, failed.last_error) == (ACME, 1, problem)
    assert linked.customer_key == ACME


async def test_a_later_run_reuses_the_lines_of_unchanged_deals_and_renders_changed_ones(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    renderer = NoteTemplates()  # a daemon's renderer lives from run to run
    await queue(world, deal("D1"), deal("D2", discount=10))
    await stage2.drain(replace(world.stage2(), templates=lambda _fmt: renderer), asyncio.sleep(0))
    world.later(timedelta(hours=1))
    await queue(world, deal("D2", discount=12))

    await stage2.drain(replace(world.stage2(), templates=lambda _fmt: renderer), asyncio.sleep(0))

    note = acme_fields(world)["notes"]
    assert "10% discount; until 2027-12-31 | West | Fake D1" in note
    assert "12% discount; until 2027-12-31 | West | Fake D2" in note
    assert "10% discount; until 2027-12-31 | West | Fake D2" not in note
    assert len(renderer._lines) == 3, "D1's line rendered once; D2's twice (its terms changed)"


async def test_a_record_gone_from_the_desk_is_reported_and_its_deals_unlinked(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    await queue(world, deal("D1"))
    del world.desk.records[ACME]

    await drain(world)

    assert world.desk.writes == []
    assert "no longer exists" in world.state.errors[0]
    assert (await state(world))["queued"] == []


async def test_a_dry_run_plans_every_queued_customer_and_writes_nothing(world: World) -> None:
    world.desk.holding(org("1", number="CUST-1"))
    await queue(world, deal("D1", discount=15))
    world.state.dry_run = True

    await stage2.preview(world.stage2(), set())

    assert world.desk.writes == []
    (preview,) = world.state.previews
    assert preview.customer_key == ACME
    assert {field for field, _old, _new in preview.changes} == {DISCOUNT, "notes"}
    assert (await state(world))["queued"] == [ACME], "still queued for a real run"
