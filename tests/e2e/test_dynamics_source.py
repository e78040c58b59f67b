"""Whole runs from a Dynamics 365 territory into each desk, beside the demo world's territories.

The demo world (sandbox/world.py, config.yaml) does not have a Dynamics territory yet; this test
adds one to a copy of its config: the Central territory's simulator, ``mappings/central-
dynamics.yaml`` (or its Freshdesk variant), and a job ``central`` on the same desk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from connectors.sales.dynamics.simulator import DEMO_ENV, DynamicsSimulator, connector_config
from connectors.sales.dynamics.simulator.seed import DEALS
from sandbox.world import REPO_ROOT, build_world, credentials, world_doc
from sync_jobs.config.app import parse_config
from sync_jobs.domain.notes import BLOCK_START
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import RunReport, open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx
from tests.e2e.conftest import Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

GLOBEX, UMBRELLA = DEALS[0].deal_id, DEALS[1].deal_id


class Central(Sandbox):
    """The sandbox plus the Central territory's Dataverse."""

    crm: DynamicsSimulator

    async def central(self) -> RunReport:
        return await run_job(self.engine, self.connections, "central")


@pytest.fixture(params=["zendesk", "freshdesk"])
async def central(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Central]:
    for name, value in (credentials(request.param) | DEMO_ENV).items():
        monkeypatch.setenv(name, value)
    target = str(request.param)
    world = build_world(tmp_path, target, fast=True)
    doc = world_doc(tmp_path, target, fast=True)
    doc["connectors"]["dynamics_central"] = connector_config()
    mapping = REPO_ROOT / "mappings" / ("" if target == "zendesk" else target)
    doc["jobs"]["central"] = {
        "source": "dynamics_central",
        "target": target,
        "mapping": str(mapping / "central-dynamics.yaml"),
        "territory": "Central",
        "schedule": {"every": "5m"},
    }
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    crm = DynamicsSimulator(seed=True)
    transports = world.transports() | {"dynamics_central": httpx.ASGITransport(app=crm.app)}
    engine = await open_engine(config)
    box = Central(world, engine, Connections(config.connectors, transports))
    box.crm = crm
    yield box
    await box.connections.aclose()
    await box.engine.store.dispose()


async def _open(box: Sandbox, kind: str) -> list[str]:
    async with read_tx(box.engine.store) as conn:
        rows = await conn.execute(
            sa.select(t.conflict.c.details).where(
                t.conflict.c.kind == kind, t.conflict.c.status == "open"
            )
        )
        return [str(row.details["deal"]) for row in rows]


async def test_central_deals_reach_the_desk_next_to_the_other_territories(
    central: Central,
) -> None:
    await central.run()
    report = await central.central()
    assert report.status == "ok", report.errors
    globex = await central.record("Globex")
    note = globex.fields[central.note_field]
    assert note.count(BLOCK_START) == 1
    assert "| Central" in note
    assert "| West" in note, "Globex also has a West deal: one note lists both"
    umbrella = await central.record("Umbrella Health")
    assert float(umbrella.fields[central.field("discount_percent")]) in (8.0, 10.0)
    assert DEALS[4].deal_id in await _open(central, "unmatched"), "an account no desk knows"
    assert DEALS[3].deal_id in await _open(central, "ambiguous"), "wayne.example is two records"


async def test_a_rerun_reads_one_delta_and_writes_nothing(central: Central) -> None:
    await central.central()
    before = central.crm.controls.count()
    report = await central.central()
    assert report.counts.get("customers_written", 0) == 0
    assert central.crm.controls.count() - before == 1, "one GET of the delta link"


async def test_an_edited_and_a_deleted_deal_change_the_note(central: Central) -> None:
    await central.central()
    central.crm.update_deal(GLOBEX, new_slapromise="2h on-site swap")
    central.crm.delete_deal(UMBRELLA)
    report = await central.central()
    assert report.counts["deals_deleted"] == 1
    globex = await central.record("Globex")
    assert "2h on-site swap" in globex.fields[central.note_field]
    umbrella = await central.record("Umbrella Health")
    assert "| Central" not in (umbrella.fields[central.note_field] or "")
