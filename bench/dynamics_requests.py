"""Requests per deal of the Dynamics source: a first read (backfill), then a run after changes.

Usage: python -m bench.dynamics_requests [DEALS] [CHANGES]   (default 5000 and 50)

Seeds the in-process Dataverse simulator with DEALS synthetic deals over 200 accounts, reads
them all with the paths of ``mappings/central-dynamics.yaml`` (account columns included) and
its select, then updates CHANGES deals and deletes a tenth as many, and runs again from the
stored cursor. Counts come from the connector's HTTP clients (``VendorClient.stats``, token
endpoint included) and, per operation, from its request log events.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
from structlog.testing import capture_logs

from connectors.base import Cursor, DealQuery
from connectors.sales.dynamics import DynamicsConfig, DynamicsSource
from connectors.sales.dynamics.simulator import DEMO_ENV, DynamicsSimulator, connector_config
from connectors.settings import ConnectorOptions
from sync_jobs.domain.mapping import load_mapping_spec

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "central-dynamics.yaml"


@dataclass
class RunCost:
    """What one run read and what it cost."""

    deals: int = 0
    deleted: int = 0
    requests: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)

    @property
    def per_deal(self) -> float:
        """Requests per deal read (deletions included)."""
        return self.requests / max(1, self.deals + self.deleted)


async def _no_sleep(_seconds: float) -> None:
    return None


def _query() -> DealQuery:
    spec = load_mapping_spec(MAPPING)
    paths = [r.from_ for r in spec.terms.values() if r.from_] + [r.from_ for r in spec.identity]
    return DealQuery(fields=tuple(dict.fromkeys(paths)), select=spec.select)


async def _run(src: DynamicsSource, since: Cursor | None) -> tuple[RunCost, Cursor | None]:
    cost = RunCost()
    before = src.requests_sent
    with capture_logs() as events:
        async for page in src.changed_deals(_query(), since):
            cost.deals += sum(not d.deleted for d in page.deals)
            cost.deleted += sum(d.deleted for d in page.deals)
            since = page.checkpoint
    cost.requests = src.requests_sent - before
    cost.by_operation.update(
        str(e.get("operation")) for e in events if e.get("event") == "vendor_request"
    )
    return cost, since


async def measure(count: int = 5000, changes: int = 50) -> tuple[RunCost, RunCost]:
    """The backfill's cost and the cost of the run after ``changes`` updates."""
    os.environ.update(DEMO_ENV)
    sim = DynamicsSimulator()
    ids = sim.seed_bulk(count)
    config = DynamicsConfig.model_validate(connector_config())
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=_no_sleep)
    src = DynamicsSource("central", config, options)
    try:
        backfill, cursor = await _run(src, None)
        for deal_id in ids[:changes]:
            sim.update_deal(deal_id, new_specialdiscount=11.0)
        for deal_id in ids[changes : changes + max(1, changes // 10)]:
            sim.delete_deal(deal_id)
        later, _ = await _run(src, cursor)
    finally:
        await src.aclose()
    return backfill, later


def main() -> None:
    """Print both runs' costs."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    changes = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    backfill, later = asyncio.run(measure(count, changes))
    for label, cost in (("first read (backfill)", backfill), ("next run", later)):
        print(
            f"{label}: {cost.deals} deals, {cost.deleted} deletions, {cost.requests} requests, "
            f"{cost.per_deal:.4f} requests per deal"
        )
        for operation, n in sorted(cost.by_operation.items()):
            print(f"    {operation}: {n}")


if __name__ == "__main__":
    main()
