"""``dealbridge validate``: config, every mapping, and each mapping against the live field catalogs.

Catalog checks catch what YAML validation cannot: a source field that does not exist (renamed
in the CRM), a target field that is not writable, an enum value the target dropdown does not
offer. Every finding names file:line, key, and what to do.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.base import FieldInfo
from connectors.errors import ConfigError, ConfigProblem, ConnectorError
from sync_jobs.config.app import AppConfig
from sync_jobs.config.checks import CheckedMapping, check_job
from sync_jobs.config.yamlio import line_of
from sync_jobs.domain.mapping import MappingSpec
from sync_jobs.run import catalog as catalogs_store
from sync_jobs.run.catalog import Catalog, write_field_problems
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import utcnow
from sync_jobs.store.db import StoreError, make_engine, migrate_async

NOT_VERIFIED = "target fields not verified (offline, no cached catalog)"


@dataclass
class Validation:
    """What ``validate`` found: problems (exit 2) and plain notices about what it could not
    check (printed, exit 0)."""

    problems: list[ConfigProblem] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


async def validate_all(
    config: AppConfig, connections: Connections, *, catalogs: bool = True
) -> Validation:
    """Every problem found in the mappings of ``config`` (config itself already loaded).

    Online, each connector's field catalog is fetched (and each target's kept in the state
    store); offline, write fields are checked against the kept catalogs, or a notice says
    plainly that they were not verified."""
    found = Validation()
    checked: dict[str, CheckedMapping] = {}
    for job in config.jobs:
        try:
            checked[job] = check_job(config, job)
        except ConfigError as exc:
            found.problems += exc.problems
    found.problems += _note_agreement(config, checked)
    if catalogs:
        found.problems += await _catalog_checks(config, connections, checked, found.notices)
    else:
        found.problems += await _kept_catalog_checks(config, checked, found.notices)
    return found


def _note_agreement(config: AppConfig, checked: dict[str, CheckedMapping]) -> list[ConfigProblem]:
    found = []
    by_target: dict[str, tuple[str, Any]] = {}
    for job, mapping in checked.items():
        spec = mapping.spec
        target = config.jobs[job].target
        placement = (spec.note.field, spec.note.mode, spec.note.format)
        first = by_target.setdefault(target, (job, placement))
        if first[1] != placement:
            found.append(
                ConfigProblem(
                    str(mapping.path),
                    line_of(mapping.doc, ("note",)),
                    "note",
                    f"note placement {placement} differs from job {first[0]}'s {first[1]} for the "
                    f"same target {target!r}",
                    "every job of one target keeps the note in one place",
                )
            )
    return found


async def _catalog_checks(
    config: AppConfig,
    connections: Connections,
    checked: dict[str, CheckedMapping],
    notices: list[str],
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    cache: dict[str, list[FieldInfo] | None] = {}
    for job, mapping in checked.items():
        job_config = config.jobs[job]
        path, doc = mapping.path, mapping.doc
        source = await _catalog(connections, job_config.source, "source", cache, problems, path)
        target = await _catalog(connections, job_config.target, "target", cache, problems, path)
        if source is not None:
            problems += _source_paths(mapping.spec, source, path, doc)
        if target is not None:
            live = Catalog(job_config.target, tuple(target))
            problems += write_field_problems(mapping.spec, live, path, doc)
    await _keep_target_catalogs(config, cache, notices)
    return problems


async def _keep_target_catalogs(
    config: AppConfig, cache: dict[str, list[FieldInfo] | None], notices: list[str]
) -> None:
    """Keep each target catalog just fetched, for ``validate --offline`` and reloads."""
    targets = {j.target for j in config.jobs.values()}
    fetched = {name: fields for name, fields in cache.items() if name in targets and fields}
    if not fetched:
        return
    try:
        await migrate_async(config.state.url)
        store = make_engine(config.state.url)
        try:
            for name, fields in fetched.items():
                await catalogs_store.remember(
                    store, name, config.connectors[name], fields, utcnow()
                )
        finally:
            await store.dispose()
    except (OSError, StoreError) as exc:
        notices.append(
            f"the target field catalogs were checked but not kept: the state store could not "
            f"be written ({type(exc).__name__}); validate --offline will not have them"
        )


async def _kept_catalog_checks(
    config: AppConfig, checked: dict[str, CheckedMapping], notices: list[str]
) -> list[ConfigProblem]:
    targets = sorted({config.jobs[job].target for job in checked})
    if not targets:
        return []
    kept, unreadable = await catalogs_store.recall_offline(
        config.state.url, {name: config.connectors[name] for name in targets}
    )
    problems: list[ConfigProblem] = []
    for job, mapping in checked.items():
        catalog = kept.get(config.jobs[job].target)
        if catalog is not None:
            problems += write_field_problems(mapping.spec, catalog, mapping.path, mapping.doc)
    for name in targets:
        if name in kept:
            notices.append(f"target fields of {name} checked against {kept[name].describe()}")
        else:
            why = f"; {unreadable}" if unreadable else ""
            notices.append(
                f"{NOT_VERIFIED} for {name}{why}: run `dealbridge validate` without --offline "
                "once (or any run that writes) to keep one"
            )
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
