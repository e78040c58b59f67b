"""``python -m bench.backfill_stages [DEALS]``: where a backfill's time goes, stage by stage.

Builds the backfill scenario's world (``bench.suite.world``: Salesforce and Zendesk with the
documented budgets, in their own process), runs the ``west`` job once in this process, and
prints when each stage started and ended: wall seconds since the run started, and this
process's CPU seconds (``time.process_time()``, which includes SQLite's thread). The stages are
found by wrapping the functions that do them (the identity export's pages, the source's pages,
the match pass, stage 2's batches and writes), so a stage renamed is a stage missing from the
table, not a wrong figure. A line gives when stage 2's first, sixth, half and last writes
were asked: its requests beyond the account's minute follow, 61 s later, the pace of its first
ones. The last line is the ratio to the bound the scenario reports.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog

from bench.suite import RECORDS_PER_DEAL, Sizes, _sum, bound_records_per_second, world
from sandbox.world import credentials
from sync_jobs.app import event_loop

Mark = tuple[float, float]


class Marks:
    """When each probe fired: (wall, CPU) seconds since :meth:`start`."""

    def __init__(self) -> None:
        self.seen: dict[str, list[Mark]] = {}
        self._wall = 0.0
        self._cpu = 0.0

    def start(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def mark(self, name: str) -> None:
        now = (time.perf_counter() - self._wall, time.process_time() - self._cpu)
        self.seen.setdefault(name, []).append(now)

    def wrap(self, module: ModuleType, attr: str, name: str) -> None:
        """Mark ``name:start`` and ``name:end`` around every call of ``module.attr``."""
        if not hasattr(module, attr):
            return  # this version has no such stage
        inner: Callable[..., Awaitable[Any]] = getattr(module, attr)

        @functools.wraps(inner)
        async def marked(*args: Any, **kwargs: Any) -> Any:
            self.mark(f"{name}:start")
            try:
                return await inner(*args, **kwargs)
            finally:
                self.mark(f"{name}:end")

        setattr(module, attr, marked)


async def run_once(config: Path, marks: Marks) -> Any:
    """One run of ``west`` with the stage probes in place."""
    from sync_jobs.config.app import load_config
    from sync_jobs.run import lookups, stage1, stage2
    from sync_jobs.run.connections import Connections
    from sync_jobs.run.runner import open_engine, run_job

    marks.wrap(lookups, "index_records", "export page")
    marks.wrap(stage1, "_commit_page", "source page")
    marks.wrap(stage1, "rematch", "match pass")
    marks.wrap(stage2, "_batch", "stage 2 batch")
    marks.wrap(stage2, "_write", "stage 2 write")
    loaded = load_config(config)
    engine = await open_engine(loaded)
    connections = Connections(loaded.connectors)
    marks.start()
    report = await run_job(engine, connections, "west")
    marks.mark("run:end")
    await connections.aclose()
    await engine.store.dispose()
    return report


def main() -> None:
    """Command line: see the module doc."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    deals = int(sys.argv[1]) if len(sys.argv) > 1 else Sizes().backfill
    sizes = Sizes()
    marks = Marks()
    with world(deals, sizes.scale, sizes.latency) as w:
        os.environ.update(credentials("zendesk"))
        report = event_loop.run(run_once(w.config, marks))
        counts = w.counts()
    for name, seen in marks.seen.items():
        (wall, cpu), (last_wall, last_cpu) = seen[0], seen[-1]
        print(
            f"{name:22s} x{len(seen):<5d} first {wall:7.1f} s ({cpu:5.1f} CPU)"
            f"  last {last_wall:7.1f} s ({last_cpu:5.1f} CPU)"
        )
    writes = [wall for wall, _cpu in marks.seen.get("stage 2 write:start", [])]
    if writes:  # the second budget minute follows the first: when the early writes went
        steps = sorted({0, len(writes) // 6, len(writes) // 2, len(writes) - 1})
        print("stage 2 writes asked: " + ", ".join(f"#{i + 1} {writes[i]:.1f} s" for i in steps))
    records = max(1, int(deals * RECORDS_PER_DEAL))
    served = _sum(counts, "zendesk", route="/incremental/organizations", status="200")
    bound, _formula = bound_records_per_second(records, sizes.scale, served)
    seconds = marks.seen["run:end"][0][0]
    throttled = _sum(counts, "zendesk", status="429") + _sum(counts, "salesforce", status="403")
    total = _sum(counts, "zendesk") + _sum(counts, "salesforce")
    print(
        f"run {report.status}: {report.counts.get('customers_written', 0)} of {records} records "
        f"in {seconds:.1f} s = {records / seconds:.0f}/s; bound {bound:.0f}/s ({served} export "
        f"pages); ratio {records / seconds / bound:.3f}; 429s {throttled}/{total}"
    )


if __name__ == "__main__":
    main()
