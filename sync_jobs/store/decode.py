"""Rows read through the driver, as SQLAlchemy's column types would hand them back.

The counterpart of :mod:`sync_jobs.store.bulk` for reads: a column's value is converted by
the result processor its SQLAlchemy type has on the dialect (SQLite: datetime text to aware
UTC datetimes, JSON text to objects, 0/1 to booleans; psycopg converts most itself), looked
up once per dialect and column list, so rows read by :mod:`sync_jobs.store.hop` equal the
rows the same query through SQLAlchemy returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

Process = Callable[[Any], Any]
Decode = Callable[[tuple[Any, ...]], tuple[Any, ...]]

_DECODERS: dict[tuple[str, tuple[tuple[str, str], ...]], Decode] = {}


def _processor(column: sa.ColumnElement[Any], dialect: Dialect) -> Process | None:
    impl = column.type.dialect_impl(dialect)
    found: Process | None = impl.result_processor(dialect, None)
    return found


def decoder(dialect: Dialect, columns: Sequence[sa.Column[Any]]) -> Decode:
    """A function turning a driver row of ``columns`` into the row SQLAlchemy would give."""
    shape = (dialect.name, tuple((c.table.name, c.name) for c in columns))
    found = _DECODERS.get(shape)
    if found is None:
        found = _DECODERS[shape] = _build(dialect, columns)
    return found


def _build(dialect: Dialect, columns: Sequence[sa.Column[Any]]) -> Decode:
    steps = [(i, p) for i, c in enumerate(columns) if (p := _processor(c, dialect)) is not None]
    if not steps:
        return tuple

    def decode(row: tuple[Any, ...]) -> tuple[Any, ...]:
        values = list(row)
        for index, process in steps:
            value = values[index]
            if value is not None:
                values[index] = process(value)
        return tuple(values)

    return decode
