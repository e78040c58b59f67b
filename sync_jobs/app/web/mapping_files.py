"""Checking an edited mapping as ``dealbridge validate --offline`` would, and saving it safely.

A save never leaves a half-written mapping for the daemon to read: the new text goes to a
temporary file in the same folder, is flushed to disk, and replaces the old one in one rename.
The old text is kept beside it first (``<name>.bak-<UTC time>``), and the daemon's reload
notices the new file by its size and modification time, checks it again and swaps it in.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path

from connectors.errors import ConfigError, ConfigProblem
from sync_jobs.config.app import AppConfig
from sync_jobs.config.checks import CheckedMapping, check_job_text
from sync_jobs.domain.mapping import Mapping
from sync_jobs.run.catalog import recall, write_field_problems
from sync_jobs.store.db import Store


async def check_text(
    config: AppConfig, store: Store, job: str, text: str
) -> tuple[CheckedMapping | None, list[ConfigProblem]]:
    """The edited mapping and every problem in it (write fields checked against the target's
    kept catalog, when there is one)."""
    try:
        checked = check_job_text(config, job, text)
    except ConfigError as exc:
        return None, list(exc.problems)
    target = config.jobs[job].target
    kept = await recall(store, target, config.connectors[target])
    problems = write_field_problems(checked.spec, kept, checked.path, checked.doc) if kept else []
    return (None if problems else checked), problems


def compiled(config: AppConfig, job: str, checked: CheckedMapping) -> Mapping:
    """The edited mapping compiled as a run compiles it."""
    job_config = config.jobs[job]
    return Mapping(
        checked.spec,
        job=job,
        source=job_config.source,
        system=config.connectors[job_config.source].kind,
        territory=job_config.territory,
        base_dir=checked.path.parent,
    )


def save_atomically(path: Path, text: str, now: datetime) -> Path | None:
    """Replace ``path`` by ``text`` in one rename, after keeping the old text; returns the
    backup's path (None when there was no file before)."""
    backup = None
    if path.exists():
        backup = path.with_name(f"{path.name}.bak-{now:%Y%m%dT%H%M%S%fZ}")
        backup.write_bytes(path.read_bytes())
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return backup
