"""Target fields are always verified: a misspelled desk field is never lost silently.

Zendesk ignores an unknown ``organization_fields`` key (the simulator does the same), so a
mapping that writes ``organization_fields.sla_promis`` used to "succeed" with the value gone.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connectors.base import CustomerRecord
from sandbox.world import REPO_ROOT, SandboxWorld, build_world, credentials, world_doc
from sync_jobs.app.validate import NOT_VERIFIED, validate_all
from sync_jobs.config.app import AppConfig, parse_config
from sync_jobs.domain.notes import BLOCK_START
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine
from sync_jobs.run.runner import RunReport, open_engine, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
JOBS = ("west", "emea", "apac")


@dataclass
class Desk:
    world: SandboxWorld
    config: AppConfig
    engine: Engine
    connections: Connections
    mappings: Path

    async def run(self, *jobs: str, dry_run: bool = False) -> list[RunReport]:
        return [
            await run_job(self.engine, self.connections, job, dry_run=dry_run)
            for job in jobs or JOBS
        ]

    def catalog_requests(self) -> int:
        return int(self.world.desk.controls.count("GET", "_fields"))

    def misspell(self, right: str, wrong: str) -> None:
        """The admin's typo in the write: section of every mapping of this desk."""
        for path in self.mappings.rglob("*.yaml"):
            text = path.read_text()
            path.write_text(text.replace(f"{right}:", f"{wrong}:"))


@pytest.fixture(params=["zendesk", "freshdesk"])
async def desk(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Desk]:
    for name, value in credentials(request.param).items():
        monkeypatch.setenv(name, value)
    mappings = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", mappings)
    world = build_world(tmp_path, request.param, fast=True)
    doc = world_doc(tmp_path, request.param, fast=True, mappings=mappings)
    config = parse_config(doc, str(tmp_path / "config.yaml"), tmp_path)
    engine = await open_engine(config)
    connections = Connections(config.connectors, world.transports())
    yield Desk(world, config, engine, connections, mappings)
    await connections.aclose()
    await engine.store.dispose()


def sla_field(desk: Desk) -> str:
    return (
        "organization_fields.sla_promise"
        if desk.world.target == "zendesk"
        else "custom_fields.cf_sla_promise"
    )


async def test_a_misspelled_desk_field_fails_each_record_naming_it_and_the_real_one(
    desk: Desk,
) -> None:
    right = sla_field(desk)
    desk.misspell(right, right.removesuffix("e"))
    desk.engine = await open_engine(desk.config, store=desk.engine.store)

    *_, last = await desk.run()

    assert last.status == "record_errors"
    assert last.exit_code == 1
    message = "; ".join(last.errors)
    assert f"`{right.removesuffix('e')}` does not exist" in message
    assert f"did you mean `{right}`?" in message
    acme = next(r for r in await _records(desk) if r.name == "Acme Corporation")
    note_field = desk.engine.mappings["apac"].spec.note.field
    assert BLOCK_START not in str(acme.fields.get(note_field) or ""), "nothing was written"
    assert acme.fields.get(right) in (None, "")


async def test_the_live_catalog_costs_two_requests_per_writing_run_and_none_when_idle(
    desk: Desk,
) -> None:
    (first,) = await desk.run("west")
    assert first.status == "ok"
    assert first.counts["fields_written"] > 0
    # Zendesk: organization_fields + user_fields (the two record kinds); Freshdesk:
    # company_fields + contact_fields. Fetched once per run, however many batches.
    assert desk.catalog_requests() == 2

    (again,) = await desk.run("west")
    assert again.counts.get("fields_written", 0) == 0
    assert desk.catalog_requests() == 2, "a run with nothing to write fetches no catalog"


async def test_validate_offline_says_plainly_when_it_cannot_verify_target_fields(
    desk: Desk,
) -> None:
    found = await validate_all(desk.config, desk.connections, catalogs=False)
    assert found.problems == []
    assert any(n.startswith(NOT_VERIFIED) for n in found.notices), found.notices


async def test_validate_offline_checks_write_fields_against_the_catalog_a_run_kept(
    desk: Desk,
) -> None:
    await desk.run("west")  # fetches the live catalog and keeps it in the state store
    right = sla_field(desk)
    desk.misspell(right, right.removesuffix("e"))

    found = await validate_all(desk.config, desk.connections, catalogs=False)

    assert not any(n.startswith(NOT_VERIFIED) for n in found.notices)
    assert any("checked against" in n for n in found.notices)
    west = next(p for p in found.problems if p.file.endswith("west-salesforce.yaml"))
    assert west.key == f"write.{right.removesuffix('e')}"
    assert west.line is not None
    assert right in west.hint


async def test_validate_online_keeps_the_catalog_for_later_offline_checks(desk: Desk) -> None:
    online = await validate_all(desk.config, desk.connections)
    assert online.problems == []
    right = sla_field(desk)
    desk.misspell(right, right.removesuffix("e"))

    offline = await validate_all(desk.config, desk.connections, catalogs=False)

    assert {p.key for p in offline.problems} == {f"write.{right.removesuffix('e')}"}


async def test_a_dry_run_shows_the_refused_field_and_keeps_nothing(desk: Desk) -> None:
    right = sla_field(desk)
    desk.misspell(right, right.removesuffix("e"))
    desk.engine = await open_engine(desk.config, store=desk.engine.store)

    (preview,) = await desk.run("west", dry_run=True)

    errors = [p.error for p in preview.previews if p.error]
    assert errors
    assert all(f"did you mean `{right}`?" in e for e in errors)
    offline = await validate_all(desk.config, desk.connections, catalogs=False)
    assert any(n.startswith(NOT_VERIFIED) for n in offline.notices), "a dry run keeps nothing"


async def _records(desk: Desk) -> list[CustomerRecord]:
    target = desk.connections.target(desk.world.target)
    found: list[CustomerRecord] = []
    async for page in target.customers(None):
        found += list(page.records)
    return found
