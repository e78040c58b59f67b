"""Invariant: whatever happens between runs, and wherever a run is cut short, the union of the
incremental reads is every deal's latest version (and, with change tracking, no deleted deal)
once a run has completed and the next one has run (a first read ends at the delta link taken
before it, so a deal deleted while it paged is reported by the next run).

Hypothesis drives the simulator through rounds of creates, updates (many in one second, so
change times tie, also with the stored cursor) and deletes, with arbitrary page and batch sizes,
in both read modes; a run may stop after any committed page, as a crash would, and the next run
resumes from that page's checkpoint.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, DealQuery
from connectors.registry import get_spec
from connectors.sales.dynamics import DynamicsSource
from connectors.sales.dynamics.simulator import (
    DEMO_ENV,
    DynamicsSimulator,
    SimClock,
    connector_config,
)
from connectors.settings import ConnectorOptions

QUERY = DealQuery(fields=("name", "parentaccountid.name"))


@dataclass(frozen=True)
class Op:
    """One change in the CRM: create, update or delete (``pick`` chooses among live deals)."""

    kind: str
    pick: int = 0


@dataclass(frozen=True)
class Round:
    """Changes, then time passing (0 s keeps the cursor's second), then a run."""

    ops: tuple[Op, ...]
    seconds: int
    stop_after: int | None
    """Stop the run after this many pages (a crash after committing them)."""


ops = st.one_of(
    st.just(Op("create")),
    st.builds(Op, st.just("update"), st.integers(0, 50)),
    st.builds(Op, st.just("delete"), st.integers(0, 50)),
)
rounds = st.builds(
    Round,
    st.lists(ops, max_size=8).map(tuple),
    st.integers(0, 2),
    st.one_of(st.none(), st.integers(0, 3)),
)


async def _no_sleep(_seconds: float) -> None:
    return None


def _apply(sim: DynamicsSimulator, op: Op, account: str, counter: list[int]) -> None:
    live = sorted(sim.deal_ids())
    counter[0] += 1
    if op.kind == "create" or not live:
        sim.add_deal(f"deal v{counter[0]}", parentaccountid=account)
    elif op.kind == "update":
        sim.update_deal(live[op.pick % len(live)], name=f"deal v{counter[0]}")
    else:
        sim.delete_deal(live[op.pick % len(live)])


async def _run(
    src: DynamicsSource, since: Cursor | None, replica: dict[str, str], stop_after: int | None
) -> Cursor | None:
    pages = 0
    async for page in src.changed_deals(QUERY, since):
        for deal in page.deals:
            if deal.deleted:
                replica.pop(deal.id, None)
            else:
                replica[deal.id] = deal.payload["name"]
        since = page.checkpoint
        pages += 1
        if stop_after is not None and pages >= stop_after:
            break
    return since


async def _scenario(
    mode: str, page_size: int, batch: int, plan: list[Round], seed: int
) -> tuple[DynamicsSimulator, dict[str, str]]:
    sim = DynamicsSimulator(clock=SimClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)))
    account = sim.add_account("Acme")
    counter = [0]
    for n in range(seed):
        sim.add_deal(f"seed {n}", parentaccountid=account)
    spec = get_spec("dynamics")
    config = spec.config_model.model_validate(
        connector_config(
            page_size=page_size, id_batch_size=batch, incremental=mode, overlap_seconds=0
        )
    )
    transport = httpx.ASGITransport(app=sim.app)
    src = spec.factory("crm", config, ConnectorOptions(transport=transport, sleep=_no_sleep))
    replica: dict[str, str] = {}
    since: Cursor | None = None
    try:
        for step in plan:
            for op in step.ops:
                _apply(sim, op, account, counter)
            sim.clock.advance(step.seconds)
            since = await _run(src, since, replica, step.stop_after)
        since = await _run(src, since, replica, None)  # the run that completes
        # A first read ends at the delta link taken before it: what changed while it paged
        # (deletions too) comes with the next run, as it would five minutes later.
        await _run(src, since, replica, None)
    finally:
        await src.aclose()
    return sim, replica


def _live(sim: DynamicsSimulator) -> dict[str, Any]:
    return {i: sim.deal(i).values["name"] for i in sim.deal_ids()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    page_size=st.integers(1, 6),
    batch=st.integers(1, 4),
    plan=st.lists(rounds, min_size=1, max_size=4),
    seed=st.integers(0, 7),
)
def test_change_tracking_reads_converge_on_every_live_deal_and_no_deleted_one(
    page_size: int, batch: int, plan: list[Round], seed: int
) -> None:
    with mock.patch.dict(os.environ, DEMO_ENV):
        sim, replica = asyncio.run(_scenario("change_tracking", page_size, batch, plan, seed))
    assert replica == _live(sim)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    page_size=st.integers(1, 6),
    plan=st.lists(rounds, min_size=1, max_size=4),
    seed=st.integers(0, 7),
)
def test_modifiedon_polling_never_misses_a_change_even_at_equal_times(
    page_size: int, plan: list[Round], seed: int
) -> None:
    with mock.patch.dict(os.environ, DEMO_ENV):
        sim, replica = asyncio.run(_scenario("modifiedon", page_size, 1, plan, seed))
    live = _live(sim)
    assert {i: replica.get(i) for i in live} == live, "every live deal at its latest version"
    assert set(replica) >= set(live)
