"""Encoded queries (``sysparm_query``) built only from checked column names and safe values.

An invalid part of an encoded query (an unknown column, a typo) is silently dropped and the
rest runs (FACTS.md 4.3): a misspelled filter returns *more* rows, possibly the whole table. So
every column named here must exist in the table's schema (:class:`UncheckedColumn` otherwise),
and values that would break the syntax are refused rather than sent: ``^`` joins conditions,
``,`` separates ``IN`` values, a line break ends nothing well. Column names, operators and values
are case-sensitive (4.3).

Syntax used (FACTS.md 4.3, doc Operators): ``<col><op><value>`` joined by ``^`` (AND), ``^OR``
(OR with the previous condition), ``^NQ`` (a new OR'ed query), ``colINa,b,c``, ``colLIKEtext``
(contains), ``ORDERBY<col>``.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.service.servicenow.catalog import TableSchema

ORDER_BY_UPDATE = "ORDERBYsys_updated_on^ORDERBYsys_id"
"""The identity feed's order: update time, then sys_id to break one-second ties."""


class UncheckedColumn(ValueError):
    """A query would name a column the table does not have (it would be dropped silently)."""


def safe(value: str) -> bool:
    """Whether ``value`` can appear in an encoded query as it is."""
    return bool(value) and not any(c in value for c in "^\r\n")


def column(schema: TableSchema, name: str) -> str:
    """``name`` if the table has it; raises :class:`UncheckedColumn` otherwise."""
    if not schema.has(name):
        raise UncheckedColumn(
            f"{schema.table} has no column {name!r} (sys_dictionary); a query naming it would "
            "be ignored by ServiceNow and return unfiltered rows"
        )
    return name


def any_of(schema: TableSchema, name: str, values: Iterable[str]) -> str | None:
    """``colINa,b`` (plus ``^ORcol=v`` for values holding a comma); None when no value is safe."""
    col = column(schema, name)
    wanted = [v for v in dict.fromkeys(values) if safe(v)]
    listed = [v for v in wanted if "," not in v]
    parts = [f"{col}IN{','.join(listed)}"] if listed else []
    parts += [f"{col}={v}" for v in wanted if "," in v]
    return "^OR".join(parts) or None


def contains_any(schema: TableSchema, name: str, values: Iterable[str]) -> str | None:
    """``colLIKEa^ORcolLIKEb`` (LIKE: the column contains the text); None when none is safe."""
    col = column(schema, name)
    parts = [f"{col}LIKE{v}" for v in dict.fromkeys(values) if safe(v)]
    return "^OR".join(parts) or None


def updated_after(stamp: str | None, sys_id: str | None) -> str:
    """Rows after the keyset position ``(stamp, sys_id)`` in the feed's order, ordered.

    ``sys_updated_on>T^NQsys_updated_on=T^sys_id>S``: later seconds, or the same second and a
    larger sys_id (FACTS.md 4.6), so a page boundary inside a second of many updates neither
    skips nor repeats a row. Without a sys_id the whole second ``T`` counts as read.
    """
    if stamp is None:
        return ORDER_BY_UPDATE
    if sys_id is None:
        return f"sys_updated_on>{stamp}^{ORDER_BY_UPDATE}"
    return f"sys_updated_on>{stamp}^NQsys_updated_on={stamp}^sys_id>{sys_id}^{ORDER_BY_UPDATE}"
