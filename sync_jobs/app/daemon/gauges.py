"""The gauges /metrics shows, refreshed from the shared store before each scrape."""

from __future__ import annotations

from sync_jobs.app.metrics import HttpCounters, Metrics
from sync_jobs.app.state_view import store_gauges
from sync_jobs.store.db import Store


class Gauges:
    """Mirrors the store's shared state and the connectors' request totals into metrics."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._http = HttpCounters()

    async def refresh(self, store: Store, jobs: list[str]) -> None:
        """Conflicts, outbox, queue and lag from the store; HTTP counts since the last scrape."""
        conflicts, outbox, queue, lags = await store_gauges(store, jobs)
        self.metrics.set_state(conflicts, outbox, queue, lags)
        for name, (by_status, throttled) in self._http.deltas().items():
            self.metrics.record_http(name, by_status, throttled)
