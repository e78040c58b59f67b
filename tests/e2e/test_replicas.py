"""Several daemons on one PostgreSQL: each job run on one replica at a time, and a replica
killed mid-run (SIGKILL) is taken over from the committed state, with nothing lost or written
twice. Real processes, real servers on loopback, real PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML

from sandbox.ports import free_port, free_port_block
from sandbox.serve import served_ports
from sandbox.world import credentials, world_doc
from sync_jobs.store import tables as t
from sync_jobs.store.audit import unfold
from sync_jobs.store.db import migrate
from tests.stores import fresh_postgres

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.slow]
DEALBRIDGE = str(Path(sys.executable).parent / "dealbridge")
TARGET = "freshdesk"
JOBS = ("west", "emea", "apac")


SERVED_PORTS = max(served_ports(0).values()) + 1
"""How many ports in a row ``sandbox serve`` takes from its base port (one a vendor)."""
SERVE_TRIES = 3
"""Starts of ``sandbox serve`` on a new base port when one of its ports was taken between
the check and the bind (tests running beside this one open ports too)."""


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, **credentials(TARGET)}


def serve(tmp_path: Path, env: dict[str, str], base: int) -> subprocess.Popen[bytes] | None:
    """``sandbox serve`` from ``base``, once every simulator listens; None when one could
    not (a port taken meanwhile: the log, named by its base port, says which)."""
    command = [
        DEALBRIDGE,
        "sandbox",
        "serve",
        "--base-port",
        str(base),
        "--sheets",
        str(tmp_path / "apac-sheets"),
        "--latency",
        "0.1",
    ]
    with (tmp_path / f"sandbox-{base}.log").open("w") as log:  # the child keeps its own copy
        proc = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    deadline = time.monotonic() + 20
    while proc.poll() is None and time.monotonic() < deadline:
        if all(_listening(base + i) for i in range(SERVED_PORTS)):
            time.sleep(0.5)  # one of them may be another test's: then this one exits now
            if proc.poll() is None:
                return proc
        time.sleep(0.05)
    proc.kill()
    proc.wait(10)
    return None


@pytest.fixture
def served(tmp_path: Path, env: dict[str, str]) -> Iterator[int]:
    for _ in range(SERVE_TRIES):
        base = free_port_block(SERVED_PORTS)
        proc = serve(tmp_path, env, base)
        if proc is not None:
            break
    else:
        raise AssertionError(f"sandbox serve exited {SERVE_TRIES} times: see {tmp_path}")
    yield base
    proc.terminate()
    proc.wait(10)


def write_config(tmp_path: Path, url: str, base: int) -> Path:
    doc = world_doc(
        tmp_path,
        TARGET,
        state_url=url,
        base_urls={
            "salesforce_west": f"http://127.0.0.1:{base}",
            "hubspot_emea": f"http://127.0.0.1:{base + 1}",
            "freshdesk": f"http://127.0.0.1:{base + 3}",
        },
        fast=True,
    )
    for job in doc["jobs"].values():
        job["schedule"] = {"every": "1s", "jitter": "0s"}
    doc["engine"] = {"lease_ttl": "4s", "work_claim_timeout": "8s"}
    path = tmp_path / "config.yaml"
    with path.open("w") as handle:
        YAML().dump(doc, handle)
    return path


def start_daemon(
    config: Path, index: int, env: dict[str, str], tmp_path: Path
) -> subprocess.Popen[bytes]:
    command = [
        DEALBRIDGE,
        "--log-format",
        "json",
        "--log-level",
        "info",
        "daemon",
        "-c",
        str(config),
        "--health-port",
        str(free_port()),
    ]
    with (tmp_path / f"daemon-{index}.log").open("w") as log:  # the child keeps its own copy
        return subprocess.Popen(command, stdout=log, stderr=log, env=env)


def query(engine: sa.Engine, statement: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(statement))


def test_replicas_share_jobs_and_take_over_from_a_killed_one(
    tmp_path: Path, served: int, env: dict[str, str]
) -> None:
    with fresh_postgres() as url:
        config = write_config(tmp_path, url, served)
        migrate(url)  # the daemons migrate too (serialised); done here so polling can start
        daemons = [start_daemon(config, i, env, tmp_path) for i in range(3)]
        db = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            victim_pid, killed_at = _kill_the_replica_running_west(db, daemons)
            takeover = _wait_for_a_clean_west_run_after(db, killed_at)
            _wait_until_all_jobs_ran_after(db, killed_at)
            survivors = [d for d in daemons if d.pid != victim_pid]
            for proc in survivors:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(20) for proc in survivors]
            audit = Counter(
                (r.customer_key, r.field)
                for r in unfold(query(db, sa.select(t.audit)))
                if r.field != "description"
            )
            leftovers = query(db, sa.select(t.customer_work))
            open_runs = query(db, sa.select(t.sync_run).where(t.sync_run.c.status == "running"))
        finally:
            for proc in daemons:
                if proc.poll() is None:
                    proc.kill()
            db.dispose()
    assert codes == [0, 0], "SIGTERM: the survivors finished and exited cleanly"
    assert audit, "fields were written"
    assert set(audit.values()) == {1}, "no field was written twice"
    assert leftovers == [], "every customer's work was done"
    assert {int(r.replica.split("-")[-2]) for r in open_runs} <= {victim_pid}, (
        "only the killed replica's runs were left unfinished"
    )
    print(f"\ntakeover after SIGKILL: {takeover:.1f}s (lease ttl 4s)")  # noqa: T201


def _kill_the_replica_running_west(db: sa.Engine, daemons: list[Any]) -> tuple[int, float]:
    def running_holder() -> str | None:
        rows = query(
            db,
            sa.select(t.sync_run.c.status).where(
                t.sync_run.c.job == "west", t.sync_run.c.status == "running"
            ),
        )
        if not rows:
            return None
        lease = query(db, sa.select(t.lease.c.holder).where(t.lease.c.name == "job:west"))
        return lease[0].holder if lease else None

    holder = wait_for(running_holder, 60, "a replica to be running the west job")
    pid = int(holder.split("-")[-2])
    assert pid in {d.pid for d in daemons}
    ended = {d.pid: d.returncode for d in daemons if d.poll() is not None}
    assert not ended, f"replicas ended before the kill (pid: exit code; see daemon-*.log): {ended}"
    os.kill(pid, signal.SIGKILL)
    return pid, time.time()


def _wait_for_a_clean_west_run_after(db: sa.Engine, killed_at: float) -> float:
    def finished() -> float | None:
        rows = query(
            db,
            sa.select(t.sync_run.c.started_at).where(
                t.sync_run.c.job == "west", t.sync_run.c.status.in_(["ok", "record_errors"])
            ),
        )
        after = [r.started_at.timestamp() for r in rows if r.started_at.timestamp() > killed_at]
        return min(after) - killed_at if after else None

    return float(wait_for(finished, 60, "another replica to run west after the kill"))


def _wait_until_all_jobs_ran_after(db: sa.Engine, killed_at: float) -> None:
    def done() -> bool:
        for job in JOBS:
            rows = query(
                db,
                sa.select(t.sync_run.c.finished_at).where(
                    t.sync_run.c.job == job, t.sync_run.c.status.in_(["ok", "record_errors"])
                ),
            )
            if not any(r.finished_at and r.finished_at.timestamp() > killed_at + 1 for r in rows):
                return False
        return not query(db, sa.select(t.customer_work))

    wait_for(done, 60, "every job to run cleanly after the kill")
