"""A backfill whose export ended before any deal was read matches each deal as it is read
(``stage1._read_after``). Its oracle is the way such a backfill went before: every deal stored
``pending``, then decided by the match pass in deal id order (``PassOrder.BY_DEAL``, which a
backfill still takes when the export did not end whole). For any desk (records sharing keys:
ambiguous; hostile text) and any book (deals on several pages, of unknown accounts, out of
policy, lost, failing to map), both leave the same deals, conflicts, queue, desk lookups and
counts behind; only the time a deal was stored may differ, and how often the holders of one
key were read again (once per page that settles them, and the pages are not the same).

With helper processes the reading does not wait for the export: its units are held (mapped,
not matched) until the export ends, then matched as they would have been at read
(``stage1._read_spread``); the same oracle holds. An export that fails after the reading
leaves no deal matched against the part of the index it had read."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, CustomerPage, CustomerRecord
from sync_jobs.run import stage1
from sync_jobs.run.workers.pages import PageSpreader
from sync_jobs.store import cursors, work
from sync_jobs.store import tables as t
from sync_jobs.store.db import Store, make_engine, memory_engine, migrate_async, read_tx
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


@dataclass
class ExportBesideTheReading(FakeDesk):
    """A desk whose identity export yields its first record, then its others only once the
    source was read whole (every unit was held meanwhile), or fails there."""

    source_read: asyncio.Event = field(default_factory=asyncio.Event)
    fails: bool = False

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        records = tuple(self.records.values())
        yield CustomerPage(records=records[:1], checkpoint=Cursor(value="1"))
        await self.source_read.wait()
        if self.fails:
            raise RuntimeError("the export failed")
        yield CustomerPage(records=records[1:], checkpoint=Cursor(value="2"))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _backfill(
    desk: list[CustomerRecord], book: list[list[Any]], *, spread: bool = False, fails: bool = False
) -> dict[str, Any]:
    """The stored outcome of a backfill; ``spread``: read through a spreader (with no helper:
    the lead holds every unit back) while the export runs, which ``fails`` after the reading."""
    if not spread:
        return await _backfill_in(await memory_engine(), desk, book)
    with tempfile.TemporaryDirectory() as folder:
        # on a file: the export and the reading hold transactions at once, as in a run
        url = f"sqlite:///{Path(folder) / 'state.db'}"
        await migrate_async(url)
        return await _backfill_in(make_engine(url), desk, book, spread=spread, fails=fails)


async def _backfill_in(
    store: Store,
    desk: list[CustomerRecord],
    book: list[list[Any]],
    *,
    spread: bool = False,
    fails: bool = False,
) -> dict[str, Any]:
    try:
        crm = FakeCrm(pages=book)
        target = (
            ExportBesideTheReading(source_read=crm.read_all, fails=fails) if spread else FakeDesk()
        )
        world = World(store, crm, target.holding(*desk))
        ctx = world.stage1()
        if spread:
            ctx.spreading.spreader = PageSpreader([], world.state)
        try:
            # (a reading that waited for the export would wait for ever: it fails instead)
            await asyncio.wait_for(stage1.backfill(ctx), 60)
        except RuntimeError:
            if not fails:
                raise
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
            cursor = await cursors.get_cursor(conn, "source", "west")
        return {
            "cursor": cursor,
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


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desk=desks(), book=books())
def test_units_held_while_the_export_ran_are_matched_as_if_read_after_it(
    desk: list[CustomerRecord], book: list[list[Any]]
) -> None:
    async def run() -> tuple[Any, Any]:
        return await _backfill(desk, book, spread=True), await _backfill(desk, book)

    held, read_after = asyncio.run(run())

    assert held == read_after


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(desk=desks(), book=books())
def test_an_export_that_fails_leaves_no_deal_matched_against_part_of_the_index(
    desk: list[CustomerRecord], book: list[list[Any]]
) -> None:
    """Whatever it stored (pending, for a later run's match pass) is no further than its
    cursor says: a deal the cursor passed is stored."""
    failed = asyncio.run(_backfill(desk, book, spread=True, fails=True))

    assert {row[1] for row in failed["deals"].values()} <= {"pending"}
    assert failed["queued"] == [], "no customer was decided"
    passed = book[: int(failed["cursor"] or 0)]
    assert {d.id for page in passed for d in page} <= set(failed["deals"])


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


def test_units_held_when_the_export_failed_are_stored_pending_by_deal_id() -> None:
    """When the reading learns the export ended failing before the run is stopped, what it
    held is stored pending (the next run's match pass decides it), never matched."""
    book = [[deal("D1")], [deal("D2", customer_number="CUST-2")]]

    async def run() -> list[tuple[str, str, str]]:
        store = await memory_engine()
        try:
            world = World(store, FakeCrm(pages=book), FakeDesk().holding(org("1", number="CUST-1")))
            ctx = world.stage1()
            spreader = ctx.spreading.spreader = PageSpreader([], world.state)
            refreshing: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            refreshing.set_exception(RuntimeError("the export failed"))
            ended = asyncio.Event()
            ended.set()
            order = await stage1._read_spread(
                ctx, spreader, asyncio.Event(), refreshing, ended, full=False
            )
            assert order is not None
            assert not order.writes_during_pass, "by deal id: stage 2 waits for the pass"
            async with read_tx(store) as conn:
                rows = await conn.execute(t.deal.select().order_by(t.deal.c.deal_id))
                return [(r.deal_id, r.match_status, r.account_key) for r in rows]
        finally:
            await store.dispose()

    assert asyncio.run(run()) == [("D1", "pending", ""), ("D2", "pending", "")]
