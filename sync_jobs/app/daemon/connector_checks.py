"""Each connector's health (a cheap authenticated call), for /readyz and alerts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from connectors.errors import ConnectorError
from connectors.registry import get_spec
from sync_jobs.config.app import AppConfig
from sync_jobs.run.connections import Connections

OnFailure = Callable[[str, str], Awaitable[None]]
"""Called with (connector, error) for each connector whose check raised."""


class ConnectorChecks:
    """The latest check of every configured connector."""

    def __init__(self) -> None:
        self.health: dict[str, dict[str, Any]] = {}

    async def check_all(
        self, config: AppConfig, connections: Connections, on_failure: OnFailure
    ) -> None:
        """Ask every connector for its health; a failing one is reported to ``on_failure``."""
        for name, connector_config in config.connectors.items():
            connector: Any = (
                connections.target(name)
                if get_spec(connector_config.kind).role == "target"
                else connections.source(name)
            )
            try:
                health = await connector.check()
                self.health[name] = {
                    "ok": health.ok,
                    "detail": health.detail,
                    "api_usage": health.api_usage,
                }
            except ConnectorError as exc:
                self.health[name] = {"ok": False, "detail": str(exc)}
                await on_failure(name, str(exc))
