"""Prometheus metrics for the daemon's /metrics, in one registry per process.

Counters and histograms are updated from run reports as runs finish; the gauges that describe
shared state (open conflicts, outbox depth, cursor lag) are read from the store at scrape time,
so every replica reports the same truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from connectors.http import ALL_STATS
from sync_jobs.run.runner import RunReport


class Metrics:
    """The daemon's metric families."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "dealbridge_runs_total", "Job runs by outcome", ["job", "status"], registry=r
        )
        self.records = Counter(
            "dealbridge_records_total",
            "Records read, written and failed per job",
            ["job", "stage"],
            registry=r,
        )
        self.duration = Histogram(
            "dealbridge_run_duration_seconds",
            "Run duration",
            ["job"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
            registry=r,
        )
        self.last_success = Gauge(
            "dealbridge_last_success_timestamp_seconds",
            "Unix time of the last successful run",
            ["job"],
            registry=r,
        )
        self.http = Counter(
            "dealbridge_http_requests_total",
            "Vendor HTTP requests",
            ["connector", "status"],
            registry=r,
        )
        self.throttled = Counter(
            "dealbridge_http_throttled_total",
            "Vendor answers asking us to slow down (429 and equivalents)",
            ["connector"],
            registry=r,
        )
        self.conflicts = Gauge(
            "dealbridge_conflicts_open", "Open conflicts by kind", ["kind"], registry=r
        )
        self.outbox = Gauge(
            "dealbridge_alert_outbox", "Alerts in the outbox by status", ["status"], registry=r
        )
        self.lag = Gauge(
            "dealbridge_cursor_lag_seconds",
            "Seconds since each job's cursor last moved",
            ["job"],
            registry=r,
        )
        self.queue = Gauge(
            "dealbridge_customer_queue", "Stage-2 work items by status", ["status"], registry=r
        )

    def record_run(self, report: RunReport, seconds: float, finished_at: float) -> None:
        """Fold one run's report into the counters."""
        self.runs.labels(report.job, report.status).inc()
        self.duration.labels(report.job).observe(seconds)
        counts = report.counts
        for stage, key in (
            ("read", "deals_read"),
            ("written", "customers_written"),
            ("failed", "record_errors"),
        ):
            self.records.labels(report.job, stage).inc(counts.get(key, 0))
        if report.status == "ok":
            self.last_success.labels(report.job).set(finished_at)

    def record_http(self, connector: str, by_status: dict[int, int], throttled: int) -> None:
        """Add a connector's request counts (deltas since the last call)."""
        for status, count in by_status.items():
            self.http.labels(connector, str(status)).inc(count)
        if throttled:
            self.throttled.labels(connector).inc(throttled)

    def set_state(
        self,
        conflicts: dict[str, int],
        outbox: dict[str, int],
        queue: dict[str, int],
        lags: Iterable[tuple[str, float]],
    ) -> None:
        """Refresh the gauges that mirror the shared store."""
        _reset(self.conflicts, conflicts)
        _reset(self.outbox, outbox)
        _reset(self.queue, queue)
        for job, lag in lags:
            self.lag.labels(job).set(lag)


def _reset(gauge: Any, values: dict[str, int]) -> None:
    gauge.clear()
    for label, value in values.items():
        gauge.labels(label).set(value)


class HttpCounters:
    """Turns the per-connector request totals of ``connectors.http`` into deltas per scrape."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[dict[int, int], int]] = {}

    def deltas(self) -> dict[str, tuple[dict[int, int], int]]:
        """What each connector sent since the last call: (count by status, throttled)."""
        out = {}
        for name, stats in ALL_STATS.items():
            seen_status, seen_throttled = self._seen.get(name, ({}, 0))
            now_status = dict(stats.by_status)
            diff = {
                s: n - seen_status.get(s, 0)
                for s, n in now_status.items()
                if n != seen_status.get(s, 0)
            }
            out[name] = (diff, stats.throttled - seen_throttled)
            self._seen[name] = (now_status, stats.throttled)
        return out
