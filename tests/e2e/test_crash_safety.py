"""Kill the run at every commit point; the re-run converges, writes nothing twice, and keeps
one note per customer."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.http import ALL_STATS
from sandbox.world import build_world
from sync_jobs.domain.notes import NOTE_HEADER
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.audit import unfold
from sync_jobs.store.db import read_tx
from tests.e2e.conftest import JOBS, Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

COMMIT_POINTS = ("after_stage1_commit", "after_claim", "after_target_write", "after_stage2_commit")


class Crash(BaseException):
    """Stands in for SIGKILL: nothing after it runs, and no handler catches it."""


def crash_at(point: str) -> Any:
    fired = False

    def checkpoint(name: str) -> None:
        nonlocal fired
        if name == point and not fired:
            fired = True
            raise Crash(point)

    return checkpoint


async def desk_state(connections: Connections, target: str) -> dict[str, dict[str, Any]]:
    """Every record's synced fields, by name (the agent's view of the whole desk)."""
    desk = connections.target(target)
    refs = []
    async for page in desk.customers(None):
        refs += [r.ref for r in page.records]
    return {r.name: dict(r.fields) for r in await desk.read(refs)}


def desk_writes(target: str) -> int:
    """Requests sent to the desk that may change its data, so far in this process (token
    requests and searches sent as POST change nothing and are not counted)."""
    stats = ALL_STATS.get(target)
    return stats.writes if stats else 0


async def reference_state(folder: Path, target: str) -> tuple[dict[str, dict[str, Any]], int]:
    """The desk after one clean run of every job, and how many write requests it took."""
    world = build_world(folder, target, fast=True)
    engine = await open_engine(world.config)
    connections = Connections(world.config.connectors, world.transports())
    before = desk_writes(target)
    for job in JOBS:
        await run_job(engine, connections, job)
    state = await desk_state(connections, target)
    writes = desk_writes(target) - before
    await connections.aclose()
    await engine.store.dispose()
    return state, writes


@pytest.mark.every_desk
@pytest.mark.parametrize("point", COMMIT_POINTS)
async def test_a_crash_at_any_commit_point_converges(
    sandbox: Sandbox, point: str, tmp_path: Path
) -> None:
    expected, clean_writes = await reference_state(tmp_path / "reference", sandbox.world.target)
    start = desk_writes(sandbox.world.target)
    await sandbox.restart(checkpoint=crash_at(point))
    with pytest.raises(Crash):
        await sandbox.run()
    # A new process, after the dead one's claims and leases have expired.
    await sandbox.restart(later=timedelta(minutes=11))
    await sandbox.run()

    assert await desk_state(sandbox.connections, sandbox.world.target) == expected
    assert desk_writes(sandbox.world.target) - start <= clean_writes, "no record written twice"
    for name, fields in expected.items():
        note = str(fields.get(sandbox.note_field) or "")
        assert note.count(NOTE_HEADER) <= 1, f"{name} has one note"
    before = desk_writes(sandbox.world.target)
    await sandbox.run()
    assert desk_writes(sandbox.world.target) == before, "converged: a further run writes nothing"


@pytest.mark.parametrize("point", COMMIT_POINTS)
async def test_every_field_write_is_audited_exactly_once_despite_a_crash(
    sandbox: Sandbox, point: str
) -> None:
    await sandbox.restart(checkpoint=crash_at(point))
    with pytest.raises(Crash):
        await sandbox.run()
    await sandbox.restart(later=timedelta(minutes=11))
    await sandbox.run()
    async with read_tx(sandbox.engine.store) as conn:
        lines = unfold(await conn.execute(sa.select(t.audit)))
    per_field = Counter((r.customer_key, r.field) for r in lines if r.field != sandbox.note_field)
    assert per_field
    assert set(per_field.values()) == {1}
