"""What looking up identity-index misses costs the desk, per unmatched deal and per new customer.

Usage: python -m bench.lookup_cost [N ...]        (default: 10 100 1000)

For each desk and each N, on the in-process demo world (West territory, Salesforce):

* *unmatched*: N new deals whose customer (customer number and website) exists nowhere at the
  desk. Nothing is written for them, so every desk request beyond the same run without them is
  a lookup. The run after, with nothing changed, must cost no lookup at all.
* *new customers*: N new deals whose customer was created at the desk seconds before the run,
  too young for Zendesk's export (and for Freshdesk's filter API). Each must be matched, not
  reported; the requests shown include the writes of their notes.

``engine.lookups_per_run`` is raised for the measurement, so no deal waits for a later run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import structlog

from sandbox.world import build_world, credentials
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import RunReport, open_engine, run_job


async def _world(folder: Path, target: str) -> tuple[Any, Any, Connections]:
    os.environ.update(credentials(target))
    os.environ["DEALBRIDGE__ENGINE__LOOKUPS_PER_RUN"] = "1000000"
    world = build_world(folder, target, fast=True)
    engine = await open_engine(world.config)
    return world, engine, Connections(world.config.connectors, world.transports())


def _add_deals(world: Any, count: int, *, at_desk: bool, tag: str) -> None:
    crm = world.simulators["salesforce_west"]
    for n in range(count):
        number, domain = f"{tag.upper()}-{n:06d}", f"{tag}{n:06d}.example"
        account = crm.add_account(f"{tag} {n}", website=f"https://{domain}", customer_number=number)
        crm.add_deal(
            f"{tag} deal {n}",
            account_id=account,
            Special_Discount__c=5.0,
            Payment_Terms__c="Net 30",
            Approved_By__c="VP Sales",
        )
        if at_desk and world.target == "zendesk":
            world.desk.add_organization(f"{tag} {n}", external_id=number, domain_names=[domain])
        elif at_desk:
            world.desk.add_company(
                f"{tag} {n}", domains=(domain,), custom_fields={"cf_customer_number": number}
            )


async def _desk_requests(
    world: Any, engine: Any, connections: Connections
) -> tuple[int, RunReport]:
    before = len(world.desk.controls.requests)
    report = await run_job(engine, connections, "west")
    return len(world.desk.controls.requests) - before, report


async def measure(target: str, count: int) -> list[str]:
    """Table rows for one desk and one N."""
    rows = []
    for scenario in ("baseline", "unmatched", "new customers"):
        with tempfile.TemporaryDirectory() as folder:
            world, engine, connections = await _world(Path(folder), target)
            try:
                await run_job(engine, connections, "west")  # the demo's own first run
                if scenario != "baseline":
                    _add_deals(world, count, at_desk=scenario == "new customers", tag="bench")
                requests, report = await _desk_requests(world, engine, connections)
                again, rerun = await _desk_requests(world, engine, connections)
            finally:
                await connections.aclose()
                await engine.store.dispose()
        if scenario == "baseline":
            base = requests
            continue
        counts = report.counts
        extra = requests - base
        rows.append(
            f"| {target} | {scenario} | {count} | {counts.get('lookup_keys', 0)} "
            f"| {counts.get('lookup_hits', 0)} | {counts.get('deals_unmatched', 0)} "
            f"| {extra} | {extra / count:.2f} | {rerun.counts.get('lookup_keys', 0)} | {again} |"
        )
    return rows


def main() -> None:
    """Print the table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    counts = [int(a) for a in sys.argv[1:]] or [10, 100, 1000]
    print(
        "| desk | deals | N | keys looked up | hits | reported unmatched | desk requests "
        "beyond the same run without them | per deal | keys looked up on the re-run "
        "| desk requests on the re-run |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for target in ("zendesk", "freshdesk"):
        for count in counts:
            for row in asyncio.run(measure(target, count)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
