"""One dealbridge run in a fresh process, reported as JSON on stdout.

``python -m bench.run_child CONFIG JOB`` runs JOB once against the servers CONFIG points at
and prints ``{"seconds", "counts", "errors", "peak_rss_mb"}``: peak RSS is this process's own
(dealbridge alone; the simulators live in ``bench.servers``).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path

import structlog

from sync_jobs.app import event_loop
from sync_jobs.app.collector import tune_collector
from sync_jobs.config.app import load_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job


async def run(config_path: Path, job: str) -> dict[str, object]:
    """Run ``job`` once; return timing, counts and memory."""
    config = load_config(config_path)
    engine = await open_engine(config)
    connections = Connections(config.connectors)
    started = time.perf_counter()
    report = await run_job(engine, connections, job)
    seconds = time.perf_counter() - started
    await connections.aclose()
    await engine.store.dispose()
    return {
        "seconds": seconds,
        "status": report.status,
        "counts": dict(report.counts),
        "errors": report.errors[:5],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Command line: see the module doc."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    tune_collector()  # as the dealbridge command does
    print(json.dumps(event_loop.run(run(Path(sys.argv[1]), sys.argv[2]))))


if __name__ == "__main__":
    main()
