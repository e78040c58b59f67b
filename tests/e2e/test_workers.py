"""``dealbridge run --workers N``: the run's customers written by several processes claiming
from one queue: every customer exactly once, on SQLite and PostgreSQL; a worker killed while
it holds claims does not cost a customer; a worker count below 1 is refused.

Real processes (the CLI and the spawned workers), simulators served on loopback ports the
kernel picked; writes are counted on the simulators. The desk is Freshdesk, which writes one
``PUT`` per company: "each customer once" is "each company's path once"."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML
from typer.testing import CliRunner

from sandbox.world import REPO_ROOT, credentials, world_doc
from sync_jobs.app.cli import app
from sync_jobs.config.app import AppConfig, load_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.control import Checkpoint
from sync_jobs.run.runner import RunReport, open_engine, run_job
from sync_jobs.run.workers import budget_shares
from sync_jobs.store import tables as t
from sync_jobs.store.audit import unfold
from tests.e2e import crashing
from tests.e2e.test_kill_recovery import reference, served_desk
from tests.stores import store_url

__all__ = ["store_url"]  # the fixture: every test here runs on SQLite and PostgreSQL
pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEALBRIDGE = str(Path(sys.executable).parent / "dealbridge")
TARGET = "freshdesk"
LATENCY = 0.05
"""Each simulator answer takes this long: batches of one customer take turns with the desk."""


class Served:
    """The simulators' process and ports."""

    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports

    def writes(self) -> list[str]:
        answer = httpx.get(f"http://127.0.0.1:{self.ports['control']}/writes", timeout=5)
        return list(answer.json()[TARGET])


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in credentials(TARGET).items():
        monkeypatch.setenv(name, value)
    return dict(os.environ)


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[Served]:
    command = [sys.executable, "-m", "tests.e2e.served", "--latency", str(LATENCY)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, cwd=REPO_ROOT, env=env, start_new_session=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    try:
        assert line, "the simulators did not start"
        yield Served(json.loads(line))
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()


def write_config(folder: Path, served: Served, store_url: str) -> Path:
    """The West job into the served Freshdesk, a customer per batch and one batch at a time
    per process: two processes take turns with the queue from its first customer."""
    ports = served.ports
    doc = world_doc(
        folder,
        TARGET,
        fast=True,
        state_url=store_url,
        base_urls={
            "salesforce_west": f"http://127.0.0.1:{ports['salesforce']}",
            "hubspot_emea": f"http://127.0.0.1:{ports['hubspot']}",
            TARGET: f"http://127.0.0.1:{ports[TARGET]}",
        },
    )
    doc["connectors"][TARGET]["write_concurrency"] = 1
    doc["engine"] = {"write_workers": 1}
    path = folder / "config.yaml"
    with path.open("w") as handle:
        YAML().dump(doc, handle)
    return path


def rows(store_url: str, table: sa.Table) -> list[Any]:
    """Every row of ``table`` in the store, read by this (test) process."""
    db = sa.create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with db.connect() as conn:
            return list(conn.execute(sa.select(table)))
    finally:
        db.dispose()


def each_company_written_once(served: Served, clean_writes: int) -> None:
    """As many companies written as one process alone writes, each of them once."""
    puts = Counter(w for w in served.writes() if w.startswith("PUT "))
    assert sum(puts.values()) == clean_writes, puts
    assert set(puts.values()) == {1}, f"a company written twice: {puts}"


def test_two_workers_write_every_customer_exactly_once(
    tmp_path: Path, served: Served, env: dict[str, str], store_url: str
) -> None:
    expected, clean_writes = reference(tmp_path / "reference", TARGET, ("west",))
    config = write_config(tmp_path, served, store_url)

    done = subprocess.run(
        [DEALBRIDGE, "run", "west", "--workers", "2", "-c", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    # The lead's workers start with the helper's, a customer per batch: both take turns.
    helped = re.search(r"worker 2 \(pid \d+\) planned (\d+) customer", output)
    assert helped, output
    assert int(helped.group(1)) >= 1, f"the second process planned customers too:\n{output}"
    assert served_desk(config, TARGET) == expected
    each_company_written_once(served, clean_writes)
    fields_written_once_in(store_url)
    assert rows(store_url, t.customer_work) == [], "the work is finished"


def fields_written_once_in(store_url: str) -> None:
    audit = Counter((r.customer_key, r.field) for r in unfold(rows(store_url, t.audit)))
    assert audit, "fields were written"
    assert set(audit.values()) == {1}, "no field was written twice"


def run_west(
    config: AppConfig, *, in_helper: Checkpoint, in_lead: Checkpoint | None = None
) -> RunReport:
    """One run of the West job in this process (the lead), with ``in_helper`` called at the
    helpers' commit points and ``in_lead`` at the lead's."""

    async def go() -> RunReport:
        engine = await open_engine(config)
        engine.helper_checkpoint = in_helper
        if in_lead is not None:
            engine.checkpoint = in_lead
        connections = Connections(config.connectors, budget_shares=budget_shares(config))
        try:
            return await run_job(engine, connections, "west")
        finally:
            await connections.aclose()
            await engine.store.dispose()

    return asyncio.run(go())


def test_a_killed_workers_customers_are_still_written(
    tmp_path: Path, served: Served, store_url: str
) -> None:
    expected, clean_writes = reference(tmp_path / "reference", TARGET, ("west",))
    config = load_config(write_config(tmp_path, served, store_url))
    config = config.model_copy(update={"engine": config.engine.model_copy(update={"workers": 2})})

    report = run_west(config, in_helper=crashing.die_after_first_claim)

    assert report.status == "ok", report
    died = [n for n in report.notices if "ended without a report" in n]
    assert died, f"premise: the worker died holding a claim: {report.notices}"
    assert "went back to the queue and this run wrote them" in died[0]
    claimed = re.search(r"the (\d+) customer\(s\) it had claimed", died[0])
    assert claimed, died[0]
    assert int(claimed.group(1)) >= 1, "it died holding its claim"
    assert served_desk(config_path(tmp_path), TARGET) == expected
    each_company_written_once(served, clean_writes)
    assert report.counts["customers_written"] == clean_writes
    assert rows(store_url, t.customer_work) == []


@pytest.mark.parametrize(
    "dies", [crashing.die_holding_a_unit, crashing.die_before_answering_for_a_unit]
)
def test_a_worker_that_dies_in_stage_1_costs_no_deal_and_no_customer_twice(
    tmp_path: Path, served: Served, store_url: str, dies: Any
) -> None:
    expected, clean_writes = reference(tmp_path / "reference", TARGET, ("west",))
    config = load_config(write_config(tmp_path, served, store_url))
    config = config.model_copy(update={"engine": config.engine.model_copy(update={"workers": 2})})

    # the helper dies with the lead's first unit of deals; the lead waits for it to end
    report = run_west(config, in_helper=dies, in_lead=crashing.WaitForTheHelpersToEnd())

    assert report.status == "ok", report
    assert any("worker 2 stopped with 1 unit(s) of deals in hand" in n for n in report.notices), (
        f"premise: the worker died with the lead's unit: {report.notices}"
    )
    assert served_desk(config_path(tmp_path), TARGET) == expected
    each_company_written_once(served, clean_writes)
    assert report.counts["customers_written"] == clean_writes
    assert rows(store_url, t.customer_work) == []
    cursors = [r for r in rows(store_url, t.source_cursor) if r.job == "west"]
    assert len(cursors) == 1, "the job's cursor is past what it read"


def config_path(folder: Path) -> Path:
    return folder / "config.yaml"


@pytest.mark.parametrize("count", ["0", "-1"])
def test_a_worker_count_below_one_is_refused(count: str) -> None:
    result = CliRunner().invoke(app, ["run", "west", "--workers", count])

    assert result.exit_code == 2
    assert "--workers must be between 1 and 64" in result.output
    assert f"(got {count})" in result.output
