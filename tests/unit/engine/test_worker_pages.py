"""Stage 1 spread over a run's processes (``sync_jobs.run.workers.pages``): whoever commits a
unit of deals, the job's cursor passes a page only once every unit up to it is committed
(C1); a helper that dies or fails leaves its units to the lead; an older version of a deal is
never committed after a newer one. Units read while the index refresh runs (held) are mapped
by the helpers but committed by nobody before stage 1 decides how (matched, or stored
pending), and never matched when the export failed. The helpers here are played by the test:
its queue and answers are in-process stand-ins, and a "commit" is an entry in one log."""

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
from sync_jobs.run.pass_order import PassOrder
from sync_jobs.run.workers import pages
from sync_jobs.run.workers.pages import Answer, Decided, Hold, Outlet, PageSpreader

WHEN = datetime(2026, 12, 1, tzinfo=UTC)


def deal(deal_id: str, version: int = 0) -> SourceDeal:
    return SourceDeal(id=deal_id, modified_at=WHEN, payload={"version": version})


MATCHED = "matched"


def how(defer: PassOrder | None) -> str:
    """How a unit was committed: matched, or stored pending in the pass's order."""
    return MATCHED if defer is None else f"pending by {defer.value}"


@dataclass
class Log:
    """What was committed, in order: ("deals", who, [(id, version)], how), ("cursor", page)
    and ("decided", how): when stage 1 decided how the units read so far are committed."""

    entries: list[tuple[Any, ...]] = field(default_factory=list)

    def deals(self, who: str, unit: list[SourceDeal], defer: PassOrder | None = None) -> None:
        versions = [(d.id, d.payload["version"]) for d in unit]
        self.entries.append(("deals", who, versions, how(defer)))

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
    """Plays one helper: takes units from its queue (mapping them), commits (logs) and
    answers them once it knows how (at once, unless the lead held them)."""

    def __init__(self, number: int, log: Log) -> None:
        self.number, self.log = number, log
        self.units = Units()
        self.answers: list[Answer] = []
        self.alive = True
        self.outlet = Outlet(number, cast("Any", self.units), cast("Any", self), cast("Any", self))
        self.decided: Decided | None = Decided(None)
        self.mapped: list[tuple[int, list[SourceDeal]]] = []
        """Units taken (mapped), not yet committed, in order."""

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
        """The next unit, or None for the lead's end mark (a Hold or a Decided message on
        the way is read as the real helper reads it)."""
        while True:
            message = self.units.get_nowait()
            if isinstance(message, Hold):
                self.decided = None
            elif isinstance(message, Decided):
                self.decided = message
            else:
                return cast("tuple[int, list[SourceDeal]] | None", message)

    def may_commit(self) -> bool:
        """Whether the oldest unit it mapped may be committed: it knows how."""
        return bool(self.mapped) and self.decided is not None

    def commit(self, unit: tuple[int, list[SourceDeal]]) -> None:
        number, deals = unit
        defer = self.decided.defer if self.decided is not None else None
        self.log.deals(f"w{self.number}", deals, defer)
        self.answers.append(Answer(number, {"deals_read": len(deals)}, []))

    def die(self) -> None:
        self.alive = False


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> Log:
    log = Log()

    async def commit_here(
        _ctx: object, deals: list[SourceDeal], defer: PassOrder | None = None
    ) -> None:
        log.deals("lead", list(deals), defer)

    async def advance(_ctx: object, checkpoint: str) -> None:
        log.entries.append(("cursor", checkpoint))

    monkeypatch.setattr(stage1, "commit_deals", commit_here)
    monkeypatch.setattr(stage1, "advance_cursor", advance)
    monkeypatch.setattr(pages, "UNIT", 2)
    monkeypatch.setattr(pages, "HELD_DEPTH", 2)
    monkeypatch.setattr(pages, "AHEAD", 4)
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
        assert log.entries == [("deals", "lead", [("e", 0)], MATCHED)], "no room: here"
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
    assert committed == [
        ("deals", "lead", [("a", 0), ("b", 0)], MATCHED),
        ("deals", "lead", [("c", 0)], MATCHED),
    ]
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
        ("deals", "lead", [("a", 0)], MATCHED),
        ("deals", "lead", [("b", 0)], MATCHED),
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


@dataclass(frozen=True)
class Export:
    """The index refresh beside a backfill's reading: how it ends, and when (in event-loop
    turns). None: no refresh runs beside the reading (the units are decided from the start)."""

    outcome: str
    """"whole", "waited" (for its budget: units are stored pending, by account), "failed"
    (the run fails before anything is decided) or "failed_after" (stage 1 first decided the
    units read so far are stored pending, by deal id, then the run failed)."""
    turns: int
    turns_to_fail: int = 0


exports = st.none() | st.builds(
    Export,
    st.sampled_from(["whole", "waited", "failed", "failed_after"]),
    st.integers(0, 60),
    st.integers(0, 30),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reading=readings(), helpers=st.integers(1, 2), export=exports)
def test_spread_commits_what_one_process_would_in_an_order_it_would(
    reading: tuple[list[list[SourceDeal]], list[int]],
    helpers: int,
    export: Export | None,
    log: Log,
) -> None:
    """Oracle: one process commits every page in reading order, its cursor after each, once
    the index is whole. Spread, with the units read while the index refresh runs held
    (mapped by helpers, held back by the lead), whatever the helpers do (map, commit, answer
    late, die holding units undecided or decided, die after committing, fail) and however
    the refresh ends: nothing is committed before stage 1 decided how, and then only so
    (never matched when the export failed or waited); no version after a newer one of the
    same deal; the cursor only past pages whose deals are all committed; no more undecided
    units in memory than ``AHEAD``; and when the run completes, every deal read committed
    and the cursor past the last page."""
    log.entries.clear()
    read, moves = reading
    team = [Helper(n + 2, log) for n in range(helpers)]
    spread = spreader(*team)
    gave_up: set[int] = set()

    def move(code: int) -> None:
        helper = team[code % helpers]
        what = code // helpers % 6
        if not helper.alive or helper.number in gave_up:
            return
        if what in (0, 1) and not helper.may_commit():  # take and map the next unit
            try:
                unit = helper.take()
            except queue.Empty:
                return
            if unit is None:
                helper.die()  # the end mark: it drops what it holds undecided
            else:
                helper.mapped.append(unit)
        elif what in (2, 3) and helper.may_commit():  # commit and answer the oldest mapped
            helper.commit(helper.mapped.pop(0))
        elif what == 4:  # dies: holding units (mapped, decided or not), or after committing
            if helper.may_commit() and code % 2:  # one, before answering for it
                number, deals = helper.mapped.pop(0)
                log.deals(f"w{helper.number}", deals, cast("Decided", helper.decided).defer)
            helper.die()
        elif what == 5 and helper.may_commit():  # fails its unit, and takes no more
            number, _ = helper.mapped.pop(0)
            helper.answers.append(Answer(number, {}, [], "failed"))
            gave_up.add(helper.number)

    async def helpers_work() -> None:
        for code in moves:
            move(code)
            await asyncio.sleep(0)
        while any(h.alive for h in team):  # then they work through what comes, and end
            for helper in team:
                if not helper.alive:
                    continue
                if helper.number in gave_up:  # it went on to stage 2 and ends
                    helper.die()
                elif helper.may_commit():
                    helper.commit(helper.mapped.pop(0))
                else:
                    move(helper.number - 2)  # takes the next unit, if one came
            await asyncio.sleep(0)

    most_undecided = [0]

    async def lead() -> None:
        if export is not None:
            spread.hold()
        for number, page in enumerate(read):
            await spread.hand(CTX, page, f"page {number}")
            if not spread.decided:
                undecided = sum(not p.done for p in spread.pending.values())
                most_undecided[0] = max(most_undecided[0], undecided)
        await spread.finish(CTX)

    def decide(defer: PassOrder | None) -> None:
        log.entries.append(("decided", how(defer)))
        spread.decide(defer)

    async def refresh(reading: asyncio.Future[None]) -> bool:
        """Whether the run failed."""
        if export is None:
            return False
        for _ in range(export.turns):
            await asyncio.sleep(0)
        if export.outcome in ("whole", "waited"):
            decide(None if export.outcome == "whole" else PassOrder.BY_ACCOUNT)
            return False
        if export.outcome == "failed_after":
            decide(PassOrder.BY_DEAL)
            for _ in range(export.turns_to_fail):
                await asyncio.sleep(0)
        reading.cancel()  # the run fails: stage 1 is cancelled, its helpers told to end
        spread.end()
        return True

    async def go() -> bool:
        working = asyncio.ensure_future(helpers_work())
        reading = asyncio.ensure_future(lead())
        failed = await asyncio.wait_for(refresh(reading), 10)
        try:
            await asyncio.wait_for(reading, 10)
        except asyncio.CancelledError:
            assert failed
        if failed:  # the helpers end too (they are not waited for)
            await asyncio.wait_for(working, 10)
        working.cancel()
        return failed

    failed = asyncio.run(go())

    decided = MATCHED if export is None else None
    committed_ids: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
    for entry in log.entries:
        if entry[0] == "decided":
            decided = entry[1]
        elif entry[0] == "deals":
            assert decided is not None, f"{entry} committed before stage 1 decided how"
            assert entry[3] == decided, f"{entry} committed otherwise than decided ({decided})"
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
    assert most_undecided[0] <= pages.AHEAD, "the reading waits for the decision beyond AHEAD"
    if failed:
        assert all(e[3] != MATCHED for e in log.entries if e[0] == "deals")
        return
    handed = [(d.id, d.payload["version"]) for page in read for d in page]
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


@dataclass
class Committed:
    """What a helper's ``take_units`` committed (the stage-1 work itself played here)."""

    units: list[tuple[list[str], PassOrder | None]] = field(default_factory=list)
    fail_on: str | None = None
    """A deal whose unit's commit raises."""


@pytest.fixture
def helper_side(monkeypatch: pytest.MonkeyPatch) -> Committed:
    committed = Committed()

    def mapped(_ctx: object, deals: list[SourceDeal]) -> list[str]:
        return [d.id for d in deals]

    async def commit(ctx: Any, ids: list[str], defer: PassOrder | None = None) -> None:
        if committed.fail_on in ids:
            raise RuntimeError("disk full")
        for deal_id in ids:
            if deal_id.startswith("bad"):  # its lookup met a desk record that did not read
                ctx.state.desk_problem(f"Zendesk organization {deal_id}: field id is True")
        committed.units.append((ids, defer))

    def own_stage1(run: Any, _grant: object) -> Any:
        state = RunState(run_id="r", job="west")
        return SimpleNamespace(state=state, control=SimpleNamespace(checkpoint=lambda _n: None))

    monkeypatch.setattr(stage1, "map_deals", mapped)
    monkeypatch.setattr(stage1, "commit_mapped", commit)
    monkeypatch.setattr(pages, "_unit_stage1", own_stage1)
    return committed


def helper_takes(*messages: pages.Message) -> list[Answer]:
    """Run a helper's ``take_units`` over ``messages`` (a real queue); its answers."""
    mp = multiprocessing.get_context("spawn")
    units: Any = mp.Queue()
    answers, answering = mp.Pipe(duplex=False)
    for message in messages:
        units.put(message)
    run = cast("Any", SimpleNamespace(queued=SimpleNamespace(notify=lambda: None)))

    async def go() -> None:
        await asyncio.wait_for(pages.take_units(run, None, units, answering, lambda: True), 5)

    asyncio.run(go())
    got = []
    while answers.poll():
        got.append(answers.recv())
    return got


def test_a_helper_commits_units_held_for_the_index_only_once_decided(
    helper_side: Committed,
) -> None:
    answers = helper_takes(
        (0, [deal("a")]),
        Hold(),
        (1, [deal("b")]),
        (2, [deal("c")]),
        Decided(PassOrder.BY_ACCOUNT),
        (3, [deal("d")]),
        None,
    )

    assert helper_side.units == [
        (["a"], None),
        (["b"], PassOrder.BY_ACCOUNT),
        (["c"], PassOrder.BY_ACCOUNT),
        (["d"], PassOrder.BY_ACCOUNT),
    ]
    assert [a.number for a in answers] == [0, 1, 2, 3]


def test_a_helpers_answer_names_the_desk_records_its_unit_met_that_did_not_read(
    helper_side: Committed,
) -> None:
    """The lead reports each such record once a run, so it must know which they were."""
    (answer,) = helper_takes((0, [deal("bad1"), deal("a")]), None)

    assert answer.desk_problems == {"Zendesk organization bad1: field id is True"}
    assert answer.counts["record_errors"] == 1
    assert answer.errors == ["Zendesk organization bad1: field id is True"]


def test_a_helper_drops_units_still_undecided_at_the_end_mark(helper_side: Committed) -> None:
    """The lead ends its helpers undecided only when its run failed (the export failed): what
    they mapped is never matched against part of the index, nor answered for."""
    answers = helper_takes(Hold(), (0, [deal("a")]), (1, [deal("b")]), None)

    assert helper_side.units == []
    assert answers == []


def test_a_helper_whose_held_unit_fails_answers_so_and_takes_no_more(
    helper_side: Committed,
) -> None:
    helper_side.fail_on = "b"

    answers = helper_takes(
        Hold(), (0, [deal("a")]), (1, [deal("b")]), (2, [deal("c")]), Decided(None), None
    )

    assert helper_side.units == [(["a"], None)]
    assert [(a.number, a.failed) for a in answers] == [(0, None), (1, "RuntimeError: disk full")]
