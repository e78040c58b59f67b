"""Hot reload: notice edits to config.yaml and mappings/, validate, and swap only if valid.

Polling file fingerprints (size and mtime) every few seconds needs no extra dependency and
works on every filesystem, including the network mounts and bind mounts containers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.config import AppConfig, load_config
from sync_jobs.mapping import Mapping
from sync_jobs.runner import compile_mappings

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
    """A validated new configuration, ready to swap in."""

    config: AppConfig
    mappings: dict[str, Mapping]


def load_candidate(config_path: Path) -> Candidate:
    """Load and validate config + every mapping; raise ConfigError listing every problem."""
    config = load_config(config_path)
    mappings, broken = compile_mappings(config)
    problems: list[ConfigProblem] = []
    for error in broken.values():
        problems += error.problems
    if problems:
        raise ConfigError(problems)
    return Candidate(config, mappings)
