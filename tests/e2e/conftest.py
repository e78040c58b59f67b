"""A whole sandbox per test: simulators seeded with the demo world, a fresh SQLite state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors.base import CustomerRecord, RecordRef, ServiceTarget
from connectors.registry import demo_targets
from sandbox.world import SandboxWorld, build_world, credentials, default_territories
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.control import Checkpoint
from sync_jobs.run.runner import RunReport, open_engine, run_job

JOBS = default_territories()


@dataclass
class Sandbox:
    """The running world plus helpers that read like the steps of a story."""

    world: SandboxWorld
    engine: Engine
    connections: Connections

    async def run(self, *jobs: str, dry_run: bool = False) -> list[RunReport]:
        return [
            await run_job(self.engine, self.connections, job, dry_run=dry_run)
            for job in (jobs or JOBS)
        ]

    async def restart(
        self, *, checkpoint: Checkpoint | None = None, later: timedelta = timedelta(0)
    ) -> None:
        """A new process on the same state and simulators (optionally some time later)."""
        await self.connections.aclose()
        await self.engine.store.dispose()
        self.engine = await open_engine(self.world.config, checkpoint)
        if later:
            self.engine.clock = _shifted(later)
        self.connections = Connections(self.world.config.connectors, self.world.transports())

    async def record(self, name: str) -> CustomerRecord:
        (record,) = await self.desk.read([await self.ref(name)])
        return record

    async def ref(self, name: str) -> RecordRef:
        """Find a record by name the way an agent would: in the desk itself (not through an
        export, which leaves out the last minute's changes)."""
        try:
            kind, record_id = self.world.desk.named(name)
        except KeyError:
            raise AssertionError(f"{name} is not in {self.world.target}") from None
        return RecordRef(kind=kind, id=record_id)

    @property
    def desk(self) -> ServiceTarget:
        return self.connections.target(self.world.target)

    def field(self, term: str) -> str:
        rules = self.engine.mappings["apac"].spec.write
        return next(name for name, rule in rules.items() if rule.value == term)

    @property
    def note_field(self) -> str:
        return self.engine.mappings["apac"].spec.note.field

    @property
    def short_note(self) -> bool:
        """The note is a whole short attribute (the deal lines that fit, then "+K more"),
        not a block inside the agents' own text."""
        return self.engine.mappings["apac"].spec.note.mode == "whole"


def _shifted(delta: timedelta) -> Callable[[], datetime]:
    return lambda: utcnow() + delta


REFERENCE_DESKS = ("zendesk", "freshdesk")
"""The desks every test taking ``sandbox`` runs on. A test marked ``every_desk`` runs on every
registered desk with a demo simulator (``registry.demo_targets()``): the scenarios each desk
must pass (first sync, no-op, agent edit held, disagreement, crash at each commit point...);
``desks(...)`` names others."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``sandbox`` by desk: the reference desks, every registered desk, or the
    desks a ``desks`` marker names."""
    if "sandbox" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("desks")
    if metafunc.definition.get_closest_marker("every_desk") is not None:
        desks = demo_targets()
    elif marker is not None:
        desks = list(marker.args)
    else:
        desks = list(REFERENCE_DESKS)
    metafunc.parametrize("sandbox", desks, indirect=True)


@pytest.fixture
async def sandbox(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Sandbox]:
    for name, value in credentials(request.param).items():
        monkeypatch.setenv(name, value)
    world = build_world(tmp_path, request.param, fast=True)
    engine = await open_engine(world.config)
    box = Sandbox(world, engine, Connections(world.config.connectors, world.transports()))
    yield box
    await box.connections.aclose()
    await box.engine.store.dispose()
