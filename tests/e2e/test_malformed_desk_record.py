"""A desk record that does not read, followed through whole runs on PostgreSQL: the run
reports it (desk, record, field, what to do), the other customers are still written, and the
run after the record is repaired at the desk picks it up.

The desk sends ``NaN`` in a field dealbridge writes, as a desk's own serializer may (Python's
JSON writes and reads it; JSON, PostgreSQL's JSON columns and the desks' APIs have no NaN).
Before, it reached the planner, the conflict and the audit rows, which PostgreSQL refused:
the batch's commit failed, and with it every customer of the batch."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sandbox.world import build_world, credentials
from sync_jobs.run.connections import Connections
from sync_jobs.run.context import utcnow
from sync_jobs.run.runner import RunReport, open_engine, run_job
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx
from tests.e2e.test_sync import edit_sheet
from tests.stores import fresh_postgres

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.postgres]

NAN_MARK = "__nan__"
LATER = timedelta(minutes=2)
"""Past the index interval (1 min) and Zendesk's export delay (the last minute)."""


class SendsNaN(httpx.AsyncBaseTransport):
    """The desk as it answers, with every ``"__nan__"`` text value written as ``NaN``."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = (await response.aread()).replace(f'"{NAN_MARK}"'.encode(), b"NaN")
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body)


INITECH_DEAL = {
    "Deal ID": "APAC-19",
    "Deal Name": "Initech pilot",
    "Account": "Initech",
    "Domain": "initech.example",
    "Contact Email": "billing@initech.example",
    "Discount %": "19",
}


def add_deal(path: Path, like: str, **cells: str) -> None:
    """A new row in the sheet: the deal ``like`` with ``cells`` changed."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows.append(next(r for r in rows if r["Deal ID"] == like) | cells)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


async def _run_history(engine: Any, run_id: str) -> Any:
    async with read_tx(engine.store) as conn:
        rows = await conn.execute(sa.select(t.sync_run).where(t.sync_run.c.id == run_id))
        return rows.one()


async def test_a_malformed_record_fails_alone_and_is_picked_up_once_repaired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in credentials("zendesk").items():
        monkeypatch.setenv(name, value)
    with fresh_postgres() as url:
        world = build_world(tmp_path, "zendesk", state_url=url, fast=True)
        desk = world.desk
        transports = world.transports()
        transports[world.target] = SendsNaN(transports[world.target])
        engine = await open_engine(world.config)
        connections = Connections(world.config.connectors, transports)

        async def later_run(**options: Any) -> RunReport:
            desk.pass_time(LATER.total_seconds())
            shift = engine.clock() - utcnow() + LATER
            engine.clock = lambda: utcnow() + shift
            return await run_job(engine, connections, "apac", **options)

        try:
            for job in ("west", "emea", "apac"):
                await run_job(engine, connections, job)
            rule = next(
                n
                for n, r in engine.mappings["apac"].spec.write.items()
                if r.value == "discount_percent"
            )
            key = rule.removeprefix("organization_fields.")
            _, hooli = desk.named("Hooli")
            _, initech = desk.named("Initech")
            desk.agent_edit("organization", int(hooli), organization_fields={key: NAN_MARK})
            sheet = world.sheets / "apac-deals.csv"
            edit_sheet(sheet, "APAC-17", **{"Discount %": "15"})  # Hooli
            add_deal(sheet, "APAC-17", **INITECH_DEAL)

            broken = await later_run()

            stored = desk.record("organization", int(initech))["organization_fields"][key]
            assert float(stored) == 19, "the other customer is written"
            assert desk.record("organization", int(hooli))["organization_fields"][key] == NAN_MARK
            assert broken.status == "record_errors"
            problem = (
                f"Zendesk organization {hooli}: field organization_fields.{key} is the number "
                "nan, not text, a number, true/false or a list of those"
            )
            assert any(
                e.startswith(problem) and "correct it at Zendesk" in e for e in broken.errors
            )
            history = await _run_history(engine, broken.run_id)
            assert history.status == "record_errors"
            assert any(e.startswith(problem) for e in history.errors)

            desk.agent_edit("organization", int(hooli), organization_fields={key: "12.5"})
            repaired = await later_run(retry_now=True)

            assert repaired.status == "ok", repaired.errors
            assert float(desk.record("organization", int(hooli))["organization_fields"][key]) == 15
        finally:
            await connections.aclose()
            await engine.store.dispose()
