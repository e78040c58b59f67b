"""``dealbridge validate``: config, every mapping, and each mapping against the live field catalogs.

Catalog checks catch what YAML validation cannot: a source field that does not exist (renamed
in the CRM), a target field that is not writable, an enum value the target dropdown does not
offer. Every finding names file:line, key, and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connectors.base import FieldInfo
from connectors.errors import ConfigError, ConfigProblem, ConnectorError
from sync_jobs.config import AppConfig
from sync_jobs.connections import Connections
from sync_jobs.mapping import MappingSpec, load_mapping_spec
from sync_jobs.notes import NoteTemplates, template_location
from sync_jobs.yamlio import line_of, load_yaml


async def validate_all(
    config: AppConfig, connections: Connections, *, catalogs: bool = True
) -> list[ConfigProblem]:
    """Every problem found in the mappings of ``config`` (config itself already loaded)."""
    problems: list[ConfigProblem] = []
    specs: dict[str, MappingSpec] = {}
    for job in config.jobs:
        path = config.mapping_path(job)
        try:
            specs[job] = load_mapping_spec(path)
        except ConfigError as exc:
            problems += exc.problems
            continue
        folder, template = template_location(path.parent, specs[job].note.template)
        problems += NoteTemplates(specs[job].note.format).check(template, folder, str(path))
    problems += _note_agreement(config, specs)
    if catalogs:
        problems += await _catalog_checks(config, connections, specs)
    return problems


def _note_agreement(config: AppConfig, specs: dict[str, MappingSpec]) -> list[ConfigProblem]:
    found = []
    by_target: dict[str, tuple[str, Any]] = {}
    for job, spec in specs.items():
        target = config.jobs[job].target
        placement = (spec.note.field, spec.note.mode, spec.note.format)
        first = by_target.setdefault(target, (job, placement))
        if first[1] != placement:
            path = config.mapping_path(job)
            found.append(
                ConfigProblem(
                    str(path),
                    line_of(load_yaml(path), ("note",)),
                    "note",
                    f"note placement {placement} differs from job {first[0]}'s {first[1]} for the "
                    f"same target {target!r}",
                    "every job of one target keeps the note in one place",
                )
            )
    return found


async def _catalog_checks(
    config: AppConfig, connections: Connections, specs: dict[str, MappingSpec]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    cache: dict[str, list[FieldInfo] | None] = {}
    for job, spec in specs.items():
        job_config = config.jobs[job]
        path = config.mapping_path(job)
        doc = load_yaml(path)
        source = await _catalog(connections, job_config.source, "source", cache, problems, path)
        target = await _catalog(connections, job_config.target, "target", cache, problems, path)
        if source is not None:
            problems += _source_paths(spec, source, path, doc)
        if target is not None:
            problems += _target_fields(spec, target, path, doc)
    return problems


async def _catalog(
    connections: Connections,
    name: str,
    role: str,
    cache: dict[str, list[FieldInfo] | None],
    problems: list[ConfigProblem],
    path: Path,
) -> list[FieldInfo] | None:
    if name not in cache:
        try:
            connector: Any = (
                connections.source(name) if role == "source" else connections.target(name)
            )
            cache[name] = await connector.field_catalog()
        except ConnectorError as exc:
            cache[name] = None
            problems.append(
                ConfigProblem(
                    str(path),
                    None,
                    f"{role} {name}",
                    f"cannot read the field catalog: {exc}",
                    "check the connector's URL and credentials",
                )
            )
    return cache[name]


def _source_paths(
    spec: MappingSpec, catalog: Sequence[FieldInfo], path: Path, doc: Any
) -> list[ConfigProblem]:
    known = {f.path for f in catalog}
    found = []
    rules: list[tuple[tuple[str | int, ...], str | None]] = [
        (("terms", name, "from"), rule.from_) for name, rule in spec.terms.items()
    ]
    rules += [(("identity", i, "from"), rule.from_) for i, rule in enumerate(spec.identity)]
    for loc, source_path in rules:
        if source_path is None or source_path in known:
            continue
        close = difflib.get_close_matches(source_path, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "check the field's API name in the CRM"
        found.append(
            ConfigProblem(
                str(path),
                line_of(doc, loc),
                ".".join(map(str, loc)),
                f"source field {source_path!r} does not exist in the source's field catalog",
                hint,
            )
        )
    return found


def _target_fields(
    spec: MappingSpec, catalog: Sequence[FieldInfo], path: Path, doc: Any
) -> list[ConfigProblem]:
    by_path = {f.path: f for f in catalog}
    found = []
    for name in spec.write:
        loc = ("write", name)
        info = by_path.get(name)
        if info is None or not info.writable:
            close = difflib.get_close_matches(name, list(by_path), n=1, cutoff=0.6)
            what = "does not exist" if info is None else "is not writable"
            found.append(
                ConfigProblem(
                    str(path),
                    line_of(doc, loc),
                    f"write.{name}",
                    f"target field {name!r} {what}",
                    f"did you mean {close[0]!r}?"
                    if close
                    else "create the field in the service desk first",
                )
            )
            continue
        found += _choices(spec, name, info, path, doc)
    note = spec.note.field
    if note not in by_path:
        found.append(
            ConfigProblem(
                str(path),
                line_of(doc, ("note", "field")),
                "note.field",
                f"target field {note!r} does not exist",
                f"use one of: {', '.join(sorted(by_path)[:8])}",
            )
        )
    return found


def _choices(
    spec: MappingSpec, name: str, info: FieldInfo, path: Path, doc: Any
) -> list[ConfigProblem]:
    if not info.choices:
        return []
    rule = spec.write[name]
    term = spec.terms[rule.value]
    produced = set(term.values.values()) if term.values else set()
    if rule.map:
        produced = {rule.map.get(v, v) for v in produced} | set(rule.map.values())
    missing = sorted(v for v in produced if v not in info.choices)
    if not missing:
        return []
    return [
        ConfigProblem(
            str(path),
            line_of(doc, ("write", name)),
            f"write.{name}",
            f"value(s) {', '.join(map(repr, missing))} are not choices of the "
            f"target field (choices: {', '.join(info.choices)})",
            "add a 'map:' from canonical value to the target's choice",
        )
    ]
