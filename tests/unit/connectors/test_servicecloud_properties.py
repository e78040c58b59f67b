"""Service Cloud target invariants against its simulator (Hypothesis): the identity feed over any
page size and stamp ties, and partial write failures."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, CustomerPage, RecordChange, RecordRef
from connectors.service.servicecloud import ServiceCloudConfig, ServiceCloudTarget
from connectors.service.servicecloud.simulator import (
    DEMO_ENV,
    ServiceCloudSimulator,
    connector_config,
)
from connectors.settings import ConnectorOptions

BASE = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


async def _no_sleep(_seconds: float) -> None:
    return None


def connect(sim: ServiceCloudSimulator, **overrides: Any) -> ServiceCloudTarget:
    os.environ.update(DEMO_ENV)
    config = ServiceCloudConfig.model_validate(connector_config(**overrides))
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=_no_sleep)
    return ServiceCloudTarget("desk", config, options)


async def read_pages(target: ServiceCloudTarget, since: Cursor | None) -> list[CustomerPage]:
    return [page async for page in target.customers(since)]


stamps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=3), st.sampled_from([0, 0, 0, 250])),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(min_value=1, max_value=7),
    accounts=stamps,
    contacts=st.lists(st.integers(min_value=0, max_value=2), max_size=10),
    stop_after=st.integers(min_value=0, max_value=8),
)
def test_every_record_reaches_the_index_once_per_read_and_resuming_loses_none(
    batch: int, accounts: list[tuple[int, int]], contacts: list[int], stop_after: int
) -> None:
    """Any batch size and any ties of SystemModstamp (whole seconds, and milliseconds in the
    same second): one read yields every record once; a read stopped after any page and resumed
    from that page's checkpoint yields every record not read yet (FACTS.md 4.1, 4.2)."""

    async def scenario() -> None:
        sim = ServiceCloudSimulator(batch_cap=batch)
        ids = {
            sim.add_account(f"A{n}", stamp=BASE + timedelta(seconds=s, milliseconds=ms))
            for n, (s, ms) in enumerate(accounts)
        }
        ids |= {
            sim.add_contact(None, f"c{n}@example.test", stamp=BASE + timedelta(seconds=s))
            for n, s in enumerate(contacts)
        }
        target = connect(sim, record_kinds=["account", "contact"])
        try:
            whole = await read_pages(target, None)
            keys = [r.ref.id for p in whole for r in p.records]
            assert len(keys) == len(set(keys)), "a record was yielded twice in one read"
            assert set(keys) == ids
            cut = min(stop_after, len(whole) - 1)
            before = {r.ref.id for p in whole[: cut + 1] for r in p.records}
            after = await read_pages(target, whole[cut].checkpoint)
            rest = [r.ref.id for p in after for r in p.records]
            assert before | set(rest) == ids
            assert not before & set(rest), "a resumed read repeated a record read before"
        finally:
            await target.aclose()

    asyncio.run(scenario())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(
        st.sampled_from(
            [
                "good",
                "unknown field",
                "bad choice",
                "deleted",
                "locked once",
                "locked twice",
                "too many bytes",
                "moved",
                "same version",
            ]
        ),
        min_size=1,
        max_size=25,
    ),
    batch=st.integers(min_value=1, max_value=200),
)
def test_partial_failures_leave_every_change_written_exactly_once_or_reported(
    plan: list[str], batch: int
) -> None:
    """Whatever mix of good and bad changes, and however they are cut into collections: one
    result per change, in order; a change reported ok was saved exactly once with the values
    sent; a change reported failed saved nothing and says why (FACTS.md 5.1-5.4)."""

    async def scenario() -> None:
        sim = ServiceCloudSimulator()
        ids = [sim.add_account(f"Customer {n}", stamp=BASE) for n in range(len(plan))]
        target = connect(sim, write_batch_size=batch)
        try:
            read = {r.ref.id: r for r in await target.read(_refs(ids))}
            changes = []
            for record_id, case in zip(ids, plan, strict=True):
                fields: dict[str, Any] = {"SLA_Promise__c": f"4h for {record_id}"}
                version = None
                if case == "unknown field":
                    fields["Nope__c"] = 1
                elif case == "bad choice":
                    fields["Service_Tier__c"] = "Platinum"
                elif case == "deleted":
                    sim.delete("Account", record_id)
                elif case.startswith("locked"):
                    sim.lock(record_id, 1 if case == "locked once" else 2)
                elif case == "too many bytes":
                    fields["Deal_Terms__c"] = "€" * 11_000  # 33,000 bytes in 32,768
                elif case == "moved":
                    version = read[record_id].version
                    sim.agent_edit("Account", record_id, Phone="555")
                elif case == "same version":
                    version = read[record_id].version
                changes.append(
                    RecordChange(
                        ref=RecordRef(kind="account", id=record_id),
                        fields=fields,
                        expected_version=version,
                    )
                )
            results = await target.write(changes)
        finally:
            await target.aclose()
        assert [r.ref for r in results] == [c.ref for c in changes]
        for change, result, case in zip(changes, results, plan, strict=True):
            saves = sim.state.saves[change.ref.id]
            if result.ok:
                assert case in ("good", "locked once", "same version")
                assert saves == 1
                stored = sim.record("Account", change.ref.id)
                assert all(stored[k] == v for k, v in result.fields.items())
            else:
                assert case not in ("good", "locked once", "same version"), result.error
                assert saves == 0
                assert result.error

    asyncio.run(scenario())


def _refs(ids: list[str]) -> list[RecordRef]:
    return [RecordRef(kind="account", id=i) for i in ids]
