"""The daemon in process: metrics scraped and parsed, reloads validated, clean shutdown, and
one daemon per SQLite file."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from sandbox.ports import free_port
from sandbox.world import REPO_ROOT, SandboxWorld, build_world, credentials, write_world_config
from sync_jobs.app.daemon import Daemon, DaemonOptions
from sync_jobs.store import tables as t
from sync_jobs.store.db import make_engine, read_tx

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
TARGET = "freshdesk"


@dataclass
class Running:
    daemon: Daemon
    world: SandboxWorld
    config: Path
    port: int
    task: asyncio.Task[int]

    async def get(self, path: str) -> httpx.Response:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}") as client:
            return await client.get(path)


async def wait_until_up(port: int, task: asyncio.Task[int]) -> None:
    for _ in range(100):
        if task.done():
            return
        try:
            async with httpx.AsyncClient() as client:
                await client.get(f"http://127.0.0.1:{port}/healthz")
                return
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    raise AssertionError("the health server did not start within 5 s")


async def first_runs_done(daemon: Daemon) -> None:
    """Wait (up to 30 s) until the daemon's start-up run of every job has finished."""
    async with asyncio.timeout(30):
        while True:
            engine = daemon.engine
            jobs = set(engine.config.jobs) if engine is not None else set()
            finished = {j for j, h in daemon.health.items() if h.last_status != "never run"}
            if jobs and finished >= jobs and not daemon._running:
                return
            await asyncio.sleep(0.05)


def start(daemon: Daemon) -> asyncio.Task[int]:
    return asyncio.create_task(daemon.run())


@pytest.fixture
async def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    for name, value in credentials(TARGET).items():
        monkeypatch.setenv(name, value)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    world = build_world(tmp_path, TARGET, fast=True)
    config = write_world_config(
        tmp_path / "config.yaml", tmp_path, TARGET, fast=True, mappings=tmp_path / "mappings"
    )
    port = free_port()
    daemon = Daemon(
        config,
        DaemonOptions(
            health_port=port,
            transports=world.transports(),
            reload_every=3600,
            dispatch_every=3600,
            drain_seconds=5,
        ),
    )
    task = start(daemon)
    await wait_until_up(port, task)
    await first_runs_done(daemon)
    yield Running(daemon, world, config, port, task)
    daemon.stop()
    await asyncio.wait_for(task, 15)


async def test_the_daemon_runs_every_job_once_at_start(running: Running) -> None:
    engine = running.daemon.engine
    assert engine is not None
    async with read_tx(engine.store) as conn:
        runs = list(await conn.execute(sa.select(t.sync_run.c.job, t.sync_run.c.status)))
    assert sorted(r.job for r in runs) == ["apac", "emea", "west"], "each once, no interval waited"
    assert {r.status for r in runs} <= {"ok", "record_errors"}


async def test_metrics_are_served_in_prometheus_format(running: Running) -> None:
    await running.daemon.run_once("apac")
    response = await running.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    runs = {
        (s.labels["job"], s.labels["status"]): s.value
        for s in families["dealbridge_runs"].samples
        if s.name.endswith("_total")
    }
    assert runs[("apac", "ok")] == 2, "the start-up run and this one"
    assert "dealbridge_run_duration_seconds" in families
    assert "dealbridge_cursor_lag_seconds" in families
    http = families["dealbridge_http_requests"].samples
    assert any(s.labels["connector"] == TARGET for s in http)


async def test_health_and_readiness(running: Running) -> None:
    assert (await running.get("/healthz")).json() == {"status": "alive"}
    await running.daemon.check_connectors()
    ready = await running.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["store"] is True
    assert body["connectors"]["freshdesk"]["ok"] is True
    assert body["connectors"]["salesforce_west"]["ok"] is True


async def test_an_invalid_mapping_edit_keeps_the_old_version_running(running: Running) -> None:
    mapping = running.config.parent / "mappings" / TARGET / "apac-spreadsheet.yaml"
    engine = running.daemon.engine
    assert engine is not None
    before = engine.mappings["apac"]
    good = mapping.read_text()
    mapping.write_text(good.replace("type: percent", "type: percentage"))
    with capture_logs() as logs:
        await running.daemon._check_reload()
    assert engine.mappings["apac"] is before, "the broken edit was not swapped in"
    refused = [e for e in logs if e["event"] == "reload_refused"]
    assert "terms.discount_percent.type" in str(refused[0]["problems"])
    await running.daemon.run_once("apac")
    assert running.daemon.health["apac"].last_status == "ok", "still runs on the old mapping"
    mapping.write_text(good.replace("max: 20", "max: 25"))
    await running.daemon._check_reload()
    assert engine.mappings["apac"] is not before
    assert engine.mappings["apac"].spec.guardrails["discount_percent"].max == 25


async def test_a_second_daemon_on_the_same_sqlite_file_is_refused(running: Running) -> None:
    second = Daemon(
        running.config,
        DaemonOptions(health_port=free_port(), transports=running.world.transports()),
    )
    with capture_logs() as logs:
        code = await asyncio.wait_for(second.run(), 10)
    assert code == 3
    assert "another dealbridge daemon" in str(logs)


@pytest.mark.parametrize("taken", ["--health-port", "--web-port"])
async def test_a_port_in_use_stops_the_daemon_before_any_job_runs_and_names_the_option(
    running: Running, taken: str
) -> None:
    # uvicorn called sys.exit(3) from inside its task when it could not open its port: the
    # daemon died a moment after starting its jobs, with the exit code of a second daemon.
    in_use = running.port  # the running daemon's health port
    options = (
        DaemonOptions(health_port=in_use, transports=running.world.transports())
        if taken == "--health-port"
        else DaemonOptions(
            health_port=free_port(), web_port=in_use, transports=running.world.transports()
        )
    )
    second = Daemon(running.config, options)
    with capture_logs() as logs:
        code = await asyncio.wait_for(second.run(), 10)
    assert code == 2
    refused = [e for e in logs if e["event"] == "port_unavailable"]
    assert len(refused) == 1
    assert f"{taken}: cannot listen on 127.0.0.1:{in_use}" in refused[0]["error"]
    assert second.engine is None, "stopped before opening the store or starting a job"
    assert (await running.get("/healthz")).status_code == 200, "the first daemon still serves"


async def test_stopping_mid_run_commits_what_is_in_hand_and_exits_promptly(
    running: Running,
) -> None:
    running.world.desk.controls.latency = 0.2  # a slow desk: the run is still going
    run = asyncio.create_task(running.daemon.run_once("west"))
    await asyncio.sleep(0.5)
    running.daemon.stop()
    await asyncio.wait_for(asyncio.gather(run, running.task), 10)
    assert running.task.result() == 0
    engine = running.daemon.engine
    assert engine is not None
    store = make_engine(engine.config.state.url)  # the daemon disposed of its own
    async with read_tx(store) as conn:
        statuses = [r.status for r in await conn.execute(sa.select(t.sync_run.c.status))]
        doing = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(t.customer_work)
                .where(t.customer_work.c.status == "doing")
            )
        ).scalar()
    assert statuses
    assert "running" not in statuses, "the run recorded its end"
    assert doing == 0, "no customer was left claimed"
    await store.dispose()


async def test_a_job_whose_vendor_budget_is_spent_is_skipped_until_it_resets(
    running: Running,
) -> None:
    salesforce = running.world.simulators["salesforce_west"]
    salesforce.set_api_usage(5000, 5000)
    await running.daemon.run_once("west")
    assert running.daemon.health["west"].last_status == "budget_exhausted"
    assert running.daemon.health["west"].failures == 0, "no failure back-off: the hold decides"
    asked = salesforce.controls.count()
    with capture_logs() as logs:
        await running.daemon.run_once("west")
    assert salesforce.controls.count() == asked, "the vendor is not asked before the reset"
    waiting = running.daemon.health["west"].last_status
    assert waiting.startswith("waiting: salesforce_west's 24-hour API allocation until")
    (line,) = [e for e in logs if e["event"] == "run_finished"]
    assert (line["status"], line["reason"]) == ("waiting", waiting)
    ready = (await running.get("/readyz")).json()
    assert ready["jobs"]["west"] == waiting, "readiness says why the job does not run"
    await running.daemon.run_once("emea")
    assert running.daemon.health["emea"].last_status == "ok", "other vendors' jobs go on"
