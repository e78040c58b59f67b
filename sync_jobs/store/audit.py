"""The audit trail: one row per value written or decided (appended, never changed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import Same, prepared_columns
from sync_jobs.store.sql import jsonable


class AuditEntry(NamedTuple):
    """One field written: who (the job or person), what, old and new value, and why.

    A tuple (immutable, as a frozen dataclass was): a batch makes one per field written,
    and its rows are taken column by column (:func:`audit_columns`)."""

    customer_key: str
    field: str
    old: Any
    new: Any
    reason: str


def audit_columns(
    target: str, run_id: str | None, actor: str, entries: Sequence[AuditEntry], now: datetime
) -> dict[str, Sequence[Any] | Same]:
    """The ``audit`` rows of ``entries`` (not empty), one per field written or decided,
    column by column (:func:`~sync_jobs.store.bulk.prepared_columns`)."""
    keys, fields, olds, news, reasons = zip(*entries, strict=True)
    return {
        "run_id": Same(run_id),
        "at": Same(now),
        "actor": Same(actor),
        "target": Same(target),
        "customer_key": keys,
        "field": fields,
        "old_value": [jsonable(v) for v in olds],
        "new_value": [jsonable(v) for v in news],
        "reason": reasons,
    }


async def record(
    conn: AsyncConnection,
    target: str,
    run_id: str | None,
    actor: str,
    entries: Sequence[AuditEntry],
    now: datetime,
) -> None:
    """Append audit rows (never updated, never deleted by the engine)."""
    if entries:
        columns = audit_columns(target, run_id, actor, entries, now)
        await conn.exec_driver_sql(*prepared_columns(conn.dialect, t.audit, columns))
