"""Stage 2's deal rows (read through the driver with the batch's state) read like the table's
rows: every column, the terms decoded only when asked (and then exactly as the JSON column
decodes them), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from sync_jobs.domain.model import DealTerms
from sync_jobs.run.stage1 import _sorted_account
from sync_jobs.store import batch_state, deals
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx, write_tx
from sync_jobs.store.encoded import JsonText, model_json
from tests.stores import store_url
from tests.unit.engine.test_terms_fingerprint import PLAIN as PLAIN_TERMS
from tests.unit.engine.test_terms_fingerprint import RICH as RICH_TERMS
from tests.unit.store.rows import deal_row

pytestmark = pytest.mark.anyio
__all__ = ["store_url"]

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
TERMS = {"deal": {"id": "D1"}, "amount": "10.50", "free_services": ["onboarding"], "x": None}


def row(deal_id: str, customer_key: str, **changes: object) -> dict[str, object]:
    return deal_row(deal_id, customer_key, NOW, terms=TERMS, **changes)


async def test_a_customers_deals_read_as_their_table_rows(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await deals.save_deals(
            conn,
            [
                row("D1", "organization:1"),
                row("D2", "organization:1", deleted=True),  # gone: not planned
                row("D3", "organization:2"),  # another customer
            ],
        )
    async with read_tx(engine) as conn:
        [stored] = (await batch_state.load(conn, "zd", ["organization:1"])).deals
        [plain] = list(await conn.execute(sa.select(t.deal).where(t.deal.c.deal_id == "D1")))
    assert (stored.job, stored.deal_id, stored.payload_hash) == ("west", "D1", "hash-D1")
    assert stored.modified_at == NOW
    assert stored.terms == TERMS
    assert stored._mapping == dict(plain._mapping), "a row written back is the row read"


async def test_columns_planning_seldom_reads_are_decoded_when_read(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await deals.save_deals(conn, [row("D1", "organization:1")])
    async with read_tx(engine) as conn:
        [stored] = (await batch_state.load(conn, "zd", ["organization:1"])).deals
        [plain] = list(await conn.execute(sa.select(t.deal).where(t.deal.c.deal_id == "D1")))
    later = ["lookup_at", "live", "valid_until", "deleted", "updated_at"]
    assert not set(later) & set(vars(stored)), "not decoded until read"
    for name in later:  # one at a time, each as SQLAlchemy reads it
        assert getattr(stored, name) == getattr(plain, name)
        assert name in vars(stored)
    assert stored.lookup_at == NOW
    with pytest.raises(AttributeError):
        _ = stored.no_such_column


async def test_the_terms_text_is_the_stored_json(engine: AsyncEngine) -> None:
    async with write_tx(engine) as conn:
        await deals.save_deals(conn, [row("D1", "organization:1")])
    async with read_tx(engine) as conn:
        [stored] = (await batch_state.load(conn, "zd", ["organization:1"])).deals
    assert "terms" not in vars(stored), "not decoded until asked"
    assert stored.terms_text.replace(" ", "") == (
        '{"deal":{"id":"D1"},"amount":"10.50","free_services":["onboarding"],"x":null}'
    )


async def test_terms_given_with_their_text_read_back_equal(engine: AsyncEngine) -> None:
    """Stage 1 hands over pydantic's text (compact, non-ASCII as it is): every reader, the
    batch read's text and the JSON column alike, finds the same terms."""
    terms = RICH_TERMS.model_copy(update={"name": "Zürich — Ærø 😀"})
    async with write_tx(engine) as conn:
        given = deal_row("D1", "organization:1", NOW, terms=model_json(terms))
        await deals.save_deals(conn, [given])
    async with read_tx(engine) as conn:
        [stored] = (await batch_state.load(conn, "zd", ["organization:1"])).deals
        [plain] = list(await conn.execute(sa.select(t.deal.c.terms)))
    form = terms.model_dump(mode="json")
    assert stored.terms == plain.terms == form
    assert DealTerms.model_validate_json(stored.terms_text) == DealTerms.model_validate(form)


async def test_terms_stored_sorted_read_back_equal(engine: AsyncEngine) -> None:
    """Stage 1 stores the terms' sorted text (``DealTerms.stored_text``: non-ASCII escaped,
    the modification time last): the batch read's text, the JSON column and the match pass's
    account reading all find the same terms, on both stores."""
    terms = PLAIN_TERMS.model_copy(
        update={
            "name": 'Zürich — Ærø 😀 "q" \\ \x00 \x7f },"active":',
            "custom": {"a": "b", "modified_at": "x"},
        }
    )
    both = terms.stored_text()
    assert both is not None
    async with write_tx(engine) as conn:
        given = deal_row("D1", "organization:1", NOW, terms=JsonText(both[0]))
        await deals.save_deals(conn, [given])
    async with read_tx(engine) as conn:
        [stored] = (await batch_state.load(conn, "zd", ["organization:1"])).deals
        [plain] = list(await conn.execute(sa.select(t.deal.c.terms)))
    form = terms.model_dump(mode="json")
    assert stored.terms == plain.terms == form
    assert DealTerms.model_validate_json(stored.terms_text) == terms
    assert _sorted_account(stored.terms_text) == terms.account
