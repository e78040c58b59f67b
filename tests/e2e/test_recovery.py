"""Recovering from a dead run, a failed record and a spent vendor budget, in process.

A dead holder's lease is taken over at once (and its claims released, its run closed); an
operator's run retries failed records now while the daemon's keep their back-off, and neither
exits 0 while a record still fails; a vendor's spent daily budget stops the job, alerts once,
and nothing asks the vendor again before the budget can answer.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox.controls import Fault
from sandbox.world import REPO_ROOT, SandboxWorld, build_world, credentials, world_doc
from sync_jobs.app.report import gather_status
from sync_jobs.config.app import parse_config
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import Engine, utcnow
from sync_jobs.run.progress import Progress
from sync_jobs.run.runner import RunReport, open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.liveness import start_time
from tests.e2e.test_crash_safety import Crash, crash_at

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]
TARGET = "freshdesk"
JOBS = ("west", "emea", "apac")
INVALID = {
    "description": "Validation failed",
    "errors": [{"field": "cf_payment_terms", "message": "It should be one of these values"}],
}


@dataclass
class Recorder:
    """A progress sink that keeps every report."""

    seen: list[Progress] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def update(self, progress: Progress) -> None:
        self.seen.append(progress)

    def finished(self, job: str) -> None:
        self.done.append(job)


@dataclass
class Box:
    world: SandboxWorld
    config: Any
    engine: Engine
    connections: Connections

    async def run(self, job: str, *, explicit: bool = True) -> RunReport:
        return await run_job(self.engine, self.connections, job, retry_now=explicit)

    async def restart(self, *, replica: str | None = None, later: timedelta | None = None) -> None:
        await self.connections.aclose()
        await self.engine.store.dispose()
        self.engine = await open_engine(self.config)
        if replica is not None:
            self.engine.replica_id = replica
        if later is not None:
            self.engine.clock = shifted(later)
        self.connections = Connections(self.config.connectors, self.world.transports())

    def desk_puts(self) -> int:
        return int(self.world.desk.controls.count("PUT"))

    def sim(self, name: str) -> Any:
        return self.world.simulators[name]

    async def rows(self, table: sa.Table, *where: Any) -> list[Any]:
        async with read_tx(self.engine.store) as conn:
            return list(await conn.execute(sa.select(table).where(*where)))


def shifted(delta: timedelta) -> Callable[[], datetime]:
    return lambda: utcnow() + delta


@pytest.fixture
async def box(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Box]:
    for name, value in credentials(TARGET).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DEALBRIDGE_TEST_WEBHOOK_SECRET", "whsec_dGVzdC1zZWNyZXQtZm9yLWFsZXJ0cw")
    world = build_world(tmp_path, TARGET, fast=True)
    doc = world_doc(tmp_path, TARGET, fast=True)
    doc["engine"] = {"max_attempts": 3}
    doc["alerts"] = {
        "channels": {
            "hook": {
                "type": "webhook",
                "url": "http://receiver.test/hook",
                "secret": "${DEALBRIDGE_TEST_WEBHOOK_SECRET}",
            }
        },
        "routes": [{"channels": ["hook"]}],
    }
    config = parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)
    engine = await open_engine(config)
    box = Box(world, config, engine, Connections(config.connectors, world.transports()))
    yield box
    await box.connections.aclose()
    await box.engine.store.dispose()


def fail_next_company_write(box: Box, times: int = 1, company: str = "") -> None:
    """Freshdesk refuses the next ``times`` company updates (of ``company``, or any)."""
    path = f"/companies/{company}" if company else "/companies/"
    box.world.desk.controls.inject(
        Fault(status=400, body=INVALID, method="PUT", path_contains=path, times=times)
    )


# -- a dead run -------------------------------------------------------------------------------


def ended_process() -> tuple[int, str | None]:
    """The pid and start time of a process of this host that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = start_time(proc.pid)
    proc.wait()
    return proc.pid, started


async def test_a_dead_runs_lease_and_claims_are_taken_over_at_once(box: Box) -> None:
    await box.restart(replica="doomed-run")
    box.engine.checkpoint = crash_at("after_claim")
    with pytest.raises(Crash):  # stands in for SIGKILL: the lease and claims stay behind
        await box.run("west")
    pid, started = ended_process()
    async with write_tx(box.engine.store) as conn:  # ... held by a process that is gone
        await conn.execute(
            sa.update(t.lease)
            .where(t.lease.c.holder == "doomed-run")
            .values(pid=pid, pid_started=started)
        )
    claimed = await box.rows(t.customer_work, t.customer_work.c.status == "doing")
    assert claimed
    assert {r.claimed_by for r in claimed} == {"doomed-run"}

    await box.restart()  # no clock shift: neither the lease nor the claims have expired
    report = await box.run("west")

    assert report.status == "ok", report.errors
    assert any(
        f"previous run (pid {pid} on " in n and "died at or after" in n and "taking over" in n
        for n in report.notices
    ), report.notices
    assert "skipped" not in report.notices[0]
    assert await box.rows(t.customer_work) == [], "the dead run's customers were written now"
    statuses = {r.replica: r.status for r in await box.rows(t.sync_run)}
    assert statuses["doomed-run"] == "died"


async def test_a_live_run_is_not_taken_over(box: Box) -> None:
    await box.restart(replica="busy-run")
    box.engine.checkpoint = crash_at("after_claim")
    with pytest.raises(Crash):  # this test's own process still "holds" it: alive
        await box.run("west")
    await box.restart()
    report = await box.run("west")
    assert report.status == "skipped"
    assert report.notices[0].startswith("job west is running on pid ")


# -- failed records ---------------------------------------------------------------------------


async def test_an_explicit_run_retries_a_failed_record_at_once(box: Box) -> None:
    fail_next_company_write(box)
    first = await box.run("west")
    assert first.status == "record_errors"
    assert first.exit_code == 1
    assert any("cf_payment_terms" in e for e in first.errors)

    puts = box.desk_puts()
    again = await box.run("west")  # seconds later, well inside the 30-second back-off
    assert box.desk_puts() == puts + 1, "the failed record was written again, now"
    assert again.status == "ok", again.errors
    assert any("retrying 1 failed customer(s) now" in n for n in again.notices)
    assert again.exit_code == 0
    assert await box.rows(t.customer_work) == []


async def test_a_daemon_run_keeps_the_back_off_but_does_not_pass_for_clean(box: Box) -> None:
    fail_next_company_write(box)
    await box.run("west")
    puts = box.desk_puts()
    report = await box.run("west", explicit=False)
    assert box.desk_puts() == puts, "the daemon's retry waits for its back-off"
    assert report.status == "record_errors", "a record of the job still fails"
    assert report.counts["records_still_failing"] == 1
    assert any("still failing after 1 attempt(s), next try" in e for e in report.errors)
    assert any("cf_payment_terms" in e for e in report.errors), "with the last error"


async def test_a_record_failing_every_time_is_quarantined_and_keeps_the_exit_code_1(
    box: Box,
) -> None:
    fail_next_company_write(box)
    assert (await box.run("west")).status == "record_errors"
    (failed,) = await box.rows(t.customer_work)
    fail_next_company_write(box, times=2, company=failed.customer_key.split(":")[1])
    for _ in range(2):  # max_attempts: 3
        assert (await box.run("west")).status == "record_errors"
    parked = await box.rows(t.customer_work, t.customer_work.c.status == "dead")
    assert len(parked) == 1
    puts = box.desk_puts()
    report = await box.run("west")
    assert box.desk_puts() == puts, "a quarantined record is not retried on its own"
    assert report.exit_code == 1
    key = parked[0].customer_key
    assert any(f"dealbridge quarantine retry {key}" in e for e in report.errors)


async def test_status_lists_failing_records_with_their_last_error(box: Box) -> None:
    fail_next_company_write(box)
    await box.run("west")
    data = await gather_status(box.config)
    (item,) = data["failing"]
    assert item["target"] == TARGET
    assert item["state"] == "retrying"
    assert item["attempts"] == 1
    assert item["name"], "named as the agent knows the customer"
    assert "cf_payment_terms" in item["last_error"]
    assert item["next_try"] > utcnow()


# -- a vendor's daily budget ------------------------------------------------------------------


async def budget_alerts(box: Box) -> list[Any]:
    rows = await box.rows(t.outbox)
    return [r for r in rows if r.payload.get("kind") == "budget_exhausted"]


async def test_a_spent_salesforce_allocation_stops_the_job_alerts_once_and_waits(box: Box) -> None:
    salesforce = box.sim("salesforce_west")
    salesforce.set_api_usage(5000, 5000)
    asked = salesforce.controls.count()

    first = await box.run("west")
    assert first.status == "budget_exhausted"
    assert first.exit_code == 1
    assert any("tried again at" in e and "24 hours" in e for e in first.errors), first.errors
    assert salesforce.controls.count() - asked <= 2, "one refused query (after the login)"

    asked = salesforce.controls.count()
    second = await box.run("west")
    assert second.status == "waiting"
    assert "salesforce_west's 24-hour API allocation until" in second.notices[0]
    assert salesforce.controls.count() == asked, "not asked again before it can succeed"
    assert (await box.run("emea")).status == "ok", "other vendors' jobs go on"

    data = await gather_status(box.config)
    (hold,) = data["waiting"]
    assert (hold["connector"], hold["jobs"]) == ("salesforce_west", ["west"])
    assert len(await budget_alerts(box)) == 1

    await box.restart(later=timedelta(hours=1, minutes=1))
    third = await box.run("west")  # the recheck time: asked again, still spent
    assert third.status == "budget_exhausted"
    assert len(await budget_alerts(box)) == 1, "one alert for the whole episode"

    salesforce.set_api_usage(0, 5000)
    await box.restart(later=timedelta(hours=2, minutes=2))
    fourth = await box.run("west")
    assert fourth.status == "ok", fourth.errors
    assert (await gather_status(box.config))["waiting"] == []
    phases = sorted(r.payload.get("phase") for r in await budget_alerts(box))
    assert phases == ["closed", "opened"], "and one to say it is over"


async def test_a_spent_hubspot_daily_budget_is_the_same_hold(box: Box) -> None:
    hubspot = box.sim("hubspot_emea")
    hubspot.daily_used = hubspot.daily_limit
    first = await box.run("emea")
    assert first.status == "budget_exhausted"
    assert any("daily" in e for e in first.errors)
    asked = hubspot.controls.count()
    second = await box.run("emea")
    assert second.status == "waiting"
    assert hubspot.controls.count() == asked
    assert (await box.run("west")).status == "ok"


# -- progress ---------------------------------------------------------------------------------


async def test_a_run_reports_its_progress_as_pages_and_batches_commit(box: Box) -> None:
    recorder = Recorder()
    box.engine.progress = recorder
    reports = {job: await box.run(job) for job in JOBS}
    assert recorder.done == list(JOBS)
    for job, report in reports.items():
        mine = [p for p in recorder.seen if p.job == job]
        assert mine[-1].phase == "done"
        assert mine[-1].deals_read == report.counts.get("deals_read", 0)
        assert mine[-1].customers_written == report.counts.get("customers_written", 0)
        for before, after in pairwise(mine):
            assert after.deals_read >= before.deals_read
            assert after.customers_written >= before.customers_written
    first = [p for p in recorder.seen if p.job == "west"]
    assert first[0].phase == "index"
    assert first[0].export_pages >= 1, "the desk's export pages"
    assert {"read", "write"} <= {p.phase for p in first}
    assert first[-1].deals_mapped >= 1
