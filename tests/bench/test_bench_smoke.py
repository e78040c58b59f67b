"""The benchmark suite at smoke sizes: every scenario still runs end to end and the things
that are correctness, not speed, hold (no timing is asserted here: figures live in
bench/results.md, produced by ``python -m bench``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_every_scenario_runs_and_writes_the_table_and_the_plot(tmp_path: Path) -> None:
    env = os.environ | {"DEALBRIDGE_BENCH_PORT": "8831"}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = (tmp_path / "results.md").read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()}
    for scenario in (
        "backfill",
        "requests per record (Salesforce -> Zendesk)",
        "no-op re-run",
        "1% change",
        "local overhead",
        "memory",
        "versus the in-house script",
        "freshness",
    ):
        assert scenario in rows, f"{scenario} missing from results.md"
    assert rows["no-op re-run"].endswith("| yes |"), rows["no-op re-run"]
    assert rows["1% change"].endswith("| yes |"), rows["1% change"]
    assert "240 records (240 record writes)" in rows["backfill"], "each customer written once"
    assert "3 edits" in rows["freshness"], "every edit reached its note through the daemon"
    assert (tmp_path / "throughput.png").stat().st_size > 1000
