"""Worker processes: the local part's deals per second at 1 and 2 workers, same world, interleaved.

Usage: python -m bench.workers [--deals N] [--pairs P] [--workers 1,2] [--store sqlite|postgresql]

Each trial serves a fresh world (``bench.servers``: N Salesforce deals, one per account, and
the N Zendesk organizations they are, budgets lifted as ``bench.local_overhead`` lifts them,
no latency) in its own process, then runs the West job once from this process with
``engine.workers`` = K: this process is the lead (index, stage 1, its share of stage 2) and
K - 1 spawned processes write beside it. Trials alternate K (1, 2, 1, 2, ...) so that the
shared machine's load falls on both alike.

Printed per trial: wall seconds of the run (helpers' start-up included), deals per wall
second, stage 1's wall time (until the lead's first claim: a first run is a backfill, whose
stage 2 starts when stage 1 ends) and stage 2's, CPU seconds of dealbridge's processes (the
lead and its helpers), the busiest one's CPU seconds (a shared machine stretches wall time;
with a free core per process a run cannot be shorter than its busiest process, so the ratio
of those is the scaling an idle machine would show, lock waits aside), stage 2's CPU seconds
in the lead and in a helper (the helper's net of its start-up: in a backfill that runs beside
stage 1, so the busiest stage-2 process is given both with and without it), the share of the
customers the helpers wrote, the simulators' CPU seconds during the run (their process shares
the machine's cores with the workers), the desk's 429 answers and the load average. Then the
median wall rate per K, and of stage 2 alone, with its ratio to K = 1.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import structlog

from bench.local_overhead import UNLIMITED, UNLIMITED_SCALE
from bench.servers import ZENDESK_EXPORTS_PER_MINUTE, ZENDESK_RPM, serving
from sandbox.ports import free_port_block
from sandbox.stores import StoreKind, throwaway_store
from sandbox.world import REPO_ROOT, credentials, world_doc
from sync_jobs.app import event_loop
from sync_jobs.app.collector import tune_collector
from sync_jobs.config.app import AppConfig, parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.run.workers import budget_shares

HELPER_WROTE = re.compile(
    r"^worker \d+ \(pid \d+\) planned \d+ customer\(s\) and wrote (\d+) in ([\d.]+) s of CPU"
)


@dataclass(frozen=True)
class Trial:
    """One run's figures."""

    workers: int
    deals: int
    seconds: float
    stage1: float
    stage1_cpu: float
    """The lead's CPU seconds until its first claim (index, stage 1, its helpers' start)."""
    lead_cpu: float
    helpers_cpu: float
    helpers_start_cpu: float = 0.0
    """The helpers' CPU seconds until the lead's first claim (their start-up: a backfill's
    helpers claim only once stage 1 is done)."""
    helpers_written: int = 0
    """Customers the helpers wrote (the rest, the lead)."""
    too_many: int = 0
    simulators_cpu: float = 0.0

    @property
    def cpu(self) -> float:
        """CPU seconds of every dealbridge process of the run."""
        return self.lead_cpu + self.helpers_cpu

    @property
    def busiest(self) -> float:
        """CPU seconds of the busiest process (helpers taken as equal): with a free core per
        process, no run is shorter than this, whatever the neighbours do to wall time."""
        return max(self.lead_cpu, self.helpers_cpu / max(1, self.workers - 1))

    @property
    def busiest_stage2(self) -> float:
        """The same for stage 2: the lead's CPU after its first claim, or a helper's (its
        start-up included)."""
        return max(self.lead_stage2_cpu, self.helpers_cpu / max(1, self.workers - 1))

    @property
    def lead_stage2_cpu(self) -> float:
        """The lead's CPU seconds after its first claim."""
        return self.lead_cpu - self.stage1_cpu

    @property
    def helper_stage2_cpu(self) -> float:
        """A helper's CPU seconds after the lead's first claim (helpers taken as equal): its
        part of stage 2 without its start-up, which ran beside stage 1."""
        return (self.helpers_cpu - self.helpers_start_cpu) / max(1, self.workers - 1)

    @property
    def busiest_stage2_net(self) -> float:
        """The busiest process's CPU seconds in stage 2, the helpers' start-up left out."""
        return max(self.lead_stage2_cpu, self.helper_stage2_cpu)

    @property
    def stage2_rate(self) -> float:
        """Deals per wall second of stage 2 (a tiny run's stage 2 can round to no time: a
        millisecond at least)."""
        return self.deals / max(self.seconds - self.stage1, 0.001)

    @property
    def rate(self) -> float:
        """Deals per wall second."""
        return self.deals / self.seconds


def process_cpu(pid: int) -> float:
    """CPU seconds a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Served:
    """The simulators' process and its first port (Salesforce; Zendesk, control follow)."""

    port: int
    pid: int


@contextmanager
def served(deals: int, scale: float = UNLIMITED_SCALE) -> Iterator[Served]:
    """A fresh world on three ports (Salesforce, Zendesk, control)."""
    port = free_port_block(3)  # Salesforce, Zendesk, control
    with serving(deals, deals, scale=scale, latency=0, port=port) as server:
        yield Served(port, server.pid)


def config_for(
    folder: Path, port: int, state_url: str, workers: int, scale: float | None = None
) -> AppConfig:
    """The West job into the served Zendesk, ``workers`` processes; every budget lifted, or
    Zendesk's documented budgets times ``scale`` (as the simulators were started with)."""
    urls = {
        "salesforce_west": f"http://127.0.0.1:{port}",
        "zendesk": f"http://127.0.0.1:{port + 1}",
    }
    doc = world_doc(folder, "zendesk", base_urls=urls, state_url=state_url)
    doc["connectors"] = {name: doc["connectors"][name] for name in urls}
    budgets: dict[str, float] = dict(UNLIMITED["zendesk"])
    if scale is not None:
        budgets = {
            "plan_rpm": int(ZENDESK_RPM * scale),
            "incremental_per_minute": int(ZENDESK_EXPORTS_PER_MINUTE * scale),
        }
    doc["connectors"]["zendesk"].update(budgets, record_kinds=["organization"])
    doc["jobs"] = {"west": doc["jobs"]["west"]}
    doc.pop("alerts", None)
    doc["engine"] = {"workers": workers}
    return parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)


async def measure(config: AppConfig, deals: int) -> Trial:
    """Run the West job once; time it, its stage 1, and its processes' CPU."""
    engine = await open_engine(config)
    first_claim: list[tuple[float, float, float]] = []

    def checkpoint(name: str) -> None:
        if name == "after_claim" and not first_claim:
            first_claim.append((time.perf_counter(), time.process_time(), helpers_cpu_now()))

    engine.checkpoint = checkpoint
    connections = Connections(config.connectors, budget_shares=budget_shares(config))
    started, cpu_started = time.perf_counter(), time.process_time()
    report = await run_job(engine, connections, "west")
    elapsed = time.perf_counter() - started
    helpers = helpers_cpu(report.notices)  # they fork from the fork server: not our children
    lead = time.process_time() - cpu_started
    await connections.aclose()
    await engine.store.dispose()
    written = report.counts.get("customers_written", 0)
    assert report.status == "ok", (report.status, report.errors[:3])
    assert written == deals, (written, report.counts, report.errors[:3])
    claimed, claimed_cpu, helpers_started = first_claim[0] if first_claim else (0.0, 0.0, 0.0)
    if not first_claim:
        claimed, claimed_cpu = started + elapsed, lead
    stage1, stage1_cpu = claimed - started, claimed_cpu - cpu_started
    return Trial(
        config.engine.workers,
        deals,
        elapsed,
        stage1,
        stage1_cpu,
        lead,
        helpers,
        helpers_started,
        helpers_wrote(report.notices),
    )


def helpers_cpu_now() -> float:
    """CPU seconds the run's live helper processes have used so far."""
    return sum(
        process_cpu(child.pid)
        for child in multiprocessing.active_children()
        if child.name.startswith("dealbridge-worker-") and child.pid is not None
    )


def helpers_wrote(notices: list[str]) -> int:
    """Customers the helpers wrote, as the lead's notices say."""
    return sum(int(m.group(1)) for n in notices if (m := HELPER_WROTE.search(n)))


def helpers_cpu(notices: list[str]) -> float:
    """CPU seconds the helpers spent in all, as each reported it to the lead."""
    return sum(float(m.group(2)) for n in notices if (m := HELPER_WROTE.search(n)))


async def backfill(config: AppConfig) -> None:
    """The job's first run, not measured."""
    engine = await open_engine(config)
    connections = Connections(config.connectors, budget_shares=budget_shares(config))
    try:
        report = await run_job(engine, connections, "west")
        assert report.status == "ok", (report.status, report.errors[:3])
    finally:
        await connections.aclose()
        await engine.store.dispose()


def every_deal_changes(port: int, deals: int) -> None:
    """Reps give every deal a new discount (the next run writes every customer again)."""
    edit = f"http://127.0.0.1:{port + 2}/edit"
    params = {"first": 0, "count": deals, "discount": 19.5}
    httpx.post(edit, params=params, timeout=60).raise_for_status()


def too_many_requests(port: int) -> int:
    """The desk's 429 answers so far (the control API counts every answer by status)."""
    counts = httpx.get(f"http://127.0.0.1:{port + 2}/counts", timeout=10).json()
    return sum(n for key, n in counts.items() if key.startswith("zendesk") and key.endswith(" 429"))


def trial(
    deals: int,
    workers: int,
    store: StoreKind,
    scale: float | None = None,
    *,
    incremental: bool = False,
) -> Trial:
    """A fresh world and store, one run (budgets lifted, or ``scale`` times Zendesk's);
    ``incremental``: the run measured is the one after every deal changed, which follows an
    unmeasured backfill by one process."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        served(deals, UNLIMITED_SCALE if scale is None else scale) as world,
        throwaway_store(store, Path(tmp), prefix="bench_workers") as url,
    ):
        config = config_for(Path(tmp), world.port, url, workers, scale)
        if incremental:
            event_loop.run(backfill(config_for(Path(tmp), world.port, url, 1, scale)))
            every_deal_changes(world.port, deals)
        seeded = process_cpu(world.pid)
        result = event_loop.run(measure(config, deals))
        return Trial(
            result.workers,
            deals,
            result.seconds,
            result.stage1,
            result.stage1_cpu,
            result.lead_cpu,
            result.helpers_cpu,
            result.helpers_start_cpu,
            result.helpers_written,
            too_many_requests(world.port),
            process_cpu(world.pid) - seeded,
        )


def main() -> None:
    """Alternate the worker counts; print a row per trial and the medians' ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=3, help="rounds of every worker count")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--store", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="measure the run after every deal changed (stage 1 and stage 2 overlap) instead "
        "of the first run (a backfill: stage 2 after stage 1)",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=None,
        help="keep Zendesk's budgets, times this (default: lifted): do N workers stay within "
        "them? (the 429s column)",
    )
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    os.environ.update(credentials("zendesk"))
    tune_collector()  # as the dealbridge command does (its helpers do it themselves)
    counts = [int(k) for k in args.workers.split(",")]
    kind = "every deal changed (incremental)" if args.incremental else "first run (backfill)"
    print(f"{args.deals} deals, {args.store}, {kind}, {os.cpu_count()} cores")
    print(
        "| workers | wall s | deals/s | stage 1 s | stage 2 s | CPU s (lead + helpers) "
        "| deals/CPU s | lead's stage 1 CPU s | busiest process CPU s (stage 2) "
        "| stage 2 CPU s: lead / a helper net of start-up (its start-up) | helpers' customers "
        "| simulators' CPU s | 429s | load average |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    trials: list[Trial] = []
    for _ in range(args.pairs):
        for workers in counts:
            row = trial(args.deals, workers, args.store, args.scale, incremental=args.incremental)
            trials.append(row)
            print(
                f"| {row.workers} | {row.seconds:.1f} | {row.rate:.0f} | {row.stage1:.1f} "
                f"| {row.seconds - row.stage1:.1f} "
                f"| {row.cpu:.1f} ({row.lead_cpu:.1f} + {row.helpers_cpu:.1f}) "
                f"| {row.deals / row.cpu:.0f} | {row.stage1_cpu:.1f} "
                f"| {row.busiest:.1f} ({row.busiest_stage2:.1f}) "
                f"| {row.lead_stage2_cpu:.1f} / {row.helper_stage2_cpu:.1f} "
                f"({row.helpers_start_cpu:.1f}) | {row.helpers_written / row.deals:.0%} "
                f"| {row.simulators_cpu:.1f} "
                f"| {row.too_many} | {os.getloadavg()[0]:.1f} |",
                flush=True,
            )
    base = statistics.median(t.rate for t in trials if t.workers == counts[0])
    base_stage2 = statistics.median(t.stage2_rate for t in trials if t.workers == counts[0])
    base_busiest = statistics.median(t.busiest for t in trials if t.workers == counts[0])
    base_busiest2 = statistics.median(t.busiest_stage2 for t in trials if t.workers == counts[0])
    base_net = statistics.median(t.busiest_stage2_net for t in trials if t.workers == counts[0])
    for workers in counts:
        mine = [t for t in trials if t.workers == workers]
        rate = statistics.median(t.rate for t in mine)
        stage2 = statistics.median(t.stage2_rate for t in mine)
        busiest = statistics.median(t.busiest for t in mine)
        busiest2 = statistics.median(t.busiest_stage2 for t in mine)
        net = statistics.median(t.busiest_stage2_net for t in mine)
        print(
            f"workers={workers}: median {rate:.0f} deals/s ({rate / base:.2f}x), "
            f"stage 2 alone {stage2:.0f} deals/s ({stage2 / base_stage2:.2f}x); "
            f"busiest process {busiest:.1f} CPU s ({base_busiest / busiest:.2f}x), "
            f"in stage 2 {busiest2:.1f} CPU s ({base_busiest2 / busiest2:.2f}x), "
            f"the helpers' start-up left out {net:.1f} CPU s ({base_net / net:.2f}x)"
        )


if __name__ == "__main__":
    main()
