"""Whole runs through the simulators: three territories into one contact center."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.base import (
    Cursor,
    CustomerPage,
    DealPage,
    DealQuery,
    RecordChange,
    RecordRef,
    WriteResult,
)
from connectors.http import ALL_STATS
from connectors.sales.salesforce.simulator.schema import OPPORTUNITY
from sync_jobs.app.resolve import resolve
from sync_jobs.domain.notes import BLOCK_END, BLOCK_START
from sync_jobs.run.runner import run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from tests.e2e.conftest import JOBS, Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

EVERY_DESK = pytest.mark.every_desk
"""What every registered desk must do; the other tests run on the reference desks."""


def _writes(connector: str) -> int:
    stats = ALL_STATS.get(connector)
    return stats.writes if stats else 0


async def _open_conflicts(box: Sandbox, kind: str) -> list[sa.Row[object]]:
    async with read_tx(box.engine.store) as conn:
        return list(
            await conn.execute(
                sa.select(t.conflict).where(
                    t.conflict.c.kind == kind, t.conflict.c.status == "open"
                )
            )
        )


def edit_sheet(path: Path, deal_id: str, **cells: str) -> None:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    keep = [r for r in rows if not (r["Deal ID"] == deal_id and cells.get("delete"))]
    for row in keep:
        if row["Deal ID"] == deal_id:
            row.update({k: v for k, v in cells.items() if k != "delete"})
            row["Last Modified"] = "2026-11-23T12:00:00+00:00"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)


@EVERY_DESK
async def test_every_territory_lands_in_one_note_per_customer(sandbox: Sandbox) -> None:
    reports = await sandbox.run()
    assert [r.status for r in reports] == ["record_errors" if r.errors else "ok" for r in reports]
    acme = await sandbox.record("Acme Corporation")
    note = acme.fields[sandbox.note_field]
    if sandbox.short_note:  # a field of its own, without markers: the deal lines that fit
        # beside the conflict line, then how many more there are
        assert BLOCK_START not in note
        assert "Special terms: 2 active deal(s)" in note
        assert "(West)" in note
        assert "(EMEA)" in note, "both deals are listed beside the conflict line"
    else:
        assert note.count(BLOCK_START) == 1
        assert "| West" in note
        assert "| EMEA" in note, "the deals of both territories are listed"
    hooli = await sandbox.record("Hooli")
    assert float(hooli.fields[sandbox.field("discount_percent")]) == 12.5


@EVERY_DESK
async def test_a_customer_of_several_territories_is_written_once_when_the_last_job_writes(
    sandbox: Sandbox,
) -> None:
    first, *middle, last = JOBS
    before = _writes(sandbox.world.target)
    reports = [await run_job(sandbox.engine, sandbox.connections, first, write=False)]
    assert _writes(sandbox.world.target) == before, "a job that only reads leaves work queued"
    assert any("stay queued" in n for n in reports[0].notices)
    for job in middle:
        await run_job(sandbox.engine, sandbox.connections, job, write=False)
    await run_job(sandbox.engine, sandbox.connections, last)
    acme = await sandbox.record("Acme Corporation")
    note = acme.fields[sandbox.note_field]
    if sandbox.short_note:
        assert "Special terms: 2 active deal(s)" in note
    else:
        assert "| West" in note
        assert "| EMEA" in note
    key = (await sandbox.ref("Acme Corporation")).key
    async with read_tx(sandbox.engine.store) as conn:
        runs = await conn.execute(
            sa.select(t.audit.c.run_id).distinct().where(t.audit.c.customer_key == key)
        )
        assert len(runs.all()) == 1, "both territories' terms went out in one write"


async def test_after_the_backfill_the_desk_is_written_while_the_source_is_still_being_read(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sandbox.run("west")  # the backfill; the next run reads changes only
    crm = sandbox.world.simulators["salesforce_west"]
    deals = crm.org.table(OPPORTUNITY)
    acme_deal = next(
        i for i, d in deals.items() if d["AccountId"] == crm.find_account("Acme Corporation")
    )
    crm.update_deal(acme_deal, Special_Discount__c=11.0)
    source = sandbox.connections.source("salesforce_west")
    desk = sandbox.desk
    written = asyncio.Event()
    read_pages, write = source.changed_deals, desk.write

    async def write_and_tell(changes: Sequence[RecordChange]) -> list[WriteResult]:
        written.set()
        return await write(changes)

    async def pages_then_wait(query: DealQuery, since: Cursor | None) -> AsyncIterator[DealPage]:
        async for page in read_pages(query, since):
            yield page
        # Stage 1 is not over until this returns: the first page's customers must be
        # written meanwhile (a drain that waited for the end would time out here).
        await asyncio.wait_for(written.wait(), timeout=10)

    monkeypatch.setattr(desk, "write", write_and_tell)
    monkeypatch.setattr(source, "changed_deals", pages_then_wait)
    (report,) = await sandbox.run("west")
    assert report.status in {"ok", "record_errors"}, report.errors
    assert report.counts["customers_written"] > 0


async def test_a_backfill_writes_a_customer_once_though_its_deals_are_on_several_pages(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = sandbox.world.simulators["salesforce_west"]
    acme = crm.find_account("Acme Corporation")
    crm.add_deal("Acme renewal", account_id=acme, Special_Discount__c=5.0)  # read last
    crm.set_batch_cap(1)  # every deal on a page of its own
    written: list[str] = []
    write = sandbox.desk.write

    async def write_and_count(changes: Sequence[RecordChange]) -> list[WriteResult]:
        written.extend(change.ref.key for change in changes)
        return await write(changes)

    monkeypatch.setattr(sandbox.desk, "write", write_and_count)
    (report,) = await sandbox.run("west")
    assert report.counts["deals_read"] > 2
    assert (await sandbox.ref("Acme Corporation")).key in written
    assert len(written) == len(set(written)), "no customer was written twice in one run"


def desk_export_waits(
    sandbox: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    after_each_page: Callable[[], Awaitable[None]],
) -> None:
    """The desk's export runs ``after_each_page`` between its pages; the lease lasts 3 s.

    (3 s, not less: the heartbeat renews every third of it, and a loaded machine can stall the
    event loop for more than a second.)"""
    desk = sandbox.desk
    export = desk.customers

    async def waiting_pages(since: Cursor | None) -> AsyncIterator[CustomerPage]:
        async for page in export(since):
            yield page
            await after_each_page()

    monkeypatch.setattr(desk, "customers", waiting_pages)
    sandbox.engine.lease_ttl = timedelta(seconds=3)


async def test_an_index_refresh_longer_than_the_lease_keeps_the_lease(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a desk that exports slowly (Zendesk: 10 pages a minute)
    desk_export_waits(sandbox, monkeypatch, lambda: asyncio.sleep(1.6))
    started = time.monotonic()
    (report,) = await sandbox.run("west")
    assert time.monotonic() - started > 3, "premise: the refresh outlasts the 3 s lease"
    assert report.counts["index_records"] > 0
    assert report.status in {"ok", "record_errors"}, report.errors
    assert report.counts["customers_written"] > 0


async def test_a_wait_for_the_desk_longer_than_the_lease_keeps_the_lease(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Zendesk's 10 exports a minute: the 11th page waits about as long as a lease lasts
    desk_export_waits(sandbox, monkeypatch, lambda: asyncio.sleep(4.0))
    (report,) = await sandbox.run("west")
    assert report.status in {"ok", "record_errors"}, report.errors
    assert report.counts["customers_written"] > 0


async def test_a_lease_taken_over_while_the_desk_keeps_the_run_waiting_stops_the_run(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def taken_over_meanwhile() -> None:
        async with write_tx(sandbox.engine.store) as conn:  # another replica's takeover
            await conn.execute(sa.update(t.lease).values(holder="replica-b", epoch=2))
        await asyncio.sleep(1.5)  # the heartbeat (every ttl / 3) notices meanwhile

    desk_export_waits(sandbox, monkeypatch, taken_over_meanwhile)
    (report,) = await sandbox.run("west")
    assert report.status == "failed"
    assert "lease job:west was lost" in report.errors[0]
    assert report.counts.get("deals_read", 0) == 0, "no deal was read for a lease it lost"


async def test_acme_keeps_its_agents_own_notes_outside_the_block(sandbox: Sandbox) -> None:
    before = (await sandbox.record("Acme Corporation")).fields[sandbox.note_field] or ""
    await sandbox.run()
    after = (await sandbox.record("Acme Corporation")).fields[sandbox.note_field]
    assert after.startswith(before.rstrip())
    assert after.rstrip().endswith(BLOCK_END)


@EVERY_DESK
async def test_deals_without_a_single_customer_are_never_guessed(sandbox: Sandbox) -> None:
    await sandbox.run()
    unmatched = await _open_conflicts(sandbox, "unmatched")
    ambiguous = await _open_conflicts(sandbox, "ambiguous")
    assert {c.details["deal"] for c in unmatched} == {"0065g00000WEST05"}  # Soylent
    assert {c.details["deal"] for c in ambiguous} == {"0065g00000WEST04"}  # two Wayne records


@EVERY_DESK
async def test_a_rerun_with_no_change_writes_nothing(sandbox: Sandbox) -> None:
    await sandbox.run()
    before = _writes(sandbox.world.target)
    reports = await sandbox.run()
    assert _writes(sandbox.world.target) == before
    assert all(r.counts.get("customers_written", 0) == 0 for r in reports)


@pytest.mark.desks("zendesk")
async def test_a_date_written_to_zendesk_is_neither_rewritten_nor_taken_for_an_agent_edit(
    sandbox: Sandbox,
) -> None:
    """Zendesk prints a date field as a midnight-UTC timestamp; the base stored for it is the
    day the next read gives back, so later runs see no change and no agent edit."""
    field = sandbox.field("valid_until")
    await sandbox.run("apac")
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", **{"Valid Until": "2031-05-17"})
    await sandbox.run("apac")
    hooli = await sandbox.ref("Hooli")
    stored = sandbox.world.desk.record(hooli.kind, int(hooli.id))
    key = field.split(".", 1)[1]
    assert stored["organization_fields"][key] == "2031-05-17T00:00:00+00:00", "as Zendesk prints"
    assert (await sandbox.record("Hooli")).fields[field] == "2031-05-17"
    async with read_tx(sandbox.engine.store) as conn:
        base: object = (
            await conn.execute(
                sa.select(t.field_base.c.value)
                .where(t.field_base.c.field == field)
                .where(t.field_base.c.customer_key.contains(hooli.id))
            )
        ).scalar_one()
    assert base == "2031-05-17", "the stored base is what the next read returns"
    before = _writes(sandbox.world.target)
    (report,) = await sandbox.run("apac")
    assert _writes(sandbox.world.target) == before
    assert report.counts.get("customers_written", 0) == 0
    assert await _open_conflicts(sandbox, "target_edited") == []


async def test_expired_and_deleted_deals_leave_the_record(sandbox: Sandbox) -> None:
    await sandbox.run()
    initech = await sandbox.record("Initech")
    assert BLOCK_START not in (initech.fields.get(sandbox.note_field) or ""), "expired terms"
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", delete="yes")
    await sandbox.run("apac")
    hooli = await sandbox.record("Hooli")
    assert hooli.fields.get(sandbox.field("discount_percent")) in (None, "")
    assert BLOCK_START not in (hooli.fields.get(sandbox.note_field) or "")


@pytest.mark.desks("servicenow")
async def test_servicenow_refuses_to_clear_a_choice_column_and_says_so(sandbox: Sandbox) -> None:
    """What test_expired_and_deleted_deals_leave_the_record checks elsewhere: ServiceNow ignores
    an empty value for a choice column (FACTS.md 2.4), so rather than report a clear that did not
    happen, the record is not written and the run says why."""
    await sandbox.run()
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", delete="yes")
    (report,) = await sandbox.run("apac")
    assert any("choice column" in e and "does not clear" in e for e in report.errors)
    hooli = await sandbox.record("Hooli")
    assert float(hooli.fields[sandbox.field("discount_percent")]) == 12.5, "nothing half-written"


@EVERY_DESK
async def test_a_dry_run_previews_and_writes_nothing(sandbox: Sandbox) -> None:
    before = _writes(sandbox.world.target)
    reports = await sandbox.run(dry_run=True)
    assert _writes(sandbox.world.target) == before
    names = {p.name for r in reports for p in r.previews}
    assert "Hooli" in names
    async with read_tx(sandbox.engine.store) as conn:
        stored = (await conn.execute(sa.select(sa.func.count()).select_from(t.deal))).scalar()
    assert stored == 0


@EVERY_DESK
async def test_an_agent_edit_is_held_then_resolved_by_a_person(sandbox: Sandbox) -> None:
    await sandbox.run()
    field = sandbox.field("discount_percent")
    hooli = await sandbox.ref("Hooli")
    await sandbox.desk.write([RecordChange(ref=hooli, fields={field: 11})])
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", **{"Discount %": "15"})
    await sandbox.run("apac")
    record = await sandbox.record("Hooli")
    assert float(record.fields[field]) == 11, "the agent's value is not overwritten"
    assert "! " in record.fields[sandbox.note_field], "the note flags the open conflict"
    (conflict,) = await _open_conflicts(sandbox, "target_edited")
    await resolve(
        sandbox.engine.store, conflict.id, "source", by="lead", now=sandbox.engine.clock()
    )
    await sandbox.restart()  # the decision survives a restart
    await sandbox.run("apac")
    record = await sandbox.record("Hooli")
    assert float(record.fields[field]) == 15
    assert "! " not in record.fields[sandbox.note_field]


@EVERY_DESK
async def test_territories_that_disagree_are_held_until_decided(sandbox: Sandbox) -> None:
    """West wrote 15% first; EMEA then says 10%: the field keeps the last agreed value."""
    await sandbox.run()
    field = sandbox.field("discount_percent")
    acme = await sandbox.record("Acme Corporation")
    assert float(acme.fields[field]) == 15, "held at the last agreed value, not overwritten"
    assert "! territories differ on" in acme.fields[sandbox.note_field]
    conflicts = [
        c for c in await _open_conflicts(sandbox, "territory_disagreement") if c.field == field
    ]
    assert len(conflicts) == 1
    await resolve(
        sandbox.engine.store,
        conflicts[0].id,
        "territory=EMEA",
        by="lead",
        now=sandbox.engine.clock(),
    )
    await sandbox.run()
    acme = await sandbox.record("Acme Corporation")
    assert float(acme.fields[field]) == 10
    assert "! territories differ on" not in acme.fields[sandbox.note_field]


@pytest.mark.postgres
async def test_the_same_flow_runs_on_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox.world import build_world, credentials
    from sync_jobs.run.connections import Connections
    from sync_jobs.run.runner import open_engine, run_job
    from tests.stores import fresh_postgres

    for name, value in credentials("freshdesk").items():
        monkeypatch.setenv(name, value)
    with fresh_postgres() as url:
        world = build_world(tmp_path, "freshdesk", state_url=url, fast=True)
        engine = await open_engine(world.config)
        connections = Connections(world.config.connectors, world.transports())
        try:
            first = [await run_job(engine, connections, job) for job in ("west", "emea", "apac")]
            again = [await run_job(engine, connections, job) for job in ("west", "emea", "apac")]
        finally:
            await connections.aclose()
            await engine.store.dispose()
    assert sum(r.counts.get("customers_written", 0) for r in first) >= 5
    assert sum(r.counts.get("customers_written", 0) for r in again) == 0


async def test_a_decision_on_a_conflict_that_changed_since_is_refused(sandbox: Sandbox) -> None:
    from sync_jobs.app.resolve import ResolveRefused

    await sandbox.run()
    (conflict,) = [
        c
        for c in await _open_conflicts(sandbox, "territory_disagreement")
        if c.field == sandbox.field("discount_percent")
    ]
    with pytest.raises(ResolveRefused, match="changed since you looked"):
        await resolve(
            sandbox.engine.store,
            conflict.id,
            "territory=West",
            by="lead",
            now=sandbox.engine.clock(),
            expect_version=conflict.version - 1,
        )
    with pytest.raises(ResolveRefused, match="not part of this conflict"):
        await resolve(
            sandbox.engine.store,
            conflict.id,
            "territory=APAC",
            by="lead",
            now=sandbox.engine.clock(),
        )
    await resolve(
        sandbox.engine.store, conflict.id, "territory=West", by="lead", now=sandbox.engine.clock()
    )
    with pytest.raises(ResolveRefused, match="is resolved, not open"):
        await resolve(
            sandbox.engine.store,
            conflict.id,
            "territory=EMEA",
            by="lead",
            now=sandbox.engine.clock(),
        )


async def test_an_unmatched_deal_can_be_linked_by_hand(sandbox: Sandbox) -> None:
    await sandbox.run()
    (conflict,) = await _open_conflicts(sandbox, "ambiguous")
    target = conflict.details["candidates"][0]
    await resolve(
        sandbox.engine.store, conflict.id, f"value={target}", by="lead", now=sandbox.engine.clock()
    )
    await sandbox.run("west")
    kind, _, record_id = target.partition(":")
    (record,) = await sandbox.desk.read([RecordRef(kind=kind, id=record_id)])
    assert "Salesforce 0065g00000WEST04" in str(record.fields.get(sandbox.note_field))


@EVERY_DESK
async def test_a_deleted_desk_record_is_reported_and_its_deals_matched_again(
    sandbox: Sandbox,
) -> None:
    from datetime import timedelta

    await sandbox.run()
    hooli = await sandbox.ref("Hooli")
    sandbox.world.desk.remove(hooli.kind, hooli.id)
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", **{"Discount %": "14"})
    (report,) = await sandbox.run("apac")
    assert any("no longer exists" in e for e in report.errors)
    await sandbox.restart(later=timedelta(minutes=2))  # the identity index refreshes
    await sandbox.run("apac")
    unmatched = await _open_conflicts(sandbox, "unmatched")
    assert [c.details["deal"] for c in unmatched if c.details["job"] == "apac"] == ["APAC-17"]
