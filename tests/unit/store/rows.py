"""A stored deal row as stage 1 writes it, for store tests that seed the deals table."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def deal_row(
    deal_id: str, customer_key: str | None, now: datetime, **changes: Any
) -> dict[str, Any]:
    """A live, matched West deal of target ``zd`` changed at ``now``; ``changes`` override."""
    return {
        "job": "west",
        "deal_id": deal_id,
        "target": "zd",
        "territory": "West",
        "customer_key": customer_key,
        "match_status": "matched",
        "match_detail": {"method": "external_id", "key": "cust-1"},
        "lookup_at": now,
        "terms": {"deal": {"id": deal_id}, "discount": 10},
        "violations": None,
        "payload_hash": f"hash-{deal_id}",
        "live": True,
        "valid_until": date(2099, 12, 31),
        "deleted": False,
        "error": None,
        "attempts": 0,
        "modified_at": now,
        "updated_at": now,
    } | changes


def pending_row(deal_id: str, account_key: str, now: datetime) -> dict[str, Any]:
    """A deal stage 1 stored for the match pass to decide, of the account ``account_key``."""
    return deal_row(
        deal_id,
        None,
        now,
        match_status="pending",
        match_detail=None,
        lookup_at=None,
        terms={"deal": {"id": deal_id}},
        valid_until=None,
        account_key=account_key,
    )
