"""Batch lookups read only what they ask for: each one that names customers or records is
served by an index on them, so a batch costs the same in a book of a thousand deals or of a
million (SQLite's own query plans, asked with EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.matching import keyed
from sync_jobs.store import bases, batch_state, conflicts, deals, hop, identity, work
from sync_jobs.store import tables as t
from sync_jobs.store.db import make_engine, migrate_async, write_tx
from tests.unit.store.rows import pending_row

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
KEYS = [f"organization:{n}" for n in range(5)]
LOOKED_UP = ("deal", "identity", "identity_key", "conflict", "field_base")
NARROW = r"\b(customer_key|record_id|value|identity|deal_id|rowid)=\?"
"""What a lookup's index search must name: the customers, records, keys or ids it asks for."""


def org(number: int, *, deleted: bool = False) -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind="organization", id=str(number)),
        external_id=f"CUST-{number}",
        deleted=deleted,
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    await migrate_async(url)
    eng = make_engine(url)
    yield eng
    await eng.dispose()


@contextmanager
def capturing(engine: AsyncEngine, tables: tuple[str, ...]) -> Iterator[list[tuple[str, Any]]]:
    """Collect the statements run on ``tables`` (with their parameters) while inside."""
    statements: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        statement, parameters, many = args[2], args[3], args[5]
        if re.search(rf"\b(FROM|UPDATE)\s+\"?({'|'.join(tables)})\b", statement):
            statements.append((statement, parameters[0] if many else parameters))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", capture)


async def planned(engine: AsyncEngine, statements: list[tuple[str, Any]]) -> dict[str, list[str]]:
    """SQLite's plan for each statement."""
    plans: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for statement, parameters in statements:
            rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans[statement] = [str(row.detail) for row in rows]
    assert plans, "nothing ran on the tables: nothing was checked"
    return plans


async def plans_of(
    engine: AsyncEngine,
    call: Callable[[AsyncConnection], Awaitable[Any]],
    tables: tuple[str, ...] = LOOKED_UP,
) -> dict[str, list[str]]:
    """Plans of the statements ``call`` ran on ``tables`` in one write transaction."""
    with capturing(engine, tables) as statements:
        async with write_tx(engine) as conn:
            await call(conn)
    return await planned(engine, statements)


def whole_target_reads(plans: dict[str, list[str]]) -> list[str]:
    """Plan steps that read a lookup table whole, or by something broader than what was
    asked for (the target, a status): every step must search by customer, record or id."""
    table = "|".join(LOOKED_UP)
    bad = []
    for statement, steps in plans.items():
        for step in steps:
            search = re.match(rf"(SCAN|SEARCH) \"?({table})\b(.*)", step)
            if search and not re.search(NARROW, search.group(3)):
                bad.append(f"{step}  <-  {statement[:90]}")
    return bad


@contextmanager
def driver_statements(
    tables: tuple[str, ...] = LOOKED_UP,
) -> Iterator[list[tuple[str, Any]]]:
    """Collect the statements run through the driver itself (``sync_jobs.store.hop``, which
    SQLAlchemy's events do not see) on ``tables``, with their (first row's) parameters."""
    statements: list[tuple[str, Any]] = []
    run = hop.run

    async def collect(conn: AsyncConnection, batch: Sequence[hop.Statement]) -> Any:
        for statement in batch:
            if re.search(rf"\b(FROM|UPDATE)\s+\"?({'|'.join(tables)})\b", statement.sql):
                params = statement.params[0] if statement.many else statement.params
                statements.append((statement.sql, tuple(params)))
        return await run(conn, batch)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hop, "run", collect)
        yield statements


async def driver_plans_of(
    engine: AsyncEngine, call: Callable[[AsyncConnection], Awaitable[Any]]
) -> dict[str, list[str]]:
    """Plans of the statements ``call`` ran through the driver in one write transaction."""
    with driver_statements() as statements:
        async with write_tx(engine) as conn:
            await call(conn)
    return await planned(engine, statements)


async def test_a_batchs_state_reads_only_its_customers(engine: AsyncEngine) -> None:
    plans = await driver_plans_of(engine, lambda conn: batch_state.load(conn, "zd", KEYS))
    assert len(plans) == 5, "deals, bases, resolved conflicts, decisions, names"
    assert whole_target_reads(plans) == []


async def test_a_batchs_commit_finds_what_it_changes_by_customer_or_id(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", KEYS, NOW)
    items = await work.claim(engine, "zd", len(KEYS), NOW, timedelta(minutes=5))
    commit = batch_state.Commit(
        items,
        drops=[(KEYS[0], "discount"), (KEYS[1], "sla")],
        settled=KEYS,
        kinds=["target_edited", "territory_disagreement", "expired_terms_present"],
        still_open=["x"],
    )
    plans = await driver_plans_of(
        engine, lambda conn: batch_state.record(conn, "zd", commit, now=NOW, run_id=None, actor="t")
    )
    assert len(plans) == 2, "the bases dropped and the conflicts closed"
    assert whole_target_reads(plans) == []


async def test_stage1s_reads_find_deals_by_id_and_index_keys_by_value(
    engine: AsyncEngine,
) -> None:
    async def page_reads(conn: AsyncConnection) -> None:
        await deals.deal_states(conn, "west", ["D0001", "D0002"])
        await identity.index_hits(conn, "zd", [("external_id", "c1"), ("domain", "c1.example")])

    plans = await driver_plans_of(engine, page_reads)
    assert len(plans) == 2, "the deals; the keys (one statement text for every match type)"
    assert whole_target_reads(plans) == []


async def test_reindexing_records_finds_their_old_keys_by_record(engine: AsyncEngine) -> None:
    changed = [org(1), org(2, deleted=True)]
    plans = await driver_plans_of(
        engine, lambda conn: identity.index_records(conn, "zd", keyed(changed), NOW)
    )
    assert len(plans) == 3, "the old keys read; the keys and the deleted record removed"
    assert whole_target_reads(plans) == []


async def test_record_names_and_unlinking_look_records_up_by_id(engine: AsyncEngine) -> None:
    async def names_then_unlink(conn: AsyncConnection) -> None:
        await identity.record_names(conn, "zd", KEYS)
        await identity.forget(conn, "zd", KEYS[:2])
        await deals.unlink(conn, "zd", KEYS[:2], NOW)

    plans = await plans_of(engine, names_then_unlink)
    assert whole_target_reads(plans) == []


async def test_bases_are_found_by_customer(engine: AsyncEngine) -> None:
    async def stage2_reads(conn: AsyncConnection) -> None:
        await bases.load_bases(conn, "zd", KEYS)
        await bases.drop_bases(conn, "zd", [(KEYS[0], "discount"), (KEYS[1], "sla")])

    plans = await plans_of(engine, stage2_reads)
    assert whole_target_reads(plans) == []


async def test_closing_conflicts_finds_them_by_customer_or_by_identity(
    engine: AsyncEngine,
) -> None:
    kinds = ["unmatched", "out_of_policy"]
    await _seed_conflict(engine, "unmatched|zd|-|-|west/D1")

    async def close_both_ways(conn: AsyncConnection) -> None:
        await conflicts.close_missing(conn, "zd", KEYS, kinds, ["x"], NOW)
        await conflicts.close_missing(conn, "zd", ["west/D1"], kinds, [], NOW, by_customer=False)

    with capturing(engine, LOOKED_UP) as statements, driver_statements() as driven:
        async with write_tx(engine) as conn:
            await close_both_ways(conn)
    plans = await planned(engine, statements + driven)
    assert len(plans) == 3, "by customer; by deal: the ids by identity, then the update"
    assert whole_target_reads(plans) == []


async def test_a_claim_reads_the_queue_in_its_index_order(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", KEYS, NOW)
    with (
        capturing(engine, ("customer_work",)) as statements,
        driver_statements(("customer_work",)) as driven,
    ):
        claimed = await work.claim(engine, "zd", 2, NOW, timedelta(minutes=5))
    statements += driven
    plans = await planned(engine, statements)
    steps = [step for steps in plans.values() for step in steps]
    assert [i.customer_key for i in claimed] == KEYS[:2], "oldest first, then by id"
    assert not [s for s in steps if "TEMP B-TREE" in s], "no sort of the whole queue"


async def test_a_failed_item_finds_a_waiting_one_of_its_customer_by_index(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:
        await work.enqueue(conn, "zd", KEYS[:1], NOW)
    [item] = await work.claim(engine, "zd", 1, NOW, timedelta(minutes=5))

    async def fail(conn: AsyncConnection) -> None:
        await work.fail(conn, item, "HTTP 500", NOW, max_attempts=5)

    plans = await plans_of(engine, fail, tables=("customer_work",))
    lookup = [s for p in plans.values() for s in p if re.match(r"(SCAN|SEARCH) customer_work", s)]
    assert lookup, "the failed item looked for a waiting twin"
    assert all(re.search(r"customer_key=\?|rowid=\?", s) for s in lookup), lookup


async def _seed_conflict(engine: AsyncEngine, identity: str) -> None:
    async with write_tx(engine) as conn:
        await conn.execute(
            sa.insert(t.conflict).values(
                identity=identity,
                kind=identity.split("|")[0],
                target="zd",
                details={},
                details_hash="-",
                version=1,
                status="open",
                first_seen=NOW,
                last_seen=NOW,
            )
        )


async def test_the_check_catches_a_lookup_without_its_index(engine: AsyncEngine) -> None:
    async def by_unindexed_column(conn: AsyncConnection) -> None:
        await conn.execute(sa.text("SELECT * FROM deal WHERE target = 'zd' AND territory = 'x'"))

    plans = await plans_of(engine, by_unindexed_column)
    assert len(whole_target_reads(plans)) == 1


async def test_deals_of_records_that_lost_a_key_are_found_by_customer(
    engine: AsyncEngine,
) -> None:
    plans = await plans_of(engine, lambda conn: deals.linked_customers(conn, "zd", KEYS))
    assert whole_target_reads(plans) == []


def pending_deal(deal_id: str, account_key: str) -> dict[str, Any]:
    return pending_row(deal_id, account_key, NOW)


async def test_a_page_of_the_match_pass_is_a_range_search_in_account_order(
    engine: AsyncEngine,
) -> None:
    async with write_tx(engine) as conn:  # one account on two pages of one: both queries run
        await deals.save_deals(conn, [pending_deal("D0501", "a2"), pending_deal("D0502", "a2")])

    async def one_page(conn: AsyncConnection) -> None:
        after = deals.PageEnd(account_key="a1", deal_id="D0500")
        assert len(await deals.undecided_page(conn, "west", "zd", "pending", after, 1)) == 2

    plans = await driver_plans_of(engine, one_page)
    first, rest = plans.values()
    assert first == [
        "SEARCH deal USING INDEX ix_deal_match_account (target=? AND match_status=? AND job=? "
        "AND (account_key,deal_id)>(?,?))"
    ], "starts where the last page ended, in the index's order: no sort of every waiting deal"
    assert rest == [
        "SEARCH deal USING INDEX ix_deal_match_account (target=? AND match_status=? AND job=? "
        "AND account_key=? AND deal_id>?)"
    ], "the rest of the page's last account"
