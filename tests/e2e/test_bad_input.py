"""No traceback for any input: every config, mapping and template problem is a file:line error
with exit 2 from ``validate`` and ``run``, never carries a secret, and stops only its own job."""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from connectors.settings import ConnectorConfig
from sandbox.world import REPO_ROOT, all_credentials, build_world, credentials, write_world_config
from sync_jobs.app import cli
from sync_jobs.run.connections import Connections

pytestmark = pytest.mark.e2e
runner = CliRunner()
INLINE_SECRET = "Zq81vXw3Lr5NsTy7Kp2"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped config.yaml and mappings, with the sandbox's credentials set."""
    for name, value in all_credentials().items():
        monkeypatch.setenv(name, value)
    shutil.copy(REPO_ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    return tmp_path


def validate(config: Path, *extra: str) -> Result:
    return runner.invoke(cli.app, ["validate", "--offline", "-c", str(config), *extra])


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1))


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def assert_clean_exit_2(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert "Traceback" not in result.output
    assert "internal error" not in result.output
    return result.output.replace("\n", "")


def test_a_cron_out_of_range_is_refused_at_its_line(folder: Path) -> None:
    config = folder / "config.yaml"
    edit(config, "schedule: {every: 15m}", 'schedule: {cron: "61 * * * *"}')

    for result in (validate(config), runner.invoke(cli.app, ["run", "all", "-c", str(config)])):
        output = assert_clean_exit_2(result)
        assert f"{config}:{line_of(config, '61 * * * *')} jobs.apac.schedule.cron" in output
        assert "higher than the maximum value (59)" in output


def test_a_cron_that_can_never_fire_is_refused(folder: Path) -> None:
    config = folder / "config.yaml"
    edit(config, "schedule: {every: 15m}", 'schedule: {cron: "0 0 31 2 *"}')
    assert "never fires" in assert_clean_exit_2(validate(config))


def test_a_mapping_with_bytes_that_are_not_utf8_names_the_line(folder: Path) -> None:
    mapping = folder / "mappings" / "apac-spreadsheet.yaml"
    lines = mapping.read_bytes().split(b"\n")
    lines[9] = lines[9].replace(b"Deal Name", b"Deal \xe9 Name")  # Latin-1, as Excel saves
    mapping.write_bytes(b"\n".join(lines))

    output = assert_clean_exit_2(validate(folder / "config.yaml"))

    assert f"{mapping}:10: not UTF-8 text: byte 0xe9" in output
    assert "save the file as UTF-8" in output


def test_a_config_that_is_not_utf8_names_the_line(folder: Path) -> None:
    config = folder / "config.yaml"
    config.write_bytes(config.read_bytes().replace(b"territory: West", b"territory: W\xffst"))
    output = assert_clean_exit_2(validate(config))
    line = line_of_bytes(config, b"W\xffst")
    assert f"{config}:{line}: not UTF-8 text" in output


def line_of_bytes(path: Path, needle: bytes) -> int:
    return next(i for i, line in enumerate(path.read_bytes().split(b"\n"), 1) if needle in line)


def test_a_directory_instead_of_a_file_is_an_error_not_a_crash(folder: Path) -> None:
    output = assert_clean_exit_2(validate(folder))
    assert f"{folder}: is a directory, not a file" in output

    config = folder / "config.yaml"
    edit(config, "mapping: mappings/apac-spreadsheet.yaml", "mapping: mappings/freshdesk")
    output = assert_clean_exit_2(validate(config))
    assert f"{config}:{line_of(config, 'mappings/freshdesk')} jobs.apac.mapping" in output
    assert "is a directory, not a mapping file" in output


def test_a_mapping_name_too_long_for_the_file_system_is_reported_at_its_line(
    folder: Path,
) -> None:
    config = folder / "config.yaml"
    too_long = "mappings/" + "w" * 300 + ".yaml"  # past NAME_MAX (255) on every file system
    edit(config, "mapping: mappings/apac-spreadsheet.yaml", f"mapping: {too_long}")
    output = assert_clean_exit_2(validate(config))
    assert f"{config}:{line_of(config, too_long)} jobs.apac.mapping" in output
    assert "cannot be read" in output
    assert "internal error" not in output


def test_a_missing_note_template_is_reported_at_its_line(folder: Path) -> None:
    mapping = folder / "mappings" / "west-salesforce.yaml"
    edit(mapping, "template: templates/deal-line.j2", "template: templates/deal-lines.j2")

    output = assert_clean_exit_2(validate(folder / "config.yaml"))

    assert f"{mapping}:{line_of(mapping, 'deal-lines.j2')} note.template" in output
    assert "'templates/deal-lines.j2' not found" in output


def test_a_template_with_a_syntax_error_is_reported_at_the_mapping_line(folder: Path) -> None:
    (folder / "mappings" / "templates" / "deal-line.j2").write_text("{{ deal.name \n")
    mapping = folder / "mappings" / "west-salesforce.yaml"
    output = assert_clean_exit_2(validate(folder / "config.yaml"))
    assert f"{mapping}:{line_of(mapping, 'template:')} note.template" in output


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DEALBRIDGE__ENGINE__MAX_ATTEMPTS", "many", "engine.max_attempts: Input should be"),
        ("DEALBRIDGE__ENGINE__MAX_ATTEMPTS", "[1, 2", "engine.max_attempts: Input should be"),
        ("DEALBRIDGE__STATE__URL__HOST", "db", "state.url is a value, not a section"),
        ("DEALBRIDGE__JOBS__WEST__SCHEDULE__CRON", "* * *", "Wrong number of fields"),
    ],
)
def test_a_bad_environment_override_names_its_variable(
    folder: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    output = assert_clean_exit_2(validate(folder / "config.yaml"))
    assert f"environment variable {name}" in output
    assert says in output


def test_an_override_holding_an_inline_secret_does_not_repeat_it(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEALBRIDGE__CONNECTORS__ZENDESK__API_TOKEN", INLINE_SECRET)
    output = assert_clean_exit_2(validate(folder / "config.yaml"))
    assert "inline secrets are refused" in output
    assert INLINE_SECRET not in output


@pytest.mark.parametrize(
    "duplicate",
    [
        # a key twice in one section, the inline secret first
        ("    api_token: ${DEALBRIDGE_ZENDESK_TOKEN}\n", f"    api_token: {INLINE_SECRET}\n"),
        # a whole section twice: ruamel's message quoted both sections in full
        ("  zendesk:\n", f"  zendesk: {{kind: zendesk, api_token: {INLINE_SECRET}}}\n"),
    ],
)
def test_a_duplicate_key_names_the_key_and_line_without_the_values(
    folder: Path, duplicate: tuple[str, str]
) -> None:
    config = folder / "config.yaml"
    anchor, inserted = duplicate
    edit(config, anchor, inserted + anchor)

    output = assert_clean_exit_2(validate(config))

    assert "appears twice" in output
    assert re.search(rf"{re.escape(str(config))}:\d+: the key '(api_token|zendesk)'", output)
    assert INLINE_SECRET not in output


def test_a_secret_pasted_under_another_key_is_not_repeated(folder: Path) -> None:
    config = folder / "config.yaml"
    edit(config, "schedule: {every: 5m}", f"schedule: {{every: {INLINE_SECRET}}}")
    output = assert_clean_exit_2(validate(config))
    assert "jobs.west.schedule.every" in output
    assert INLINE_SECRET not in output


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("  url: sqlite:///.dealbridge/state.db", "  url: [sqlite]", "state.url"),
        ("    territory: West", "    territory: {name: West}", "jobs.west.territory"),
        ("  routes:\n", "  routes: {every: day}\n", "alerts.routes"),
    ],
)
def test_wrong_types_are_file_line_errors(folder: Path, old: str, new: str, key: str) -> None:
    config = folder / "config.yaml"
    edit(config, old, new)
    output = assert_clean_exit_2(validate(config))
    assert re.search(rf"{re.escape(str(config))}:\d+ {re.escape(key)}", output), output


def test_run_all_with_one_broken_mapping_runs_the_other_jobs_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    shutil.copytree(REPO_ROOT / "mappings", tmp_path / "mappings")
    world = build_world(tmp_path, "zendesk", fast=True)
    config = write_world_config(
        tmp_path / "config.yaml", tmp_path, "zendesk", fast=True, mappings=tmp_path / "mappings"
    )
    monkeypatch.setattr(cli, "Connections", functools.partial(_routed, world.transports()))
    broken = tmp_path / "mappings" / "apac-spreadsheet.yaml"
    broken.write_bytes(broken.read_bytes().replace(b"Deal Name", b"Deal \xff Name"))

    result = runner.invoke(cli.app, ["run", "all", "-c", str(config)])

    output = assert_clean_exit_2(result)
    assert "apac: not run" in output
    assert f"{broken}:" in output
    assert "west: ok" in output
    assert "emea: ok" in output
    assert "customers_written=" in output, "emea, now the last job of the desk, wrote"


def _routed(
    transports: dict[str, httpx.AsyncBaseTransport],
    configs: dict[str, ConnectorConfig],
    budget_shares: Mapping[str, float] | None = None,
) -> Connections:
    return Connections(configs, transports, budget_shares=budget_shares or {})


def test_every_file_a_hint_names_exists() -> None:
    """Hints send admins to files; a hint naming a file that is not there is a dead end."""
    named = set()
    for source in [*REPO_ROOT.glob("sync_jobs/**/*.py"), *REPO_ROOT.glob("connectors/**/*.py")]:
        for match in re.finditer(
            r"\b((?:mappings|docs|deploy)/[\w./-]+\.(?:yaml|md|j2))", source.read_text()
        ):
            named.add(match.group(1))
    assert named, "the scan found no file names at all"
    missing = sorted(name for name in named if not (REPO_ROOT / name).is_file())
    assert missing == []


def test_a_state_store_that_cannot_be_opened_is_a_file_line_error_from_run(folder: Path) -> None:
    config = folder / "config.yaml"
    (folder / "not-a-folder").write_text("a file where the store's folder should be")
    edit(config, "sqlite:///.dealbridge/state.db", "sqlite:///not-a-folder/state.db")

    output = assert_clean_exit_2(runner.invoke(cli.app, ["run", "all", "-c", str(config)]))

    assert f"{config}:{line_of(config, 'not-a-folder')} state.url: the state store cannot" in output


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("file:~no_such_user_here/token", "cannot find the home folder"),
        ("file:{folder}", "Is a directory"),
        ("file:{folder}/latin1-token", "is not UTF-8 text"),
    ],
)
def test_a_secret_file_that_cannot_be_read_is_a_file_line_error(
    folder: Path, reference: str, says: str
) -> None:
    (folder / "latin1-token").write_bytes(b"t\xf6ken")
    config = folder / "config.yaml"
    edit(config, "${DEALBRIDGE_ZENDESK_TOKEN}", reference.format(folder=folder))
    output = assert_clean_exit_2(validate(config))
    assert f"{config}:{line_of(config, 'api_token:')} connectors.zendesk.api_token" in output
    assert says in output
