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


def base_rows(
    target: str, rows: Sequence[dict[str, Any]], now: datetime, run_id: str | None
) -> list[dict[str, Any]]:
    """``field_base`` rows for {customer_key, field, value} rows."""
    return [{"target": target, "written_at": now, "run_id": run_id, **row} for row in rows]


async def drop_bases(conn: AsyncConnection, target: str, pairs: Sequence[tuple[str, str]]) -> None:
    """Forget (customer, field) pairs we no longer own."""
    for part in chunks(list(pairs)):
        await conn.execute(
            sa.delete(t.field_base).where(
                t.field_base.c.target == target,
                pairs_in(t.field_base.c.customer_key, t.field_base.c.field, part),
            )
        )


def note_rows(
    target: str, notes: Sequence[tuple[str, str, int]], now: datetime
) -> list[dict[str, Any]]:
    """``note_state`` rows for (customer, note text, live deals): the note's hash only."""
    return [
        {
            "target": target,
            "customer_key": key,
            "content_hash": note_hash(text),
            "deals": deals,
            "written_at": now,
        }
        for key, text, deals in notes
    ]
