"""Requests (and Pipedrive API tokens) per deal for a backfill through the Pipedrive source.

Usage: python -m bench.pipedrive_backfill [DEALS] [--organizations N ...]

Seeds the Pipedrive simulator with DEALS deals (default 5,000) spread over N organizations (one
contact person each), then reads them all the way a first job run does: every path the example
mapping ``mappings/nordics-pipedrive.yaml`` reads, pages of 500, the burst window of a Lite
plan enforced by the simulator. The simulator and the connector share one virtual clock, so the
pacing waits cost no real time but are counted. Prints, per organization count, the requests
the connector sent (its ``VendorClient.stats``), requests per deal, tokens per deal (the
connector's ledger), 429s received and the seconds it waited to stay inside the window.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import structlog

from connectors.base import DealQuery
from connectors.sales.pipedrive import PipedriveConfig, PipedriveSource
from connectors.sales.pipedrive.simulator import DEMO_API_TOKEN, SANDBOX_URL, PipedriveSimulator
from connectors.settings import ConnectorOptions
from sync_jobs.domain.mapping import Mapping, load_mapping_spec

MAPPING = Path(__file__).resolve().parents[1] / "mappings" / "nordics-pipedrive.yaml"
START = datetime(2026, 12, 6, 10, 0, tzinfo=UTC).timestamp()


class VirtualTime:
    """One clock for the simulator (epoch seconds) and the connector's sleeps."""

    def __init__(self) -> None:
        self.now = START
        self.waited = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waited += seconds
        self.now += seconds


@dataclass(frozen=True)
class Measurement:
    """One backfill's counts."""

    deals: int
    organizations: int
    requests: int
    tokens: int
    throttled: int
    waited: float
    by_endpoint: dict[str, int]


async def measure(deals: int, organizations: int) -> Measurement:
    """Seed, read everything once, count."""
    time = VirtualTime()
    sim = PipedriveSimulator(seed_demo=False, clock=time.clock, seats=20)
    sim.seed_bulk(deals, organizations=organizations, start=START - deals - 3600)
    sim.controls.keep_log = True
    os.environ["PIPEDRIVE_BENCH_TOKEN"] = DEMO_API_TOKEN
    config = PipedriveConfig.model_validate(
        {
            "kind": "pipedrive",
            "base_url": SANDBOX_URL,
            "auth": {"flow": "api_token", "api_token": "${PIPEDRIVE_BENCH_TOKEN}"},
            "plan": "lite",
        }
    )
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=time.sleep)
    source = PipedriveSource(
        "bench", config, options, now=lambda: datetime.fromtimestamp(time.now, tz=UTC)
    )
    mapping = example_mapping()
    query = DealQuery(fields=mapping.source_paths(), select=mapping.spec.select)
    read = 0
    try:
        async for page in source.changed_deals(query, None):
            read += len(page.deals)
    finally:
        await source.aclose()
    assert read == deals, f"read {read} of {deals} deals"
    stats = source.client.api.stats
    endpoints = Counter(r.path for r in sim.controls.requests)
    return Measurement(
        deals=deals,
        organizations=organizations,
        requests=source.requests_sent,
        tokens=source.client.ledger.spent,
        throttled=stats.throttled,
        waited=time.waited,
        by_endpoint=dict(endpoints),
    )


def example_mapping() -> Mapping:
    """The example Nordics mapping, compiled (its paths decide what the source fetches)."""
    return Mapping(
        load_mapping_spec(MAPPING),
        job="bench",
        source="bench",
        system="pipedrive",
        territory="Nordics",
        base_dir=MAPPING.parent,
    )


def main() -> None:
    """Print one table row per organization count."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deals", type=int, nargs="?", default=5000)
    parser.add_argument("--organizations", type=int, nargs="+", default=[100, 1000, 5000])
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(
        "| deals | organizations | requests | requests per deal | tokens | tokens per deal "
        "| 429s | waited (s, virtual) | requests by endpoint |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for organizations in args.organizations:
        m = asyncio.run(measure(args.deals, organizations))
        endpoints = ", ".join(f"{path} {n}" for path, n in sorted(m.by_endpoint.items()))
        print(
            f"| {m.deals} | {m.organizations} | {m.requests} | {m.requests / m.deals:.4f} "
            f"| {m.tokens} | {m.tokens / m.deals:.3f} | {m.throttled} | {m.waited:.1f} "
            f"| {endpoints} |"
        )


if __name__ == "__main__":
    main()
