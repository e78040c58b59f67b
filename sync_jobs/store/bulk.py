"""Many rows through the driver's ``executemany``, their values prepared as the column types
would bind them.

SQLAlchemy's executemany runs every row through its parameter machinery (a dict per row, a
bind processor call per JSON and datetime value): for the per-record state rows, about
thirteen a deal, that cost as much as SQLite storing them. Here the statement text is built
once per dialect, table and shape, and a row's values are prepared by one converter per typed
column, exactly as SQLAlchemy's types bind them:

- SQLite: a datetime as UTC text in SQLAlchemy's storage format (``2026-12-06 09:08:39.799093``,
  so stored values compare as before), a date as ISO text, JSON as its text (``None`` as
  JSON ``null``, as ``sa.JSON`` does by default; an :class:`~sync_jobs.store.encoded.EncodedJson`
  as the text it carries, a :class:`~sync_jobs.store.encoded.JsonText` as it is), booleans
  as they are (sqlite3 stores 1/0);
- PostgreSQL: datetimes converted to UTC and dates as they are (psycopg adapts them), JSON as
  text cast to ``json`` in the statement.

A value the same datetime object as the one before (a batch's ``now``) is converted once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from sync_jobs.store.encoded import EncodedJson, JsonText
from sync_jobs.store.tables import UTCDateTime

Convert = Callable[[Any], Any]


JSON_STRING = json.encoder.encode_basestring_ascii
"""What ``json.dumps`` does with a str (ASCII, quoted), called directly: most JSON values
written are texts (audit values, notes), and ``dumps``' Python layers cost more than this."""


_JSON_SCALARS: dict[Any, str] = {None: "null", True: "true", False: "false"}


def json_text(value: Any) -> str:
    """``value``'s text as ``json.dumps`` makes it (as a JSON column is written)."""
    kind = type(value)
    if kind is str:
        return JSON_STRING(value)
    if value is None or kind is bool:
        return _JSON_SCALARS[value]
    if kind is int:
        return int.__repr__(value)
    if kind is EncodedJson:  # its text is made already (a deal's terms, by pydantic)
        return value.text  # type: ignore[no-any-return]
    if kind is JsonText:  # the text alone (a match pass's match detail)
        return str(value)
    return json.dumps(value)


def _sqlite_day(value: date | None) -> str | None:
    if value is None:
        return None
    if type(value) is not date:  # as SQLAlchemy's SQLite Date: a datetime is not a date here
        raise TypeError(f"date column given {type(value).__name__} {value!r}")
    return value.isoformat()


def _utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"column {name} given {type(value).__name__} {value!r}, not a datetime")
    if value.tzinfo is None:
        raise ValueError(f"naive datetime given to the state store for {name}; use UTC-aware")
    return value.astimezone(UTC)


def _moment(name: str, sqlite: bool) -> Convert:
    """A datetime column's converter, remembering the last value (rows share ``now``)."""
    last: list[Any] = [None, None]

    def convert(value: datetime | None) -> Any:
        if value is None:
            return None
        if value is last[0]:
            return last[1]
        if sqlite and value.__class__ is datetime and value.tzinfo is UTC:
            # UTC already (every deal's modification time): the naive text is the aware
            # one less its "+00:00", without a converted copy made first.
            out: Any = value.isoformat(" ", "microseconds")[:-6]
        else:
            utc = _utc(name, value)
            out = utc.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else utc
        last[0], last[1] = value, out
        return out

    return convert


def _converter(column: sa.Column[Any], sqlite: bool) -> Convert | None:
    """How a column's value goes to the driver; None when it goes as it is."""
    kind = column.type
    if isinstance(kind, sa.JSON):
        return json_text
    if isinstance(kind, UTCDateTime | sa.DateTime):
        return _moment(column.name, sqlite)
    if isinstance(kind, sa.Date):
        return _sqlite_day if sqlite else None
    return None


_STATEMENTS: dict[tuple[Any, ...], str] = {}
"""Statement texts by dialect name and shape: a handful, one per call site."""


def _statement(
    dialect: Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    where: str | None,
) -> str:
    shape = (dialect.name, table.name, columns, keys, update, where)
    sql = _STATEMENTS.get(shape)
    if sql is None:
        sql = _STATEMENTS[shape] = _build(dialect, table, columns, keys, update, where)
    return sql


def _build(
    dialect: Dialect,
    table: sa.Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...] | None,
    where: str | None,
) -> str:
    """``INSERT ... VALUES (?, ...)`` with its ``ON CONFLICT`` clause, in the driver's style."""
    quote = dialect.identifier_preparer.quote
    sqlite = dialect.name == "sqlite"

    def slot(name: str) -> str:
        if sqlite:
            return "?"
        return "%s::JSON" if isinstance(table.c[name].type, sa.JSON) else "%s"

    # Only table and column names from tables.py go into the text; values are bound.
    names = ", ".join(quote(c) for c in columns)
    slots = ", ".join(slot(c) for c in columns)
    into = dialect.identifier_preparer.format_table(table)
    sql = f"INSERT INTO {into} ({names}) VALUES ({slots})"  # noqa: S608 - names, not values
    if update is None:
        return sql
    target = ", ".join(quote(k) for k in keys)
    if where and not sqlite:
        where = where.replace("%", "%%")  # psycopg's placeholders: a literal % is doubled
    sql += f" ON CONFLICT ({target})" + (f" WHERE {where}" if where else "")
    if not update:
        return sql + " DO NOTHING"
    return sql + " DO UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)


def _where_text(
    dialect: Dialect, where: sa.ColumnElement[bool] | sa.TextClause | None
) -> str | None:
    if where is None:
        return None
    if isinstance(where, sa.TextClause):  # as written: compiling it per call cost more
        return where.text
    return str(where.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _defaults(table: sa.Table, given: Sequence[str]) -> dict[str, Any]:
    """Scalar Python-side defaults of the columns a row leaves out (SQLAlchemy fills them)."""
    found: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in given or default is None:
            continue
        if not (isinstance(default, sa.ColumnDefault) and default.is_scalar):
            raise ValueError(f"{table.name}.{column.name}: only scalar defaults are filled here")
        found[column.name] = default.arg
    return found


def prepared_insert(
    dialect: Dialect,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str] = (),
    update: Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> tuple[str, list[tuple[Any, ...]]]:
    """The statement text and the driver's rows for :func:`insert_rows` (``rows`` not
    empty), for callers that run it with others (:mod:`sync_jobs.store.hop`)."""
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    return prepared_columns(dialect, table, columns, keys=keys, update=update, where=where)


@dataclass(frozen=True)
class Same:
    """One value for every row of a column (a batch's ``now``, its target): converted once."""

    value: Any


def prepared_columns(
    dialect: Dialect,
    table: sa.Table,
    columns: Mapping[str, Sequence[Any] | Same],
    *,
    keys: Sequence[str] = (),
    update: Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> tuple[str, list[tuple[Any, ...]]]:
    """:func:`prepared_insert` for rows given column by column, in the rows' column order
    (at least one column a sequence; all sequences as long): what a caller that has the
    values by column already saves is a dict per row, built only to be taken apart."""
    sqlite = dialect.name == "sqlite"
    given = tuple(columns)
    count = next(len(v) for v in columns.values() if not isinstance(v, Same))
    defaults = _defaults(table, given)
    names = given + tuple(defaults)
    # Column by column, then zipped into tuples (in C): a row at a time in Python cost more.
    values: list[Sequence[Any]] = []
    for name, column in (*columns.items(), *((n, Same(v)) for n, v in defaults.items())):
        convert = _converter(table.c[name], sqlite)
        if isinstance(column, Same):
            values.append([column.value if convert is None else convert(column.value)] * count)
        else:
            values.append(column if convert is None else list(map(convert, column)))
    prepared = list(zip(*values, strict=True))
    sql = _statement(
        dialect,
        table,
        names,
        tuple(keys),
        None if update is None else tuple(update),
        _where_text(dialect, where),
    )
    return sql, prepared


def prepared_update(
    dialect: Dialect, table: sa.Table, rows: Sequence[dict[str, Any]], *, keys: Sequence[str]
) -> tuple[str, list[tuple[Any, ...]]]:
    """``UPDATE table SET ... WHERE`` each of ``keys`` equals the row's, for every row
    (dicts with the same keys, ``rows`` not empty): the statement text and the driver's rows
    for one ``executemany`` (through :mod:`sync_jobs.store.hop`). Every column the rows name
    besides ``keys`` is set; values are prepared as for :func:`prepared_insert`."""
    sqlite = dialect.name == "sqlite"
    columns = tuple(name for name in rows[0] if name not in keys) + tuple(keys)
    values = []
    for name in columns:
        convert = _converter(table.c[name], sqlite)
        column = [row[name] for row in rows]
        values.append(column if convert is None else list(map(convert, column)))
    shape = (dialect.name, table.name, columns, tuple(keys), "update")
    sql = _STATEMENTS.get(shape)
    if sql is None:
        quote = dialect.identifier_preparer.quote

        def slot(name: str) -> str:
            if sqlite:
                return "?"
            return "%s::JSON" if isinstance(table.c[name].type, sa.JSON) else "%s"

        sets = ", ".join(f"{quote(c)} = {slot(c)}" for c in columns[: -len(keys)])
        where = " AND ".join(f"{quote(k)} = {slot(k)}" for k in keys)
        into = dialect.identifier_preparer.format_table(table)
        sql = _STATEMENTS[shape] = f"UPDATE {into} SET {sets} WHERE {where}"  # noqa: S608
    return sql, list(zip(*values, strict=True))


def bound(column: sa.Column[Any], dialect: Dialect, value: Any) -> Any:
    """One value as the driver takes it for ``column`` (what its type would bind)."""
    convert = _converter(column, dialect.name == "sqlite")
    return value if convert is None else convert(value)


async def insert_rows(
    conn: AsyncConnection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    keys: Sequence[str] = (),
    update: Sequence[str] | None = None,
    where: sa.ColumnElement[bool] | sa.TextClause | None = None,
) -> None:
    """Insert ``rows`` (dicts with the same keys) in one driver ``executemany``.

    With ``update`` given, rows colliding on ``keys`` (a unique index, partial when ``where``
    is its predicate) update those columns instead, or are skipped when ``update`` is empty.
    """
    if not rows:
        return
    sql, prepared = prepared_insert(
        conn.dialect, table, rows, keys=keys, update=update, where=where
    )
    await conn.exec_driver_sql(sql, prepared)
