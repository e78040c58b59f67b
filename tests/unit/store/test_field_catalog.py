"""The kept field catalog: one per target, replaced by each fetch, never used for another desk,
and the live one fetched once per run however many write workers ask."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import FieldInfo
from connectors.service.zendesk.config import ZendeskConfig
from sync_jobs.run.catalog import (
    Catalog,
    LiveCatalog,
    identity,
    missing_field_message,
    recall,
    recall_offline,
    refused_fields,
    remember,
)
from sync_jobs.store import catalogs
from sync_jobs.store.db import make_engine, migrate_async, write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]
WHEN = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def desk(base_url: str = "https://acme.zendesk.com") -> ZendeskConfig:
    return ZendeskConfig.model_validate(
        {
            "kind": "zendesk",
            "base_url": base_url,
            "email": "bot@acme.example",
            "api_token": "${ZD_TEST_TOKEN}",
        }
    )


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZD_TEST_TOKEN", "token-for-tests")


FIELDS = [
    FieldInfo(path="notes", type="textarea", writable=True),
    FieldInfo(path="organization_fields.sla_promise", type="text", custom=True, writable=True),
    FieldInfo(
        path="organization_fields.payment_terms",
        type="dropdown",
        custom=True,
        writable=True,
        choices=("net30", "net60"),
    ),
]


async def test_a_kept_catalog_reads_back_with_when_it_was_fetched(engine: AsyncEngine) -> None:
    await remember(engine, "zendesk", desk(), FIELDS, WHEN)
    kept = await recall(engine, "zendesk", desk())
    assert kept is not None
    assert list(kept.fields) == FIELDS
    assert kept.fetched_at == WHEN
    assert "fetched 2026-12-06 10:00 UTC" in kept.describe()


async def test_each_fetch_replaces_the_kept_catalog(engine: AsyncEngine) -> None:
    await remember(engine, "zendesk", desk(), FIELDS, WHEN)
    await remember(engine, "zendesk", desk(), FIELDS[:1], WHEN)
    kept = await recall(engine, "zendesk", desk())
    assert kept is not None
    assert [f.path for f in kept.fields] == ["notes"]


async def test_a_catalog_of_another_desk_is_not_used(engine: AsyncEngine) -> None:
    await remember(engine, "zendesk", desk(), FIELDS, WHEN)
    assert await recall(engine, "zendesk", desk("https://other.zendesk.com")) is None
    assert await recall(engine, "freshdesk", desk()) is None


async def test_offline_reading_creates_no_store_where_there_is_none(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'never-run' / 'state.db'}"
    kept, unreadable = await recall_offline(url, {"zendesk": desk()})
    assert kept == {}
    assert unreadable is None
    assert not (tmp_path / "never-run").exists()


async def test_offline_reading_of_an_unmigrated_store_says_why(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.write_bytes(b"")  # a store from before this table (or not a store at all)
    kept, unreadable = await recall_offline(f"sqlite:///{path}", {"zendesk": desk()})
    assert kept == {}
    assert unreadable is not None
    assert "could not be read" in unreadable


def test_an_unknown_or_read_only_field_is_refused_with_the_closest_real_one() -> None:
    catalog = Catalog(
        "zendesk",
        (*FIELDS, FieldInfo(path="organization_fields.tier", type="text", writable=False)),
    )
    refused = refused_fields(
        ["notes", "organization_fields.sla_promis", "organization_fields.tier"], catalog
    )
    assert refused == ["organization_fields.sla_promis", "organization_fields.tier"]
    message = missing_field_message("organization_fields.sla_promis", catalog)
    assert "`organization_fields.sla_promis` does not exist in zendesk's field catalog" in message
    assert "did you mean `organization_fields.sla_promise`?" in message


async def test_the_live_catalog_is_fetched_once_however_many_workers_ask() -> None:
    fetches = 0

    async def fetch() -> Catalog:
        nonlocal fetches
        fetches += 1
        await asyncio.sleep(0.01)  # the desk takes a while: every worker asks meanwhile
        return Catalog("zendesk", tuple(FIELDS))

    live = LiveCatalog()
    results = await asyncio.gather(*(live.get(fetch) for _ in range(16)))
    assert fetches == 1
    assert all(r is results[0] for r in results)


async def test_two_processes_keeping_the_catalog_at_once_both_succeed(store_url: str) -> None:
    # Worker processes (and replicas) fetch a desk's catalog at the same moment: the second
    # keep waits for the first's transaction and then replaces its row; it does not collide.
    await migrate_async(store_url)
    first, second = make_engine(store_url), make_engine(store_url)
    rows = [f.model_dump(mode="json") for f in FIELDS]
    try:
        async with write_tx(first) as conn:
            await catalogs.keep(conn, "zendesk", identity(desk()), rows, WHEN)
            other = asyncio.create_task(remember(second, "zendesk", desk(), FIELDS[:1], WHEN))
            await asyncio.sleep(0.3)  # the other process's keep is waiting for this one
        await other
        kept = await recall(first, "zendesk", desk())
    finally:
        await first.dispose()
        await second.dispose()
    assert kept is not None
    assert [f.path for f in kept.fields] == ["notes"], "the later fetch is kept"
