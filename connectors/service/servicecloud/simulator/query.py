"""SOQL over the simulated org: the queries a service-desk connector sends, checked like Salesforce.

The text is parsed by the sales simulator's SOQL parser
(:mod:`connectors.sales.salesforce.simulator.soql`: the grammar is the platform's, not the
object set's); this module checks it against this org's
schema and runs it over flat objects (no relationship paths: the target reads one object at a
time). What Salesforce does and connectors rely on [FACTS.md 4.1-4.3]:

* names are case-insensitive; answers use the canonical API names, every record carries
  ``attributes {type, url}``, datetimes are ``2026-01-02T03:04:05.000+0000``;
* an unknown column fails the whole query: 400 ``INVALID_FIELD`` "No such column 'X' on entity
  'Account'..."; a field that cannot be filtered (long text areas) is ``INVALID_FIELD`` too;
* each filter value must match the field's type (an unquoted datetime for datetime fields, a
  quoted string for text and ids, true/false for booleans), otherwise ``INVALID_FIELD``;
* text comparisons (``=``, ``IN``, ``LIKE``) ignore case, except on unique case-sensitive fields
  (SOQL reference, "Comparison Operators"); ids compare exactly (and order as text, which is
  what an ``Id > 'last'`` keyset relies on); ``!=`` and ``NOT IN`` include nulls;
* a string literal longer than 4,000 characters is refused, as is a statement over 100,000
  characters (FACTS.md 4.3; the exact error code is not documented there: ``MALFORMED_QUERY``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from connectors.sales.salesforce.simulator.soql import (
    Condition,
    Expr,
    Literal,
    Logic,
    Not,
    OrderItem,
    Query,
    SoqlError,
    parse,
)
from connectors.salesforce_common.simulator.field_types import (
    COMPARISONS,
    expected_kind,
    type_message,
)
from connectors.service.servicecloud.simulator.schema import IDS, NUMBERS, FieldSpec, SObjectSpec
from connectors.service.servicecloud.simulator.store import OrgStore, Record

STATEMENT_MAX = 100_000
STRING_LITERAL_MAX = 4_000

Predicate = Callable[[Record], bool]


@dataclass(frozen=True)
class Checked:
    """A query checked against the schema, ready to select and project."""

    spec: SObjectSpec
    fields: tuple[FieldSpec, ...]
    where: Predicate | None
    order: tuple[tuple[FieldSpec, OrderItem], ...]
    limit: int | None
    offset: int | None


def check(store: OrgStore, text: str) -> Checked:
    """Parse and check one SOQL statement; errors are the ones Salesforce sends."""
    if len(text) > STATEMENT_MAX:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {STATEMENT_MAX} characters",
        )
    query = parse(text)
    spec = store.schema.get(query.sobject)
    if spec is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
            "custom object, be sure to append the '__c' after the entity name.",
        )
    if query.subqueries:
        raise SoqlError("MALFORMED_QUERY", "this org's simulator answers no subqueries")
    return Checked(
        spec=spec,
        fields=_select(spec, query),
        where=_predicate(spec, query.where) if query.where is not None else None,
        order=tuple((_column(spec, item.path), item) for item in query.order),
        limit=query.limit,
        offset=query.offset,
    )


def select_ids(store: OrgStore, query: Checked, *, include_deleted: bool) -> list[str]:
    """Ids of the matching records, ordered, with LIMIT and OFFSET applied."""
    rows = list(store.table(query.spec.name).values())
    if not include_deleted:
        rows = [r for r in rows if not r.get("IsDeleted")]
    if query.where is not None:
        rows = [r for r in rows if query.where(r)]
    for spec, item in reversed(query.order):
        nulls = 0 if item.nulls_last == item.descending else 2

        def key(record: Record, spec: FieldSpec = spec, nulls: int = nulls) -> Any:
            value = _comparable(spec, record.get(spec.name))
            return (nulls, 0) if value is None else (1, value)

        rows.sort(key=key, reverse=item.descending)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    return [str(r["Id"]) for r in rows[start:end]]


def project(query: Checked, record: Record, version: str) -> dict[str, Any]:
    """One result record in the REST shape."""
    out: dict[str, Any] = {"attributes": attributes(query.spec.name, str(record["Id"]), version)}
    for spec in query.fields:
        out[spec.name] = to_json(record.get(spec.name))
    return out


def attributes(sobject: str, record_id: str, version: str) -> dict[str, str]:
    """``{"type": "Account", "url": "/services/data/v61.0/sobjects/Account/001..."}``."""
    return {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}"}


def to_json(value: Any) -> Any:
    """Salesforce's JSON forms: ``2026-11-23T14:05:00.000+0000`` and ``2026-11-23``."""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _select(spec: SObjectSpec, query: Query) -> tuple[FieldSpec, ...]:
    seen: set[str] = set()
    chosen = []
    for name in query.fields:
        found = _column(spec, name)
        if found.name.lower() in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
        seen.add(found.name.lower())
        chosen.append(found)
    return tuple(chosen)


def _column(spec: SObjectSpec, name: str) -> FieldSpec:
    found = spec.get(name) if "." not in name else None
    if found is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{spec.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    return found


def _predicate(spec: SObjectSpec, expr: Expr) -> Predicate:
    if isinstance(expr, Logic):
        parts = [_predicate(spec, item) for item in expr.items]
        if expr.op == "AND":
            return lambda record: all(p(record) for p in parts)
        return lambda record: any(p(record) for p in parts)
    if isinstance(expr, Not):
        inner = _predicate(spec, expr.item)
        return lambda record: not inner(record)
    return _condition(spec, expr)


def _condition(spec: SObjectSpec, cond: Condition) -> Predicate:
    column = _column(spec, cond.path)
    if not column.filterable:
        raise SoqlError(
            "INVALID_FIELD", f"field '{column.name}' can not be filtered in a query call"
        )
    name = column.name
    if cond.op == "LIKE":
        pattern = _like(column, cond.values[0])
        return lambda r: isinstance(r.get(name), str) and pattern.fullmatch(r[name]) is not None
    if cond.op in ("INCLUDES", "EXCLUDES"):
        raise SoqlError("INVALID_FIELD", f"{cond.op} is only valid on multi-select picklists")
    values = [_value(column, literal) for literal in cond.values]
    if cond.op in ("IN", "NOT IN"):
        wanted = set(values)
        if cond.op == "IN":
            return lambda r: _comparable(column, r.get(name)) in wanted
        return lambda r: _comparable(column, r.get(name)) not in wanted
    return _compare(column, cond.op, values[0])


def _compare(column: FieldSpec, op: str, value: Any) -> Predicate:
    name = column.name
    if value is None:
        if op not in ("=", "!="):
            raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != ({op})")
        return (lambda r: r.get(name) is None) if op == "=" else (lambda r: r.get(name) is not None)
    test = COMPARISONS[op]

    def check_one(record: Record) -> bool:
        current = _comparable(column, record.get(name))
        if current is None:
            return op == "!="
        return bool(test(current, value))

    return check_one


def _value(column: FieldSpec, literal: Literal) -> Any:
    """The literal as a value comparable with the column, or Salesforce's type error."""
    if literal.kind == "null":
        return None
    expected = expected_kind(column)
    if literal.kind != expected:
        raise SoqlError("INVALID_FIELD", type_message(column, expected))
    if literal.kind == "string" and len(str(literal.value)) > STRING_LITERAL_MAX:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"a string in a WHERE clause cannot exceed {STRING_LITERAL_MAX} characters",
        )
    return _comparable(column, literal.value)


def _comparable(column: FieldSpec, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str) and column.type not in IDS and not column.case_sensitive:
        return value.casefold()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _like(column: FieldSpec, literal: Literal) -> re.Pattern[str]:
    if column.type in NUMBERS or column.type in ("boolean", "date", "datetime"):
        raise SoqlError("INVALID_FIELD", f"invalid operator on field '{column.name}' for LIKE")
    if literal.kind != "string":
        raise SoqlError("INVALID_FIELD", type_message(column, "string"))
    out, text, i = [], str(literal.value), 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            out.append(re.escape(text[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
