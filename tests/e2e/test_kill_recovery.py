"""SIGKILL a real ``dealbridge run`` or ``dealbridge daemon`` mid-write; what is started within
5 seconds takes over at once (no lease or claim to wait out), finishes the work, and writes no
record twice. Real processes in their own process groups, simulators served on loopback ports
the kernel picked, a SQLite state file; writes are counted on the simulators.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML

from sandbox.ports import free_port
from sandbox.spreadsheet import write_demo_sheets
from sandbox.world import REPO_ROOT, build_world, credentials, world_doc
from sync_jobs.config.app import load_config
from sync_jobs.domain.notes import BLOCK_START
from sync_jobs.run.connections import Connections
from sync_jobs.run.runner import open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.audit import unfold
from tests.e2e.test_crash_safety import desk_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
DEALBRIDGE = str(Path(sys.executable).parent / "dealbridge")
JOBS = ("west", "emea", "apac")
RESTART_WITHIN = 5.0
LATENCY = 0.15
"""Each simulator answer takes this long: a run lasts long enough to be killed mid-write."""
STALL = 3.0
"""A desk's second write is held this long: a loaded machine that notices the first write late
still kills the run mid-write (the premise each test asserts)."""


@dataclass
class Served:
    """The simulators' processes and ports."""

    ports: dict[str, int]

    def writes(self, vendor: str) -> list[str]:
        answer = httpx.get(f"http://127.0.0.1:{self.ports['control']}/writes", timeout=5)
        return list(answer.json()[vendor])


@dataclass
class Timings:
    killed_at: float
    restarted_at: float
    took_over_at: float

    def line(self, what: str) -> str:
        return (
            f"{what}: restarted {self.restarted_at - self.killed_at:.2f}s after SIGKILL, "
            f"took over {self.took_over_at - self.killed_at:.2f}s after SIGKILL"
        )


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, **credentials("zendesk"), **credentials("freshdesk")}


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[Served]:
    command = [
        sys.executable,
        "-m",
        "tests.e2e.served",
        "--latency",
        str(LATENCY),
        "--stall",
        str(STALL),
    ]
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


def write_config(folder: Path, target: str, served: Served) -> Path:
    write_demo_sheets(folder / "apac-sheets")
    ports = served.ports
    doc = world_doc(
        folder,
        target,
        fast=True,
        base_urls={
            "salesforce_west": f"http://127.0.0.1:{ports['salesforce']}",
            "hubspot_emea": f"http://127.0.0.1:{ports['hubspot']}",
            target: f"http://127.0.0.1:{ports[target]}",
        },
    )
    for job in doc["jobs"].values():
        job["schedule"] = {"every": "1h", "jitter": "0s"}  # only the start-up runs
    path = folder / "config.yaml"
    with path.open("w") as handle:
        YAML().dump(doc, handle)
    return path


def launch(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A dealbridge process in its own process group (so a kill takes all of it)."""
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [DEALBRIDGE, *args], stdout=out, stderr=out, env=env, start_new_session=True
        )


def kill_group(proc: subprocess.Popen[bytes]) -> float:
    os.killpg(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait(10)
    return killed_at


def store(folder: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///{folder / 'state.db'}")


def rows(db: sa.Engine, statement: Any) -> list[Any]:
    with db.connect() as conn:
        return list(conn.execute(statement))


def reference(
    folder: Path, target: str, jobs: tuple[str, ...], *, together: bool = False
) -> tuple[dict[str, Any], int]:
    """The desk after one clean, uninterrupted run of ``jobs`` (in process), and its writes:
    one after another, or ``together`` as ``run all`` does (all read, the last one writes)."""

    async def go() -> tuple[dict[str, Any], int]:
        world = build_world(folder, target, fast=True)
        engine = await open_engine(world.config)
        connections = Connections(world.config.connectors, world.transports())
        for job in jobs:
            await run_job(engine, connections, job, write=not together or job == jobs[-1])
        state = await desk_state(connections, target)
        writes = sum(1 for r in world.desk.controls.requests if r.method != "GET")
        await connections.aclose()
        await engine.store.dispose()
        return state, writes

    return asyncio.run(go())


def served_desk(config: Path, target: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        connections = Connections(load_config(config).connectors)
        try:
            return await desk_state(connections, target)
        finally:
            await connections.aclose()

    return asyncio.run(go())


def run_in_process(config: Path, job: str) -> Any:
    """One more run against the served simulators, without another process's start-up."""

    async def go() -> Any:
        cfg = load_config(config)
        engine = await open_engine(cfg)
        connections = Connections(cfg.connectors)
        try:
            return await run_job(engine, connections, job)
        finally:
            await connections.aclose()
            await engine.store.dispose()

    return asyncio.run(go())


def fields_written_once(db: sa.Engine, note_field: str) -> None:
    audit = Counter(
        (r.customer_key, r.field)
        for r in unfold(rows(db, sa.select(t.audit)))
        if r.field != note_field
    )
    assert audit, "fields were written"
    assert set(audit.values()) == {1}, "no field was written twice"


def same_desk_up_to_order(state: dict[str, Any], *references: dict[str, Any]) -> None:
    """Every field holds what one of the clean references holds.

    The daemon starts every job at once, so which territory's deal reaches a customer first is
    a race (and a kill leaves some customers written with one territory's deals only). Where
    territories disagree, the field keeps the last agreed value: the first territory's when
    its deal was written alone (jobs one after another), nothing when the deals arrived
    together (``run all``). Both are right; any other value is not."""
    for reference in references:
        assert state.keys() == reference.keys()
    for name, fields in state.items():
        for field, value in fields.items():
            allowed = [reference[name].get(field) for reference in references]
            assert value in allowed, f"{name} {field}: {value!r}, references {allowed!r}"


def one_note_each(state: dict[str, Any], note_field: str) -> None:
    for name, fields in state.items():
        assert str(fields.get(note_field) or "").count(BLOCK_START) <= 1, f"{name}: one note"


NOTE_FIELD = {"zendesk": "notes", "freshdesk": "description"}


@pytest.mark.parametrize("target", ["freshdesk", "zendesk"])
def test_a_run_killed_mid_write_is_finished_by_a_rerun_at_once(
    tmp_path: Path, served: Served, env: dict[str, str], target: str, monkeypatch: Any
) -> None:
    for name, value in credentials(target).items():
        monkeypatch.setenv(name, value)
    expected, clean_writes = reference(tmp_path / "reference", target, ("west",))
    config = write_config(tmp_path, target, served)
    command = ["run", "west", "-c", str(config)]

    first = launch(command, tmp_path / "first.log", env)
    wait_for(lambda: served.writes(target) or first.poll() is not None, 60, "the first write")
    assert first.poll() is None, "premise: the run is still writing when it is killed"
    killed_at = kill_group(first)
    db = store(tmp_path)
    (held,) = rows(db, sa.select(t.lease).where(t.lease.c.name == "job:west"))
    assert held.pid == first.pid, "premise: the dead run still holds the job's lease"
    assert rows(db, sa.select(t.sync_run).where(t.sync_run.c.status == "running"))

    second = launch(command, tmp_path / "second.log", env)
    restarted_at = time.time()
    code = second.wait(60)
    output = (tmp_path / "second.log").read_text()
    (run,) = rows(
        db,
        sa.select(t.sync_run).where(
            t.sync_run.c.replica.like(f"%-{second.pid}-%"), t.sync_run.c.job == "west"
        ),
    )
    timings = Timings(killed_at, restarted_at, run.started_at.timestamp())  # lease taken

    assert code == 0, output
    assert f"previous run (pid {first.pid} on" in output, output
    assert "taking over" in output
    assert "skipped" not in output
    assert "nothing to do" not in output
    assert timings.restarted_at - killed_at < RESTART_WITHIN
    assert rows(db, sa.select(t.customer_work)) == [], "the work is finished"
    state = served_desk(config, target)
    assert state == expected
    assert len(served.writes(target)) <= clean_writes, "no record was written twice"
    fields_written_once(db, NOTE_FIELD[target])
    one_note_each(state, NOTE_FIELD[target])
    before = len(served.writes(target))
    assert run_in_process(config, "west").status == "ok"
    assert len(served.writes(target)) == before, "converged: a further run writes nothing"
    db.dispose()
    print(f"\n{timings.line(f'dealbridge run ({target})')}")  # noqa: T201


def test_a_killed_daemon_is_replaced_at_once_and_runs_every_job(
    tmp_path: Path, served: Served, env: dict[str, str], monkeypatch: Any
) -> None:
    target = "freshdesk"
    for name, value in credentials(target).items():
        monkeypatch.setenv(name, value)
    expected, _clean = reference(tmp_path / "reference", target, JOBS)
    together, _writes = reference(tmp_path / "together", target, JOBS, together=True)
    config = write_config(tmp_path, target, served)

    def daemon(log: str) -> subprocess.Popen[bytes]:  # the default log level: no --log-level
        args = ["daemon", "-c", str(config), "--health-port", str(free_port())]
        return launch(args, tmp_path / log, env)

    first = daemon("first.log")
    wait_for(lambda: served.writes(target) or first.poll() is not None, 60, "the first write")
    assert first.poll() is None, "premise: the daemon is writing when it is killed"
    killed_at = kill_group(first)
    db = store(tmp_path)
    (lease,) = rows(db, sa.select(t.lease).where(t.lease.c.name == "daemon"))
    assert lease.pid == first.pid, "premise: the dead daemon still holds the SQLite file"

    second = daemon("second.log")
    restarted_at = time.time()

    def daemon_lease_is_ours() -> float | None:
        (row,) = rows(db, sa.select(t.lease).where(t.lease.c.name == "daemon"))
        return time.time() if row.pid == second.pid else None

    try:
        took_over_at = wait_for(
            lambda: second.poll() is None and daemon_lease_is_ours(), 20, "the takeover"
        )
        timings = Timings(killed_at, restarted_at, took_over_at)

        def every_job_ran() -> bool:
            finished = rows(
                db,
                sa.select(t.sync_run.c.job).where(
                    t.sync_run.c.replica.like(f"%-{second.pid}-%"),
                    t.sync_run.c.status.in_(["ok", "record_errors"]),
                ),
            )
            return {r.job for r in finished} == set(JOBS) and not rows(
                db, sa.select(t.customer_work)
            )

        wait_for(every_job_ran, 60, "every job to run at once (the schedule says every 1h)")
    finally:
        second.send_signal(signal.SIGTERM)
        code = second.wait(30)
    output = (tmp_path / "second.log").read_text()
    assert code == 0, output
    assert f"previous daemon (pid {first.pid} on" in output, output
    assert "another dealbridge daemon" not in output, "not refused: no restart loop"
    finished = [line for line in output.splitlines() if "run_finished" in line]
    assert {job for job in JOBS if any(f"job={job}" in line for line in finished)} == set(JOBS)
    assert all("status=" in line and "seconds=" in line for line in finished)
    dead_runs = rows(db, sa.select(t.sync_run).where(t.sync_run.c.replica.like(f"%-{first.pid}-%")))
    assert {r.status for r in dead_runs} <= {"died", "ok", "record_errors"}, "none left running"
    state = served_desk(config, target)
    same_desk_up_to_order(state, expected, together)
    fields_written_once(db, NOTE_FIELD[target])
    one_note_each(state, NOTE_FIELD[target])
    assert timings.restarted_at - killed_at < RESTART_WITHIN
    db.dispose()
    print(f"\n{timings.line('dealbridge daemon (freshdesk)')}")  # noqa: T201
