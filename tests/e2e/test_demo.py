"""``dealbridge demo`` into every registered desk, and with the other registered territories:
the story's every step behaves as narrated (budgets lifted, so it runs in seconds)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from connectors.registry import demo_targets
from sandbox.world import all_credentials, default_territories, territories
from sync_jobs.app.cli import app
from sync_jobs.app.demo import run_demo

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


@pytest.fixture(autouse=True)
def _credentials_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo exports its demo credentials; the test's monkeypatch puts them back after."""
    for name, value in all_credentials().items():
        monkeypatch.setenv(name, value)


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=120), out


@pytest.mark.parametrize("target", demo_targets())
async def test_the_demo_runs_the_three_territories_into_each_desk(
    tmp_path: Path, target: str
) -> None:
    console, out = _console()
    assert await run_demo(console, target, tmp_path / "demo", fast=True) == 0
    text = out.getvalue()
    assert f"{len(default_territories())} territories -> {target}" in text
    assert "What the agent sees on Acme Corporation" in text
    assert f"write requests to {target}: 0 (nothing changed)" in text
    assert "held for review" in text, "the agent's edit is held, not overwritten"
    assert "territory_disagreement" in text


async def test_the_demo_takes_every_registered_territory(tmp_path: Path) -> None:
    console, out = _console()
    jobs = [*territories()]
    assert await run_demo(console, "servicenow", tmp_path / "demo", jobs, fast=True) == 0
    text = out.getvalue()
    assert f"{len(jobs)} territories -> servicenow" in text
    for job in set(jobs) - set(default_territories()):
        assert f"  {job}: ok" in text, job
    assert "write requests to servicenow: 0 (nothing changed)" in text


def test_an_unknown_target_or_territory_exits_2_naming_the_known_ones(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--target", "nodesk", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    for target in demo_targets():
        assert target in result.output
    result = runner.invoke(app, ["demo", "--territories", "atlantis", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown territory atlantis" in result.output
    assert "nordics" in result.output
