"""A run's stage 2 with worker processes (``sync_jobs.run.workers.lead``): the lead's stage 1 is
the run's serial part and feeds every process's queue, so in an incremental run its helpers
write from the first committed page while the lead's own workers join them once its reading
is done; in a backfill every process writes after stage 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from sync_jobs.run.workers import lead
from tests.unit.engine.worker_world import engine_with_workers

if TYPE_CHECKING:
    from sync_jobs.run.context import JobRun


def when(overlap: bool) -> str:
    return "from stage 1's first page" if overlap else "after stage 1"


@pytest.mark.parametrize(
    ("backfill", "helpers", "the_lead"),
    [
        (False, "from stage 1's first page", "after stage 1"),
        (True, "after stage 1", "after stage 1"),
    ],
)
def test_the_helpers_write_while_the_lead_reads(
    backfill: bool, helpers: str, the_lead: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims: dict[str, str] = {}

    class Team:  # the lead's team without its processes: when would they claim?
        def __init__(self, run: object, size: int) -> None:
            pass

        def start(self, *, overlap: bool) -> None:
            claims["helpers"] = when(overlap)

        async def after(self, pulling: Awaitable[object]) -> None:
            await pulling

        async def ready(self) -> None:
            pass

        def stop(self) -> None:
            pass

        async def join(self, *, grace: float | None = None) -> int:
            return 0

        def failure(self) -> None:
            return None

    async def lead_drains(ctx: object, pulling: Awaitable[object], **how: Any) -> None:
        claims["lead"] = when(how["overlap"])
        await pulling

    monkeypatch.setattr(lead, "Team", Team)
    monkeypatch.setattr("sync_jobs.run.stage2.drain", lead_drains)
    monkeypatch.setattr(lead, "stage2_of", lambda run: run)
    engine = engine_with_workers(tmp_path, monkeypatch, 2)
    run = cast("JobRun", SimpleNamespace(engine=engine, target_name="zendesk"))

    async def stage1() -> None:
        return None

    asyncio.run(lead.drain(run, stage1(), overlap=not backfill))

    assert claims == {"helpers": helpers, "lead": the_lead}
