"""The Intercom backfill measurement at smoke size: what it reports is counted, not timed.

A backfill costs each written customer one read, one read again just before the write (the
engine passes the version it planned on, and Intercom has no conditional update) and one
write, plus the identity refresh
(a scroll page per 50 companies, a search page per 150 users, the catalog); a re-run with
nothing changed costs nothing; the request budget's windows are never overrun (no 429)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.intercom_backfill import engine_runs, verified_writes

pytestmark = pytest.mark.e2e
COUNT = 150


def test_a_backfill_costs_two_reads_and_a_write_per_customer_and_a_rerun_nothing(
    tmp_path: Path,
) -> None:
    backfill, rerun = asyncio.run(engine_runs(COUNT, tmp_path))
    assert backfill.written == COUNT
    assert backfill.by_method["PUT"] == COUNT
    identity = COUNT // 50 + 1 + 2 + -(-COUNT // 150)  # scroll pages, catalog, search pages
    assert backfill.requests == 3 * COUNT + identity
    assert backfill.throttled == 0
    assert (rerun.written, rerun.requests) == (0, 0)


def test_with_versions_each_write_is_checked_by_one_more_read() -> None:
    measured = asyncio.run(verified_writes(COUNT))
    assert measured.written == COUNT
    assert measured.by_method == {"GET": 2 * COUNT + 2, "PUT": COUNT}
    assert measured.throttled == 0
