"""Each stage test gets a fresh in-memory store, an empty CRM and an empty desk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sync_jobs.store.db import make_engine, memory_engine, migrate_async
from tests.unit.run.kit import FakeCrm, FakeDesk, World


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = await memory_engine()
    yield World(store, FakeCrm(), FakeDesk())
    await store.dispose()


@pytest.fixture
async def world_on_file(tmp_path: Path) -> AsyncIterator[World]:
    """As ``world``, on a store in a file: stage 1 and stage 2 (or several write workers)
    hold transactions at once, as in a run (the in-memory store is one connection)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    await migrate_async(url)
    store = make_engine(url)
    yield World(store, FakeCrm(), FakeDesk())
    await store.dispose()
