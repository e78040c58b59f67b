"""A console over a sandbox world that has run once: conflicts of every kind, runs, deals.

The mappings are copies in the test's folder (the editor saves to them), the config.yaml is
written there too, and the console reaches the simulated desk in process.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from sandbox.world import REPO_ROOT, SandboxWorld, build_world, credentials, write_world_config
from sync_jobs.app.web import console_app
from sync_jobs.app.web.auth import hash_password
from sync_jobs.config.app import load_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import utcnow
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store.console import save_user
from sync_jobs.store.db import make_engine, write_tx
from tests.console.testclient import TestClient

T = TypeVar("T")
PASSWORD = "correct horse battery"
PEOPLE = {"ada": "admin", "lee": "lead", "vic": "viewer"}


@dataclass
class Clock:
    """The console's clock, which a test may move forward."""

    shift: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.shift


@dataclass
class ConsoleWorld:
    """The sandbox, its config file, and helpers that read like steps."""

    world: SandboxWorld
    config_path: Path
    clock: Clock

    def client(self, **kwargs: object) -> TestClient:
        app = console_app(self.config_path, transports=self.world.transports(), clock=self.clock)
        return TestClient(app, **kwargs)  # type: ignore[arg-type]

    def run_all(self) -> None:
        """Every job once, in a thread of its own (a browser test's thread has a loop)."""
        run_sync(_run_jobs(self.config_path, self.world))

    def mapping(self, job: str) -> Path:
        return load_config(self.config_path).mapping_path(job)


def run_sync(work: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end on a loop of its own thread (a browser test's thread
    already runs Playwright's loop, so asyncio.run would refuse there)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


async def _run_jobs(config_path: Path, world: SandboxWorld) -> None:
    config = load_config(config_path)
    engine = await open_engine(config)
    connections = Connections(config.connectors, world.transports())
    try:
        for job in config.jobs:
            await run_job(engine, connections, job)
    finally:
        await connections.aclose()
        await engine.store.dispose()


@functools.cache
def _password_hash() -> str:
    """One argon2id hash of PASSWORD for every person of every test: hashing is slow on
    purpose (about 0.25 s here), and three a test added about a minute to the suite."""
    return hash_password(PASSWORD)


async def _add_people(url: str) -> None:
    """The three people, in a store the jobs' run has migrated already."""
    store = make_engine(url)
    try:
        async with write_tx(store) as conn:
            for name, role in PEOPLE.items():
                await save_user(conn, name, role, _password_hash(), utcnow())
    finally:
        await store.dispose()


def make_console_world(
    folder: Path, monkeypatch: pytest.MonkeyPatch, state_url: str | None = None
) -> ConsoleWorld:
    """The sandbox world after one run of every job, with the three people added."""
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    mappings = folder / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", mappings)
    world = build_world(folder, "zendesk", state_url=state_url, fast=True)
    config_path = write_world_config(
        folder / "config.yaml", folder, "zendesk", state_url=state_url, fast=True, mappings=mappings
    )
    box = ConsoleWorld(world, config_path, Clock())
    box.run_all()
    run_sync(_add_people(load_config(config_path).state.url))
    return box


@pytest.fixture
def console_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ConsoleWorld:
    return make_console_world(tmp_path, monkeypatch)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> TestClient:
    """Sign in through the form, as a browser would."""
    page = client.get("/login")
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "csrf": token_in(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def token_in(html: str) -> str:
    """The value of the page's (first) hidden ``csrf`` field."""
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def csrf_of(client: TestClient, path: str = "/") -> str:
    """The CSRF token a signed-in page carries."""
    page = client.get(path)
    return token_in(page.text)


@pytest.fixture
def signed_in(console_world: ConsoleWorld) -> Iterator[Callable[[str], TestClient]]:
    """A factory of signed-in clients, one per person, closed after the test."""
    opened: list[TestClient] = []

    def make(name: str) -> TestClient:
        client = console_world.client(base_url="https://testserver")
        client.__enter__()
        opened.append(client)
        return sign_in(client, name)

    yield make
    for client in opened:
        client.__exit__(None, None, None)
