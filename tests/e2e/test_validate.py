"""``dealbridge validate``: mappings checked against the live field catalogs of the simulators."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.world import build_world, credentials
from sync_jobs.app.validate import validate_all
from sync_jobs.run.connections import Connections

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(params=["zendesk", "freshdesk"])
def target(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in credentials(request.param).items():
        monkeypatch.setenv(name, value)
    return str(request.param)


async def test_the_shipped_mappings_match_every_catalog(target: str, tmp_path: Path) -> None:
    world = build_world(tmp_path, target, fast=True)
    connections = Connections(world.config.connectors, world.transports())
    try:
        problems = (await validate_all(world.config, connections)).problems
    finally:
        await connections.aclose()
    assert problems == []


async def test_a_renamed_source_field_is_caught_with_file_line_and_a_suggestion(
    target: str, tmp_path: Path
) -> None:
    mappings = tmp_path / "mappings"
    source = Path(__file__).resolve().parents[2] / "mappings"
    for path in source.rglob("*"):
        dest = mappings / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(path.read_text())
    sub = "" if target == "zendesk" else f"{target}/"
    west = mappings / f"{sub}west-salesforce.yaml"
    west.write_text(west.read_text().replace("Special_Discount__c", "Special_Discont__c"))
    world = build_world(tmp_path, target, fast=True)
    config = world.config.model_copy(
        update={
            "jobs": {
                name: job.model_copy(update={"mapping": mappings / sub / job.mapping.name})
                for name, job in world.config.jobs.items()
            }
        }
    )
    connections = Connections(config.connectors, world.transports())
    try:
        problems = (await validate_all(config, connections)).problems
    finally:
        await connections.aclose()
    (problem,) = problems
    assert problem.file == str(west)
    assert problem.key == "terms.discount_percent.from"
    assert problem.line is not None
    assert "Special_Discount__c" in problem.hint
