"""Stage 1 spread over a run's processes: the lead reads, whoever is free maps and commits.

Mapping, matching and storing the deals a run reads is most of a CPU-bound stage 1 (for a
backfill of 10,000 deals, about 2.8 of 4.1 CPU seconds; reading the source's pages 0.4, the
index refresh 0.9; bench/analysis.md). The lead alone reads the source, in order, and cuts
each page into units of ``UNIT`` deals. A unit goes to a helper that has fewer than ``DEPTH``
units in hand (through its own queue), else the lead commits it itself; when the reading is
done the lead takes back the units still waiting in its helpers' queues and commits them. A
helper commits a unit as the lead would (``stage1.commit_deals``: its deals, conflicts and
queued customers in one transaction, fenced on the lead's job lease) and answers with its
counts and errors.

A backfill reads while the desk's identity export still runs (``stage1._read_spread``), and
no deal may be matched before the index is whole: the spreader is *held* then. Each helper
takes up to ``HELD_DEPTH`` units and maps them at once (mapping and the stored text need no
index), the rest are held back by the lead, and the reading pauses at ``AHEAD`` undecided
units (memory). Once stage 1 decides (``decide``: matched against the whole index, or stored
pending for the match pass when the export waited or failed), each helper commits what it
mapped, in order, and the lead its held-back units (or hands them on, as any unit). So the
helpers' idle time during the lead's refresh becomes their part of the mapping. A unit is
never committed undecided: a run that fails first commits none of them (the helpers drop
theirs at the end mark), and its cursor stays before them.

C1 stays whole: the job's source cursor moves past a page only once every unit up to that
page's last is committed, by the lead, in its own transaction. A unit that shares a deal with
an earlier one not yet committed by a helper waits for it (the later version is stored last;
while held, it is held back by the lead). A helper that ends (killed, crashed) or fails a
unit is out: the lead commits every unit it had not answered for (once decided). One it had
committed before it died is committed again, which changes nothing (its deals are unchanged
now: stage 1 skips a deal whose stored fingerprint is the same).
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import TYPE_CHECKING

import structlog

from connectors.base import SourceDeal
from connectors.redact import redact
from sync_jobs.run import stage1
from sync_jobs.run.context import JobRun, RunState
from sync_jobs.run.pass_order import PassOrder
from sync_jobs.run.wiring import stage1_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from sync_jobs.store.leases import Grant

log = structlog.get_logger("dealbridge.workers")

UNIT = 500
"""Deals per unit: about 0.2 s of a helper's CPU, so a run's tail balances within that."""
DEPTH = 2
"""Units a helper holds at most (one it commits, one waiting): more waiting would only be
taken back by the lead at the end of the reading."""
HELD_DEPTH = 16
"""Units a helper holds at most while the spreader is held (mapped, waiting for the
decision). Mapping is about 45% of a unit's work, so a helper that held many commits them
alone after the decision while the lead, its held-back units done, waits: 16 balanced the
lead and a helper best in a 10,000-deal backfill (20 units, the refresh about a third of the
lead's stage 1; 12 left the lead 0.3 CPU s busier, 20 the helper; ``python -m
bench.workers``). A larger backfill reads on after the decision, and ``DEPTH`` balances the
rest."""
AHEAD = 32
"""Undecided units at most (held by helpers or held back by the lead): the reading waits for
the decision beyond them, so memory stays bounded however long the export runs."""
WAIT = 0.01
"""How often the lead looks for its helpers' answers while it waits for one (seconds)."""

Unit = tuple[int, list[SourceDeal]]
"""A unit of deals the lead sends a helper: its number and its deals."""


@dataclass(frozen=True)
class Hold:
    """To a helper: map the units that follow, commit none of them until ``Decided``."""


@dataclass(frozen=True)
class Decided:
    """To a helper: commit the units it holds, and those that follow, so: matched against
    the whole index (``defer`` None), or stored pending for the match pass in its order."""

    defer: PassOrder | None


Message = Unit | Hold | Decided | None
"""What goes down a helper's queue (None: no more units)."""


@dataclass(frozen=True)
class Answer:
    """A helper's answer for one unit: committed (its counts and errors), or failed."""

    number: int
    counts: dict[str, int]
    errors: list[str]
    failed: str | None = None
    desk_problems: frozenset[str] = frozenset()
    """The unit's desk records that did not read (the lead reports each once a run)."""


@dataclass
class Outlet:
    """The lead's end of one helper's units: its queue, its answers and what it holds."""

    number: int
    units: Queue[Message]
    answers: Pipe
    process: BaseProcess
    held: dict[int, list[SourceDeal]] = field(default_factory=dict)
    out: bool = False
    """It ended or failed a unit: it gets no more, and what it held is the lead's."""


@dataclass
class _Pending:
    deals: list[SourceDeal]
    checkpoint: str | None
    """The page's cursor, on the page's last unit."""
    done: bool = False


@dataclass
class PageSpreader:
    """The lead's side (``stage1.Spreader``): hands units to its helpers or commits them."""

    outlets: list[Outlet]
    state: RunState
    """The lead's run: helpers' counts and errors are added to it."""
    pending: dict[int, _Pending] = field(default_factory=dict)
    """Units handed and not yet under the cursor, by number (in reading order)."""
    next_number: int = 0
    cursor_at: int = 0
    """The first unit not yet under the job's cursor."""
    ended: bool = False
    decided: bool = True
    """Whether units may be committed (False from ``hold`` until ``decide``)."""
    defer: PassOrder | None = None
    """How they are committed: matched (None), or stored pending in this order."""
    held_back: list[int] = field(default_factory=list)
    """Units read undecided that went to no helper, in reading order: the lead's once
    decided (committed, or handed on, as any unit read then)."""
    _undecided_ids: set[str] = field(default_factory=set)
    """The deals of every unit read undecided: none is committed until the decision."""
    _decision: asyncio.Event = field(default_factory=asyncio.Event)

    def hold(self) -> None:
        """Units handed from now on are mapped by the helpers but committed by nobody until
        ``decide``."""
        self.decided = False
        self._decision.clear()
        for outlet in self.outlets:
            if not outlet.out:
                outlet.units.put(Hold())

    def decide(self, defer: PassOrder | None) -> None:
        """Commit every unit: matched against the whole index, or ``defer``: stored pending."""
        if self.decided:
            return
        self.decided, self.defer = True, defer
        self._undecided_ids.clear()
        self._decision.set()
        for outlet in self.outlets:
            if not outlet.out:
                outlet.units.put(Decided(defer))

    async def hand(self, ctx: stage1.Stage1, deals: Sequence[SourceDeal], checkpoint: str) -> None:
        """Cut the page into units; each to a helper with room, else committed (or, while
        undecided, held back) here."""
        cut = [list(deals[i : i + UNIT]) for i in range(0, len(deals), UNIT)] or [[]]
        for position, unit in enumerate(cut):
            number = self.next_number
            self.next_number += 1
            last = position == len(cut) - 1
            self.pending[number] = _Pending(unit, checkpoint if last else None)
            if not unit:  # an empty page: only its cursor
                self.pending[number].done = True
            elif self.decided:
                await self._held_back_first(ctx)
                await self._one(ctx, number, unit)
            else:
                self._hold_one(number, unit)
        if not self.decided and sum(not p.done for p in self.pending.values()) >= AHEAD:
            await self._decision.wait()  # no more in memory: the rest is read once decided
        if self.decided:
            await self._held_back_first(ctx)
        await self._advance(ctx)

    async def finish(self, ctx: stage1.Stage1) -> None:
        """Once decided: commit what was held back; take back units still queued, commit
        them; wait for the helpers' answers."""
        if not self.decided:
            await self._decision.wait()
        await self._held_back_first(ctx)
        self.end()
        await self._gather(ctx)
        for outlet in self.outlets:
            await self._take_back(ctx, outlet)
        while any(outlet.held for outlet in self.outlets):
            await asyncio.sleep(WAIT)
            await self._gather(ctx)
        await self._advance(ctx)

    def end(self) -> None:
        """No more units: each helper goes on to stage 2 (also when stage 1 stored its
        deals pending, or failed, and handed none; a helper drops units it holds undecided,
        which happens only when the run failed before deciding)."""
        if not self.ended:
            self.ended = True
            for outlet in self.outlets:
                if not outlet.out:
                    outlet.units.put(None)

    def _hold_one(self, number: int, unit: list[SourceDeal]) -> None:
        """Undecided: to a helper with room, unless an earlier unit (all are uncommitted
        now) shares a deal with it: then, as when no helper has room, held back here."""
        ids = {deal.id for deal in unit}
        shares = not ids.isdisjoint(self._undecided_ids)
        self._undecided_ids |= ids
        room = [o for o in self.outlets if not o.out and len(o.held) < HELD_DEPTH]
        if shares or not room:
            self.held_back.append(number)
            return
        outlet = min(room, key=lambda o: len(o.held))
        outlet.held[number] = unit
        outlet.units.put((number, unit))

    async def _held_back_first(self, ctx: stage1.Stage1) -> None:
        """Decided: the units held back go (in order) before any unit read after them."""
        while self.held_back:
            number = self.held_back.pop(0)
            await self._one(ctx, number, self.pending[number].deals)

    async def _one(self, ctx: stage1.Stage1, number: int, unit: list[SourceDeal]) -> None:
        await self._gather(ctx)
        ids = {deal.id for deal in unit}
        while not self._held_ids().isdisjoint(ids):  # an older version is in a helper's hands
            await asyncio.sleep(WAIT)
            await self._gather(ctx)
        room = [o for o in self.outlets if not o.out and len(o.held) < DEPTH]
        if room:
            outlet = min(room, key=lambda o: len(o.held))
            outlet.held[number] = unit
            outlet.units.put((number, unit))
            return
        await self._commit_here(ctx, number)

    def _held_ids(self) -> set[str]:
        return {deal.id for o in self.outlets for unit in o.held.values() for deal in unit}

    async def _commit_here(self, ctx: stage1.Stage1, number: int) -> None:
        await stage1.commit_deals(ctx, self.pending[number].deals, self.defer)
        self.pending[number].done = True

    async def _gather(self, ctx: stage1.Stage1) -> None:
        """The answers that arrived; what helpers that are out held is committed here (only
        ever called once decided)."""
        self._collect()
        await self._redo_outs(ctx)

    def _collect(self) -> None:
        """Read every answer that arrived; a helper that ended without one is out."""
        for outlet in self.outlets:
            if outlet.out:
                continue
            # Looked at before its answers: every answer sent before it ended is read below.
            alive = outlet.process.is_alive()
            try:
                while outlet.answers.poll():
                    self._take(outlet, outlet.answers.recv())
            except (EOFError, OSError):
                self._drop(outlet, "ended")
                continue
            if outlet.held and not alive and not outlet.out:
                self._drop(outlet, "ended")

    def _take(self, outlet: Outlet, answer: Answer) -> None:
        if answer.failed is not None:
            self._drop(outlet, f"failed: {answer.failed}")
            return
        outlet.held.pop(answer.number, None)
        self.pending[answer.number].done = True
        self.state.take_part(answer.counts, answer.errors, answer.desk_problems)

    def _drop(self, outlet: Outlet, why: str) -> None:
        outlet.out = True
        log.warning("worker_dropped_pages", worker=outlet.number, why=why, units=len(outlet.held))

    async def _redo_outs(self, ctx: stage1.Stage1) -> None:
        """Commit here what helpers that are out held (committed again if they had)."""
        for outlet in self.outlets:
            if outlet.out and outlet.held:
                held = sorted(outlet.held)
                self.state.notices.append(
                    f"worker {outlet.number} stopped with {len(held)} unit(s) of deals in "
                    "hand; this process committed them"
                )
                for number in held:
                    await self._commit_here(ctx, number)
                    del outlet.held[number]

    async def _take_back(self, ctx: stage1.Stage1, outlet: Outlet) -> None:
        """Units still waiting in ``outlet``'s queue: committed here instead (what else
        waits there, the decision and the end mark, goes back for the helper, in order)."""
        kept: list[Message] = []
        while True:
            try:
                message = outlet.units.get_nowait()
            except (queue.Empty, OSError, ValueError):
                break
            if not isinstance(message, tuple):
                kept.append(message)
                continue
            number, _deals = message
            if outlet.held.pop(number, None) is not None:
                await self._commit_here(ctx, number)
        for message in kept:
            outlet.units.put(message)

    async def _advance(self, ctx: stage1.Stage1) -> None:
        """The cursor past every unit committed in order up to the first one that is not."""
        checkpoint = None
        while self.cursor_at in self.pending and self.pending[self.cursor_at].done:
            passed = self.pending.pop(self.cursor_at)
            checkpoint = passed.checkpoint or checkpoint
            self.cursor_at += 1
        if checkpoint is not None:
            await stage1.advance_cursor(ctx, checkpoint)


async def take_units(
    run: JobRun,
    grant: Grant | None,
    units: Queue[Message],
    answers: Pipe,
    stopped: Callable[[], bool],
) -> None:
    """A helper's side: map the lead's units as they come and commit them (at once, or
    once decided while the lead holds them), answer each, until the end mark (or the run
    stops). ``grant``: the lead's job lease, which every commit is fenced on (a lead that
    lost its job cannot have its deals committed by its helpers)."""
    held: list[tuple[int, stage1.Stage1, list[stage1.MappedDeal]]] = []
    decided: Decided | None = Decided(None)
    while True:
        message = await asyncio.to_thread(_next, units)
        if message is None:
            return  # units still held undecided are dropped: the lead failed before deciding
        if isinstance(message, _Idle):
            if stopped():
                return
            continue
        if isinstance(message, Hold):
            decided = None
            continue
        if isinstance(message, Decided):
            decided = message
            for number, ctx, mapped in held:
                if not await _commit(run, answers, number, ctx, mapped, decided):
                    return
            held.clear()
            continue
        number, deals = message
        ctx = _unit_stage1(run, grant)
        ctx.control.checkpoint("helper_took_unit")
        try:
            mapped = stage1.map_deals(ctx, deals)
        except Exception as exc:  # noqa: BLE001 - the lead commits it itself (and fails if it must)
            _failed(answers, number, exc)
            return
        if decided is None:
            held.append((number, ctx, mapped))
        elif not await _commit(run, answers, number, ctx, mapped, decided):
            return


def _unit_stage1(run: JobRun, grant: Grant | None) -> stage1.Stage1:
    """A unit's own stage 1: its counts and errors go to the lead with its answer; the keys
    asked at the desk are the helper's for the whole run (each asked once; its stage 2
    shares them)."""
    state = RunState(run_id=run.state.run_id, job=run.job, asked=run.state.asked)
    return stage1_of(JobRun(run.engine, run.job, run.source, run.target, state, grant, run.queued))


async def _commit(
    run: JobRun,
    answers: Pipe,
    number: int,
    ctx: stage1.Stage1,
    mapped: list[stage1.MappedDeal],
    decided: Decided,
) -> bool:
    """Commit one mapped unit and answer for it; False when it failed (the helper takes no
    more units: the lead commits them)."""
    try:
        await stage1.commit_mapped(ctx, mapped, decided.defer)
        ctx.control.checkpoint("helper_committed_unit")
    except Exception as exc:  # noqa: BLE001 - the lead commits it itself (and fails if it must)
        _failed(answers, number, exc)
        return False
    state = ctx.state
    problems = frozenset(state.desk_problems)
    answers.send(Answer(number, dict(state.counts), state.errors, desk_problems=problems))
    run.queued.notify()  # this helper's own workers may claim what the unit queued
    return True


def _failed(answers: Pipe, number: int, exc: Exception) -> None:
    log.error("worker_unit_failed", error=redact(str(exc))[:300])
    answers.send(Answer(number, {}, [], f"{type(exc).__name__}: {redact(str(exc))[:300]}"))


class _Idle:
    """No unit came for a while (the helper looks whether the run stopped)."""


def _next(units: Queue[Message]) -> Message | _Idle:
    try:
        return units.get(timeout=0.2)
    except queue.Empty:
        return _Idle()
