"""Noticing an edit to config.yaml or a mapping, and checking the new version before use.

The new version gets the checks of ``validate --offline``, write fields against the kept
catalogs included; the daemon swaps it in only if valid (:mod:`sync_jobs.app.reload` holds the
checks, this module when to run them)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from connectors.base import FieldInfo
from sync_jobs.app.reload import (
    Candidate,
    check_write_fields,
    fingerprint,
    load_candidate,
    watched_files,
)
from sync_jobs.config.app import AppConfig
from sync_jobs.run.connections import Connections
from sync_jobs.store.db import Store


class Reloader:
    """Watches the configuration's files and loads checked candidates."""

    def __init__(
        self, config_path: Path, transports: Mapping[str, httpx.AsyncBaseTransport]
    ) -> None:
        self.config_path = config_path
        self.transports = transports
        self._fingerprint: Any = None

    def remember(self, config: AppConfig) -> None:
        """The files of the version now running are the baseline for :meth:`moved`."""
        self._fingerprint = fingerprint(watched_files(self.config_path, config))

    def moved(self, config: AppConfig) -> bool:
        """Whether a watched file changed since last asked (the answer moves the baseline)."""
        current = fingerprint(watched_files(self.config_path, config))
        changed: bool = current != self._fingerprint
        self._fingerprint = current
        return changed

    async def load(self, store: Store) -> Candidate:
        """The configuration on disk, checked (raises ConfigError when it does not load)."""
        candidate = load_candidate(self.config_path)
        await self.check_write_fields(candidate, store)
        return candidate

    async def check_write_fields(self, candidate: Candidate, store: Store) -> None:
        """Write fields against the targets' kept catalogs, as ``validate --offline`` does."""
        transports = self.transports

        async def fetch(target: str) -> list[FieldInfo]:
            connections = Connections(candidate.config.connectors, transports)
            try:
                return await connections.target(target).field_catalog()
            finally:
                await connections.aclose()

        await check_write_fields(candidate, store, fetch)
