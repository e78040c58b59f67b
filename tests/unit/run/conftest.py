"""Each stage test gets a fresh in-memory store, an empty CRM and an empty desk."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sync_jobs.store.db import memory_engine
from tests.unit.run.kit import FakeCrm, FakeDesk, World


@pytest.fixture
async def world() -> AsyncIterator[World]:
    store = await memory_engine()
    yield World(store, FakeCrm(), FakeDesk())
    await store.dispose()
