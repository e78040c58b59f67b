"""Each source's ``select`` form: documented with an example, and checked by ``validate`` (and
before a run) at the select's line, saying which form that source takes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from connectors.registry import get_spec, known_kinds
from sandbox.world import REPO_ROOT, all_credentials
from sync_jobs.app import cli
from sync_jobs.config.app import load_config
from sync_jobs.run.runner import compile_mappings

pytestmark = pytest.mark.e2e
runner = CliRunner()
SOURCES = [kind for kind in known_kinds() if get_spec(kind).role == "source"]


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, value in all_credentials().items():
        monkeypatch.setenv(name, value)
    shutil.copy(REPO_ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    return tmp_path


def add_select(mapping: Path, line: str) -> int:
    """Put ``line`` right after ``record:``; return its line number."""
    lines = mapping.read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("record:")) + 1
    lines = [text for text in lines if not text.startswith("select:")]
    lines.insert(at, line)
    mapping.write_text("\n".join(lines) + "\n")
    return at + 1


def validate(folder: Path) -> str:
    result = runner.invoke(cli.app, ["validate", "--offline", "-c", str(folder / "config.yaml")])
    assert result.exit_code in (0, 2), result.output
    return result.output.replace("\n", "") if result.exit_code == 2 else ""


def test_a_hubspot_select_written_the_salesforce_way_is_refused_with_the_hubspot_form(
    folder: Path,
) -> None:
    mapping = folder / "mappings" / "emea-hubspot.yaml"
    line = add_select(mapping, 'select: "has_special_terms = true"')

    output = validate(folder)

    assert f"{mapping}:{line} select: select for hubspot: it is a SOQL-style condition" in output
    assert (
        'select: \'{"filters": [{"propertyName": "has_special_terms", "operator": "EQ", '
        '"value": "true"}]}\'' in output
    ), "the fix is the admin's own condition in HubSpot's form"
    assert "hubspot's select is HubSpot search filters as JSON" in output


def test_the_same_refusal_stops_the_job_before_a_run(folder: Path) -> None:
    add_select(folder / "mappings" / "emea-hubspot.yaml", 'select: "has_special_terms = true"')
    mappings, broken = compile_mappings(load_config(folder / "config.yaml"))
    assert set(broken) == {"emea"}
    assert set(mappings) == {"west", "apac"}, "the other jobs still run"


def test_hubspot_json_that_is_not_filters_is_refused_with_the_example(folder: Path) -> None:
    mapping = folder / "mappings" / "emea-hubspot.yaml"
    line = add_select(mapping, """select: '{"dealstage": "closedwon"}'""")
    output = validate(folder)
    assert f"{mapping}:{line} select: select for hubspot: it must be a list of filters" in output
    assert "e.g. select: '" in output


def test_a_salesforce_select_in_hubspot_json_is_refused_with_the_soql_form(
    folder: Path,
) -> None:
    mapping = folder / "mappings" / "west-salesforce.yaml"
    line = add_select(
        mapping,
        """select: '{"filters": [{"propertyName": "x", "operator": "EQ", "value": "1"}]}'""",
    )
    output = validate(folder)
    assert f"{mapping}:{line} select: select for salesforce: it looks like HubSpot's" in output
    assert "a SOQL condition on the Opportunity" in output


def test_a_salesforce_select_starting_with_where_is_refused(folder: Path) -> None:
    mapping = folder / "mappings" / "west-salesforce.yaml"
    line = add_select(mapping, 'select: "WHERE Has_Special_Terms__c = true"')
    assert f"{mapping}:{line} select: select for salesforce: it starts with WHERE" in validate(
        folder
    )


def test_a_spreadsheet_takes_no_select(folder: Path) -> None:
    mapping = folder / "mappings" / "apac-spreadsheet.yaml"
    line = add_select(mapping, 'select: "Stage = Won"')
    output = validate(folder)
    assert f"{mapping}:{line} select: spreadsheet sources take no select" in output
    assert "active_when" in output


@pytest.mark.parametrize("kind", [k for k in SOURCES if get_spec(k).select is not None])
def test_each_source_s_documented_example_passes_its_own_check(kind: str) -> None:
    form = get_spec(kind).select
    assert form is not None
    example = YAML(typ="safe").load(form.example)["select"]
    assert form.check(example) is None


@pytest.mark.parametrize("kind", SOURCES)
def test_the_admin_docs_show_each_source_s_select_form_with_its_example(kind: str) -> None:
    readme = (REPO_ROOT / "mappings" / "README.md").read_text()
    section = readme[readme.index("### Select") :]
    section = section[: section.index("\n### ", 4)]
    form = get_spec(kind).select
    if form is None:
        assert re.search(rf"{kind}.*no select", section, re.IGNORECASE), section
    else:
        assert form.example in section, f"{kind}'s example is not in mappings/README.md"


def test_the_shipped_selects_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in all_credentials().items():
        monkeypatch.setenv(name, value)
    assert validate(REPO_ROOT) == ""
