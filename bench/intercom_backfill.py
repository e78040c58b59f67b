"""Intercom: desk requests per written record on a backfill, and the time the budget allows.

Usage: python -m bench.intercom_backfill [N]        (default: 5000)

A spreadsheet territory of N won deals (one per customer) runs once through the whole engine
(stage 1 and stage 2) into a simulated Intercom workspace of N companies, each found by its
customer number (``company_id``), then once more with nothing changed. The connector keeps its
default budget, 1,000 requests a minute for the app (167 per 10-second window), and the
simulator enforces the same window; time is virtual (every wait moves both clocks), so the
"budget time" column is how long the requests take at that budget, not this machine's speed.

The engine passes the version each record was planned on (``RecordChange.expected_version``),
so ``verify_before_write`` (the default) reads each record once more just before its PUT: an
agent's save in between is held as a conflict rather than overwritten, for one GET per written
record. The last line measures the connector alone (read, then write with versions).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog

from connectors.base import RecordChange, RecordRef
from connectors.http import ALL_STATS
from connectors.service.intercom import IntercomConfig, IntercomTarget
from connectors.service.intercom.simulator import DEMO_TOKEN, IntercomSimulator
from connectors.settings import ConnectorOptions
from sandbox.spreadsheet import COLUMNS, write_csv
from sandbox.world import REPO_ROOT
from sync_jobs.config.app import parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job

TOKEN_ENV = "DEALBRIDGE_INTERCOM_TOKEN"
DESK = "intercom"
REQUESTS_PER_MINUTE = 1000


@dataclass(frozen=True)
class Measured:
    """One run's desk requests."""

    label: str
    written: int
    requests: int
    by_method: Counter[str]
    seconds: float
    """Virtual seconds: how long the requests take at the budget."""
    throttled: int

    @property
    def per_record(self) -> float | None:
        """Desk requests per written record."""
        return self.requests / self.written if self.written else None

    def line(self) -> str:
        """A row of the printed table."""
        per = f"{self.per_record:.3f}" if self.per_record is not None else "-"
        methods = ", ".join(f"{m} {n}" for m, n in sorted(self.by_method.items()))
        return (
            f"| {self.label} | {self.written} | {self.requests} | {per} | {methods} "
            f"| {self.seconds / 60:.1f} min | {self.throttled} |"
        )


class VirtualTime:
    """A sleep that returns at once and moves the simulator's clocks by the time slept."""

    def __init__(self, sim: IntercomSimulator) -> None:
        self.sim = sim
        self.slept = 0.0

    async def __call__(self, seconds: float) -> None:
        self.slept += seconds
        self.sim.pass_time(seconds)


def sheet_rows(count: int) -> list[dict[str, Any]]:
    """N won deals with special terms, customer numbers BULK-000000..."""
    modified = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "Deal ID": f"APAC-{n:06d}",
            "Deal Name": f"Bulk deal {n}",
            "Account": f"Bulk Customer {n:06d}",
            "Domain": f"bulk{n:06d}.example",
            "Contact Email": f"ops@bulk{n:06d}.example",
            "Customer Number": f"BULK-{n:06d}",
            "Stage": "Won",
            "Amount": 1000.0 + n,
            "Currency": "AUD",
            "Owner": "Kai Tanaka",
            "Owner Email": "kai@seller.example",
            "Discount %": float(5 + n % 15),
            "Payment Terms": ("Net 30", "Net 45", "Net 60")[n % 3],
            "Free Services": "",
            "SLA Promise": "Next business day",
            "Special Instructions": "",
            "Valid Until": (modified + timedelta(days=200)).date(),
            "Approved By": "Regional VP",
            "Last Modified": modified + timedelta(seconds=n),
        }
        for n in range(count)
    ]


def config_doc(folder: Path) -> dict[str, Any]:
    """One APAC job: the sheet folder into Intercom, with the repo's Intercom mapping."""
    return {
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "connectors": {
            "sheets": {"kind": "spreadsheet", "path": str(folder / "sheets")},
            DESK: {
                "kind": "intercom",
                "access_token": "${" + TOKEN_ENV + "}",
                "requests_per_minute": REQUESTS_PER_MINUTE,
            },
        },
        "jobs": {
            "apac": {
                "source": "sheets",
                "target": DESK,
                "mapping": str(REPO_ROOT / "mappings" / "intercom" / "apac-spreadsheet.yaml"),
                "territory": "APAC",
                "schedule": {"every": "15m"},
            }
        },
        "alerts": {"channels": {}, "routes": []},
    }


async def engine_runs(count: int, folder: Path) -> list[Measured]:
    """The backfill and the re-run through the engine."""
    os.environ[TOKEN_ENV] = DEMO_TOKEN
    sim = IntercomSimulator(requests_per_minute=REQUESTS_PER_MINUTE, search_lag=0.0)
    sim.seed_bulk(count)
    (folder / "sheets").mkdir(parents=True)
    write_csv(folder / "sheets" / "apac.csv", sheet_rows(count))
    assert list(sheet_rows(1)[0]) == list(COLUMNS)
    config = parse_config(config_doc(folder), str(folder / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    clock = VirtualTime(sim)
    connections = Connections(
        config.connectors, {DESK: httpx.ASGITransport(app=sim.app)}, sleep=clock
    )
    lines: list[Measured] = []
    try:
        for label in ("backfill", "re-run"):
            before, slept, seen = _total(), clock.slept, sim.controls.by_method()
            report = await run_job(engine, connections, "apac")
            after = _total()
            requests = after[0] - before[0]
            written = report.counts.get("customers_written", 0)
            by_method = sim.controls.by_method() - seen
            throttled = after[2] - before[2]
            seconds = clock.slept - slept
            lines.append(Measured(label, written, requests, by_method, seconds, throttled))
            if label == "backfill":
                assert written == count, (report.counts, report.errors[:3])
    finally:
        await connections.aclose()
        await engine.store.dispose()
    return lines


async def verified_writes(count: int) -> Measured:
    """The connector alone: read N companies, then write each with the version it read."""
    os.environ[TOKEN_ENV] = DEMO_TOKEN
    sim = IntercomSimulator(requests_per_minute=REQUESTS_PER_MINUTE, search_lag=0.0)
    sim.seed_bulk(count)
    clock = VirtualTime(sim)
    config = IntercomConfig.model_validate(
        {
            "kind": "intercom",
            "access_token": "${" + TOKEN_ENV + "}",
            "requests_per_minute": REQUESTS_PER_MINUTE,
        }
    )
    target = IntercomTarget(
        "verify", config, ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=clock)
    )
    refs = [RecordRef(kind="company", id=i) for i in sim.store.companies]
    try:
        records = []
        for start in range(0, len(refs), 100):
            records += await target.read(refs[start : start + 100])
        changes = [
            RecordChange(
                ref=r.ref,
                fields={"custom_attributes.sla_promise": "4h"},
                expected_version=r.version,
            )
            for r in records
        ]
        results = []
        for start in range(0, len(changes), 100):
            results += await target.write(changes[start : start + 100])
    finally:
        await target.aclose()
    assert all(r.ok for r in results)
    stats = target.http_stats
    return Measured(
        "read + write with versions (connector)",
        len(results),
        stats.total,
        Counter(stats.by_method),
        clock.slept,
        stats.throttled,
    )


def _total() -> tuple[int, int, int]:
    stats = ALL_STATS.get(DESK)
    return (stats.total, stats.writes, stats.throttled) if stats else (0, 0, 0)


def main() -> None:
    """Print the table."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(f"Intercom, {count} records, budget {REQUESTS_PER_MINUTE}/min per app "
          f"({-(-REQUESTS_PER_MINUTE // 6)} per 10 s)")  # fmt: skip
    print("| run | records written | desk requests | per written record | by method "
          "| budget time | 429s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for measured in asyncio.run(engine_runs(count, Path(folder))):
            print(measured.line())
    print(asyncio.run(verified_writes(count)).line())


if __name__ == "__main__":
    main()
