"""The layers of ``sync_jobs`` depend on each other in one direction only (see
docs/architecture.md, "Where the code lives"): only the store speaks SQL, the store needs no
domain logic, and the domain does no I/O through the store or the run machinery."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sync_jobs"


def imports_of(path: Path) -> set[str]:
    """Every module a file imports at run time (imports only for type checking excluded)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


def offenders(layers: list[str], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    found = {}
    for layer in layers:
        for path in modules(layer):
            bad = sorted(m for m in imports_of(path) if m.startswith(forbidden))
            if bad:
                found[str(path.relative_to(PACKAGE.parent))] = bad
    return found


@pytest.mark.parametrize("layer", ["app", "run", "domain", "config", "alerts"])
def test_only_the_store_imports_sqlalchemy(layer: str) -> None:
    assert offenders([layer], ("sqlalchemy",)) == {}


def test_the_store_needs_nothing_from_the_domain_the_runs_or_the_shell() -> None:
    assert offenders(["store"], ("sync_jobs.domain", "sync_jobs.run", "sync_jobs.app")) == {}


def test_the_domain_reaches_no_store_run_alerts_or_shell() -> None:
    forbidden = ("sync_jobs.store", "sync_jobs.run", "sync_jobs.app", "sync_jobs.alerts")
    assert offenders(["domain"], forbidden) == {}


def test_the_stages_never_see_the_run_they_belong_to() -> None:
    for name in ("stage1.py", "stage2.py", "lookups.py", "recheck.py"):
        source = (PACKAGE / "run" / name).read_text(encoding="utf-8")
        assert "JobRun" not in source, name
