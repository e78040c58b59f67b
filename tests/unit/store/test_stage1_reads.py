"""Stage 1's page reads (the deals it has seen, the index keys it asks for) go to the driver
in one trip, and return exactly what the same queries through SQLAlchemy return: every chunk
of ids, every match type, nothing of another job or target, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.matching import keyed
from sync_jobs.store import deals, identity
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.sql import CHUNK
from tests.stores import store_url
from tests.unit.store.rows import deal_row

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
MANY = CHUNK * 2 + 7
"""More ids than one statement takes: three chunks."""


async def test_deal_states_are_the_stored_rows_of_the_ids_asked(engine: AsyncEngine) -> None:
    rows = [
        deal_row(
            f"D{n:04}",
            f"organization:{n}" if n % 3 else None,
            NOW,
            match_detail={"method": "email"} if n % 2 else None,
        )
        for n in range(MANY)
    ]
    rows.append(deal_row("D0001", "organization:x", NOW, job="east"))  # another job
    async with write_tx(engine) as conn:
        await deals.save_deals(conn, rows)
    asked = [f"D{n:04}" for n in range(1, MANY + 5, 2)]  # some never stored
    async with read_tx(engine) as conn:
        found = await deals.deal_states(conn, "west", asked)
        d = t.deal.c
        plain = await conn.execute(
            sa.select(d.deal_id, d.payload_hash, d.customer_key, d.match_detail).where(
                d.job == "west"
            )
        )
        expected = {
            r.deal_id: deals.KnownDeal(
                r.payload_hash, r.customer_key, (r.match_detail or {}).get("method")
            )
            for r in plain
            if r.deal_id in set(asked)
        }
    assert found == expected
    assert len(found) == len([a for a in asked if int(a[1:]) < MANY])
    assert {k.match_method for k in found.values()} == {"email"}
    assert any(k.customer_key is None for k in found.values())


def org(n: int, target_domain: str = "") -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind="organization", id=str(n)),
        external_id=f"CUST-{n}",
        domains=(target_domain or f"c{n}.example",),
    )


async def test_index_hits_are_the_stored_keys_asked_for(engine: AsyncEngine) -> None:
    records = [org(n) for n in range(MANY)] + [
        CustomerRecord(ref=RecordRef(kind="user", id="twin"), domains=("c1.example",))
    ]
    async with write_tx(engine) as conn:
        await identity.index_records(conn, "zd", keyed(records), NOW)
        await identity.index_records(conn, "other", keyed([org(1)]), NOW)
    wanted = [("external_id", f"cust-{n}") for n in range(MANY + 3)]
    wanted += [("domain", f"c{n}.example") for n in range(0, MANY, 5)]
    wanted += [("email", "nobody@x.example")]
    async with read_tx(engine) as conn:
        hits = await identity.index_hits(conn, "zd", wanted)
        k = t.identity_key.c
        plain = await conn.execute(
            sa.select(k.match, k.value, k.kind, k.record_id).where(k.target == "zd")
        )
        expected = {
            identity.IndexHit(r.match, r.value, r.kind, r.record_id)
            for r in plain
            if (r.match, r.value) in set(wanted)
        }
    assert sorted(hits) == sorted(expected)
    assert len(hits) == len(set(hits)), "each hit once"
    assert ("domain", "c5.example") in {(h.match, h.value) for h in hits}
    assert sum(h.value == "c1.example" for h in hits) == 0, "c1 was not asked for"


async def test_reindexing_replaces_the_keys_of_every_chunk_and_kind(engine: AsyncEngine) -> None:
    """The index refresh writes through the driver too: after it, the index holds exactly the
    live records' keys (other targets' untouched), deleted records are gone, and the records
    that lost a key are reported."""
    first = [org(n) for n in range(MANY)] + [
        CustomerRecord(ref=RecordRef(kind="user", id="u1"), emails=("a@x.example",))
    ]
    async with write_tx(engine) as conn:
        assert await identity.index_records(conn, "zd", keyed(first), NOW) == []
        await identity.index_records(conn, "other", keyed([org(1)]), NOW)
    moved = [org(n, "moved.example") for n in range(0, MANY, 2)]  # lose their own domain
    deleted = [CustomerRecord(ref=RecordRef(kind="user", id="u1"), deleted=True)]
    deleted += [CustomerRecord(ref=RecordRef(kind="organization", id="1"), deleted=True)]
    later = datetime(2026, 12, 7, tzinfo=UTC)
    async with write_tx(engine) as conn:
        lost = await identity.index_records(conn, "zd", keyed(moved + deleted), later)
    assert sorted(r.key for r in lost) == sorted(r.ref.key for r in moved + deleted)
    live = {r.ref.key: r for r in first if r.ref.key not in {d.ref.key for d in deleted}}
    live |= {r.ref.key: r for r in moved}
    async with read_tx(engine) as conn:
        i, k = t.identity.c, t.identity_key.c
        records = list(await conn.execute(sa.select(i.target, i.kind, i.record_id, i.updated_at)))
        stored_keys = list(
            await conn.execute(sa.select(k.target, k.match, k.value, k.kind, k.record_id))
        )
    assert sorted((r.kind, r.record_id) for r in records if r.target == "zd") == sorted(
        (r.ref.kind, r.ref.id) for r in live.values()
    )
    assert {(r.target, r.kind, r.record_id) for r in records if r.target == "other"} == {
        ("other", "organization", "1")
    }
    assert {r.record_id for r in records if r.updated_at == later} == {r.ref.id for r in moved}
    expected = {
        ("zd", match, value, record.ref.kind, record.ref.id)
        for record, keys in keyed(list(live.values()))
        for match, value in keys
    }
    assert {tuple(r) for r in stored_keys if r.target == "zd"} == expected
    assert any(r.target == "other" for r in stored_keys)
