"""The audit trail: what was written or decided, appended and never changed.

Stored one row per customer written (a C3's customer, a decision recorded): who, when, why
and every field's old and new value in its ``changes`` list. Readers show it as before, one
:class:`AuditLine` a field (:func:`unfold`). A write's fields in one row, not one row each:
C3 wrote four audit rows a deal, the largest share of its statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import JSON_STRING, Same, json_text, prepared_columns
from sync_jobs.store.encoded import JsonText
from sync_jobs.store.sql import jsonable


class AuditEntry(NamedTuple):
    """One field written: who (the job or person), what, old and new value, and why.

    A tuple (immutable, as a frozen dataclass was): a batch makes one per field written;
    a customer's entries, next to each other, become one row (:func:`audit_columns`)."""

    customer_key: str
    field: str
    old: Any
    new: Any
    reason: str


class AuditLine(NamedTuple):
    """One field's change as readers show it (the console's trail): an audit row's
    columns and one of its changes, named as the columns of the one-row-a-field table were."""

    id: int
    run_id: str | None
    at: datetime
    actor: str
    target: str
    customer_key: str
    field: str
    old_value: Any
    new_value: Any
    reason: str


def _value_text(value: Any) -> str:
    """``value``'s JSON text as the per-field columns held it (:func:`jsonable`, then
    encoded); a text or None, most values, without the two calls' type checks."""
    kind = type(value)
    if kind is str:
        return JSON_STRING(value)
    if value is None:
        return "null"
    return json_text(jsonable(value))


def audit_columns(
    target: str, run_id: str | None, actor: str, entries: Sequence[AuditEntry], now: datetime
) -> dict[str, Sequence[Any] | Same]:
    """The ``audit`` rows of ``entries`` (not empty), column by column
    (:func:`~sync_jobs.store.bulk.prepared_columns`): one row for each run of entries of the
    same customer, its changes in the entries' order."""
    keys: list[str] = []
    changes: list[JsonText] = []
    key, texts = entries[0].customer_key, list[str]()
    for customer, field, old, new, reason in entries:
        if customer != key:
            keys.append(key)
            changes.append(JsonText(f"[{','.join(texts)}]"))
            key, texts = customer, []
        # Each change's JSON text (compact) made here: a dict per change built only to be
        # encoded, or a call per change, cost more (C3 makes four a deal).
        texts.append(
            f'{{"field":{JSON_STRING(field)},"old":{_value_text(old)},'
            f'"new":{_value_text(new)},"reason":{JSON_STRING(reason)}}}'
        )
    keys.append(key)
    changes.append(JsonText(f"[{','.join(texts)}]"))
    return {
        "run_id": Same(run_id),
        "at": Same(now),
        "actor": Same(actor),
        "target": Same(target),
        "customer_key": keys,
        "changes": changes,
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


def unfold(rows: Iterable[Any]) -> list[AuditLine]:
    """Audit rows (with ``id``, ``run_id``, ``at``, ``actor``, ``target``, ``customer_key``
    and ``changes`` as read) as one line a field change, in the rows' order and each row's
    changes in the order made."""
    return [
        AuditLine(
            row.id,
            row.run_id,
            row.at,
            row.actor,
            row.target,
            row.customer_key,
            change["field"],
            change["old"],
            change["new"],
            change["reason"],
        )
        for row in rows
        for change in row.changes
    ]
