"""A backfill whose export ended before any deal was read matches each deal as it is read
(``stage1._read_after``). Its oracle is the way such a backfill went before: every deal stored
``pending``, then decided by the match pass in deal id order (``PassOrder.BY_DEAL``, which a
backfill still takes when the export did not end whole). For any desk (records sharing keys:
ambiguous; hostile text) and any book (deals on several pages, of unknown accounts, out of
policy, lost, failing to map), both leave the same deals, conflicts, queue, desk lookups and
counts behind; only the time a deal was stored may differ, and how often the holders of one
key were read again (once per page that settles them, and the pages are not the same)."""

from __future__ import annotations

import asyncio
import json
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord
from sync_jobs.run import stage1
from sync_jobs.store import tables as t
from sync_jobs.store import work
from sync_jobs.store.db import memory_engine, read_tx
from tests.unit.run.kit import TARGET, FakeCrm, FakeDesk, World, deal, org

HOSTILE = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
"""Any text UTF-8 can carry: a lone surrogate fails the terms' fingerprint before either way
is taken (``canonical_json``), as it did before."""
NUMBERS = st.sampled_from(["CUST-1", "CUST-2", "cust-1", "CUST-3", ""]) | HOSTILE
DOMAINS = st.sampled_from(["acme.example", "beta.example", "ACME.example", ""]) | HOSTILE


@st.composite
def desks(draw: st.DrawFn) -> list[CustomerRecord]:
    count = draw(st.integers(0, 5))
    return [
        org(str(n), number=draw(NUMBERS) or None, domain=draw(DOMAINS)) for n in range(1, count + 1)
    ]


@st.composite
def books(draw: st.DrawFn) -> list[list[Any]]:
    count = draw(st.integers(1, 12))
    deals = []
    for n in range(count):
        payload: dict[str, Any] = {
            "customer_number": draw(NUMBERS),
            "website": draw(DOMAINS),
            "discount": draw(st.sampled_from([5, 10, 25, "ten"])),  # 25: out of policy
            "stage": draw(st.sampled_from(["Won", "Lost"])),
            "account": draw(HOSTILE),
        }
        deals.append(deal(f"D{draw(st.integers(0, 99)):02d}-{n}", **payload))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, count - 1)), max_size=3)))
    edges = [0, *cuts, count]
    return [deals[a:b] for a, b in pairwise(edges) if a < b]


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _backfill(desk: list[CustomerRecord], book: list[list[Any]]) -> dict[str, Any]:
    store = await memory_engine()
    try:
        world = World(store, FakeCrm(pages=book), FakeDesk().holding(*desk))
        await stage1.backfill(world.stage1())
        async with read_tx(store) as conn:
            d, c = t.deal.c, t.conflict.c
            deals = {
                row.deal_id: (
                    row.customer_key,
                    row.match_status,
                    _json(row.match_detail),
                    row.lookup_at is not None,
                    row.violations,
                    _json(row.terms),
                    row.live,
                    row.valid_until,
                    row.payload_hash,
                    row.error,
                    row.account_key,
                )
                for row in await conn.execute(t.deal.select().order_by(d.deal_id))
            }
            conflicts = sorted(
                (row.identity, row.kind, row.status, row.customer_key, json.dumps(row.details))
                for row in await conn.execute(t.conflict.select().order_by(c.identity))
            )
            queued = sorted(await work.queued_keys(conn, TARGET))
        return {
            "deals": deals,
            "conflicts": conflicts,
            "queued": queued,
            "asked": sorted((k.match, k.value) for k in world.desk.looked_up),
            # Ambiguous holders are read once per page that settles them, so how many were
            # read again depends on how deals are paged (source pages here, pass pages
            # before); what was decided from them is compared above.
            "counts": {k: v for k, v in world.state.counts.items() if k != "identity_rechecked"},
        }
    finally:
        await store.dispose()


def _both(desk: list[CustomerRecord], book: list[list[Any]]) -> tuple[Any, Any]:
    async def run() -> tuple[Any, Any]:
        new = await _backfill(desk, book)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stage1, "_whole", lambda _refreshing: False)  # the old way
            old = await _backfill(desk, book)
        return new, old

    return asyncio.run(run())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desk=desks(), book=books())
def test_matching_as_read_leaves_what_the_match_pass_left(
    desk: list[CustomerRecord], book: list[list[Any]]
) -> None:
    new, old = _both(desk, book)
    assert new == old


def test_the_oracle_is_the_match_pass() -> None:
    """The old way really stores pending deals and decides them in the pass."""
    desk = [org("1", number="CUST-1")]
    book = [[deal("D1")]]
    seen: list[str] = []

    async def run() -> None:
        decide = stage1._rematch_page

        async def recorded(ctx: Any, unsaved: Any, rows: Any) -> set[str]:
            seen.extend(row.deal_id for row in rows)
            return await decide(ctx, unsaved, rows)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(stage1, "_rematch_page", recorded)
            await _backfill(desk, book)
            assert seen == [], "matched as read: no pass page"
            patch.setattr(stage1, "_whole", lambda _refreshing: False)
            old = await _backfill(desk, book)
        assert seen == ["D1"]
        assert old["deals"]["D1"][:2] == ("organization:1", "matched")

    asyncio.run(run())
