"""Statement text in one dialect's driver style, for the statements :mod:`sync_jobs.store.hop`
runs (SQLite's ``?`` and ``IN (?, ...)``, psycopg's ``%s`` and ``= ANY(%s)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class DriverSql:
    """Placeholders and lists in one dialect's driver style."""

    def __init__(self, dialect: Dialect) -> None:
        self.sqlite = dialect.name == "sqlite"
        self.quote = dialect.identifier_preparer.quote
        self.mark = "?" if self.sqlite else "%s"

    def table(self, table: sa.Table) -> str:
        return self.quote(table.name)

    def names(self, columns: Sequence[sa.Column[Any]]) -> str:
        return ", ".join(self.quote(c.name) for c in columns)

    def among(self, column: str, count: int, array: str = "text") -> str:
        """``column`` is one of the next ``count`` values (given one by one on SQLite, as one
        ``array`` on PostgreSQL: :meth:`values`)."""
        if self.sqlite:
            return f"{self.quote(column)} IN ({', '.join('?' * count)})"
        return f"{self.quote(column)} = ANY({self.mark}::{array}[])"

    def values(self, items: Sequence[Any]) -> list[Any]:
        return list(items) if self.sqlite else [list(items)]
