"""Local overhead: deals per second through mapping, matching, planning, state and the note,
with the simulators in process and no latency or vendor limits; plus peak memory.

Usage: python -m bench.local_overhead [N ...]      (default: 2000 10000)

Each N builds a fresh world of N Salesforce deals, one per account, and N matching Zendesk
organizations, then runs the West job once (stage 1 and stage 2). Figures are for one run on
this machine; compare them as ratios between N, not as absolutes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import structlog

from bench.servers import World
from sandbox.world import REPO_ROOT, credentials, world_doc
from sync_jobs.config.app import parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job

UNLIMITED_SCALE = 1e7
"""Zendesk's budgets times this: no limit a run of any size reaches."""

UNLIMITED = {
    "zendesk": {
        "plan_rpm": 10_000_000,
        "incremental_per_minute": 10_000_000,
        "job_seconds": 0.001,  # the simulator's jobs finish at once here
        "job_poll_initial": 0.001,
        "max_jobs_in_flight": 30,
    }
}


def bulk_world(count: int) -> tuple[Any, Any]:
    """N accounts with one special-terms deal each, and the N organizations they are (the
    servers' world, held in this process with every budget lifted)."""
    world = World(count, count, scale=UNLIMITED_SCALE, latency=0.0)
    return world.crm, world.desk


async def measure(count: int, folder: Path) -> dict[str, float]:
    """Run the West job once over ``count`` deals; return rate, CPU time and memory."""
    os.environ.update(credentials("zendesk"))
    crm, desk = bulk_world(count)
    doc = world_doc(folder, "zendesk")
    doc["connectors"]["zendesk"].update(UNLIMITED["zendesk"])
    doc["jobs"] = {"west": doc["jobs"]["west"]}
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    transports = {
        "salesforce_west": httpx.ASGITransport(app=crm.app),
        "zendesk": httpx.ASGITransport(app=desk.app),
    }
    connections = Connections(config.connectors, transports)
    started, cpu_started = time.perf_counter(), time.process_time()
    report = await run_job(engine, connections, "west")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    await connections.aclose()
    await engine.store.dispose()
    assert report.counts.get("customers_written", 0) == count, (report.counts, report.errors)
    return {
        "deals": count,
        "seconds": elapsed,
        "deals_per_second": count / elapsed,
        "cpu_seconds": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Print one line per N (each N in a fresh process would isolate memory; see README)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    sizes = [int(a) for a in sys.argv[1:]] or [2000, 10000]
    # CPU time (every thread of the process) moves less than wall time when other work shares
    # the machine: compare runs by it. bench.suite reads the deals/s column (the third).
    print("| deals | seconds | deals/s | peak RSS (MB, whole process) | CPU s | deals/CPU s |")
    print("|---|---|---|---|---|---|")
    for count in sizes:
        with tempfile.TemporaryDirectory() as folder:
            row = asyncio.run(measure(count, Path(folder)))
        print(
            f"| {count} | {row['seconds']:.1f} | {row['deals_per_second']:.0f} "
            f"| {row['peak_rss_mb']:.0f} | {row['cpu_seconds']:.1f} "
            f"| {count / row['cpu_seconds']:.0f} |"
        )


if __name__ == "__main__":
    main()
