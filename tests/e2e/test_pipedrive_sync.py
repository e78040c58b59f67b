"""Whole runs of a Pipedrive territory into each desk: the demo world plus a Nordics job that
reads the Pipedrive simulator (added in memory: config.yaml and the demo world are unchanged)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import CustomerRecord, RecordRef
from connectors.http import ALL_STATS
from connectors.registry import get_spec
from connectors.sales.pipedrive.simulator import DEMO_API_TOKEN, SANDBOX_URL, PipedriveSimulator
from sandbox.world import REPO_ROOT, build_world, credentials
from sync_jobs.config.app import JobConfig
from sync_jobs.domain.notes import BLOCK_START
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine
from sync_jobs.run.runner import RunReport, open_engine, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

SOURCE = "nordics-pipedrive"


class Clock:
    """Real time plus a shift the test moves (the connector stops a run one second before
    Pipedrive's clock, so a change must be a few seconds old to be read)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


@dataclass
class Nordics:
    target: str
    engine: Engine
    connections: Connections
    pipedrive: PipedriveSimulator
    clock: Clock
    desk_records: dict[str, dict[object, dict[str, Any]]]
    """The desk simulator's own store, by record kind (an export leaves out the last minute)."""

    async def run(self) -> RunReport:
        return await run_job(self.engine, self.connections, "nordics")

    async def record(self, name: str) -> CustomerRecord:
        """The record as the desk holds it now, found by name the way an agent would."""
        for kind, records in self.desk_records.items():
            for record_id, record in records.items():
                if record.get("name") == name:
                    desk = self.connections.target(self.target)
                    (current,) = await desk.read([RecordRef(kind=kind, id=str(record_id))])
                    return current
        raise AssertionError(f"{name} is not in {self.target}")

    def later(self, seconds: float = 5.0) -> None:
        self.clock.shift += seconds


@pytest.fixture(params=["zendesk", "freshdesk"])
async def nordics(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Nordics]:
    target = str(request.param)
    for name, value in credentials(target).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PD_E2E_TOKEN", DEMO_API_TOKEN)
    world = build_world(tmp_path, target, fast=True)
    clock = Clock()
    sim = PipedriveSimulator(clock=clock, burst=False)
    mapping = REPO_ROOT / "mappings" / ("" if target == "zendesk" else "freshdesk")
    job = JobConfig(
        source=SOURCE,
        target=next(iter(world.config.jobs.values())).target,
        mapping=mapping / "nordics-pipedrive.yaml",
        territory="Nordics",
    )
    connector = get_spec("pipedrive").config_model.model_validate(
        {
            "kind": "pipedrive",
            "base_url": SANDBOX_URL,
            "auth": {"flow": "api_token", "api_token": "${PD_E2E_TOKEN}"},
        }
    )
    config = world.config.model_copy(
        update={
            "connectors": {**world.config.connectors, SOURCE: connector},
            "jobs": {"nordics": job},
        }
    )
    transports = world.transports() | {SOURCE: httpx.ASGITransport(app=sim.app)}
    engine = await open_engine(config)
    connections = Connections(config.connectors, transports)
    try:
        yield Nordics(target, engine, connections, sim, clock, world.desk.store.records)
    finally:
        await connections.aclose()
        await engine.store.dispose()


def note_field(target: str) -> str:
    return "notes" if target == "zendesk" else "description"


def discount_field(target: str) -> str:
    return (
        "organization_fields.special_discount"
        if target == "zendesk"
        else "custom_fields.cf_special_discount"
    )


async def test_won_pipedrive_deals_reach_the_desk_with_their_terms_and_note(
    nordics: Nordics,
) -> None:
    report = await nordics.run()
    assert report.status == "ok", report.errors
    umbrella = await nordics.record("Umbrella Health")
    assert float(umbrella.fields[discount_field(nordics.target)]) == 15
    note = umbrella.fields[note_field(nordics.target)]
    assert note.count(BLOCK_START) == 1
    assert "| Nordics" in note
    assert "Pipedrive" in note
    cyberdyne = await nordics.record("Cyberdyne Systems")
    assert "| Nordics" not in (cyberdyne.fields.get(note_field(nordics.target)) or "")


async def test_a_rerun_without_changes_writes_nothing(nordics: Nordics) -> None:
    await nordics.run()
    before = ALL_STATS[nordics.target].writes
    report = await nordics.run()
    assert report.counts.get("customers_written", 0) == 0
    assert ALL_STATS[nordics.target].writes == before


async def test_a_deal_deleted_in_pipedrive_leaves_the_note(nordics: Nordics) -> None:
    await nordics.run()
    umbrella = next(
        d for d in nordics.pipedrive.store.records["deal"].values()
        if d.data["title"] == "Umbrella Stockholm labs"
    )  # fmt: skip
    nordics.later()
    nordics.pipedrive.delete_deal(umbrella.id)
    nordics.later()
    report = await nordics.run()
    assert report.counts.get("deals_deleted") == 1
    record = await nordics.record("Umbrella Health")
    assert "| Nordics" not in (record.fields.get(note_field(nordics.target)) or "")


async def test_a_deal_whose_organization_was_deleted_is_reported_and_the_others_go_on(
    nordics: Nordics,
) -> None:
    deals = {d.data["title"]: d for d in nordics.pipedrive.store.records["deal"].values()}
    nordics.pipedrive.delete_organization(deals["Globex Oslo hub"].data["org_id"])
    report = await nordics.run()
    assert report.status == "record_errors"
    (error,) = report.errors
    globex = deals["Globex Oslo hub"]
    assert f"deal {globex.id}" in error
    assert f"organization {globex.data['org_id']} (the deal's org_id)" in error
    assert "account_name (source field organization.name" in error
    umbrella = await nordics.record("Umbrella Health")
    assert float(umbrella.fields[discount_field(nordics.target)]) == 15
