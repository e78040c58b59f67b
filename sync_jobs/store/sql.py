"""Dialect helpers: one upsert spelling for SQLite and PostgreSQL, and bounded batches."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from connectors.base import RecordRef
from sync_jobs.store.bulk import insert_rows

# SQLite allows 32766 bound variables per statement; rows of ~16 columns stay well under it.
CHUNK = 500


_AS_IS = (str, int, float, bool, type(None))
"""Values JSON holds unchanged: most audit values are these, and a round trip through the
encoder and decoder per value was a tenth of a batch's commit."""


_AS_TEXT = (Decimal, date, datetime)
"""Values JSON holds as their text (what the encoder's ``default=str`` makes of them): a
discount, an amount or a date, written for most customers; the round trip built an encoder
for each (about 40,000 instructions a value)."""


def jsonable(value: Any) -> Any:
    """``value`` as JSON columns hold it (dates and decimals as text)."""
    kind = type(value)
    if kind in _AS_IS:  # exact types: a str or int subclass (an enum) goes the long way
        return value
    if kind in _AS_TEXT:
        return str(value)
    return json.loads(json.dumps(value, default=str))


def chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split ``rows`` into lists of at most ``size``."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def pairs_in(
    first: sa.Column[Any], second: sa.Column[Any], pairs: Iterable[tuple[Any, Any]]
) -> sa.ColumnElement[bool]:
    """``(first, second) in pairs``, spelt as ``first = a AND second IN (...) OR ...`` so an
    index on the two columns serves it: SQLite reads a row-value IN list by scanning.
    """
    grouped: dict[Any, list[Any]] = defaultdict(list)
    for one, two in pairs:
        grouped[one].append(two)
    return sa.or_(
        sa.false(), *(sa.and_(first == one, second.in_(twos)) for one, twos in grouped.items())
    )


def records_in(table: sa.Table, refs: Iterable[RecordRef]) -> sa.ColumnElement[bool]:
    """``(kind, record_id) in refs`` for a table keyed by record."""
    return pairs_in(table.c.kind, table.c.record_id, ((r.kind, r.id) for r in refs))


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, updating ``update`` columns where the ``keys`` already exist.

    One statement through the driver's executemany, values prepared as the column types bind
    them (:mod:`sync_jobs.store.bulk`): SQLAlchemy's per-row parameter processing cost more
    than the database work.
    """
    await insert_rows(conn, table, rows, keys=keys, update=update)


async def insert_ignore(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> None:
    """Insert rows, skipping those that collide on ``keys`` (optionally a partial index)."""
    await insert_rows(conn, table, rows, keys=keys, update=(), where=where)
