"""Requests (and Zoho API credits) per deal for the Zoho source against its simulator.

Usage: python -m bench.zoho_requests [DEALS]

A first read of DEALS deals (default 5,000 over 400 accounts, one changed a minute) with the
shipped mapping ``mappings/latam-zoho.yaml`` (its select condition with COQL; the list API
takes none), then an incremental run after 10 of them changed, once per reader (COQL, the
default; and the list API). The incremental run also re-reads what changed in the
``overlap_seconds`` (300) before the cursor. Counts come from the
connector's ``VendorClient.stats`` (API and token endpoint) and from the simulator's credit
ledger; nothing is timed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import structlog

from connectors.base import Cursor, DealQuery
from connectors.sales.zoho import ZohoConfig, ZohoSource
from connectors.sales.zoho.simulator import DEMO_ENV, ZohoSimulator, connector_config
from connectors.settings import ConnectorOptions
from sync_jobs.domain.mapping import load_mapping_spec

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "latam-zoho.yaml"


async def _run(src: ZohoSource, query: DealQuery, since: Cursor | None) -> tuple[int, Cursor]:
    count, last = 0, since
    async for page in src.changed_deals(query, since):
        count += len(page.deals)
        last = page.checkpoint
    assert last is not None
    return count, last


async def measure(deals: int, read_via: str) -> list[str]:
    """Table rows for one reader: backfill, then an incremental run."""
    sim = ZohoSimulator(seed_demo=False)
    # written an hour or more before the first run, so the next run's overlap holds none of them
    start = sim.org.now() - timedelta(seconds=deals * 60 + 3600)
    ids = sim.seed_bulk(deals, start=start, step_seconds=60, accounts=400)
    spec = load_mapping_spec(MAPPING)
    paths = tuple(r.from_ for r in spec.terms.values() if r.from_)
    select = spec.select if read_via == "coql" else None  # the list API takes no condition
    query = DealQuery(fields=(*paths, *(r.from_ for r in spec.identity)), select=select)
    config = ZohoConfig.model_validate(connector_config(read_via=read_via))
    src = ZohoSource("zoho", config, ConnectorOptions(transport=httpx.ASGITransport(sim.app)))
    rows = []
    try:
        since: Cursor | None = None
        for label in ("backfill", "incremental (10 changed)"):
            before, credits_before = src.requests_sent, sim.limits.used
            read, since = await _run(src, query, since)
            requests = src.requests_sent - before
            spent = sim.limits.used - credits_before
            per = f"{requests / read:.4f}" if read else "-"
            rows.append(f"| {read_via} | {label} | {read} | {requests} | {per} | {spent} |")
            sim.touch(ids[:10])
    finally:
        await src.aclose()
    return rows


def main() -> None:
    """Print the table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    for name, value in DEMO_ENV.items():
        os.environ.setdefault(name, value)
    deals = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print("| reader | run | deals read | requests | requests per deal | API credits |")
    print("|---|---|---|---|---|---|")
    for read_via in ("coql", "list"):
        for row in asyncio.run(measure(deals, read_via)):
            print(row)


if __name__ == "__main__":
    main()
