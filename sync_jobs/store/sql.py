"""Dialect helpers: one upsert spelling for SQLite and PostgreSQL, and bounded batches."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

# SQLite allows 32766 bound variables per statement; rows of ~16 columns stay well under it.
CHUNK = 500


def chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Split ``rows`` into lists of at most ``size``."""
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def records_in(table: sa.Table, refs: Iterable[tuple[str, str]]) -> sa.ColumnElement[bool]:
    """``(kind, record_id) in refs``, spelt so an index on ``(target, kind, record_id)`` serves
    it: SQLite reads a row-value IN list as a scan of the whole target.
    """
    by_kind: dict[str, list[str]] = defaultdict(list)
    for kind, record_id in refs:
        by_kind[kind].append(record_id)
    return sa.or_(
        sa.false(),
        *(
            sa.and_(table.c.kind == kind, table.c.record_id.in_(ids))
            for kind, ids in by_kind.items()
        ),
    )


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def upsert(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, updating ``update`` columns where the ``keys`` already exist.

    One compiled statement run as executemany (SQLAlchemy batches it into multi-row VALUES
    itself): compiling a fresh multi-row statement per call costs more than the database work.
    """
    if not rows:
        return
    stmt = _insert(conn, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={c: stmt.excluded[c] for c in update}
    )
    for part in chunks(rows):
        await conn.execute(stmt, list(part))


async def insert_ignore(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> None:
    """Insert rows, skipping those that collide on ``keys`` (optionally a partial index)."""
    if not rows:
        return
    stmt = _insert(conn, table).on_conflict_do_nothing(index_elements=list(keys), index_where=where)
    for part in chunks(rows):
        await conn.execute(stmt, list(part))
