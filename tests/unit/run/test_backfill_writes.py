"""A budget-bound backfill's stage 2 writes from the match pass's first page on: the pass
pages through the waiting deals by account, so every deal of one account is decided on one
page and its customer can be written as soon as that page commits. Two accounts that reach
one customer on different pages still leave it right: it is queued again and written with
both deals. A backfill whose export never waited (bound by the CPU) matches its deals as it
reads them, as any other run does, and writes once stage 1 is done (``stage1.PassOrder``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.base import Cursor, CustomerPage
from connectors.waits import announce_wait
from sync_jobs.run import stage1, stage2
from sync_jobs.store import deals, work
from sync_jobs.store.db import read_tx
from tests.unit.run.kit import TARGET, FakeDesk, World, deal, org

pytestmark = pytest.mark.anyio
WAIT = 5.0
"""How long a page of the match pass waits for stage 2 (a run without the overlap never
writes before the pass ends: the test fails after this, instead of hanging)."""


@dataclass
class WaitingExport(FakeDesk):
    """A desk whose identity export waits for its budget after its first page, as Zendesk's
    (10 pages a minute) does in a large backfill: the desk's budgets bind the run."""

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        if since is not None:  # an incremental export may have no page: it waits first
            announce_wait(self.name, 60.0)
        async for page in super().customers(since):
            yield page
            announce_wait(self.name, 60.0)


@pytest.fixture
def world(world_on_file: World) -> World:
    """A budget-bound backfill's world: stage 1 and stage 2 hold transactions at once, as in
    a run, and the export waits for its budget."""
    world_on_file.desk = WaitingExport()
    return world_on_file


@pytest.fixture
def quick(world_on_file: World) -> World:
    """As ``world``, but the export never waits (a backfill bound by the CPU)."""
    return world_on_file


def pages_seen(monkeypatch: pytest.MonkeyPatch, *, hold: Any = None) -> list[list[str]]:
    """The deal ids of each page the match pass decides, in order; ``hold(page_number)``,
    when given, is awaited after each page commits."""
    pages: list[list[str]] = []
    decide = stage1._rematch_page

    async def recorded(ctx: stage1.Stage1, unsaved: Any, rows: Sequence[Any]) -> set[str]:
        pages.append(sorted(row.deal_id for row in rows))
        touched = await decide(ctx, unsaved, rows)
        if hold is not None:
            await hold(len(pages))
        return touched

    monkeypatch.setattr(stage1, "_rematch_page", recorded)
    return pages


def first_write(world: World) -> asyncio.Event:
    """Set once the desk took its first write."""
    wrote = asyncio.Event()
    write = world.desk.write

    async def writing(changes: Sequence[Any]) -> Any:
        results = await write(changes)
        wrote.set()
        return results

    world.desk.write = writing  # type: ignore[method-assign]
    return wrote


async def backfill_and_write(world: World) -> None:
    """Stage 1 of a backfill with stage 2 starting at its match pass, as a run does."""
    matching = asyncio.Event()
    pulling = stage1.backfill(world.stage1(), matching=matching)
    await stage2.drain(world.stage2(), pulling, overlap=False, begin=matching)


def note_of(world: World, key: str) -> str:
    return str(world.desk.records[key].fields.get("notes", ""))


def customers_written(world: World) -> list[str]:
    return [change.ref.key for batch in world.desk.writes for change in batch]


async def test_a_page_of_the_match_pass_holds_every_deal_of_its_accounts(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage1, "MATCH_PAGE", 2)
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    # In id order, pages of two would put D1 and D2 on one page and D3 with D4.
    world.crm.pages = [
        [deal("D1"), deal("D2"), deal("D3"), deal("D4", customer_number="CUST-2")],
    ]
    pages = pages_seen(monkeypatch)

    await stage1.backfill(world.stage1())

    assert any({"D1", "D2", "D3"} <= set(page) for page in pages), pages
    assert sorted(d for page in pages for d in page) == ["D1", "D2", "D3", "D4"], "each once"


async def test_stage_2_writes_a_customer_while_the_match_pass_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage1, "MATCH_PAGE", 1)
    world.desk.holding(*(org(str(n), number=f"CUST-{n}") for n in range(1, 4)))
    world.crm.pages = [[deal(f"D{n}", customer_number=f"CUST-{n % 3 + 1}") for n in range(6)]]

    wrote = first_write(world)

    async def first_page_written(page: int) -> None:
        if page == 1:  # the pass goes on only once stage 2 wrote that page's customer
            await asyncio.wait_for(wrote.wait(), WAIT)

    pages = pages_seen(monkeypatch, hold=first_page_written)

    await backfill_and_write(world)

    assert len(pages) == 3, "one page an account: its two deals together"
    assert sorted(customers_written(world)) == [f"organization:{n}" for n in range(1, 4)], (
        "each customer written once, with every deal it has"
    )
    for n in range(1, 4):
        assert note_of(world, f"organization:{n}").count("| Fake D") == 2


async def test_a_customer_two_accounts_reach_on_different_pages_is_written_with_both(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage1, "MATCH_PAGE", 1)
    world.desk.holding(org("1", number="CUST-1", domain="acme.example"))
    # Two accounts: one known by its customer number, one by its website only. Both are org 1.
    world.crm.pages = [[deal("DA", website=""), deal("DB", customer_number="")]]

    wrote = first_write(world)

    async def written_in_between(page: int) -> None:
        if page == 1:  # stage 2 writes org 1 with the first page's deal alone
            await asyncio.wait_for(wrote.wait(), WAIT)

    pages = pages_seen(monkeypatch, hold=written_in_between)

    await backfill_and_write(world)

    assert pages in (
        [["DA"], ["DB"]],
        [["DB"], ["DA"]],
    ), "two accounts, two pages"
    assert customers_written(world) == ["organization:1", "organization:1"], "queued again"
    note = note_of(world, "organization:1")
    assert "Fake DA" in note, note
    assert "Fake DB" in note, note
    async with read_tx(world.store) as conn:
        assert await work.queued_keys(conn, TARGET) == []
        stored = await deals.deal_states(conn, "west", ["DA", "DB"])
    assert {d: k.customer_key for d, k in stored.items()} == {
        "DA": "organization:1",
        "DB": "organization:1",
    }


async def test_a_deal_read_again_by_a_full_backfill_stays_on_its_customer_until_decided(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    world.crm.pages = [[deal("D1")]]
    await backfill_and_write(world)
    assert customers_written(world) == ["organization:1"]
    world.desk.writes.clear()
    # The rep changes the deal's terms, and another rep's deal sits on org 2 alone.
    world.crm.pages = [[deal("D1", discount=15), deal("D2", customer_number="CUST-2")]]
    held: dict[str, Any] = {}
    read_page = stage1._commit_page

    async def after_read(*args: Any, **kwargs: Any) -> set[str]:
        touched = await read_page(*args, **kwargs)
        async with read_tx(world.store) as conn:
            held.update(await deals.deal_states(conn, "west", ["D1"]))
            held["queued"] = await work.queued_keys(conn, TARGET)
        return touched

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stage1, "_commit_page", after_read)
        matching = asyncio.Event()
        pulling = stage1.backfill(world.stage1(), full=True, matching=matching)
        await stage2.drain(world.stage2(), pulling, overlap=False, begin=matching)

    assert held["D1"].customer_key == "organization:1", "still on its customer while pending"
    assert held["queued"] == [], "its customer waits for the match pass to queue it"
    assert sorted(customers_written(world)) == ["organization:1", "organization:2"]
    assert "15" in note_of(world, "organization:1")


async def account_keys(world: World, *deal_ids: str) -> dict[str, str]:
    async with read_tx(world.store) as conn:
        return {d: (await deals.deals_with_id(conn, d))[0].account_key for d in deal_ids}


async def test_a_backfill_whose_export_never_waited_matches_each_deal_as_it_is_read(
    quick: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stage1, "MATCH_PAGE", 2)
    quick.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    quick.crm.pages = [
        [deal("D1"), deal("D2")],
        [deal("D3"), deal("D4", customer_number="CUST-2"), deal("D5", customer_number="X")],
    ]
    pages = pages_seen(monkeypatch)
    held: list[dict[str, str | None]] = []
    read_page = stage1._commit_page

    async def after_read(*args: Any, **kwargs: Any) -> set[str]:
        touched = await read_page(*args, **kwargs)
        async with read_tx(quick.store) as conn:
            stored = await deals.deal_states(conn, "west", ["D1", "D2", "D3", "D4", "D5"])
        held.append({d: k.customer_key for d, k in stored.items()})
        return touched

    monkeypatch.setattr(stage1, "_commit_page", after_read)

    await stage1.backfill(quick.stage1())

    assert held[0] == {"D1": "organization:1", "D2": "organization:1"}, "matched as read"
    assert held[1] == held[0] | {"D3": "organization:1", "D4": "organization:2", "D5": None}
    assert pages == [["D5"]], "the pass pages only what found no record: no pending deal"
    async with read_tx(quick.store) as conn:
        stored = await deals.deal_states(conn, "west", ["D5"])
        assert stored["D5"].match_method is None
        assert await account_keys(quick, "D1", "D2", "D3", "D4", "D5") == dict.fromkeys(
            ("D1", "D2", "D3", "D4", "D5"), ""
        ), "no account key stored"
        assert sorted(await work.queued_keys(conn, TARGET)) == [
            "organization:1",
            "organization:2",
        ]


async def test_a_backfill_whose_export_failed_stores_what_it_read_meanwhile_pending(
    quick: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index is not whole: nothing read while it was refreshed is matched against it."""
    quick.desk.holding(org("1", number="CUST-1"))
    quick.crm.pages = [[deal("D1")]]
    failing = asyncio.Event()

    async def refresh_failing(ctx: stage1.Stage1, ended: asyncio.Event | None = None) -> Any:
        assert ended is not None
        ended.set()  # as refresh_index's ``finally`` does when it fails
        await asyncio.sleep(0)  # the reader wakes before the failure reaches the run
        await failing.wait()
        raise RuntimeError("export failed")

    read_page = stage1._commit_page

    async def after_read(*args: Any, **kwargs: Any) -> set[str]:
        assert kwargs.get("defer", args[4] if len(args) > 4 else None) is not None, "pending"
        touched = await read_page(*args, **kwargs)
        failing.set()
        return touched

    monkeypatch.setattr(stage1, "refresh_index", refresh_failing)
    monkeypatch.setattr(stage1, "_commit_page", after_read)

    with pytest.raises(RuntimeError, match="export failed"):
        await stage1.backfill(quick.stage1())


async def test_stage_2_of_a_backfill_whose_export_never_waited_writes_after_stage_1(
    quick: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    quick.desk.holding(*(org(str(n), number=f"CUST-{n}") for n in range(1, 4)))
    quick.crm.pages = [
        [deal(f"D{n}", customer_number=f"CUST-{n % 3 + 1}") for n in range(3)],
        [deal(f"D{n}", customer_number=f"CUST-{n % 3 + 1}") for n in range(3, 6)],
    ]
    writes_seen: list[int] = []
    read_page = stage1._commit_page

    async def after_read(*args: Any, **kwargs: Any) -> set[str]:
        touched = await read_page(*args, **kwargs)
        await asyncio.sleep(0.01)  # time enough for a worker that was free to write
        writes_seen.append(len(quick.desk.writes))
        return touched

    monkeypatch.setattr(stage1, "_commit_page", after_read)

    await backfill_and_write(quick)

    assert writes_seen == [0, 0], "nothing written while stage 1 went on"
    assert sorted(customers_written(quick)) == [f"organization:{n}" for n in range(1, 4)], (
        "each customer written once, with every deal it has"
    )
    for n in range(1, 4):
        assert note_of(quick, f"organization:{n}").count("| Fake D") == 2


async def test_a_budget_bound_backfill_stores_each_pending_deal_with_its_account_key(
    world: World,
) -> None:
    world.desk.holding(org("1", number="CUST-1"), org("2", number="CUST-2"))
    world.crm.pages = [[deal("D1"), deal("D2"), deal("D3", customer_number="CUST-2")]]

    await stage1.backfill(world.stage1())

    keys = await account_keys(world, "D1", "D2", "D3")
    assert keys["D1"] == keys["D2"] != keys["D3"], keys
    assert all(keys.values()), keys


async def test_deals_read_by_an_incremental_run_are_stored_without_an_account_key(
    quick: World,
) -> None:
    quick.desk.holding(org("1", number="CUST-1"))
    quick.crm.pages = [[deal("D1"), deal("D2", customer_number="CUST-7")]]
    ctx = quick.stage1()

    await stage1.pull(ctx, await stage1.refresh_index(ctx))

    assert await account_keys(quick, "D1", "D2") == {"D1": "", "D2": ""}
