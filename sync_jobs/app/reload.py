"""Hot reload: notice edits to config.yaml and mappings/, validate, and swap only if valid.

Polling file fingerprints (size and mtime) every few seconds needs no extra dependency and
works on every filesystem, including the network mounts and bind mounts containers use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from connectors.base import FieldInfo
from connectors.errors import ConfigError, ConfigProblem, ConnectorError
from sync_jobs.config.app import AppConfig, load_config
from sync_jobs.config.yamlio import load_yaml
from sync_jobs.domain.mapping import Mapping
from sync_jobs.run.catalog import Catalog, recall, remember, write_field_problems
from sync_jobs.run.context import utcnow
from sync_jobs.run.runner import compile_mappings
from sync_jobs.store.db import Store

Fingerprint = tuple[tuple[str, int, int], ...]


def watched_files(config_path: Path, config: AppConfig | None) -> list[Path]:
    """config.yaml, every job's mapping, and the templates next to them."""
    files = [config_path]
    if config is not None:
        for job in config.jobs:
            mapping = config.mapping_path(job)
            files.append(mapping)
            files += sorted(mapping.parent.glob("templates/*"))
    return sorted(set(files))


def fingerprint(files: list[Path]) -> Fingerprint:
    """(path, size, mtime_ns) of each file; a missing file counts as a change too."""
    out = []
    for path in files:
        try:
            stat = path.stat()
            out.append((str(path), stat.st_size, stat.st_mtime_ns))
        except OSError:
            out.append((str(path), -1, -1))
    return tuple(out)


@dataclass(frozen=True)
class Candidate:
    """A validated config.yaml with every job's mapping checked: the jobs whose mapping
    passed, ready to swap in, and the jobs that cannot run with their problems."""

    config: AppConfig
    mappings: dict[str, Mapping]
    broken: dict[str, ConfigError] = field(default_factory=dict)

    def problems(self, jobs: set[str] | None = None) -> list[ConfigProblem]:
        """Every problem of the broken jobs (of ``jobs`` only, when given)."""
        return [
            p
            for job, error in sorted(self.broken.items())
            if jobs is None or job in jobs
            for p in error.problems
        ]


def load_candidate(config_path: Path) -> Candidate:
    """Load config.yaml (a ConfigError if it is invalid) and check every job's mapping: a
    broken mapping is recorded with its job, so that only that job stops."""
    config = load_config(config_path)
    mappings, broken = compile_mappings(config)
    return Candidate(config, mappings, broken)


FetchCatalog = Callable[[str], Awaitable[list[FieldInfo]]]


async def check_write_fields(candidate: Candidate, store: Store, fetch: FetchCatalog) -> None:
    """The check ``validate --offline`` makes, on the daemon's candidate: every job's write
    fields against the target's kept catalog; a job writing a field the catalog lacks is
    moved to ``broken``.

    A kept catalog may predate a field the admin has just created, so before a field counts
    as missing the target's live catalog is fetched once (and kept); if the desk cannot be
    reached, the kept catalog decides. A target with no kept catalog is left to the runs,
    which check every record against the live catalog before writing.
    """
    live: dict[str, Catalog | None] = {}
    for job, mapping in sorted(candidate.mappings.items()):
        target = candidate.config.jobs[job].target
        connector = candidate.config.connectors[target]
        kept = await recall(store, target, connector)
        if kept is None:
            continue
        path = candidate.config.mapping_path(job)
        doc = load_yaml(path)
        problems = write_field_problems(mapping.spec, kept, path, doc)
        if problems and target not in live:
            live[target] = await _fetch_live(store, target, candidate, fetch)
        fresh = live.get(target)
        if problems and fresh is not None:
            problems = write_field_problems(mapping.spec, fresh, path, doc)
        if problems:
            del candidate.mappings[job]
            candidate.broken[job] = ConfigError(problems)


async def _fetch_live(
    store: Store, target: str, candidate: Candidate, fetch: FetchCatalog
) -> Catalog | None:
    try:
        fields = await fetch(target)
    except ConnectorError:
        return None
    await remember(store, target, candidate.config.connectors[target], fields, utcnow())
    return Catalog(target, tuple(fields))
