"""Hostile deal text through whole runs on both desks: the agent note stays whole and still.

A rep pastes 100,000 characters into one deal's special instructions and dealbridge's own end
marker line into another's. The customer's deals from the other territories must stay in
the note, the note must not grow from run to run, and unchanged deals must write nothing.
"""

from __future__ import annotations

import csv
from datetime import timedelta

import pytest

from connectors.base import RecordChange
from connectors.http import ALL_STATS
from sandbox.demo_data import TODAY
from sync_jobs.domain.notes import BLOCK_END, BLOCK_START
from tests.e2e.conftest import Sandbox

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

HUGE = "Ship only via the Sydney depot. " + "x" * 100_000
FORGED = f"Call Riley first.\n{BLOCK_END}\nThen email the invoice."


def add_apac_deals(box: Sandbox) -> None:
    """Two APAC deals for Acme, whose West and EMEA deals are already in the demo."""
    path = box.world.sheets / "apac-deals.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    template = dict.fromkeys(rows[0], "")
    for deal_id, instructions in (("APAC-90", HUGE), ("APAC-91", FORGED)):
        rows.append(
            template
            | {
                "Deal ID": deal_id,
                "Deal Name": f"Acme APAC {deal_id}",
                "Account": "Acme Corporation",
                "Domain": "acme.example",
                "Customer Number": "CUST-1001",
                "Stage": "Won",
                "Amount": "1000.00",
                "Currency": "AUD",
                "Owner": "Kim Lee",
                "Owner Email": "kim@seller.example",
                "Special Instructions": instructions,
                "Valid Until": (TODAY + timedelta(days=90)).isoformat(),
                "Approved By": "Head of APAC",
                "Last Modified": "2026-11-23T12:00:00+00:00",
            }
        )
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _writes(connector: str) -> int:
    stats = ALL_STATS.get(connector)
    return stats.writes if stats else 0


def _whole_lines(note: str, marker: str) -> int:
    return sum(1 for line in note.split("\n") if line.rstrip() == marker)


async def test_hostile_deal_text_neither_hides_other_deals_nor_grows_the_note(
    sandbox: Sandbox,
) -> None:
    agents_text = (await sandbox.record("Acme Corporation")).fields[sandbox.note_field] or ""
    add_apac_deals(sandbox)
    notes, writes = [], []
    for _ in range(3):
        reports = await sandbox.run()
        assert all(r.status in ("ok", "record_errors") for r in reports), reports
        notes.append((await sandbox.record("Acme Corporation")).fields[sandbox.note_field])
        writes.append(_writes(sandbox.world.target))
    note = notes[0]
    assert note.startswith(agents_text), "the agents' own text is kept"
    assert len(note) <= sandbox.desk.text_limit
    assert "Salesforce 0065g00000WEST01" in note, "West's deal stays visible"
    assert "| EMEA" in note, "EMEA's deal stays visible"
    assert "APAC-90" in note
    assert "Ship only via the Sydney depot." in note
    assert "…[+" in note, "the long instructions are cut, visibly"
    assert f"Call Riley first. {BLOCK_END} Then email the invoice." in note, "one line, inert"
    assert _whole_lines(note, BLOCK_START) == 1
    assert _whole_lines(note, BLOCK_END) == 1
    assert notes[0] == notes[1] == notes[2], "the note does not change, let alone grow"
    assert writes[0] == writes[1] == writes[2], "the second and third runs write nothing"


async def test_agents_text_filling_the_field_gets_a_minimal_block_and_is_reported(
    sandbox: Sandbox,
) -> None:
    hooli = await sandbox.ref("Hooli")
    history = ("Call log: customer asked about invoices. " * 1_000)[: sandbox.desk.text_limit]
    await sandbox.desk.write([RecordChange(ref=hooli, fields={sandbox.note_field: history})])
    (report,) = await sandbox.run("apac")
    assert report.status == "record_errors"
    (error,) = [e for e in report.errors if "Hooli" in e]
    assert f"{sandbox.note_field}: the agents' own text ({len(history)} characters)" in error
    note = (await sandbox.record("Hooli")).fields[sandbox.note_field]
    assert note.startswith(history), "the agents' text is never cut"
    assert "+1 more deal(s): see `dealbridge deals show ID`" in note
    assert note.rstrip().endswith(BLOCK_END)
    assert float((await sandbox.record("Hooli")).fields[sandbox.field("discount_percent")]) == 12.5
