"""The ServiceNow backfill measurement (``python -m bench.servicenow_backfill``) at smoke size:
every record written once, in batches, with the request kinds the call table promises (no
timing is asserted; the figures are in the report of issue 17 and mappings/README.md)."""

from __future__ import annotations

import pytest

from bench.servicenow_backfill import backfill, report

pytestmark = pytest.mark.anyio


async def test_a_small_backfill_writes_every_record_once_in_batches() -> None:
    measured = await backfill(250, rule=1000, item_seconds=0.2)
    assert measured.written == 250
    assert measured.batch_items == 250, "no item sent twice"
    assert measured.by_kind["identity feed"] == 1
    assert measured.by_kind["read"] == 3
    assert measured.by_kind["versions (write)"] == 3
    assert measured.requests < 250 * 0.1
    lines = report(measured, rule=1000)
    assert any(line.startswith("| desk requests per written record |") for line in lines)
