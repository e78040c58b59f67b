"""Desk requests per written record on a Service Cloud backfill, and the budget they come from.

Usage: python -m bench.servicecloud_backfill [N]        (default 5000)

Against the in-process Service Cloud simulator, with ``N`` business accounts in the org, this
drives the target the way a first sync does (``sync_jobs.run.stage1`` / ``stage2``): the identity
index from the feed, then per ``write_batch_size`` customers one ``read`` and one ``write`` of
the mapped fields and the note. It prints the requests each phase made (from the connector's
``VendorClient.stats``, token endpoint included), the requests per written record, and that cost
against the org's rolling 24-hour API allocation and the share ``api_reserve`` leaves
dealbridge. Run twice: without ``expected_version`` (what the engine sends today) and with it
(one stamp query per batch more). The next feed reads the written records back (each write
moves their SystemModstamp), a few thousand a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from connectors.base import Cursor, RecordChange, RecordRef
from connectors.service.servicecloud import ServiceCloudConfig, ServiceCloudTarget
from connectors.service.servicecloud.simulator import (
    DEMO_ENV,
    ServiceCloudSimulator,
    connector_config,
)
from connectors.settings import ConnectorOptions

ALLOCATION = 100_000
"""The simulator's (and a small Enterprise org's) rolling 24-hour allocation: 100,000 plus
1,000 per licence (FACTS.md 7.2); a contact center with 50 Service Cloud licences has 150,000."""


@dataclass
class Phase:
    """Requests one phase of the run made."""

    name: str
    requests: int
    records: int


async def _no_sleep(_seconds: float) -> None:
    return None


def _note(n: int) -> str:
    return (
        "=== dealbridge: special terms - do not edit inside this block ===\n"
        f"Special terms: 1 active deal(s), updated 2026-11-22\n- {5 + n % 15}% discount; payment "
        "Net 60; until 2027-03-31 | West | Salesforce 006BENCH\n=== end dealbridge ==="
    )


async def backfill(count: int, *, versions: bool) -> tuple[list[Phase], ServiceCloudTarget, int]:
    """One backfill of ``count`` accounts; the phases, the target and the records written."""
    os.environ.update(DEMO_ENV)
    sim = ServiceCloudSimulator(api_limit=ALLOCATION)
    sim.seed_bulk(count)
    config = ServiceCloudConfig.model_validate(connector_config())
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=_no_sleep)
    target = ServiceCloudTarget("servicecloud", config, options)
    phases: list[Phase] = []
    refs: list[RecordRef] = []
    checkpoint: Cursor | None = None
    async for page in target.customers(None):
        refs += [r.ref for r in page.records if not r.deleted]
        checkpoint = page.checkpoint
    phases.append(Phase("identity index (feed)", target.requests_sent, len(refs)))
    written = 0
    size = target.write_batch_size
    for start in range(0, len(refs), size):
        batch = refs[start : start + size]
        records = await target.read(batch)
        changes = [
            RecordChange(
                ref=record.ref,
                fields=_fields(n + start),
                expected_version=record.version if versions else None,
            )
            for n, record in enumerate(records)
        ]
        results = await target.write(changes)
        written += sum(r.ok for r in results)
    phases.append(Phase("read + write batches", target.requests_sent - phases[0].requests, written))
    before = target.requests_sent
    async for _page in target.customers(checkpoint):
        pass
    phases.append(Phase("next feed", target.requests_sent - before, 0))
    return phases, target, written


def _fields(n: int) -> dict[str, Any]:
    return {
        "Special_Discount__c": 5 + n % 15,
        "Payment_Terms__c": "Net 60",
        "Terms_Valid_Until__c": "2027-03-31",
        "Deal_Terms__c": _note(n),
    }


async def measure(count: int) -> list[str]:
    """Table rows for one backfill size, without and with expected versions."""
    rows = []
    for versions in (False, True):
        phases, target, written = await backfill(count, versions=versions)
        feed, writes, rerun = phases
        total = feed.requests + writes.requests
        share = ALLOCATION * (1 - target.config.api_reserve)
        rows.append(
            f"| {count} | {'yes' if versions else 'no'} | {feed.requests} | {writes.requests} "
            f"| {written} | {total} | {total / max(written, 1):.4f} "
            f"| {total / ALLOCATION:.2%} of {ALLOCATION:,} ({total / share:.2%} of the "
            f"{share:,.0f} dealbridge may spend) | {rerun.requests} |"
        )
        await target.aclose()
    return rows


def main() -> None:
    """Print the table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    print(
        "| accounts | expected_version | feed requests | read+write requests | records "
        "written | desk requests | per written record | of the 24-hour allocation "
        "| next feed (reads back its own writes) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in asyncio.run(measure(count)):
        print(row, flush=True)


if __name__ == "__main__":
    main()
