"""Stage 1 spread over a run's processes: the lead reads, whoever is free maps and commits.

Mapping, matching and storing the deals a run reads is most of a CPU-bound stage 1 (for a
backfill of 10,000 deals, about 2.8 of 4.1 CPU seconds; reading the source's pages 0.4, the
index refresh before it 0.9; bench/analysis.md). The lead alone reads the source, in order,
and cuts each page into units of ``UNIT`` deals. A unit goes to a helper that has fewer than
``DEPTH`` units in hand (through its own queue), else the lead commits it itself; when the
reading is done the lead takes back the units still waiting in its helpers' queues and
commits them. A helper commits a unit as the lead would (``stage1.commit_deals``: its deals,
conflicts and queued customers in one transaction, fenced on the lead's job lease) and
answers with its counts and errors.

C1 stays whole: the job's source cursor moves past a page only once every unit up to that
page's last is committed, by the lead, in its own transaction. A unit that shares a deal with
one in a helper's hands waits for it (the later version is stored last). A helper that ends
(killed, crashed) or fails a unit is out: the lead commits every unit it had not answered
for. One it had committed before it died is committed again, which changes nothing (its deals
are unchanged now: stage 1 skips a deal whose stored fingerprint is the same).
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
from sync_jobs.run.context import KEPT, JobRun, RunState
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
WAIT = 0.01
"""How often the lead looks for its helpers' answers while it waits for one (seconds)."""

Unit = tuple[int, list[SourceDeal]]
"""What the lead sends a helper: the unit's number and its deals (None: no more units)."""


@dataclass(frozen=True)
class Answer:
    """A helper's answer for one unit: committed (its counts and errors), or failed."""

    number: int
    counts: dict[str, int]
    errors: list[str]
    failed: str | None = None


@dataclass
class Outlet:
    """The lead's end of one helper's units: its queue, its answers and what it holds."""

    number: int
    units: Queue[Unit | None]
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

    async def hand(self, ctx: stage1.Stage1, deals: Sequence[SourceDeal], checkpoint: str) -> None:
        """Cut the page into units; each to a helper with room, else committed here."""
        cut = [list(deals[i : i + UNIT]) for i in range(0, len(deals), UNIT)] or [[]]
        for position, unit in enumerate(cut):
            number = self.next_number
            self.next_number += 1
            last = position == len(cut) - 1
            self.pending[number] = _Pending(unit, checkpoint if last else None)
            if unit:
                await self._one(ctx, number, unit)
            else:  # an empty page: only its cursor
                self.pending[number].done = True
        await self._advance(ctx)

    async def finish(self, ctx: stage1.Stage1) -> None:
        """Take back units still queued, commit them; wait for the helpers' answers."""
        self.end()
        self._collect()
        await self._redo_outs(ctx)
        for outlet in self.outlets:
            await self._take_back(ctx, outlet)
        while any(outlet.held for outlet in self.outlets):
            self._collect()
            await self._redo_outs(ctx)
            if any(outlet.held for outlet in self.outlets):
                await asyncio.sleep(WAIT)
        await self._advance(ctx)

    def end(self) -> None:
        """No more units: each helper goes on to stage 2 (also when stage 1 stored its
        deals pending, or failed, and handed none)."""
        if not self.ended:
            self.ended = True
            for outlet in self.outlets:
                if not outlet.out:
                    outlet.units.put(None)

    async def _one(self, ctx: stage1.Stage1, number: int, unit: list[SourceDeal]) -> None:
        self._collect()
        await self._redo_outs(ctx)
        ids = {deal.id for deal in unit}
        while self._held_ids() & ids:  # an older version of a deal is in a helper's hands
            await asyncio.sleep(WAIT)
            self._collect()
            await self._redo_outs(ctx)
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
        await stage1.commit_deals(ctx, self.pending[number].deals)
        self.pending[number].done = True

    def _collect(self) -> None:
        """Read every answer that arrived; a helper that ended without one is out."""
        for outlet in self.outlets:
            if outlet.out:
                continue
            try:
                while outlet.answers.poll():
                    self._take(outlet, outlet.answers.recv())
            except (EOFError, OSError):
                self._drop(outlet, "ended")
                continue
            if outlet.held and not outlet.process.is_alive():
                try:  # answers it sent before it ended
                    while outlet.answers.poll():
                        self._take(outlet, outlet.answers.recv())
                except (EOFError, OSError):
                    pass
                self._drop(outlet, "ended")

    def _take(self, outlet: Outlet, answer: Answer) -> None:
        if answer.failed is not None:
            self._drop(outlet, f"failed: {answer.failed}")
            return
        outlet.held.pop(answer.number, None)
        self.pending[answer.number].done = True
        self.state.counts.update(answer.counts)
        for message in answer.errors:
            if len(self.state.errors) < KEPT:
                self.state.errors.append(message)

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
        """Units still waiting in ``outlet``'s queue: committed here instead."""
        while True:
            try:
                unit = outlet.units.get_nowait()
            except (queue.Empty, OSError, ValueError):
                return
            if unit is None:
                outlet.units.put(None)  # the end mark stays last for the helper
                return
            number, _deals = unit
            if outlet.held.pop(number, None) is not None:
                await self._commit_here(ctx, number)

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
    units: Queue[Unit | None],
    answers: Pipe,
    stopped: Callable[[], bool],
) -> None:
    """A helper's side: commit the lead's units as they come, answer each, until the end
    mark (or the run stops). ``grant``: the lead's job lease, which every commit is fenced
    on (a lead that lost its job cannot have its deals committed by its helpers)."""
    while True:
        unit = await asyncio.to_thread(_next, units)
        if unit is None:
            return
        if isinstance(unit, _Idle):
            if stopped():
                return
            continue
        number, deals = unit
        # The unit's counts and errors go to the lead with its answer; the keys asked at the
        # desk are the helper's for the whole run (each asked once; its stage 2 shares them).
        state = RunState(run_id=run.state.run_id, job=run.job, asked=run.state.asked)
        ctx = stage1_of(
            JobRun(run.engine, run.job, run.source, run.target, state, grant, run.queued)
        )
        ctx.control.checkpoint("helper_took_unit")
        try:
            await stage1.commit_deals(ctx, deals)
            ctx.control.checkpoint("helper_committed_unit")
        except Exception as exc:  # noqa: BLE001 - the lead commits it itself (and fails if it must)
            log.error("worker_unit_failed", error=redact(str(exc))[:300])
            answers.send(Answer(number, {}, [], f"{type(exc).__name__}: {redact(str(exc))[:300]}"))
            return
        answers.send(Answer(number, dict(state.counts), state.errors))
        run.queued.notify()  # this helper's own workers may claim what the unit queued


class _Idle:
    """No unit came for a while (the helper looks whether the run stopped)."""


def _next(units: Queue[Unit | None]) -> Unit | None | _Idle:
    try:
        return units.get(timeout=0.2)
    except queue.Empty:
        return _Idle()
