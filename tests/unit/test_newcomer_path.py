"""What a new user meets first: the README's commands, the shipped config's examples, and
output that can be read (note diffs, conflict ids)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from sandbox.world import REPO_ROOT, all_credentials
from sync_jobs.app.cli import app
from sync_jobs.app.report import conflicts_table, print_preview
from sync_jobs.config.app import load_config
from sync_jobs.run.context import CustomerPreview

README = REPO_ROOT / "README.md"


def readme_command(number: int) -> str:
    done = subprocess.run(
        [str(REPO_ROOT / ".ci" / "readme-command"), str(number)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_ci_runs_the_readme_test_command_as_written() -> None:
    command = readme_command(2)
    assert command in README.read_text().splitlines()
    assert command.endswith(".venv/bin/python -m pytest -q")
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "$(.ci/readme-command 2)" in ci
    assert 'bash -c "$test_command"' in ci
    assert "pytest" not in ci.replace(".venv/bin/python -m pytest", ""), "no second test command"


def test_the_readme_test_command_installs_every_extra_the_suite_needs() -> None:
    extras = re.search(r"-e '\.\[([\w,]+)\]'", readme_command(2))
    assert extras is not None
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert set(extras.group(1).split(",")) == set(pyproject["project"]["optional-dependencies"])


def runnable_lines() -> list[tuple[str, str]]:
    """Every command line in the bash blocks of the README and the docs."""
    found: list[tuple[str, str]] = []
    for doc in [README, REPO_ROOT / "mappings" / "README.md", *REPO_ROOT.glob("docs/*.md")]:
        blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", doc.read_text(), re.DOTALL)
        for block in blocks:
            for line in block.splitlines():
                code = line.split(" #", 1)[0]
                commands = re.split(r"&&|\|\||;|\||&(?!&)", code)
                found.extend((doc.name, c.strip()) for c in commands if c.strip())
    return found


def test_runnable_snippets_call_the_venv_s_dealbridge() -> None:
    lines = runnable_lines()
    assert any("dealbridge" in command for _doc, command in lines)
    bare = [(doc, c) for doc, c in lines if c.split()[0] == "dealbridge"]
    assert bare == [], "without the venv on PATH this is 'command not found'"


def test_the_alert_example_in_config_yaml_validates_once_uncommented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in all_credentials().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/example")
    monkeypatch.setenv("SMTP_PASSWORD", "smtp-password-for-tests")
    head, marker, section = (REPO_ROOT / "config.yaml").read_text().partition("\nalerts:\n")
    assert marker, "config.yaml has an alerts: section"
    uncommented = re.sub(r"(?m)^(\s*)# ", r"\1", section)
    assert uncommented != section, "the section has commented examples"
    (tmp_path / "config.yaml").write_text(head + marker + uncommented)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")

    result = CliRunner().invoke(app, ["validate", "--offline", "-c", str(tmp_path / "config.yaml")])

    assert result.exit_code == 0, result.output
    alerts = load_config(tmp_path / "config.yaml").alerts
    assert set(alerts.channels) == {"service-leads", "owners-mail"}
    assert len(alerts.routes) == 3
    assert alerts.base_url == "https://dealbridge.internal.example"


NOTE = (
    "Key account.\n\n=== dealbridge: special terms - do not edit inside this block ===\n"
    "Special terms: 2 active deal(s), updated 2026-11-22\n"
    "- 10% discount; payment Net 60 | EMEA | HubSpot 9001\n"
    "- 15% discount; payment Net 60; SLA: Dedicated CSM | West | Salesforce 0065g00000WEST01\n"
    "=== end dealbridge ==="
)


def shown(preview: CustomerPreview, *, full: bool) -> str:
    console = Console(width=80, record=True)
    print_preview(console, preview, full_notes=full)
    return console.export_text()


def test_a_note_change_inside_the_block_shows_as_a_line_diff() -> None:
    changed = NOTE.replace("10% discount", "12% discount")

    text = shown(
        CustomerPreview("organization:1", "Acme", [("notes", NOTE, changed)], []), full=False
    )

    assert "- │ - 10% discount; payment Net 60 | EMEA | HubSpot 9001" in text
    assert "+ │ - 12% discount; payment Net 60 | EMEA | HubSpot 9001" in text
    assert "  │ - 15% discount" in text, "the unchanged neighbour is context"
    assert "Key account." not in text, "far lines are left out of a run's report"


def test_a_dry_run_shows_the_whole_note_around_the_change() -> None:
    changed = NOTE.replace("10% discount", "12% discount")
    text = shown(
        CustomerPreview("organization:1", "Acme", [("notes", NOTE, changed)], []), full=True
    )
    assert "  │ Key account." in text
    assert "  │ === end dealbridge ===" in text


def test_a_change_only_in_whitespace_is_visible() -> None:
    changed = NOTE.replace("HubSpot 9001\n", "HubSpot 9001  \n").replace("Net 60;", "Net\t60;")

    text = shown(
        CustomerPreview("organization:1", "Acme", [("notes", NOTE, changed)], []), full=False
    )

    assert "+ │ - 10% discount; payment Net 60 | EMEA | HubSpot 9001··" in text
    assert "+ │ - 15% discount; payment Net→60; SLA" in text


def test_conflict_ids_are_never_cut_at_80_columns() -> None:
    rows = [
        SimpleNamespace(
            id=123456,
            kind="territory_disagreement",
            status="open",
            customer_key="organization:90000000000012345",
            field="organization_fields.special_discount",
            details={"summary": "territories differ on the discount: 10 (EMEA) vs 15 (West)"},
            last_seen=datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
        ),
        SimpleNamespace(
            id=7,
            kind="unmatched",
            status="open",
            customer_key=None,
            field=None,
            details={"deal": "apac/APAC-2026-0001234567", "summary": "no record"},
            last_seen=datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
        ),
    ]
    console = Console(width=80, record=True)
    console.print(conflicts_table(rows))
    text = console.export_text()

    assert "…" not in text
    assert column(text, "id") == ["123456", "7"]
    assert column(text, "record") == [
        "organization:90000000000012345",
        "dealapac/APAC-2026-0001234567",  # folded lines joined (the space falls at a fold)
    ]


def column(table: str, header: str) -> list[str]:
    """One column's cells, each row's folded lines joined back together without spaces."""
    lines = table.splitlines()
    head = next(line for line in lines if f" {header} " in line)
    index = [part.strip() for part in re.split(r"[┃│]", head)].index(header)
    cells: list[str] = []
    for line in lines[lines.index(head) + 2 :]:
        parts = [part.strip() for part in line.split("│")]
        if len(parts) <= index:
            continue
        if parts[1]:  # the id column has text again: a new row
            cells.append("")
        cells[-1] += parts[index].replace(" ", "")
    return cells
