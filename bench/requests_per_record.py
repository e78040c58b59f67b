"""Requests per record for every source/target pair of the demo world, first run and re-run.

Usage: python -m bench.requests_per_record [DESK ...]     (default: every desk with a simulator)

Every territory a registered source plays (the shipped three plus the Pipedrive, Dynamics 365
and Zoho territories) runs into each desk, twice, through the in-process simulators; per job
and run it prints the deals read, the customers written, and the requests each side received
(from the HTTP layer's counters). The second run shows the cost of doing nothing: no desk
request at all."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from pathlib import Path

import structlog

from connectors.http import ALL_STATS
from connectors.registry import demo_targets
from sandbox.world import build_world, credentials, territories
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job


def _totals() -> dict[str, tuple[int, int]]:
    return {name: (stats.total, stats.writes) for name, stats in ALL_STATS.items()}


async def measure(target: str, folder: Path) -> list[str]:
    """One line per job and run."""
    jobs = sorted(territories())
    os.environ.update(credentials(target, jobs))
    world = build_world(folder, target, jobs=jobs, fast=True)
    engine = await open_engine(world.config)
    connections = Connections(world.config.connectors, world.transports())
    lines = []
    try:
        for label in ("first run", "re-run"):
            for job in jobs:
                before = _totals()
                report = await run_job(engine, connections, job)
                after = _totals()
                desk = [
                    a - b
                    for a, b in zip(
                        after.get(target, (0, 0)), before.get(target, (0, 0)), strict=True
                    )
                ]
                source = world.config.jobs[job].source
                read = after.get(source, (0, 0))[0] - before.get(source, (0, 0))[0]
                written = report.counts.get("customers_written", 0)
                per = f"{desk[0] / written:.2f}" if written else "-"
                lines.append(
                    f"| {target} | {job} | {label} | {report.counts.get('deals_read', 0)}"
                    f" | {written} | {desk[0]} | {desk[1]} | {per} | {read} |"
                )
    finally:
        await connections.aclose()
        await engine.store.dispose()
    return lines


def main() -> None:
    """Print the table."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(
        "| desk | job | run | deals read | customers written | desk requests | desk writes "
        "| desk requests per written customer | source requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for target in sys.argv[1:] or demo_targets():
        ALL_STATS.clear()
        with tempfile.TemporaryDirectory() as folder:
            for line in asyncio.run(measure(target, Path(folder))):
                print(line)


if __name__ == "__main__":
    main()
