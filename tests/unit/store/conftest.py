"""The store tests' migrated engine, on SQLite and (where it runs) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.store.db import make_engine, migrate_async
from tests.stores import store_url

__all__ = ["store_url"]


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    """A store migrated to the newest revision, disposed of after the test."""
    await migrate_async(store_url)
    eng = make_engine(store_url)
    yield eng
    await eng.dispose()
