"""The match pass's rows through the driver: a page of waiting deals reads as the table's rows
(the terms as their stored JSON text), and its decisions are stored exactly as SQLAlchemy's
update stored them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.domain.model import MatchResult
from sync_jobs.store import deals
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.encoded import model_json, model_text
from tests.stores import store_url
from tests.unit.store.rows import deal_row, pending_row
from tests.unit.store.test_bulk_rows import raw

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 12, 6, 12, 30, 1, 250, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
TERMS = {"deal": {"id": "D1"}, "account": {"name": "Zürich AG", "domains": ["zurich.example"]}}


async def test_a_page_reads_the_waiting_deals_as_their_table_rows(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await deals.save_deals(
            conn,
            [
                pending_row("D1", "", NOW) | {"terms": TERMS},
                pending_row("D2", "", NOW) | {"lookup_at": NOW, "violations": ["over 20%"]},
                pending_row("D3", "", NOW) | {"terms": None},  # failed mapping: JSON null
                pending_row("D4", "", NOW) | {"deleted": True},
                deal_row("D5", "organization:1", NOW, account_key=""),  # matched: not waiting
                pending_row("D6", "", NOW) | {"job": "east"},
            ],
        )
    async with read_tx(engine) as conn:
        page = await deals.undecided_page(conn, "west", "zd", "pending", None, 10)
        plain = {
            r.deal_id: r
            for r in await conn.execute(sa.select(t.deal).where(t.deal.c.job == "west"))
        }

    assert [row.deal_id for row in page] == ["D1", "D2", "D3"]
    for row in page:
        stored = plain[row.deal_id]
        assert (
            row.account_key,
            row.customer_key,
            row.match_status,
            row.lookup_at,
            row.violations,
        ) == (
            stored.account_key,
            stored.customer_key,
            stored.match_status,
            stored.lookup_at,
            stored.violations,
        )
        assert json.loads(row.terms_text) == stored.terms
    assert json.loads(page[0].terms_text) == TERMS
    assert page[1].lookup_at == NOW
    assert page[2].terms_text == "null"


def detail(record_id: str) -> MatchResult:
    return MatchResult(
        status="matched",
        record_kind="organization",
        record_id=record_id,
        method="domain",
        key="zürich.example",
    )


def decided(deal_id: str, given: Any) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        "customer_key": "organization:7",
        "match_status": "matched",
        "match_detail": given,
        "lookup_at": LATER,
    }


async def test_decisions_are_stored_as_sqlalchemys_update_stored_them(
    engine: AsyncEngine,
) -> None:
    plain = detail("7").model_dump(mode="json")
    async with write_tx(engine) as conn:
        await deals.save_deals(
            conn,
            [
                pending_row(d, "", NOW) | {"terms": TERMS, "payload_hash": "h"}
                for d in ("sa", "ours", "encoded", "text", "other")
            ],
        )
        reference = sa.update(t.deal).where(t.deal.c.job == "west", t.deal.c.deal_id == "sa")
        await conn.execute(
            reference.values(
                customer_key="organization:7",
                match_status="matched",
                match_detail=plain,
                lookup_at=LATER,
                updated_at=LATER,
            )
        )
        await deals.save_matches(
            conn,
            "west",
            [
                decided("ours", plain),
                decided("encoded", model_json(detail("7"))),
                decided("text", model_text(detail("7"))),
            ],
            LATER,
        )
    async with read_tx(engine) as conn:
        stored = {row[1]: row for row in await raw(conn, t.deal, "deal_id")}
        details = {
            r.deal_id: r.match_detail
            for r in await conn.execute(sa.select(t.deal.c.deal_id, t.deal.c.match_detail))
        }
    assert stored["ours"][2:] == stored["sa"][2:], "the same values, the same stored text"
    assert details["encoded"] == details["text"] == details["sa"] == plain, "given as text"
    assert stored["other"][2:] != stored["sa"][2:], "only the deals named"
