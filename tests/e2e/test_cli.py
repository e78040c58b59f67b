"""The ``dealbridge`` command as a user meets it: exit codes and what it prints."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from sandbox.world import REPO_ROOT, credentials
from sync_jobs.app.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()


@pytest.fixture(autouse=True)
def _sandbox_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for target in ("zendesk", "freshdesk"):
        for name, value in credentials(target).items():
            monkeypatch.setenv(name, value)


def test_the_demo_shows_what_the_agent_sees(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["demo", "--target", "freshdesk", "--state-dir", str(tmp_path / "demo")]
    )
    assert result.exit_code == 0, result.output
    assert "What the agent sees on Acme Corporation" in result.output
    assert "=== dealbridge: special terms" in result.output
    assert "write requests to freshdesk: 0" in result.output


def test_validate_offline_accepts_the_shipped_config() -> None:
    result = runner.invoke(app, ["validate", "--offline", "-c", str(REPO_ROOT / "config.yaml")])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output


def test_a_bad_config_exits_2_naming_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.yaml"
    bad.write_text(
        (REPO_ROOT / "config.yaml").read_text().replace("kind: salesforce", "kind: salesfroce")
    )
    result = runner.invoke(app, ["validate", "--offline", "-c", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:" in result.output.replace("\n", "")
    assert "connectors.salesforce_west.kind" in result.output


def test_an_unknown_job_exits_2() -> None:
    result = runner.invoke(app, ["run", "nosuchjob", "-c", str(REPO_ROOT / "config.yaml")])
    assert result.exit_code == 2
    assert "unknown job" in result.output


def test_status_deals_and_conflicts_read_the_store_after_a_run(tmp_path: Path) -> None:
    import asyncio

    from sandbox.world import build_world, write_world_config
    from sync_jobs.run.connections import Connections
    from sync_jobs.run.runner import open_engine, run_job

    world = build_world(tmp_path, "freshdesk", fast=True)
    config = write_world_config(tmp_path / "config.yaml", tmp_path, "freshdesk", fast=True)

    async def sync() -> None:
        engine = await open_engine(world.config)
        connections = Connections(world.config.connectors, world.transports())
        for job in ("west", "emea", "apac"):
            await run_job(engine, connections, job)
        await connections.aclose()
        await engine.store.dispose()

    asyncio.run(sync())
    status = runner.invoke(app, ["status", "--json", "-c", str(config)])
    assert status.exit_code == 0, status.output
    assert '"open_conflicts"' in status.output
    deal = runner.invoke(app, ["deals", "show", "APAC-17", "-c", str(config)])
    assert deal.exit_code == 0
    assert "apac/APAC-17" in deal.output
    assert "discount_percent: 12.5" in deal.output
    conflicts = runner.invoke(app, ["conflicts", "list", "--open", "-c", str(config)])
    assert "ambiguous" in conflicts.output
    missing = runner.invoke(app, ["deals", "show", "nope", "-c", str(config)])
    assert missing.exit_code == 1
