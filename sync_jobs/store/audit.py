"""The audit trail: one row per value written or decided (appended, never changed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import insert_rows
from sync_jobs.store.sql import jsonable


@dataclass(frozen=True)
class AuditEntry:
    """One field written: who (the job or person), what, old and new value, and why."""

    customer_key: str
    field: str
    old: Any
    new: Any
    reason: str


def audit_rows(
    target: str, run_id: str | None, actor: str, entries: Sequence[AuditEntry], now: datetime
) -> list[dict[str, Any]]:
    """The ``audit`` rows of ``entries``: one per field written or decided."""
    return [
        {
            "run_id": run_id,
            "at": now,
            "actor": actor,
            "target": target,
            "customer_key": e.customer_key,
            "field": e.field,
            "old_value": jsonable(e.old),
            "new_value": jsonable(e.new),
            "reason": e.reason,
        }
        for e in entries
    ]


async def record(
    conn: AsyncConnection,
    target: str,
    run_id: str | None,
    actor: str,
    entries: Sequence[AuditEntry],
    now: datetime,
) -> None:
    """Append audit rows (never updated, never deleted by the engine)."""
    await insert_rows(conn, t.audit, audit_rows(target, run_id, actor, entries, now))
