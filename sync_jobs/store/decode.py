"""Rows read through the driver, as SQLAlchemy's column types would hand them back.

The counterpart of :mod:`sync_jobs.store.bulk` for reads: a column's value is converted by
the result processor its SQLAlchemy type has on the dialect (SQLite: datetime text to aware
UTC datetimes, JSON text to objects, 0/1 to booleans; psycopg converts most itself), looked
up once per dialect and column list, so rows read by :mod:`sync_jobs.store.hop` equal the
rows the same query through SQLAlchemy returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from sync_jobs.store.tables import UTCDateTime

Process = Callable[[Any], Any]
Decode = Callable[[tuple[Any, ...]], tuple[Any, ...]]

_DECODERS: dict[tuple[str, tuple[tuple[str, str], ...]], Decode] = {}


def _utc_from_text(value: str) -> datetime:
    """SQLite's stored datetime text (naive UTC, as :mod:`sync_jobs.store.bulk` and
    SQLAlchemy write it) as an aware UTC datetime, in one C call: SQLAlchemy's processor and
    ``UTCDateTime``'s Python step per value were most of reading a deal row."""
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_from_stored(value: Any) -> Any:
    """SQLite's JSON column as SQLAlchemy decodes it: the text parsed, but a number given
    back as it is (the column's numeric affinity stores the text ``10`` as 10). JSON's
    ``null`` (most deals' ``violations``) is answered without the parser."""
    if value == "null":
        return None
    return _parsed(value) if type(value) is str else value


_DECODER = json.JSONDecoder()
"""A decoder with ``json.loads``' defaults (the C scanner where there is one)."""


def _parsed(text: str) -> Any:
    """``json.loads(text)``, with the decoder's documented ``raw_decode`` for a text that is
    one JSON value from its first character to its last, as dealbridge stores them: loads'
    layers and its two whitespace matches were half of reading a deal's ``match_detail``.
    Anything else (whitespace around the value, a byte order mark, more after it, text that
    is not JSON) goes to ``json.loads``, which answers or raises as it always has."""
    try:
        found, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)
    return found if end == len(text) else json.loads(text)


def processor(column: sa.ColumnElement[Any], dialect: Dialect) -> Process | None:
    """How the driver's value of ``column`` becomes SQLAlchemy's (None: as it is)."""
    if dialect.name == "sqlite":
        if isinstance(column.type, UTCDateTime):
            return _utc_from_text
        if isinstance(column.type, sa.JSON):
            return _json_from_stored
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


NamedDecode = Callable[[Sequence[Any]], dict[str, Any]]


def named_decoder(dialect: Dialect, columns: Sequence[sa.Column[Any]]) -> NamedDecode:
    """A function turning a driver row of ``columns`` into its values by column name, each
    as SQLAlchemy would give it: the dict made once and converted in place, for a caller
    that wants the values by name anyway (no list and tuple of them a row first)."""
    names = tuple(c.name for c in columns)
    steps = [(c.name, p) for c in columns if (p := processor(c, dialect)) is not None]

    def decode(row: Sequence[Any]) -> dict[str, Any]:
        values = dict(zip(names, row, strict=True))
        for name, process in steps:
            value = values[name]
            if value is not None:
                values[name] = process(value)
        return values

    return decode


def _build(dialect: Dialect, columns: Sequence[sa.Column[Any]]) -> Decode:
    steps = [(i, p) for i, c in enumerate(columns) if (p := processor(c, dialect)) is not None]
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
