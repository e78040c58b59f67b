"""The example mapping ``mappings/nordics-pipedrive.yaml`` compiles, reads only paths the
Pipedrive simulator's field catalog lists, and maps every demo deal."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.base import DealQuery, SalesSource
from connectors.errors import ConfigProblem
from connectors.registry import get_spec
from connectors.sales.pipedrive.simulator import DEMO_API_TOKEN, SANDBOX_URL, PipedriveSimulator
from connectors.settings import ConnectorOptions
from sandbox.world import build_world, credentials
from sync_jobs.app.validate import validate_all
from sync_jobs.config.app import JobConfig
from sync_jobs.domain.mapping import Mapping, load_mapping_spec
from sync_jobs.run.connections import Connections

pytestmark = pytest.mark.anyio

MAPPING = Path(__file__).resolve().parents[3] / "mappings" / "nordics-pipedrive.yaml"


def compiled() -> Mapping:
    spec = load_mapping_spec(MAPPING)
    return Mapping(
        spec,
        job="nordics",
        source="nordics-pipedrive",
        system="pipedrive",
        territory="Nordics",
        base_dir=MAPPING.parent,
    )


@pytest.fixture
async def source(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SalesSource]:
    monkeypatch.setenv("PD_MAPPING_TOKEN", DEMO_API_TOKEN)
    spec = get_spec("pipedrive")
    config = spec.config_model.model_validate(
        {
            "kind": "pipedrive",
            "base_url": SANDBOX_URL,
            "auth": {"flow": "api_token", "api_token": "${PD_MAPPING_TOKEN}"},
        }
    )
    transport = httpx.ASGITransport(app=PipedriveSimulator().app)
    built: SalesSource = spec.factory(
        "nordics-pipedrive", config, ConnectorOptions(transport=transport)
    )
    yield built
    await built.aclose()


async def test_every_source_path_of_the_example_exists_in_the_simulators_catalog(
    source: SalesSource,
) -> None:
    mapping = compiled()
    catalog = {f.path for f in await source.field_catalog()}
    missing = [p for p in mapping.source_paths() if p not in catalog]
    assert missing == []
    assert any(p.startswith("custom_fields.") for p in mapping.source_paths())


async def test_the_example_maps_every_demo_deal_and_only_won_deals_are_active(
    source: SalesSource,
) -> None:
    mapping = compiled()
    query = DealQuery(fields=mapping.source_paths(), select=mapping.spec.select)
    deals = [d async for p in source.changed_deals(query, None) for d in p.deals]
    terms = [mapping.apply(d) for d in deals]
    assert len(terms) == 5
    won = {t.name: t for t in terms if t.active}
    assert set(won) == {"Acme Nordic rollout", "Globex Oslo hub", "Umbrella Stockholm labs"}
    acme = won["Acme Nordic rollout"]
    assert acme.discount_percent == 12
    assert acme.payment_terms == "net45"
    assert acme.free_services == ("Onsite training",)
    assert acme.owner_email == "sigrid.berg@seller.example"
    assert acme.account.external_ids == ("cust-1001",)
    assert acme.account.domains == ("acme.example",)


# --- dealbridge validate, with a Pipedrive job added to the demo world in memory ------------------


async def validate_with_pipedrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim: PipedriveSimulator, mapping: Path
) -> list[ConfigProblem]:
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PD_MAPPING_TOKEN", DEMO_API_TOKEN)
    world = build_world(tmp_path, "zendesk", fast=True)
    pipedrive = get_spec("pipedrive").config_model.model_validate(
        {
            "kind": "pipedrive",
            "base_url": SANDBOX_URL,
            "auth": {"flow": "api_token", "api_token": "${PD_MAPPING_TOKEN}"},
        }
    )
    desk = next(iter(world.config.jobs.values())).target
    job = JobConfig(source="nordics-pipedrive", target=desk, mapping=mapping, territory="Nordics")
    config = world.config.model_copy(
        update={
            "connectors": {**world.config.connectors, "nordics-pipedrive": pipedrive},
            "jobs": {"nordics": job},
        }
    )
    transports = world.transports() | {"nordics-pipedrive": httpx.ASGITransport(app=sim.app)}
    connections = Connections(config.connectors, transports)
    try:
        return (await validate_all(config, connections)).problems
    finally:
        await connections.aclose()


async def test_dealbridge_validate_accepts_the_example_against_the_simulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problems = await validate_with_pipedrive(tmp_path, monkeypatch, PipedriveSimulator(), MAPPING)
    assert problems == []


async def test_a_field_renamed_in_pipedrive_is_caught_by_validate_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copied = tmp_path / "mappings"
    shutil.copytree(MAPPING.parent, copied)
    sim = PipedriveSimulator()
    sim.rename_field("deal", "Special discount (%)", "Discount granted (%)")
    mapping = copied / "nordics-pipedrive.yaml"
    (problem,) = await validate_with_pipedrive(tmp_path, monkeypatch, sim, mapping)
    assert problem.file == str(mapping)
    assert problem.key == "terms.discount_percent.from"
    assert problem.line is not None
    assert "'custom_fields.special_discount' does not exist" in problem.message


async def test_a_rename_that_keeps_the_path_is_no_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = PipedriveSimulator()
    sim.rename_field("deal", "Special discount (%)", "Special Discount %")
    assert await validate_with_pipedrive(tmp_path, monkeypatch, sim, MAPPING) == []
