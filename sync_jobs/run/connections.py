"""Building connector instances from config, with the transport seam for simulators and tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from connectors.base import SalesSource, ServiceTarget
from connectors.ratelimit import Sleep
from connectors.registry import get_spec
from connectors.settings import ConnectorConfig, ConnectorOptions


@dataclass
class Connections:
    """Creates (and later closes) the connectors a run needs, once each."""

    configs: Mapping[str, ConnectorConfig]
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    """Per connector name: route its HTTP to a simulator (demo, tests, benchmarks)."""
    sleep: Sleep | None = None
    budget_shares: Mapping[str, float] = field(default_factory=dict)
    """Per connector name: this process's share of the vendor's budgets, when several
    worker processes use it (``sync_jobs.run.workers.budget_shares``); 1 when absent."""
    _built: dict[str, Any] = field(default_factory=dict)

    def _build(self, name: str) -> Any:
        if name not in self._built:
            config = self.configs[name]
            spec = get_spec(config.kind)
            options = ConnectorOptions(
                transport=self.transports.get(name),
                sleep=self.sleep,
                budget_share=self.budget_shares.get(name, 1.0),
            )
            self._built[name] = spec.factory(name, config, options)
        return self._built[name]

    def source(self, name: str) -> SalesSource:
        """The sales source called ``name`` in config.yaml."""
        return cast("SalesSource", self._build(name))

    def target(self, name: str) -> ServiceTarget:
        """The service target called ``name`` in config.yaml."""
        return cast("ServiceTarget", self._build(name))

    async def aclose(self) -> None:
        """Close every connector that was built."""
        for connector in self._built.values():
            await connector.aclose()
        self._built.clear()
