"""The Zendesk sandbox's configuration with a number of worker processes, for worker tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.world import REPO_ROOT, credentials, world_doc
from sync_jobs.config.app import AppConfig, parse_config
from sync_jobs.run.context import Engine
from sync_jobs.store.db import make_engine


def config_with_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> AppConfig:
    """The sandbox's jobs into Zendesk, ``engine.workers: workers``, its secrets in the env."""
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    doc = world_doc(tmp_path, "zendesk")
    doc["engine"] = {"workers": workers}
    return parse_config(doc, str(REPO_ROOT / "config.yaml"), REPO_ROOT)


def engine_with_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> Engine:
    """An engine over that configuration and a SQLite store in ``tmp_path`` (no mappings)."""
    config = config_with_workers(tmp_path, monkeypatch, workers)
    return Engine(config=config, store=make_engine(f"sqlite:///{tmp_path}/s.db"), mappings={})
