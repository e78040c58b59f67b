"""Zoho CRM records as the doc-fake keeps them: modules, field catalog, COQL.

Section numbers (§) point to ``connectors/sales/zoho/FACTS.md``. The COQL grammar is small:
``select ... from ... where`` comparisons joined by ``and``, ``order by``, ``limit``/``offset``;
anything else is refused with 501 and a message saying it is this fake's limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.docfakes.crm_common import parse_instant

MAX_FIELDS = 50  # §3.1, §4.2
COQL_DEFAULT_LIMIT = 200  # §4.2
COQL_MAX_LIMIT = 2000  # §4.2 (v8)
COQL_MAX_ROWS = 100_000  # §4.2 (v8)
COQL_MAX_ORDER_BY = 10  # §4.2


class ZohoError(Exception):
    """§9.1: ``{"code", "details", "message", "status": "error"}`` with its HTTP status."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


class CoqlNotModelled(Exception):
    """COQL this fake does not parse (answered 501, so nobody mistakes it for Zoho)."""


@dataclass
class Field:
    """§6.1: one entry of ``/settings/fields``."""

    api_name: str
    label: str
    data_type: str
    custom: bool = False
    picklist: list[str] | None = None
    lookup_module: str | None = None

    def to_json(self, position: int) -> dict[str, Any]:
        json_type = {"lookup": "jsonobject", "multiselectpicklist": "jsonarray"}.get(
            self.data_type, "string"
        )
        return {
            "api_name": self.api_name,
            "field_label": self.label,
            "display_label": self.label,
            "data_type": self.data_type,
            "json_type": json_type,
            "custom_field": self.custom,
            "id": str(5725767000000002000 + position),
            "visible": True,
            "lookup": (
                {"module": {"api_name": self.lookup_module, "id": "5725767000000002175"}}
                if self.lookup_module
                else {}
            ),
            "pick_list_values": [
                {
                    "display_value": value,
                    "actual_value": value,
                    "reference_value": value,
                    "id": str(5725767000000003391 + n),
                    "sequence_number": n + 1,
                    "type": "used",
                    "colour_code": None,
                }
                for n, value in enumerate(self.picklist or [])
            ],
        }


@dataclass
class Module:
    """Records by id; ``Modified_Time``/``Created_Time`` kept as UTC datetimes."""

    api_name: str
    fields: list[Field]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)

    def field_names(self) -> set[str]:
        return {f.api_name for f in self.fields} | {"id"}


def zoho_time(moment: datetime, offset_minutes: int) -> str:
    """§3.4: ISO 8601 in the org's offset, whole seconds (``2022-11-21T15:12:13+05:30``)."""
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    return local.isoformat(timespec="seconds")


def render(record: dict[str, Any], names: list[str], offset_minutes: int) -> dict[str, Any]:
    """A record with the asked fields (unknown names left out, [unverified]) and its id."""
    shaped: dict[str, Any] = {}
    for name in [*names, "id"]:
        if name not in record:
            continue
        value = record[name]
        shaped[name] = zoho_time(value, offset_minutes) if isinstance(value, datetime) else value
    return shaped


@dataclass
class Coql:
    """A parsed ``select_query`` (§4)."""

    columns: list[str]
    module: str
    conditions: list[tuple[str, str, Any]]
    order: list[tuple[str, bool]]
    limit: int
    offset: int

    @property
    def credits(self) -> int:
        """§4.4: LIMIT 1-200 costs 1 credit, 201-1000 costs 2, 1001-2000 costs 3."""
        return 1 if self.limit <= 200 else 2 if self.limit <= 1000 else 3


_QUERY = re.compile(
    r"^\s*select\s+(?P<columns>.+?)\s+from\s+(?P<module>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+order\s+by\s+(?P<order>.+?))?"
    r"(?:\s+limit\s+(?P<limit>\d+)(?:\s*,\s*(?P<limit2>\d+)|\s+offset\s+(?P<offset>\d+))?)?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?:(?P<op>!=|>=|<=|=|>|<)\s*(?P<value>'[^']*'|[\w.:+-]+)"
    r"|\s+(?P<null>is\s+not\s+null|is\s+null))\s*$",
    re.IGNORECASE,
)


def parse_coql(text: str, modules: dict[str, Module]) -> Coql:
    """Validates against §4.2/§4.3 limits; raises :class:`ZohoError` as Zoho would."""
    if not re.match(r"^\s*select\s", text, re.IGNORECASE):
        raise ZohoError(400, "SYNTAX_ERROR", "invalid query formed", {"clause": "select"})
    match = _QUERY.match(text)
    if match is None:
        raise CoqlNotModelled(text)
    if match["where"] is None:  # §4.3: WHERE is required
        raise ZohoError(400, "SYNTAX_ERROR", "invalid query formed", {"clause": "where"})
    module = modules.get(match["module"])
    if module is None:
        raise ZohoError(400, "INVALID_QUERY", "invalid query formed", {"module": match["module"]})
    columns = [c.strip() for c in match["columns"].split(",")]
    if len(columns) > MAX_FIELDS:
        raise ZohoError(400, "LIMIT_EXCEEDED", "select columns limit exceeded", {"limit": 50})
    for column in columns:
        _check_column(column, module, modules)
    if re.search(r"\sor\s|\(", match["where"], re.IGNORECASE):
        raise CoqlNotModelled("'or' and parentheses in WHERE")
    conditions = [
        _condition(part, module, modules)
        for part in re.split(r"\s+and\s+", match["where"], flags=re.IGNORECASE)
    ]
    order = _order(match["order"], module, modules)
    if match["limit2"] is not None:  # "limit offset, count"
        offset, limit = int(match["limit"]), int(match["limit2"])
    else:
        limit = int(match["limit"] or COQL_DEFAULT_LIMIT)
        offset = int(match["offset"] or 0)
    if limit > COQL_MAX_LIMIT:
        raise ZohoError(400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "limit": 2000})
    if offset + limit > COQL_MAX_ROWS:
        raise ZohoError(400, "LIMIT_EXCEEDED", "Max records limit exceeded", {"limit": 100000})
    return Coql(columns, module.api_name, conditions, order, limit, offset)


def _check_column(column: str, module: Module, modules: dict[str, Module]) -> None:
    """§4.5: ``Lookup.Field`` follows one lookup; plain names must exist."""
    head, _, tail = column.partition(".")
    target = next((f for f in module.fields if f.api_name == head), None)
    if head != "id" and target is None:
        raise ZohoError(
            400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": column}
        )
    if tail:
        looked_up = modules.get(target.lookup_module or "") if target else None
        if looked_up is None or tail not in looked_up.field_names():
            raise ZohoError(
                400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": column}
            )


def _condition(text: str, module: Module, modules: dict[str, Module]) -> tuple[str, str, Any]:
    match = _CONDITION.match(text)
    if match is None:
        raise CoqlNotModelled(f"condition {text!r}")
    _check_column(match["field"], module, modules)
    if match["null"]:
        return match["field"], match["null"].lower().replace("  ", " "), None
    raw = match["value"].strip("'")
    moment = parse_instant(raw) if "T" in raw else None
    value: Any = moment if moment is not None else raw
    return match["field"], match["op"], value


def _order(text: str | None, module: Module, modules: dict[str, Module]) -> list[tuple[str, bool]]:
    if not text:
        return [("id", False)]  # §4.4: by id ascending without ORDER BY
    terms = []
    for part in text.split(","):
        words = part.split()
        if not words or [w.lower() for w in words[1:]] not in ([], ["asc"], ["desc"]):
            raise ZohoError(400, "SYNTAX_ERROR", "invalid query formed", {"clause": "order by"})
        _check_column(words[0], module, modules)
        terms.append((words[0], [w.lower() for w in words[1:]] == ["desc"]))
    if len(terms) > COQL_MAX_ORDER_BY:
        raise ZohoError(400, "LIMIT_EXCEEDED", "order by fields limit exceeded", {"limit": 10})
    return terms


def value_of(record: dict[str, Any], column: str, modules: dict[str, Module]) -> Any:
    """A column's value; ``Lookup.Field`` reads the looked-up record (§4.5)."""
    head, _, tail = column.partition(".")
    value = record.get(head)
    if not tail:
        return value["id"] if isinstance(value, dict) else value
    if not isinstance(value, dict):
        return None
    for other in modules.values():
        if value["id"] in other.records:
            return other.records[value["id"]].get(tail)
    return None


def matches(
    record: dict[str, Any], conditions: list[tuple[str, str, Any]], modules: dict[str, Module]
) -> bool:
    for column, op, wanted in conditions:
        value = value_of(record, column, modules)
        if op in ("is null", "is not null"):
            if (value is None) != (op == "is null"):
                return False
            continue
        if value is None:
            return False
        target = (
            float(wanted) if isinstance(wanted, str) and isinstance(value, int | float) else wanted
        )
        ok = {
            "=": value == target,
            "!=": value != target,
            ">": value > target,
            ">=": value >= target,
            "<": value < target,
            "<=": value <= target,
        }[op]
        if not ok:
            return False
    return True
