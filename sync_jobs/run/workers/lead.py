"""A run's stage 2 with its worker processes: the lead drains beside its team."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sync_jobs.run import stage2
from sync_jobs.run.context import JobRun
from sync_jobs.run.wiring import stage2_of
from sync_jobs.run.workers.team import Team

if TYPE_CHECKING:
    from sync_jobs.run.context import Engine

STOP_GRACE = 30.0
"""After a failed run, how long a helper may take to finish its batch before it is killed."""


async def drain(
    run: JobRun, pulling: Awaitable[object], *, overlap: bool, begin: asyncio.Event | None = None
) -> None:
    """``stage2.drain`` for the run, with ``engine.workers - 1`` helper processes. ``begin``
    (a backfill's match pass started) lets a run without helpers write from then on; with
    helpers, the lead writes once its stage 1 is done, as they do."""
    with team_size(run.engine, run.target_name) as helpers:
        if helpers <= 0:
            await stage2.drain(stage2_of(run), pulling, overlap=overlap, begin=begin)
            return
        await _drain_with_helpers(run, pulling, helpers, overlap=overlap)


@contextmanager
def team_size(engine: Engine, target: str) -> Iterator[int]:
    """How many helpers a run of ``target`` starts: ``engine.workers - 1``, or none while
    another run of the same target in this process has its team (the daemon runs a target's
    jobs at once; their shared connector already spends the lead's share, and one team
    spends the rest: a second would spend the desk's budget twice). The others' customers
    are in the same queue, so that team writes them too."""
    if target in engine.teams:
        yield 0
        return
    helpers = max(0, engine.config.engine.workers - 1)
    if helpers:
        engine.teams.add(target)
    try:
        yield helpers
    finally:
        if helpers:
            engine.teams.discard(target)


async def _drain_with_helpers(
    run: JobRun, pulling: Awaitable[object], helpers: int, *, overlap: bool
) -> None:
    ctx = stage2_of(run)
    team = Team(run, helpers)
    team.start(overlap=overlap)
    try:
        # The lead's stage 1 is the run's serial part and feeds everyone's queue: while it
        # reads, its helpers write (from the first page in an incremental run) and its own
        # workers join them when the reading is done, rather than slow it down.
        await stage2.drain(ctx, team.after(pulling), overlap=False, ready=team.ready)
    except BaseException:
        team.stop()
        await team.join(grace=STOP_GRACE)
        raise
    if run.engine.stopping.is_set():  # shutting down: helpers stop after the batch in hand
        team.stop()
    released = await team.join()
    failure = team.failure()
    if failure is not None:
        raise failure
    if released:  # a dead helper's customers: this process writes them now
        await stage2.drain(ctx, _done(), overlap=True)


async def _done() -> None:
    return None
