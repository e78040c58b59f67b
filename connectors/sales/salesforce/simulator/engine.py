"""Runs parsed SOQL against the simulated org: field resolution, filters, order, projection.

Salesforce semantics kept here because connectors depend on them:

* names are case-insensitive, but results use the canonical API names;
* text comparisons (``=``, ``IN``, ``LIKE``) ignore case; ``!=`` and ``NOT IN`` include nulls;
* each filter value must match the field's type (an unquoted datetime for datetime fields...),
  otherwise INVALID_FIELD, as Salesforce answers;
* a parent that is not set projects as ``null``; a child subquery without rows is ``null``;
* every projected record carries ``attributes {type, url}``; datetimes are
  ``2026-11-23T14:05:00.000+0000``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.sales.salesforce.simulator.schema import (
    IDS,
    TEXT,
    FieldSpec,
    ObjectSpec,
    lookup,
)
from connectors.sales.salesforce.simulator.soql import (
    Condition,
    Expr,
    Literal,
    Logic,
    Not,
    OrderItem,
    Query,
    SoqlError,
)
from connectors.sales.salesforce.simulator.store import Org, Record
from connectors.salesforce_common.simulator.field_types import (
    COMPARISONS,
    expected_kind,
    type_message,
)

Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]

CURSOR_ORDER = ("systemmodstamp", "id")


@dataclass(frozen=True)
class FieldPath:
    """A resolved dotted path: the reference fields walked, then the field read."""

    steps: tuple[FieldSpec, ...]
    field: FieldSpec

    @property
    def key(self) -> str:
        return ".".join(s.relationship or "" for s in self.steps).lower() + "." + self.field.name


@dataclass(frozen=True)
class Plan:
    """A checked query, ready to select ids and project pages."""

    spec: ObjectSpec
    fields: tuple[FieldPath, ...]
    children: tuple[tuple[str, ObjectSpec, str, Plan], ...]
    where: Predicate | None
    order: tuple[OrderItem, ...]
    order_keys: tuple[Getter, ...]
    limit: int | None
    offset: int | None
    lower_bound: tuple[datetime, bool] | None


def plan(org: Org, query: Query, spec: ObjectSpec | None = None) -> Plan:
    """Check a parsed query against the schema; errors are the ones Salesforce sends."""
    spec = spec or lookup(query.sobject)
    if spec is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"\n{query.sobject}\n^\nERROR at Row:1:Column:1\nsObject type '{query.sobject}' is "
            "not supported. If you are attempting to use a custom object, be sure to append the "
            "'__c' after the entity name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
        )
    fields = _select_fields(spec, query.fields)
    return Plan(
        spec=spec,
        fields=fields,
        children=tuple(_child_plan(org, spec, sub) for sub in query.subqueries),
        where=compile_expr(org, spec, query.where) if query.where else None,
        order=query.order,
        order_keys=tuple(_order_getter(org, spec, item) for item in query.order),
        limit=query.limit,
        offset=query.offset,
        lower_bound=_modstamp_bound(query.where),
    )


def _select_fields(spec: ObjectSpec, names: tuple[str, ...]) -> tuple[FieldPath, ...]:
    seen: set[str] = set()
    fields = []
    for name in names:
        path = resolve(spec, name)
        if path.key.lower() in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
        seen.add(path.key.lower())
        fields.append(path)
    return tuple(fields)


def _child_plan(org: Org, spec: ObjectSpec, sub: Query) -> tuple[str, ObjectSpec, str, Plan]:
    relation = spec.child_by_name.get(sub.sobject.lower())
    child = lookup(relation.child) if relation else None
    if relation is None or child is None or sub.subqueries:
        raise SoqlError(
            "INVALID_TYPE",
            f"Didn't understand relationship '{sub.sobject}' in FROM part of query call. If you "
            "are attempting to use a custom relationship, be sure to append the '__r' after the "
            "custom relationship name. Please reference your WSDL or the describe call for the "
            "appropriate names.",
        )
    return relation.relationship, child, relation.field, plan(org, sub, child)


def resolve(spec: ObjectSpec, path: str) -> FieldPath:
    """Walk ``Account.Owner.Name`` through parent relationships to a field."""
    *relations, name = path.split(".")
    steps = []
    current = spec
    for relation in relations:
        ref = current.parents.get(relation.lower())
        target = lookup(ref.reference_to[0]) if ref else None
        if ref is None or target is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{relation}' in field path. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after the "
                "custom relationship name. Please reference your WSDL or the describe call for "
                "the appropriate names.",
            )
        steps.append(ref)
        current = target
    field = current.by_name.get(name.lower())
    if field is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{current.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
    return FieldPath(tuple(steps), field)


def getter(org: Org, path: FieldPath) -> Getter:
    """A function reading ``path`` from a record (None when a parent is not set)."""
    name = path.field.name
    if not path.steps:
        return lambda record: record.get(name)
    steps = [(s.name, s.reference_to[0]) for s in path.steps]

    def read(record: Record) -> Any:
        current: Record | None = record
        for fk, target in steps:
            current = org.get(target, current.get(fk)) if current is not None else None
        return current.get(name) if current is not None else None

    return read


# -- filters --------------------------------------------------------------------------------


def compile_expr(org: Org, spec: ObjectSpec, expr: Expr) -> Predicate:
    """Turn a WHERE tree into a predicate over records (parents are read from ``org``)."""
    if isinstance(expr, Logic):
        parts = [compile_expr(org, spec, item) for item in expr.items]
        if expr.op == "AND":
            return lambda record: all(p(record) for p in parts)
        return lambda record: any(p(record) for p in parts)
    if isinstance(expr, Not):
        inner = compile_expr(org, spec, expr.item)
        return lambda record: not inner(record)
    return _condition(org, spec, expr)


def _condition(org: Org, spec: ObjectSpec, cond: Condition) -> Predicate:
    path = resolve(spec, cond.path)
    field = path.field
    if not field.filterable:
        raise SoqlError(
            "INVALID_FIELD", f"field '{field.name}' can not be filtered in a query call"
        )
    read = getter(org, path)
    if cond.op == "LIKE":
        return _like(field, read, cond.values[0])
    if cond.op in ("INCLUDES", "EXCLUDES"):
        return _includes(field, read, cond.op, cond.values)
    values = [_coerce(field, literal) for literal in cond.values]
    if cond.op in ("IN", "NOT IN"):
        wanted = {v for v in values if not isinstance(v, tuple)}
        if cond.op == "IN":
            return lambda record: _norm(field, read(record)) in wanted
        return lambda record: _norm(field, read(record)) not in wanted
    return _compare(field, read, cond.op, values[0])


def _compare(field: FieldSpec, read: Getter, op: str, value: Any) -> Predicate:
    if isinstance(value, tuple):  # a date literal: a [start, end) range
        return _in_range(field, read, op, value)
    if value is None:
        if op not in ("=", "!="):
            raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != ({op})")
        return (lambda r: read(r) is None) if op == "=" else (lambda r: read(r) is not None)
    test = COMPARISONS[op]

    def check(record: Record) -> bool:
        current = _norm(field, read(record))
        if current is None:
            return op == "!="
        return test(current, value)

    return check


def _in_range(field: FieldSpec, read: Getter, op: str, bounds: tuple[Any, Any]) -> Predicate:
    start, end = bounds
    tests: dict[str, Callable[[Any], bool]] = {
        "=": lambda v: start <= v < end,
        "!=": lambda v: not start <= v < end,
        "<": lambda v: v < start,
        "<=": lambda v: v < end,
        ">": lambda v: v >= end,
        ">=": lambda v: v >= start,
    }
    test = tests[op]

    def check(record: Record) -> bool:
        current = _norm(field, read(record))
        return current is not None and test(current)

    return check


def _like(field: FieldSpec, read: Getter, literal: Literal) -> Predicate:
    if (field.type not in TEXT and field.type not in IDS) or literal.kind != "string":
        raise SoqlError(
            "INVALID_FIELD", f"invalid operator on field '{field.name}' for LIKE: text only"
        )
    regex = re.compile(_like_regex(str(literal.value)), re.IGNORECASE | re.DOTALL)

    def check(record: Record) -> bool:
        current = read(record)
        return isinstance(current, str) and regex.fullmatch(current) is not None

    return check


def _like_regex(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        i += 1
    return "".join(out)


def _includes(field: FieldSpec, read: Getter, op: str, values: tuple[Literal, ...]) -> Predicate:
    if field.type != "multipicklist" or any(v.kind != "string" for v in values):
        raise SoqlError(
            "INVALID_FIELD", f"{op} is only valid on multi-select picklists ('{field.name}')"
        )
    groups = [{p.strip().casefold() for p in str(v.value).split(";")} for v in values]

    def check(record: Record) -> bool:
        chosen = {p.strip().casefold() for p in str(read(record) or "").split(";") if p}
        hit = any(group <= chosen for group in groups)
        return hit if op == "INCLUDES" else not hit

    return check


def _coerce(field: FieldSpec, literal: Literal) -> Any:
    """The literal as a value comparable with the field, or the type error Salesforce gives."""
    kind, value = literal.kind, literal.value
    if kind == "null":
        return None
    if kind == "dateliteral" and field.type in ("date", "datetime"):
        return date_range(value, datetime_field=field.type == "datetime")
    expected = expected_kind(field)
    if kind != expected:
        raise SoqlError("INVALID_FIELD", type_message(field, expected))
    if kind == "string" and field.type not in IDS:
        return str(value).casefold()
    return float(value) if kind == "number" else value


def date_range(literal: tuple[str, int], *, datetime_field: bool) -> tuple[Any, Any]:
    """TODAY, YESTERDAY, TOMORROW, LAST_N_DAYS:n, NEXT_N_DAYS:n as a [start, end) range."""
    name, count = literal
    today = datetime.now(UTC).date()
    starts = {
        "TODAY": (today, today + timedelta(days=1)),
        "YESTERDAY": (today - timedelta(days=1), today),
        "TOMORROW": (today + timedelta(days=1), today + timedelta(days=2)),
        "LAST_N_DAYS": (today - timedelta(days=count), today + timedelta(days=1)),
        "NEXT_N_DAYS": (today + timedelta(days=1), today + timedelta(days=count + 1)),
    }
    start, end = starts[name]
    if not datetime_field:
        return start, end
    return _midnight(start), _midnight(end)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _norm(field: FieldSpec, value: Any) -> Any:
    if isinstance(value, str) and field.type not in IDS:
        return value.casefold()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _modstamp_bound(where: Expr | None) -> tuple[datetime, bool] | None:
    """``SystemModstamp >=|> <datetime>`` at the top of the WHERE: lets the index skip rows."""
    conditions = where.items if isinstance(where, Logic) and where.op == "AND" else (where,)
    for cond in conditions:
        if (
            isinstance(cond, Condition)
            and cond.path.lower() == "systemmodstamp"
            and cond.op in (">=", ">")
            and cond.values[0].kind == "datetime"
        ):
            return cond.values[0].value, cond.op == ">="
    return None


# -- selecting and ordering -------------------------------------------------------------------


def select_ids(org: Org, query: Plan, *, include_deleted: bool) -> list[str]:
    """Ids of the matching records, ordered, with LIMIT/OFFSET applied."""
    table = org.table(query.spec)
    if query.lower_bound is not None:
        moment, inclusive = query.lower_bound
        ids = org.changed_since(query.spec, moment, inclusive=inclusive)
        presorted = [o.path.lower() for o in query.order] == list(CURSOR_ORDER) and not any(
            o.descending for o in query.order
        )
    else:
        ids, presorted = list(org.all_ids(query.spec)), False
    rows = [table[i] for i in ids]
    rows = [r for r in rows if include_deleted or not r.get("IsDeleted")]
    if query.where is not None:
        rows = [r for r in rows if query.where(r)]
    if query.order and not presorted:
        rows = _sorted(rows, query)
    start = query.offset or 0
    end = None if query.limit is None else start + query.limit
    return [str(r["Id"]) for r in rows[start:end]]


def _order_getter(org: Org, spec: ObjectSpec, item: OrderItem) -> Getter:
    path = resolve(spec, item.path)
    read = getter(org, path)
    return lambda record: _norm(path.field, read(record))


def _sorted(rows: list[Record], query: Plan) -> list[Record]:
    for item, key in reversed(list(zip(query.order, query.order_keys, strict=True))):
        null_group = 0 if item.nulls_last == item.descending else 2

        def sort_key(record: Record, key: Getter = key, null_group: int = null_group) -> Any:
            value = key(record)
            return (null_group, 0) if value is None else (1, value)

        rows.sort(key=sort_key, reverse=item.descending)
    return rows


# -- projection ----------------------------------------------------------------------------


def project(org: Org, query: Plan, record: Record, version: str) -> dict[str, Any]:
    """One result record in the REST shape (attributes, nested parents, child results)."""
    out: dict[str, Any] = {"attributes": attributes(query.spec, record, version)}
    for path in query.fields:
        if path.steps:
            _project_path(org, out, record, path, version)
        else:
            out[path.field.name] = to_json(record.get(path.field.name))
    for relationship, child, fk, sub in query.children:
        rows = org.children(child, fk, str(record["Id"]))
        if sub.where is not None:
            rows = [r for r in rows if sub.where(r)]
        rows = _sorted(rows, sub) if sub.order else rows
        rows = rows[: sub.limit] if sub.limit is not None else rows
        out[relationship] = (
            {
                "totalSize": len(rows),
                "done": True,
                "records": [project(org, sub, row, version) for row in rows],
            }
            if rows
            else None
        )
    return out


def _project_path(
    org: Org, out: dict[str, Any], record: Record, path: FieldPath, version: str
) -> None:
    target, current = out, record
    for step in path.steps:
        key = str(step.relationship)
        if key in target and target[key] is None:
            return
        parent = org.get(step.reference_to[0], current.get(step.name))
        if parent is None:
            target[key] = None
            return
        if key not in target:
            spec = lookup(step.reference_to[0])
            assert spec is not None
            target[key] = {"attributes": attributes(spec, parent, version)}
        target, current = target[key], parent
    target[path.field.name] = to_json(current.get(path.field.name))


def attributes(spec: ObjectSpec, record: Record, version: str) -> dict[str, str]:
    """``{"type": "Opportunity", "url": "/services/data/v61.0/sobjects/Opportunity/006..."}``."""
    return {
        "type": spec.name,
        "url": f"/services/data/{version}/sobjects/{spec.name}/{record['Id']}",
    }


def to_json(value: Any) -> Any:
    """Salesforce's JSON forms: ``2026-11-23T14:05:00.000+0000`` and ``2026-11-23``."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, datetime):
        moment = value.astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value
