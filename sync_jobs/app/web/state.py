"""What every request handler needs: the config, the store, the session signer, the clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

from sync_jobs.app.web.auth import Sessions
from sync_jobs.config.app import AppConfig, load_config
from sync_jobs.store.db import Store


@dataclass
class ConsoleState:
    """The console's long-lived pieces (one per app)."""

    config_path: Path
    config: AppConfig
    store: Store
    sessions: Sessions
    clock: Callable[[], datetime]
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    _config_stamp: tuple[int, int] = (0, 0)

    def current_config(self) -> AppConfig:
        """config.yaml as it is now (re-read when the file changed; the last valid one kept)."""
        try:
            stat = self.config_path.stat()
            stamp = (stat.st_size, stat.st_mtime_ns)
            if stamp != self._config_stamp:
                self.config = load_config(self.config_path)
                self._config_stamp = stamp
        except Exception:  # noqa: BLE001 - an edit in progress must not take the console down
            return self.config
        return self.config


def console_state(request: Request) -> ConsoleState:
    """The app's state (set by the lifespan)."""
    state: Any = request.app.state.console
    assert isinstance(state, ConsoleState)
    return state
