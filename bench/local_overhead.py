"""Local overhead: deals per second of dealbridge's own CPU through reading, mapping,
matching, planning, state and the note, with no latency and no vendor limits.

Usage: python -m bench.local_overhead [--in-process] [N ...]      (default: 2000 10000)

Each N builds a fresh world of N Salesforce deals, one per account, and N matching Zendesk
organizations, then runs the West job once (stage 1 and stage 2) in this process.

What is measured. By default the simulators run as real servers in a child process
(``bench.servers`` with every budget lifted and latency 0), so this process is dealbridge
alone: its CPU time (``time.process_time()``, every thread: the event loop, the SQLite
thread, httpx) is dealbridge's overhead, HTTP parsing of the vendors' answers included and
the simulators' work excluded. One row per N:

    | deals | wall s | deals/s (wall) | dealbridge CPU s | deals per dealbridge CPU s | peak RSS |

The fifth column is the "one core" figure of issue 19 (target >= 5,000, goal 10,000):
deals per second of CPU that dealbridge spends, which the shared machine disturbs far less
than wall time (wall time also waits for the simulators' process). bench.suite reads it.

``--in-process`` serves the simulators inside this process through ``httpx.ASGITransport``
instead (no sockets): a run is one Python process, which is what a profiler wants
(``python -m cProfile -o x.prof -m bench.local_overhead --in-process 10000``); its CPU
column then includes the simulators' work and is not the overhead figure.

Compare figures as ratios between runs made in the same minutes, not as absolutes.
"""

from __future__ import annotations

import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.servers import World, serving
from sandbox.ports import free_port_block
from sandbox.world import REPO_ROOT, credentials, world_doc
from sync_jobs.app import event_loop
from sync_jobs.app.collector import tune_collector
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
CONNECTORS = ("salesforce_west", "zendesk")


def bulk_world(count: int) -> tuple[Any, Any]:
    """N accounts with one special-terms deal each, and the N organizations they are (the
    servers' world, held in this process with every budget lifted)."""
    world = World(count, count, scale=UNLIMITED_SCALE, latency=0.0)
    return world.crm, world.desk


@contextmanager
def served_world(count: int) -> Iterator[dict[str, str]]:
    """bench.servers in a child process, seeded with ``count`` deals and organizations and
    every budget lifted; yields the connectors' base URLs."""
    port = free_port_block(3)  # bench.servers takes three in a row
    with serving(count, count, scale=UNLIMITED_SCALE, latency=0, port=port):
        yield {
            "salesforce_west": f"http://127.0.0.1:{port}",
            "zendesk": f"http://127.0.0.1:{port + 1}",
        }


async def measure(
    count: int,
    folder: Path,
    base_urls: dict[str, str] | None = None,
    *,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    watch_store: Callable[[AsyncEngine], None] | None = None,
) -> dict[str, float]:
    """Run the West job once over ``count`` deals; return wall time, CPU time and memory.

    ``base_urls``: where the served simulators listen; None builds them in this process.
    ``transports`` (with ``base_urls``): the connectors' HTTP transports, by connector name;
    ``watch_store`` is handed the run's state engine before the clock starts (bench.floor
    records through both)."""
    os.environ.update(credentials("zendesk"))
    transports = dict(transports or {})
    if base_urls is None:
        crm, desk = bulk_world(count)
        transports = {
            "salesforce_west": httpx.ASGITransport(app=crm.app),
            "zendesk": httpx.ASGITransport(app=desk.app),
        }
    doc = world_doc(folder, "zendesk", base_urls=base_urls)
    doc["connectors"] = {name: doc["connectors"][name] for name in CONNECTORS}
    doc["connectors"]["zendesk"].update(UNLIMITED["zendesk"])
    doc["jobs"] = {"west": doc["jobs"]["west"]}
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    if watch_store is not None:
        watch_store(engine.store)
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


def run_one(count: int, in_process: bool) -> dict[str, float]:
    """One measured run over a fresh world and a fresh state database."""
    with tempfile.TemporaryDirectory() as folder:
        if in_process:
            return event_loop.run(measure(count, Path(folder)))
        with served_world(count) as urls:
            return event_loop.run(measure(count, Path(folder), urls))


def main() -> None:
    """Print one line per N (each N in a fresh process would isolate memory; see README)."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    tune_collector()  # as the dealbridge command does
    args = sys.argv[1:]
    in_process = "--in-process" in args
    sizes = [int(a) for a in args if a != "--in-process"] or [2000, 10000]
    where = "in this process (CPU includes them)" if in_process else "in a child process"
    print(f"simulators {where}; CPU = dealbridge's process, every thread")
    # bench.suite reads the fifth column: deals per CPU second of the dealbridge process.
    print(
        "| deals | wall s | deals/s (wall) | dealbridge CPU s | deals per dealbridge CPU s "
        "| peak RSS (MB, this process) |"
    )
    print("|---|---|---|---|---|---|")
    for count in sizes:
        row = run_one(count, in_process)
        print(
            f"| {count} | {row['seconds']:.1f} | {row['deals_per_second']:.0f} "
            f"| {row['cpu_seconds']:.2f} | {count / row['cpu_seconds']:.0f} "
            f"| {row['peak_rss_mb']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
