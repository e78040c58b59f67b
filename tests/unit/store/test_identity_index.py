"""The stored identity index: a page of deals loads only the keys it asks for, and matches
exactly as if the whole index were in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import IdentityIndex, identity_keys, keyed, wanted_keys
from sync_jobs.domain.model import AccountIdentity
from sync_jobs.store import identity
from sync_jobs.store.db import make_engine, migrate_async, read_tx, write_tx
from tests.stores import store_url

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
RULES = [
    IdentityRule.model_validate({"from": "Account.Number", "match": "external_id"}),
    IdentityRule.model_validate({"from": "Account.Website", "match": "domain"}),
]


def org(record_id: str, *, external_id: str | None = None, domain: str = "") -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind="organization", id=record_id),
        external_id=external_id,
        domains=(domain,) if domain else (),
    )


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate_async(store_url)
    eng = make_engine(store_url)
    records = [org(str(n), external_id=f"CUST-{n}", domain=f"c{n}.example") for n in range(50)]
    records.append(org("twin", domain="c7.example"))  # a second record on one domain
    async with write_tx(eng) as conn:
        await identity.index_records(conn, "zd", keyed(records), NOW)
    yield eng
    await eng.dispose()


async def test_only_the_keys_a_page_asks_for_are_loaded(engine: AsyncEngine) -> None:
    account = AccountIdentity(external_ids=("cust-3",), domains=("c4.example",))
    async with read_tx(engine) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, "zd", wanted_keys(account, RULES)))
    assert len(index) == 2, "one external id and one domain, not the 101 stored keys"
    result = index.match(account, RULES, "organization")
    assert (result.status, result.record_id, result.method) == ("matched", "3", "external_id")


async def test_rules_fall_through_and_ambiguity_survives_the_partial_load(
    engine: AsyncEngine,
) -> None:
    account = AccountIdentity(external_ids=("CUST-404",), domains=("c7.example",))
    async with read_tx(engine) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, "zd", wanted_keys(account, RULES)))
    result = index.match(account, RULES, "organization")
    assert result.status == "ambiguous"
    assert result.candidates == ("organization:7", "organization:twin")


async def test_a_large_page_is_looked_up_in_chunks(engine: AsyncEngine) -> None:
    keys = {("external_id", f"cust-{n}") for n in range(5000)}
    async with read_tx(engine) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, "zd", keys))
    assert len(index) == 50


def test_records_seen_by_a_dry_run_replace_their_stored_keys() -> None:
    stored = IdentityIndex()
    stored.add("organization", "1", [("domain", "old.example")])
    stored.add("organization", "2", [("domain", "other.example")])
    unsaved = IdentityIndex()
    unsaved.add("organization", "1", identity_keys(org("1", domain="new.example")))
    merged = stored.overlaid(unsaved)
    old = merged.match(AccountIdentity(domains=("old.example",)), RULES, "organization")
    new = merged.match(AccountIdentity(domains=("new.example",)), RULES, "organization")
    other = merged.match(AccountIdentity(domains=("other.example",)), RULES, "organization")
    assert old.status == "unmatched"
    assert (new.status, new.record_id) == ("matched", "1")
    assert (other.status, other.record_id) == ("matched", "2")


async def test_reindexing_reports_the_records_that_lost_a_key(engine: AsyncEngine) -> None:
    changed = [
        org("1", external_id="CUST-1", domain="c1.example"),  # unchanged
        org("2", domain="c2.example"),  # its customer number went elsewhere
        org("3", external_id="CUST-3", domain="new3.example"),  # domain changed
        CustomerRecord(ref=RecordRef(kind="organization", id="4"), deleted=True),
        org("999", external_id="CUST-999"),  # first seen: nothing to lose
    ]
    async with write_tx(engine) as conn:
        lost = await identity.index_records(conn, "zd", keyed(changed), NOW)
    assert sorted(r.key for r in lost) == ["organization:2", "organization:3", "organization:4"]
    async with write_tx(engine) as conn:
        again = await identity.index_records(conn, "zd", keyed(changed), NOW)
    assert again == [], "the same keys again lose nothing"


async def test_a_match_names_the_key_it_used(engine: AsyncEngine) -> None:
    account = AccountIdentity(external_ids=("cust-9", "cust-404"), domains=("c9.example",))
    async with read_tx(engine) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, "zd", wanted_keys(account, RULES)))
    result = index.match(account, RULES, "organization")
    assert (result.record_id, result.method, result.key) == ("9", "external_id", "cust-9")
