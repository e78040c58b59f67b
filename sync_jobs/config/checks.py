"""The checks a job's mapping passes before the job may run, without any request.

One function, used by ``dealbridge validate``, by ``dealbridge run`` before it starts a job,
and by the daemon at start and on every reload, so the four can never disagree: the mapping
file reads and validates, its note template exists and compiles, and its ``select`` is in the
form its source takes. A job whose mapping fails stops alone; the others run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from connectors.errors import ConfigError, ConfigProblem
from connectors.registry import UnknownConnectorKind, get_spec
from sync_jobs.config.app import AppConfig
from sync_jobs.config.yamlio import line_of, load_yaml, parse_yaml
from sync_jobs.domain.mapping import MappingSpec, parse_mapping_spec
from sync_jobs.domain.notes import NoteTemplates, template_location


@dataclass(frozen=True)
class CheckedMapping:
    """A job's mapping that passed every offline check, with the document it came from."""

    spec: MappingSpec
    path: Path
    doc: Any
    """The parsed YAML (line numbers for later findings, such as the catalog check)."""


def check_job(config: AppConfig, job: str) -> CheckedMapping:
    """The job's mapping, or a ConfigError listing every problem with file:line."""
    path = config.mapping_path(job)
    return _check_document(config, job, path, load_yaml(path))


def check_job_text(config: AppConfig, job: str, text: str) -> CheckedMapping:
    """:func:`check_job` on an edited mapping not yet saved (the console's editor), with
    line numbers of ``text`` and the mapping's own path (its template resolves from there)."""
    path = config.mapping_path(job)
    return _check_document(config, job, path, parse_yaml(text, str(path)))


def _check_document(config: AppConfig, job: str, path: Path, doc: Any) -> CheckedMapping:
    spec = parse_mapping_spec(doc, path)
    problems = template_problems(spec, path, doc)
    problems += select_problems(config, job, spec, path, doc)
    if problems:
        raise ConfigError(problems)
    return CheckedMapping(spec, path, doc)


def template_problems(spec: MappingSpec, path: Path, doc: Any) -> list[ConfigProblem]:
    """The note template exists, reads as UTF-8 and compiles in the sandbox."""
    line = line_of(doc, ("note", "template")) if spec.note.template else None
    try:
        folder, template = template_location(path.parent, spec.note.template)
    except (OSError, ValueError) as exc:  # e.g. a NUL byte in the name
        return [
            ConfigProblem(
                str(path),
                line,
                "note.template",
                f"note template {spec.note.template!r} is not a usable path ({exc})",
                "give a path relative to this mapping, e.g. templates/deal-line.j2",
            )
        ]
    found = NoteTemplates(spec.note.format).check(
        template, folder, str(path), line, spec.note.template
    )
    return [replace(p, line=p.line or line) for p in found]


def select_problems(
    config: AppConfig, job: str, spec: MappingSpec, path: Path, doc: Any
) -> list[ConfigProblem]:
    """The mapping's ``select`` in the form its source takes (each source's spec says which)."""
    if spec.select is None:
        return []
    kind = config.connectors[config.jobs[job].source].kind
    try:
        form = get_spec(kind).select
    except UnknownConnectorKind:
        return []  # config.yaml's own check already said so
    line = line_of(doc, ("select",))
    if form is None:
        return [
            ConfigProblem(
                str(path),
                line,
                "select",
                f"{kind} sources take no select",
                "remove it; keep only the deals you want with active_when (see mappings/README.md)",
            )
        ]
    problem = form.check(spec.select)
    if problem is None:
        return []
    return [
        ConfigProblem(
            str(path),
            line,
            "select",
            f"select for {kind}: {problem}",
            f"{kind}'s select is {form.language}, e.g. {form.example} (see mappings/README.md)",
        )
    ]
