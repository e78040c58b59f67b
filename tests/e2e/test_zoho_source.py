"""Whole runs of the Zoho CRM territory (LATAM) into each desk the other sources reach: the
demo world built with only its ``latam`` job (``dealbridge demo --territories latam``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.http import ALL_STATS
from connectors.sales.zoho.simulator import ZohoSimulator
from sandbox.world import build_world, credentials
from sync_jobs.domain.notes import BLOCK_START
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import RunReport, open_engine
from tests.e2e.conftest import Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

JOB = "latam"


class Latam(Sandbox):
    """The sandbox with the LATAM job alone."""

    async def latam(self) -> RunReport:
        (report,) = await self.run(JOB)
        return report

    @property
    def zoho(self) -> ZohoSimulator:
        sim: ZohoSimulator = self.world.simulators["zoho_latam"]
        return sim

    def deal_id(self, name: str) -> str:
        return next(i for i in self.zoho.deal_ids() if self.zoho.deal(i)["Deal_Name"] == name)

    def written(self, term: str) -> str:
        rules = self.engine.mappings[JOB].spec.write
        return next(name for name, rule in rules.items() if rule.value == term)

    async def note(self, name: str) -> str:
        record = await self.record(name)
        return str(record.fields.get(self.engine.mappings[JOB].spec.note.field) or "")


@pytest.fixture(params=["zendesk", "freshdesk"])
async def latam(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Latam]:
    target = str(request.param)
    for name, value in credentials(target, [JOB]).items():
        monkeypatch.setenv(name, value)
    world = build_world(tmp_path, target, jobs=[JOB], fast=True)
    engine = await open_engine(world.config)
    box = Latam(world, engine, Connections(world.config.connectors, world.transports()))
    yield box
    await box.connections.aclose()
    await box.engine.store.dispose()


async def test_won_zoho_deals_reach_the_desk_with_their_terms_and_note(latam: Latam) -> None:
    report = await latam.latam()
    assert report.status in {"ok", "record_errors"}, report.errors
    globex = await latam.record("Globex")
    assert float(globex.fields[latam.written("discount_percent")]) == 8
    note = await latam.note("Globex")
    assert note.count(BLOCK_START) == 1
    assert "| LATAM" in note
    assert "Zoho CRM" in note, "agents see which CRM the deal is in"
    assert "| LATAM" not in await latam.note("Cyberdyne Systems"), "a deal still negotiated"


async def test_a_rerun_without_changes_writes_nothing(latam: Latam) -> None:
    await latam.latam()
    before = ALL_STATS[latam.world.target].writes
    report = await latam.latam()
    assert report.counts.get("customers_written", 0) == 0
    assert ALL_STATS[latam.world.target].writes == before


async def test_a_changed_zoho_deal_is_carried_on_the_next_run(latam: Latam) -> None:
    await latam.latam()
    moment = datetime.now(UTC) - timedelta(seconds=5)
    latam.zoho.update_deal(latam.deal_id("Globex Mexico"), modified=moment, Special_Discount=9.0)
    report = await latam.latam()
    assert report.counts["deals_changed"] == 1, "deals re-read in the overlap are not changes"
    assert report.counts["customers_written"] == 1
    globex = await latam.record("Globex")
    assert float(globex.fields[latam.written("discount_percent")]) == 9


async def test_a_deal_deleted_in_zoho_leaves_the_note(latam: Latam) -> None:
    await latam.latam()
    assert "| LATAM" in await latam.note("Globex")
    latam.zoho.delete_deal(latam.deal_id("Globex Mexico"))
    report = await latam.latam()
    assert report.counts.get("deals_deleted") == 1
    assert "| LATAM" not in await latam.note("Globex")
