"""Search calls of the HubSpot source's keyset read, by book size, page size and ties.

Usage: python -m bench.hubspot_search_calls

Seeds the in-process HubSpot simulator with deals a second apart, or in bursts sharing one
instant, reads them all once and prints how many ``POST .../deals/search`` calls the read
took. Each keyset page starts at the instant the page before ended at and sends that
instant's deals again, so a page brings P-1 new deals (fewer when the boundary instant holds
many); a burst larger than a page is read a second time by ``hs_object_id``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta

import httpx
import structlog

from connectors.base import DealQuery
from connectors.sales.hubspot import HubSpotConfig, HubSpotSource
from connectors.sales.hubspot.simulator import DEMO_ACCESS_TOKEN, HubSpotSimulator
from connectors.settings import ConnectorOptions

CASES = ((23, 5, 0), (1000, 200, 0), (5000, 200, 0), (1000, 200, 50), (1000, 200, 250))
"""(deals, page size, burst): burst 0 puts deals a second apart."""


class FakeTime:
    """The simulator's rate limits count time the connector's sleeps move, so nothing waits."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def searches(deals: int, page_size: int, burst: int) -> int:
    """Search calls of one full read of ``deals`` deals; every deal must come back."""
    time = FakeTime()
    sim = HubSpotSimulator(seed_demo=False, clock=time.clock)
    start = datetime.now(UTC) - timedelta(hours=2)
    if burst:
        ids = [
            deal_id
            for second in range(deals // burst)
            for deal_id in sim.seed_equal_timestamps(burst, at=start + timedelta(seconds=second))
        ]
    else:
        ids = sim.seed_bulk(deals, start=start)
    os.environ["HS_BENCH_TOKEN"] = DEMO_ACCESS_TOKEN
    config = HubSpotConfig.model_validate(
        {
            "kind": "hubspot",
            "base_url": "http://hubspot.sandbox",
            "access_token": "${HS_BENCH_TOKEN}",
            "page_size": page_size,
            "read_archived": False,
        }
    )
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=time.sleep)
    source = HubSpotSource("bench", config, options)
    try:
        query = DealQuery(fields=("properties.dealname",))
        read = {d.id async for page in source.changed_deals(query, None) for d in page.deals}
    finally:
        await source.aclose()
    if read != set(ids):
        raise SystemExit(f"read {len(read)} of {len(ids)} deals")
    return sim.controls.count("POST", "/search")


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for deals, page_size, burst in CASES:
        shape = f"bursts of {burst}" if burst else "a second apart"
        calls = asyncio.run(searches(deals, page_size, burst))
        print(f"{deals:>5} deals, page {page_size:>3}, {shape:<16} {calls:>3} searches")


if __name__ == "__main__":
    main()
