"""A stage-2 batch's state, read and recorded through the driver in one hop each, on SQLite
and PostgreSQL: the read returns what SQLAlchemy's own queries of the tables return, and the
commit is fenced by the claim (a batch whose claim was taken over records nothing)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store import batch_state, conflicts, deals, work
from sync_jobs.store import tables as t
from sync_jobs.store.audit import AuditEntry, unfold
from sync_jobs.store.bases import note_hash
from sync_jobs.store.batch_state import Commit, ResolvedConflict
from sync_jobs.store.conflicts import ConflictRecord
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.sql import upsert
from tests.stores import store_url
from tests.unit.store.rows import deal_row

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 12, 6, 12, 30, 15, 123456, tzinfo=UTC)
ONE, TWO, USER = "organization:1", "organization:2", "user:7"
PLAN_KINDS = ("target_edited", "territory_disagreement", "expired_terms_present")


def deal(deal_id: str, customer_key: str | None, **changes: object) -> dict[str, object]:
    return (
        deal_row(
            deal_id,
            customer_key,
            NOW,
            match_detail={"method": "email", "key": "a@b.example"},
            lookup_at=None,
            valid_until=date(2027, 1, 31),
            modified_at=NOW - timedelta(days=1),
        )
        | changes
    )


def conflict(kind: str, customer_key: str | None, field: str | None, scope: str = "") -> Any:
    return ConflictRecord(kind, "zd", customer_key, field, {"summary": kind}, scope)


async def seed(engine: AsyncEngine) -> None:
    """A batch's customers ONE, TWO and USER beside the same target's other customers and
    another target's: only the batch's rows may come back."""
    async with write_tx(engine) as conn:
        await deals.save_deals(
            conn,
            [
                deal("D1", ONE, violations=["discount above 20%"], lookup_at=NOW),
                deal("D2", ONE, deleted=True, live=False),
                deal("D3", TWO, valid_until=None),
                deal("D4", None, match_status="pending", match_detail=None),
                deal("D5", ONE, target="fd"),
                deal("D6", "organization:9"),
            ],
        )
        base = {"target": "zd", "written_at": NOW, "run_id": "r1"}
        await upsert(
            conn,
            t.field_base,
            [
                base | {"customer_key": ONE, "field": "discount", "value": 10},
                base | {"customer_key": ONE, "field": "terms", "value": "Net 30"},
                base | {"customer_key": ONE, "field": "cleared", "value": None},
                base | {"customer_key": TWO, "field": "sla", "value": {"hours": 4}},
                base | {"customer_key": "organization:9", "field": "sla", "value": 1},
                base | {"target": "fd", "customer_key": ONE, "field": "sla", "value": 2},
            ],
            ["target", "customer_key", "field"],
            ["value"],
        )
        names = [
            ("zd", "organization", "1", "Acme"),
            ("zd", "organization", "2", None),
            ("zd", "user", "7", "Bea"),
            ("zd", "user", "1", "not the organization"),
            ("fd", "organization", "1", "another desk's"),
        ]
        await upsert(
            conn,
            t.identity,
            [
                {"target": a, "kind": k, "record_id": i, "name": n, "keys": [], "updated_at": NOW}
                for a, k, i, n in names
            ],
            ["target", "kind", "record_id"],
            ["name"],
        )
        raised = await conflicts.raise_conflicts(
            conn,
            [
                conflict("target_edited", ONE, "discount"),
                conflict("target_edited", TWO, "sla"),  # stays open
                conflict("out_of_policy", None, None, "west/D1"),
                conflict("out_of_policy", None, None, "west/D3"),  # stays open
                conflict("out_of_policy", None, None, "west/D6"),  # not the batch's
            ],
            NOW,
        )
        ids = [i for i, _ in raised]
        await conflicts.record_decision(conn, ids[0], {"take": "target"}, NOW)
        await conflicts.record_decision(conn, ids[2], {"take": "source", "pinned": "h"}, NOW)
        await conflicts.record_decision(conn, ids[4], {"take": "target"}, NOW)


async def test_a_batchs_state_is_read_as_sqlalchemy_reads_the_tables(engine: AsyncEngine) -> None:
    await seed(engine)
    async with read_tx(engine) as conn:
        state = await batch_state.load(conn, "zd", [ONE, TWO, USER])
        plain = {
            r.deal_id: dict(r._mapping)
            for r in await conn.execute(sa.select(t.deal).where(t.deal.c.target == "zd"))
        }
        resolved_id: int = (
            await conn.execute(
                sa.select(t.conflict.c.id).where(
                    t.conflict.c.identity.like("target_edited|zd|organization:1|%")
                )
            )
        ).scalar_one()
    assert sorted(d.deal_id for d in state.deals) == ["D1", "D3"], "the customers' live deals"
    for stored in state.deals:
        assert stored._mapping == plain[stored.deal_id], "every column as SQLAlchemy reads it"
    assert state.bases == {
        ONE: {"discount": 10, "terms": "Net 30", "cleared": None},
        TWO: {"sla": {"hours": 4}},
    }
    assert state.names == {ONE: "Acme", TWO: "", USER: "Bea"}
    assert state.resolved == [
        ResolvedConflict(resolved_id, "target_edited", ONE, "discount", {"take": "target"})
    ]
    assert state.decisions == {"west/D1": {"take": "source", "pinned": "h"}}


async def test_a_batch_larger_than_a_statements_list_is_read_whole(engine: AsyncEngine) -> None:
    keys = [f"organization:{n}" for n in range(1, 1201)]
    async with write_tx(engine) as conn:
        await deals.save_deals(conn, [deal(f"D{n}", k) for n, k in enumerate(keys)])
    async with read_tx(engine) as conn:
        state = await batch_state.load(conn, "zd", keys)
    assert sorted(str(d.customer_key) for d in state.deals) == sorted(keys)


async def claimed(engine: AsyncEngine, keys: list[str]) -> list[work.WorkItem]:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", keys, NOW)
    return await work.claim(engine, "zd", len(keys), NOW, timedelta(minutes=5))


def batch_commit(items: list[work.WorkItem], still_open: list[str]) -> Commit:
    return Commit(
        items,
        bases=[(ONE, "discount", 15), (TWO, "terms", {"days": 30})],
        drops=[(ONE, "terms")],
        notes=[(ONE, "Deal D1: 15% off", 1)],
        audit=[
            AuditEntry(ONE, "discount", 10, 15, "deal D1 changed"),
            AuditEntry(ONE, "note", None, "Deal D1: 15% off", "note"),
        ],
        settled=[ONE, TWO],
        kinds=PLAN_KINDS,
        still_open=still_open,
    )


async def test_a_batch_is_recorded_in_one_commit(engine: AsyncEngine) -> None:
    await seed(engine)
    items = await claimed(engine, [ONE, TWO])
    keep = conflict("target_edited", TWO, "sla").identity
    async with write_tx(engine) as conn:
        recorded = await batch_state.record(
            conn, "zd", batch_commit(items, [keep]), now=NOW, run_id="r2", actor="job:west"
        )
    async with read_tx(engine) as conn:
        queue = await work.pending_count(conn, "zd")
        state = await batch_state.load(conn, "zd", [ONE, TWO])
        notes = list(await conn.execute(sa.select(t.note_state)))
        audit = list(await conn.execute(sa.select(t.audit).order_by(t.audit.c.id)))
        rows = await conn.execute(sa.select(t.conflict.c.identity, t.conflict.c.status))
        statuses = {r.identity: r.status for r in rows}
    assert recorded.fenced
    assert queue == {}, "the work items are done"
    assert state.bases == {
        ONE: {"discount": 15, "cleared": None},
        TWO: {"sla": {"hours": 4}, "terms": {"days": 30}},
    }
    assert [(n.customer_key, n.content_hash, n.deals) for n in notes] == [
        (ONE, note_hash("Deal D1: 15% off"), 1)
    ]
    assert len(audit) == 1, "one row per customer written"
    assert [(a.customer_key, a.field, a.old_value, a.new_value, a.at) for a in unfold(audit)] == [
        (ONE, "discount", 10, 15, NOW),
        (ONE, "note", None, "Deal D1: 15% off", NOW),
    ], "one line per field written"
    assert statuses[keep] == "open", "found again: stays open"
    assert statuses[conflict("target_edited", ONE, "discount").identity] == "resolved"
    assert statuses[conflict("out_of_policy", None, None, "west/D3").identity] == "open"
    assert recorded.closed == [], "nothing open on these customers that was not found"


async def test_plan_conflicts_not_found_again_are_closed(engine: AsyncEngine) -> None:
    await seed(engine)
    items = await claimed(engine, [ONE, TWO])
    async with write_tx(engine) as conn:
        recorded = await batch_state.record(
            conn, "zd", batch_commit(items, []), now=NOW, run_id="r2", actor="job:west"
        )
        status, seen = (
            await conn.execute(
                sa.select(t.conflict.c.status, t.conflict.c.last_seen).where(
                    t.conflict.c.id.in_(recorded.closed)
                )
            )
        ).one()
    assert len(recorded.closed) == 1
    assert (status, seen) == ("superseded", NOW)


class Rollback(Exception):
    pass


async def test_a_batch_whose_claim_was_taken_over_records_nothing(engine: AsyncEngine) -> None:
    await seed(engine)
    items = await claimed(engine, [ONE, TWO])
    async with write_tx(engine) as conn:  # another worker took TWO over
        await conn.execute(
            sa.update(t.customer_work)
            .where(t.customer_work.c.id == items[1].id)
            .values(claim_token="someone-else")
        )
    found: dict[str, Any] = {}

    async def record_then_roll_back() -> None:
        async with write_tx(engine) as conn:
            found["recorded"] = await batch_state.record(
                conn, "zd", batch_commit(items, []), now=NOW, run_id="r2", actor="job:west"
            )
            count = sa.select(sa.func.count()).select_from(t.audit)
            found["audit"] = (await conn.execute(count)).scalar()
            raise Rollback

    with pytest.raises(Rollback):
        await record_then_roll_back()
    recorded, audit = found["recorded"], found["audit"]
    assert not recorded.fenced
    assert audit == 0, "nothing after the fenced statement ran"
    async with read_tx(engine) as conn:
        queue = await work.pending_count(conn, "zd")
    assert queue == {"doing": 2}, "both claims stand: the batch is replayed or taken over"
