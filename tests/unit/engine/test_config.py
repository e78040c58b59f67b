"""config.yaml validation: every problem at once, each with its line, key path and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.errors import ConfigError
from sync_jobs.config.app import load_config

GOOD = """
state:
  url: sqlite:///state.db
connectors:
  west:
    kind: salesforce
    base_url: https://acme.my.salesforce.com
    auth:
      flow: refresh_token
      client_id: app
      client_secret: ${SF_SECRET}
      refresh_token: file:{token_file}
  desk:
    kind: zendesk
    base_url: https://acme.zendesk.com
    email: bot@acme.example
    api_token: ${ZD_TOKEN}
jobs:
  west:
    source: west
    target: desk
    mapping: west.yaml
    territory: West
    schedule: {every: 5m}
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SF_SECRET", "sf-secret-value")
    monkeypatch.setenv("ZD_TOKEN", "zd-token-value")
    (tmp_path / "token").write_text("refresh-token-value\n")
    (tmp_path / "west.yaml").write_text("record: organization\n")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(text.replace("{token_file}", str(folder / "token")))
    return path


def test_a_valid_config_resolves_secret_references(folder: Path) -> None:
    config = load_config(write(folder, GOOD))
    west = config.connectors["west"]
    assert west.auth.client_secret.get_secret_value() == "sf-secret-value"  # type: ignore[attr-defined]
    assert west.auth.refresh_token.get_secret_value() == "refresh-token-value"  # type: ignore[attr-defined]
    assert config.mapping_path("west") == folder / "west.yaml"


def test_every_problem_is_reported_at_once_with_line_and_key(folder: Path) -> None:
    bad = (
        GOOD.replace("client_secret: ${SF_SECRET}", "client_secret: plain-text-secret")
        .replace("api_token: ${ZD_TOKEN}", "api_token: ${MISSING_TOKEN}")
        .replace("every: 5m", "every: soon")
    )
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, bad))
    problems = {p.key: p for p in caught.value.problems}
    inline = problems["connectors.west.auth.client_secret"]
    assert "inline secrets are refused" in inline.message
    assert inline.line == 11
    assert "MISSING_TOKEN is not set" in problems["connectors.desk.api_token"].message
    assert "not a duration" in problems["jobs.west.schedule.every"].message


def test_a_job_pointing_at_the_wrong_kind_of_connector_is_explained(folder: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, GOOD.replace("target: desk", "target: west")))
    (problem,) = caught.value.problems
    assert problem.key == "jobs.west.target"
    assert "'west' is a source, not a target" in problem.message


def test_an_unknown_connector_kind_lists_the_known_ones(folder: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, GOOD.replace("kind: salesforce", "kind: salesfroce")))
    (problem,) = caught.value.problems
    assert problem.key == "connectors.west.kind"
    assert "known: " in problem.message
    assert "salesforce" in problem.message


def test_a_misspelt_key_is_refused_with_a_suggestion(folder: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, GOOD.replace("state:", "stat:")))
    messages = " ".join(f"{p.key} {p.hint}" for p in caught.value.problems)
    assert "stat" in messages


def test_secrets_never_appear_in_config_errors(folder: Path) -> None:
    bad = GOOD.replace("base_url: https://acme.zendesk.com", "base_url: 12")
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, bad.replace("timeout", "x")))
    assert "zd-token-value" not in str(caught.value)
    assert "sf-secret-value" not in str(caught.value)


def test_environment_overrides_any_key(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALBRIDGE__STATE__URL", "postgresql://db.internal/dealbridge")
    monkeypatch.setenv("DEALBRIDGE__JOBS__WEST__ENABLED", "false")
    config = load_config(write(folder, GOOD))
    assert config.state.url == "postgresql://db.internal/dealbridge"
    assert config.jobs["west"].enabled is False
