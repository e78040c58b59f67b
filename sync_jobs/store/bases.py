"""Merge bases and note states: what dealbridge last wrote to each record, for the next
three-way compare."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store import tables as t
from sync_jobs.store.bulk import Same
from sync_jobs.store.sql import chunks, pairs_in


async def load_bases(
    conn: AsyncConnection, target: str, keys: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """What we last wrote, per customer and field (the merge base of the three-way compare)."""
    found: dict[str, dict[str, Any]] = defaultdict(dict)
    for part in chunks(keys):
        rows = await conn.execute(
            sa.select(t.field_base).where(
                t.field_base.c.target == target, t.field_base.c.customer_key.in_(part)
            )
        )
        for row in rows:
            found[row.customer_key][row.field] = row.value
    return found


@dataclass(frozen=True)
class Written:
    """What dealbridge last wrote to one record: field bases and the note's hash."""

    bases: dict[str, Any]
    note_hash: str | None


async def written_to(conn: AsyncConnection, target: str, keys: Sequence[str]) -> dict[str, Written]:
    """Of these records, those dealbridge wrote to (a field base or a note), with what it wrote;
    the others are left out."""
    bases = await load_bases(conn, target, keys)
    notes: dict[str, str] = {}
    for part in chunks(keys):
        rows = await conn.execute(
            sa.select(t.note_state.c.customer_key, t.note_state.c.content_hash).where(
                t.note_state.c.target == target, t.note_state.c.customer_key.in_(part)
            )
        )
        notes.update({row.customer_key: row.content_hash for row in rows})
    return {
        key: Written(bases.get(key, {}), notes.get(key))
        for key in dict.fromkeys(keys)
        if key in bases or key in notes
    }


def note_hash(text: str) -> str:
    """The hash ``note_state`` keeps of a note as written."""
    return hashlib.sha256(text.encode()).hexdigest()


Base = tuple[str, str, Any]
"""(customer, field, value): a value the record now holds for a field dealbridge owns."""


def base_columns(
    target: str, bases: Sequence[Base], now: datetime, run_id: str | None
) -> dict[str, Sequence[Any] | Same]:
    """``field_base`` rows for ``bases`` (not empty), column by column
    (:func:`~sync_jobs.store.bulk.prepared_columns`)."""
    keys, fields, values = zip(*bases, strict=True)
    return {
        "target": Same(target),
        "written_at": Same(now),
        "run_id": Same(run_id),
        "customer_key": keys,
        "field": fields,
        "value": values,
    }


async def drop_bases(conn: AsyncConnection, target: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Forget (customer, field) pairs we no longer own."""
    for part in chunks(list(pairs)):
        await conn.execute(
            sa.delete(t.field_base).where(
                t.field_base.c.target == target,
                pairs_in(t.field_base.c.customer_key, t.field_base.c.field, part),
            )
        )


def note_columns(
    target: str, notes: Sequence[tuple[str, str, int]], now: datetime
) -> dict[str, Sequence[Any] | Same]:
    """``note_state`` rows for (customer, note text, live deals), not empty, column by
    column: the note's hash only."""
    keys, texts, deals = zip(*notes, strict=True)
    return {
        "target": Same(target),
        "customer_key": keys,
        "content_hash": [note_hash(text) for text in texts],
        "deals": deals,
        "written_at": Same(now),
    }
