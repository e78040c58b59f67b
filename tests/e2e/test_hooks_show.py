"""``dealbridge hooks show``: each job's webhook URLs and vendor-side setup, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from sandbox.world import credentials, world_doc
from sync_jobs.app.cli import app

pytestmark = pytest.mark.e2e
runner = CliRunner()
SECRET = "org-shared-key-that-must-not-print"


def test_hooks_show_prints_each_jobs_urls_and_setup_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TEST_OM_KEY", SECRET)
    doc = world_doc(tmp_path, "zendesk")
    doc["connectors"]["salesforce_west"]["webhook"] = {
        "secret": "${TEST_OM_KEY}",
        "organization_id": "00D5e000000KQ2eEAG",
    }
    doc["jobs"]["apac"]["enabled"] = False
    config = tmp_path / "config.yaml"
    with config.open("w", encoding="utf-8") as handle:
        YAML().dump(doc, handle)

    result = runner.invoke(
        app, ["hooks", "show", "-c", str(config), "--public-url", "https://db.example.com"]
    )

    assert result.exit_code == 0, result.output
    out = result.output
    assert SECRET not in out
    assert "https://db.example.com/hooks/emea" in out
    assert "https://db.example.com/hooks/west?key=<the secret webhook.secret references>" in out
    assert "https://db.example.com/hooks/west/desk" in out
    assert "X-HubSpot-Signature-v3" in out
    assert "Outbound Messages" in out
    assert "[paused" in out
    west = out[out.index("west: ") :]
    assert "ready: webhook.secret, webhook.organization_id set" in west
