"""Admins edit a mapping in the browser: problems at their line as validate reports them, a
dry-run preview for one customer, and a save that is atomic, kept, audited and reloadable."""

from __future__ import annotations

import re
from collections.abc import Callable

from sync_jobs.app.web.mapping_files import save_atomically
from sync_jobs.run.context import utcnow
from tests.console.conftest import ConsoleWorld, token_in
from tests.console.testclient import TestClient

DISCOUNT_LINE = "  discount_percent: {from: Special_Discount__c, type: percent}"


def _broken(text: str) -> tuple[str, int]:
    """The mapping with a term of a type that does not exist, and that term's line."""
    lines = text.split("\n")
    number = next(i for i, line in enumerate(lines, start=1) if line == DISCOUNT_LINE)
    lines[number - 1] = DISCOUNT_LINE.replace("type: percent", "type: percentage")
    return "\n".join(lines), number


def _globex(client: TestClient) -> str:
    """A customer only the West territory sells to (the edited mapping decides alone)."""
    found = re.search(r"(organization:\d+)\">Globex", client.get("/customers?q=globex").text)
    assert found is not None
    return found.group(1)


def test_a_problem_is_shown_at_its_line_as_validate_reports_it(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("ada")
    page = admin.get("/mappings/west")
    original = console_world.mapping("west").read_text()
    text, line = _broken(original)
    answer = admin.post(
        "/mappings/west/check",
        data={"csrf": token_in(page.text), "text": text},
        headers={"x-fragment": "1", "x-csrf-token": token_in(page.text)},
    )
    assert answer.status_code == 200
    assert f'data-line="{line}"' in answer.text
    assert f"line {line}: terms.discount_percent.type: Input should be" in answer.text


def test_a_valid_edit_previews_the_changes_for_a_customer_as_a_dry_run(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("ada")
    page = admin.get("/mappings/west")
    original = console_world.mapping("west").read_text()
    edited = original.replace("{value: sla,", "{value: approved_by,")
    answer = admin.post(
        "/mappings/west/check",
        data={"csrf": token_in(page.text), "text": edited, "customer": _globex(admin)},
    )
    assert "Valid." in answer.text
    assert "Preview for organization:" in answer.text
    preview = answer.text[answer.text.index('<div id="preview">') :]
    assert "<code>organization_fields.sla_promise</code>" in preview
    assert "The note as the agent would read it" in preview
    assert console_world.mapping("west").read_text() == original, "a preview writes nothing"


def test_saving_replaces_the_file_keeps_a_backup_and_is_audited(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("ada")
    path = console_world.mapping("west")
    original = path.read_text()
    edited = original.replace("# Edited by admins.", "# Edited by admins (and the console).")
    page = admin.get("/mappings/west")
    saved = admin.post(
        "/mappings/west", data={"csrf": token_in(page.text), "text": edited.replace("\n", "\r\n")}
    )
    assert saved.status_code == 200
    assert "Saved" in saved.text
    assert path.read_text() == edited, "the browser's CRLF lines are saved as the file's LF"
    (backup,) = path.parent.glob(f"{path.name}.bak-*")
    assert backup.read_text() == original
    assert "mapping_saved" in admin.get("/changes").text
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))


def test_an_invalid_mapping_is_never_saved(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("ada")
    path = console_world.mapping("west")
    original = path.read_text()
    text, line = _broken(original)
    page = admin.get("/mappings/west")
    answer = admin.post("/mappings/west", data={"csrf": token_in(page.text), "text": text})
    assert answer.status_code == 422
    assert f'data-line="{line}"' in answer.text
    assert path.read_text() == original
    assert not list(path.parent.glob(f"{path.name}.bak-*"))


def test_yaml_that_does_not_parse_is_reported_at_its_line(
    console_world: ConsoleWorld, signed_in: Callable[[str], TestClient]
) -> None:
    admin = signed_in("ada")
    page = admin.get("/mappings/west")
    answer = admin.post(
        "/mappings/west/check",
        data={"csrf": token_in(page.text), "text": "record: organization\nterms: [unclosed\n"},
    )
    assert "problem(s)" in answer.text
    assert 'data-line="' in answer.text or "line-problem" in answer.text


def test_an_atomic_save_leaves_no_temporary_file_and_the_old_text_kept(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    target = folder / "m.yaml"
    target.write_text("old\n")
    backup = save_atomically(target, "new\n", utcnow())
    assert target.read_text() == "new\n"
    assert backup is not None
    assert backup.read_text() == "old\n"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["m.yaml", backup.name])
