"""Stage 1 spread over a run's processes (``sync_jobs.run.workers.pages``): whoever commits a
unit of deals, the job's cursor passes a page only once every unit up to it is committed
(C1); a helper that dies or fails leaves its units to the lead; an older version of a deal is
never committed after a newer one. The helpers here are played by the test: its queue and
answers are in-process stand-ins, and a "commit" is an entry in one log."""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import SourceDeal
from sync_jobs.run import stage1
from sync_jobs.run.context import RunState
from sync_jobs.run.workers import pages
from sync_jobs.run.workers.pages import Answer, Outlet, PageSpreader

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def deal(deal_id: str, version: int = 0) -> SourceDeal:
    return SourceDeal(id=deal_id, modified_at=WHEN, payload={"version": version})


@dataclass
class Log:
    """What was committed, in order: ("deals", who, [(id, version)]) and ("cursor", page)."""

    entries: list[tuple[Any, ...]] = field(default_factory=list)

    def deals(self, who: str, unit: list[SourceDeal]) -> None:
        self.entries.append(("deals", who, [(d.id, d.payload["version"]) for d in unit]))

    def cursors(self) -> list[str]:
        return [e[1] for e in self.entries if e[0] == "cursor"]


class Units:
    """A helper's queue of units, in this process."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, item: Any) -> None:
        self.items.append(item)

    def get_nowait(self) -> Any:
        if not self.items:
            raise queue.Empty
        return self.items.pop(0)


class Helper:
    """Plays one helper: takes units from its queue, commits (logs) and answers them."""

    def __init__(self, number: int, log: Log) -> None:
        self.number, self.log = number, log
        self.units = Units()
        self.answers: list[Answer] = []
        self.alive = True
        self.outlet = Outlet(number, cast("Any", self.units), cast("Any", self), cast("Any", self))

    # the answers pipe
    def poll(self) -> bool:
        if not self.alive and not self.answers:
            raise EOFError
        return bool(self.answers)

    def recv(self) -> Answer:
        return self.answers.pop(0)

    # the process
    def is_alive(self) -> bool:
        return self.alive

    # what the test makes it do
    def take(self) -> tuple[int, list[SourceDeal]] | None:
        """The next unit, or None for the lead's end mark."""
        return cast("tuple[int, list[SourceDeal]] | None", self.units.get_nowait())

    def commit(self, unit: tuple[int, list[SourceDeal]]) -> None:
        number, deals = unit
        self.log.deals(f"w{self.number}", deals)
        self.answers.append(Answer(number, {"deals_read": len(deals)}, []))

    def die(self) -> None:
        self.alive = False


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Log:
    log = Log()

    async def commit_here(_ctx: object, deals: list[SourceDeal], _defer: object = None) -> None:
        log.deals("lead", list(deals))

    async def advance(_ctx: object, checkpoint: str) -> None:
        log.entries.append(("cursor", checkpoint))

    monkeypatch.setattr(stage1, "commit_deals", commit_here)
    monkeypatch.setattr(stage1, "advance_cursor", advance)
    monkeypatch.setattr(pages, "UNIT", 2)
    monkeypatch.setattr(pages, "WAIT", 0)
    return log


CTX = cast("stage1.Stage1", SimpleNamespace())


def spreader(*helpers: Helper) -> PageSpreader:
    return PageSpreader([h.outlet for h in helpers], RunState(run_id="r", job="west"))


def test_the_cursor_passes_a_page_only_once_every_unit_up_to_it_is_committed(log: Log) -> None:
    helper = Helper(2, log)
    spread = spreader(helper)

    async def go() -> None:
        await spread.hand(CTX, [deal("a"), deal("b"), deal("c"), deal("d")], "page A")
        assert log.entries == [], "both units of page A are in the helper's hands"
        await spread.hand(CTX, [deal("e")], "page B")
        assert log.entries == [("deals", "lead", [("e", 0)])], "the helper has no room: here"
        first, second = helper.take(), helper.take()
        assert first is not None
        assert second is not None
        helper.commit(second)
        await spread.hand(CTX, [], "page C")
        assert log.cursors() == [], "page A's first unit is not committed yet"
        helper.commit(first)
        await spread.finish(CTX)

    asyncio.run(go())

    assert log.cursors() == ["page C"]
    assert spread.state.counts["deals_read"] == 4, "the helper's counts are the run's"


def test_a_helper_that_dies_holding_units_leaves_them_to_the_lead(log: Log) -> None:
    helper = Helper(2, log)
    spread = spreader(helper)

    async def go() -> None:
        await spread.hand(CTX, [deal("a"), deal("b"), deal("c")], "page A")
        helper.take()  # it took the first unit and died before committing it
        helper.die()
        await spread.finish(CTX)

    asyncio.run(go())

    committed = [e for e in log.entries if e[0] == "deals"]
    assert committed == [("deals", "lead", [("a", 0), ("b", 0)]), ("deals", "lead", [("c", 0)])]
    assert log.cursors() == ["page A"]
    assert any("worker 2 stopped with 2 unit(s)" in n for n in spread.state.notices)


def test_a_unit_a_helper_failed_is_committed_by_the_lead_and_it_gets_no_more(log: Log) -> None:
    helper = Helper(2, log)
    spread = spreader(helper)

    async def go() -> None:
        await spread.hand(CTX, [deal("a")], "page A")
        taken = helper.take()
        assert taken is not None
        number, _ = taken
        helper.answers.append(Answer(number, {}, [], "StoreError: disk full"))
        await spread.hand(CTX, [deal("b")], "page B")
        await spread.finish(CTX)

    asyncio.run(go())

    assert log.entries == [
        ("deals", "lead", [("a", 0)]),
        ("deals", "lead", [("b", 0)]),
        ("cursor", "page B"),
    ]
    assert helper.units.items == [], "nothing more went to it (it stopped taking units)"


def test_a_newer_version_of_a_deal_waits_for_the_older_one_in_a_helpers_hands(log: Log) -> None:
    helper = Helper(2, log)
    spread = spreader(helper)

    async def go() -> None:
        await spread.hand(CTX, [deal("a", 1)], "page A")
        first = helper.take()
        assert first is not None
        handing = asyncio.ensure_future(spread.hand(CTX, [deal("a", 2)], "page B"))
        await asyncio.sleep(0.01)
        assert not handing.done(), "version 2 waits while version 1 is in the helper's hands"
        helper.commit(first)
        await handing
        await spread.finish(CTX)

    asyncio.run(go())

    versions = [v for e in log.entries if e[0] == "deals" for _, v in e[2]]
    assert versions == [1, 2]
    assert log.cursors()[-1] == "page B"


@st.composite
def readings(draw: st.DrawFn) -> tuple[list[list[SourceDeal]], list[int]]:
    """Pages of deals (ids from a small set: a deal may be read again, a newer version), and
    the helpers' moves (an int each: which helper, and what it does)."""
    count = draw(st.integers(1, 6))
    version = 0
    read: list[list[SourceDeal]] = []
    for _ in range(count):
        ids = draw(st.lists(st.sampled_from("abcdefg"), max_size=5, unique=True))
        read.append([])
        for deal_id in ids:
            version += 1
            read[-1].append(deal(deal_id, version))
    moves = draw(st.lists(st.integers(0, 11), max_size=40))
    return read, moves


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reading=readings(), helpers=st.integers(1, 2))
def test_spread_commits_what_one_process_would_in_an_order_it_would(
    reading: tuple[list[list[SourceDeal]], list[int]], helpers: int, log: Log
) -> None:
    """Oracle: one process commits every page in reading order, its cursor after each. Spread,
    whatever the helpers do (commit, answer late, die before or after committing, fail):
    every deal read is committed, no version after a newer one of the same deal, the cursor
    only past pages whose deals are all committed, and at the end past the last page."""
    log.entries.clear()
    read, moves = reading
    team = [Helper(n + 2, log) for n in range(helpers)]
    spread = spreader(*team)
    committed_ids: list[tuple[str, int]] = []
    taken: dict[int, list[tuple[int, list[SourceDeal]]]] = {h.number: [] for h in team}
    gave_up: set[int] = set()

    def move(code: int) -> None:
        helper = team[code % helpers]
        what = code // helpers % 6
        if not helper.alive or helper.number in gave_up:
            return
        if what in (0, 1) and not taken[helper.number]:  # take a unit (one at a time)
            try:
                unit = helper.take()
            except queue.Empty:
                return
            if unit is not None:
                taken[helper.number].append(unit)
        elif what in (2, 3) and taken[helper.number]:  # commit and answer the oldest taken
            helper.commit(taken[helper.number].pop(0))
        elif what == 4:  # dies, perhaps after committing what it took but before answering
            if taken[helper.number] and code % 2:
                number, deals = taken[helper.number].pop(0)
                log.deals(f"w{helper.number}", deals)
            helper.die()
        elif what == 5 and taken[helper.number]:  # fails its unit, and takes no more
            number, _ = taken[helper.number].pop(0)
            helper.answers.append(Answer(number, {}, [], "failed"))
            gave_up.add(helper.number)

    async def helpers_work() -> None:
        for code in moves:
            move(code)
            await asyncio.sleep(0)
        while any(h.alive for h in team):  # then they drain what they hold, and end
            for helper in team:
                if not helper.alive:
                    continue
                if helper.number in gave_up:  # it went on to stage 2 and ends
                    helper.die()
                    continue
                try:
                    unit = helper.take() if not taken[helper.number] else None
                except queue.Empty:
                    unit = None
                if unit is not None:
                    taken[helper.number].append(unit)
                elif not taken[helper.number] and helper.units.items == [] and spread.ended:
                    helper.die()  # its end mark was taken back: nothing more comes
                if taken[helper.number]:
                    helper.commit(taken[helper.number].pop(0))
            await asyncio.sleep(0)

    async def lead() -> None:
        for number, page in enumerate(read):
            await spread.hand(CTX, page, f"page {number}")
        await spread.finish(CTX)

    async def go() -> None:
        working = asyncio.ensure_future(helpers_work())
        await asyncio.wait_for(lead(), 10)
        working.cancel()

    asyncio.run(go())

    handed = [(d.id, d.payload["version"]) for page in read for d in page]
    seen: dict[str, int] = {}
    pages_done: set[int] = set()
    for entry in log.entries:
        if entry[0] == "deals":
            for deal_id, version in entry[2]:
                assert version >= seen.get(deal_id, 0), f"{deal_id} v{version} after a newer one"
                seen[deal_id] = version
                committed_ids.append((deal_id, version))
        else:
            page = int(entry[1].split()[1])
            for number in range(page + 1):
                for d in read[number]:
                    assert (d.id, d.payload["version"]) in committed_ids, (
                        f"the cursor passed page {page} before {d.id} v{d.payload['version']}"
                    )
            pages_done.add(page)
    assert set(handed) <= set(committed_ids), "every deal read is committed"
    assert log.cursors()[-1] == f"page {len(read) - 1}", "the cursor ends past the last page"


def test_a_helper_stops_taking_units_once_the_lead_is_done_though_it_handed_none() -> None:
    """A backfill whose deals were stored pending hands no unit (and so sends no end mark
    from its reading): the helper goes on to stage 2 once the lead's stage 1 is done."""
    mp = multiprocessing.get_context("spawn")
    units: Any = mp.Queue()
    answers, _answering = mp.Pipe(duplex=False)
    run = cast("Any", SimpleNamespace(state=RunState(run_id="r", job="west"), job="west"))
    lead_done = [False]

    async def go() -> None:
        taking = asyncio.ensure_future(
            pages.take_units(run, None, units, answers, lambda: lead_done[0])
        )
        await asyncio.sleep(0.3)
        assert not taking.done(), "it waits for units while the lead reads"
        lead_done[0] = True
        await asyncio.wait_for(taking, 5)

    asyncio.run(go())


def test_the_end_mark_goes_once_to_each_helper_still_in(log: Log) -> None:
    one, two = Helper(2, log), Helper(3, log)
    two.outlet.out = True
    spread = spreader(one, two)

    spread.end()
    spread.end()

    assert one.units.items == [None]
    assert two.units.items == []
