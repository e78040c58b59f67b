"""A deal a backfill stores pending (``_defer``) is the row stage 1 always made of it: its
customer kept, the terms' columns filled as for any mapped deal, its violations and its
account key, in the same columns and the same order (the order names the statement's
columns)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from sync_jobs.domain.guardrails import violations
from sync_jobs.domain.model import DealTerms
from sync_jobs.run.pass_order import PassOrder
from sync_jobs.run.stage1 import (
    _PENDING_DETAIL,
    PENDING,
    MappedDeal,
    _defer,
    _Page,
)
from tests.unit.run.kit import TARGET, deal, west_mapping

DAY = date(2026, 12, 6)


def reference_row(ctx: Any, mapped: MappedDeal, old_key: str | None, page: _Page) -> dict[str, Any]:
    """The row as ``_defer`` built it before (base row, then each column set in turn)."""
    terms = mapped.terms
    assert isinstance(terms, DealTerms)
    spec = ctx.mapping.spec
    rails = violations(terms, spec.guardrails, DAY) if terms.active else []
    row: dict[str, Any] = {
        "job": ctx.job,
        "deal_id": mapped.deal.id,
        "target": ctx.target_name,
        "territory": ctx.mapping.territory,
        "customer_key": None,
        "payload_hash": mapped.digest,
        "modified_at": mapped.deal.modified_at,
        "deleted": False,
        "live": False,
        "error": None,
        "attempts": 0,
        "match_status": "pending",
        "match_detail": None,
        "lookup_at": None,
        "valid_until": None,
        "terms": None,
        "violations": None,
        "account_key": "",
    }
    row["customer_key"] = old_key
    row["terms"] = mapped.stored
    row["live"] = terms.is_live(DAY)
    row["valid_until"] = terms.valid_until
    row["match_status"] = PENDING.status
    row["match_detail"] = _PENDING_DETAIL
    row["violations"] = rails or None
    if page.deferred is not None:
        row["account_key"] = page.deferred.key(terms.account, spec.identity)
    return row


@pytest.mark.parametrize("order", [None, PassOrder.BY_DEAL, PassOrder.BY_ACCOUNT])
@pytest.mark.parametrize("old_key", [None, "organization:7"])
@pytest.mark.parametrize(
    "payload",
    [{}, {"discount": 35}, {"stage": "Lost", "discount": 35}, {"valid_until": "2020-01-01"}],
)
def test_a_deferred_row_is_the_row_made_column_by_column(
    order: PassOrder | None, old_key: str | None, payload: dict[str, Any]
) -> None:
    mapping = west_mapping()
    ctx = SimpleNamespace(job=mapping.job, target_name=TARGET, mapping=mapping)
    one = deal("006A", **payload)
    mapped = MappedDeal.of(one, mapping.apply(one), dry_run=False)
    assert isinstance(mapped.terms, DealTerms)
    page = _Page(deferred=order)
    _defer(ctx, mapped, mapped.terms, old_key, page, DAY)  # type: ignore[arg-type]
    (row,) = page.rows
    expected = reference_row(ctx, mapped, old_key, _Page(deferred=order))
    assert row == expected
    assert list(row) == list(expected), "the same columns in the same order"
