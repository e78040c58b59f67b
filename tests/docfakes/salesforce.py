"""A second Salesforce fake, written from the vendor's documentation only (never from sandbox/).

``SalesforceOrg`` is the in-memory org: records, sessions, the API allocation, query cursors and
the query engine. :mod:`tests.docfakes.salesforce_http` serves it over HTTP. Time comes from an
injected :class:`~tests.docfakes.clock.FakeClock`.

Behaviour modelled, with sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md):

Query
* ``GET /services/data/vXX.X/query?q=`` and ``/queryAll?q=``; ``queryAll`` also returns
  soft-deleted rows (``IsDeleted = true``) while they are in the recycle bin, ``query`` never does
  (REST guide, resources-queryall.md, dome-queryall.md).
* Batches: at most 2,000 records; ``Sforce-Query-Options: batchSize=N`` asks for 200..2,000
  (default 2,000); child rows of a relationship query count toward the batch; the batch actually
  returned may be smaller than asked (REST guide, headers-queryoptions.html, resources-query.md).
  ``max_batch`` plays Salesforce choosing a smaller batch.
* ``done``/``nextRecordsUrl``/``totalSize``; remaining batches come from
  ``/services/data/vXX.X/query/{locator}``, also for queryAll ("Although the nextRecordsUrl has
  query in the URL, it still provides the remaining results from the initial QueryAll request";
  resources-queryall.md). The result set is fixed when the query runs: "Cursors and their related
  query results are available for 2 days" (App Limits cheat sheet, API Query Cursor Limits); an
  unknown or expired locator answers ``INVALID_QUERY_LOCATOR`` (help article 000004410; HTTP status
  400 is assumed).
* Records carry ``attributes {type, url}``; parents nest under the relationship name (``null``
  when absent) and children as ``{totalSize, done, records}`` (``null`` when none)
  (fixtures/salesforce/query_success_response.json). dateTime values are UTC,
  ``2011-07-07T00:37:00.000+0000``, to the second (every example payload has ``.000``).
* SystemModstamp vs LastModifiedDate: LastModifiedDate is when a *user* last modified the record;
  SystemModstamp when "a user or automated process (such as a trigger)" did (System Fields page).
  ``system_touch`` moves SystemModstamp alone; ``insert_migrated`` writes a record whose
  LastModifiedDate is set in the past (the "Set Audit Fields upon Record Creation" permission for
  data migrations, help.salesforce.com; not re-checked) while its SystemModstamp is now.
* A change to a parent (Account) does not touch its children's timestamps [inferred: each record
  has its own system fields].
* Deleted records stay in the recycle bin ``recycle_bin_days`` (15) days, then are purged and no
  query sees them (sales-apis.md s.1, getDeleted). getUpdated/getDeleted themselves are not
  modelled: the connector learns deletions from queryAll.
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.docfakes.clock import FakeClock
from tests.docfakes.salesforce_schema import OBJECTS, ObjectDef
from tests.docfakes.soql import (
    Query,
    SoqlError,
    Value,
    check_literals,
    matches,
    parse,
    sort_key,
)

BATCH_DEFAULT, BATCH_MIN, BATCH_MAX = 2000, 200, 2000


def sf_datetime(value: datetime) -> str:
    """Salesforce's JSON form of a dateTime: UTC, milliseconds, ``+0000``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000+0000"


@dataclass
class Fault:
    """An answer to serve instead of the real one, ``times`` times, to matching requests."""

    status: int
    body: Any
    path_contains: str = ""
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    host: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int


@dataclass
class _Cursor:
    """A query's result, fixed when it ran; locators name a position in it."""

    rows: list[dict[str, Any]]
    weights: list[int]
    created: datetime


@dataclass
class Session:
    last_used: datetime


class SalesforceOrg:
    """The org's records and the server-side state the REST API exposes."""

    def __init__(self, clock: FakeClock, *, api_max: int = 100_000) -> None:
        self.clock = clock
        self.tables: dict[str, dict[str, dict[str, Value]]] = {name: {} for name in OBJECTS}
        self.deleted_log: list[tuple[str, str, datetime]] = []
        self.api_max = api_max
        self.api_calls: deque[tuple[datetime, int]] = deque()
        self.session_seconds = 7200
        self.sessions: dict[str, Session] = {}
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.rotate_refresh_tokens = False
        self.jwt_keys: dict[str, str] = {}
        self.approved_users: set[str] = set()
        self.jwt_audience = "https://login.salesforce.com"
        self.max_batch: int | None = None
        self.recycle_bin_days = 15
        self.cursors: dict[str, _Cursor] = {}
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self.schema_changed = clock.now() - timedelta(days=30)
        self._ids = itertools.count(1)
        self._locators = itertools.count(1)

    # --- setup: credentials ---------------------------------------------------------------

    def add_refresh_token_client(
        self, client_id: str, client_secret: str, refresh_token: str | None = None
    ) -> str:
        """Register a connected app and issue it a refresh token; returns the token."""
        self.clients[client_id] = client_secret
        token = refresh_token or f"5Aep{secrets.token_hex(20)}"
        self.refresh_tokens[token] = client_id
        return token

    def add_jwt_client(self, client_id: str, public_key_pem: str, username: str) -> None:
        """Register a certificate for a consumer key and pre-approve one user for it."""
        self.jwt_keys[client_id] = public_key_pem
        self.approved_users.add(username)

    def expire_sessions(self) -> None:
        """Every issued access token stops working (timeout or an admin revoking them)."""
        self.sessions.clear()

    # --- setup: records ---------------------------------------------------------------------

    def now(self) -> datetime:
        """The org's time to the second: dateTime fields carry no sub-second part."""
        return self.clock.now().replace(microsecond=0)

    def _new_id(self, obj: str) -> str:
        return f"{OBJECTS[obj].key_prefix}5g00000{next(self._ids):08d}"

    def create(self, obj: str, *, at: datetime | None = None, **fields: Value) -> str:
        """Insert a record as a user would; system fields are stamped ``at`` (default now)."""
        when = (at or self.now()).replace(microsecond=0)
        record_id = self._new_id(obj)
        record: dict[str, Value] = {f.name: None for f in OBJECTS[obj].fields}
        record.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=when,
            LastModifiedDate=when,
            SystemModstamp=when,
        )
        record.update(self._checked(obj, fields))
        self.tables[obj][record_id] = record
        return record_id

    def insert_migrated(self, obj: str, *, last_modified: datetime, **fields: Value) -> str:
        """Insert with audit fields set in the past; SystemModstamp is still the insert time."""
        record_id = self.create(obj, **fields)
        record = self.tables[obj][record_id]
        record["CreatedDate"] = record["LastModifiedDate"] = last_modified.replace(microsecond=0)
        return record_id

    def update(
        self, obj: str, record_id: str, *, at: datetime | None = None, **fields: Value
    ) -> None:
        """A user edit: both LastModifiedDate and SystemModstamp move."""
        when = (at or self.now()).replace(microsecond=0)
        record = self.tables[obj][record_id]
        record.update(self._checked(obj, fields))
        record["LastModifiedDate"] = record["SystemModstamp"] = when

    def system_touch(self, obj: str, record_id: str, *, at: datetime | None = None) -> None:
        """An automated process (trigger, roll-up) changed the record: SystemModstamp only."""
        self.tables[obj][record_id]["SystemModstamp"] = (at or self.now()).replace(microsecond=0)

    def delete(self, obj: str, record_id: str, *, at: datetime | None = None) -> None:
        """Move a record to the recycle bin."""
        when = (at or self.now()).replace(microsecond=0)
        record = self.tables[obj][record_id]
        record["IsDeleted"] = True
        record["SystemModstamp"] = when
        self.deleted_log.append((obj, record_id, when))

    def consume_api(self, calls: int) -> None:
        """Other integrations of the org spent ``calls`` requests of the daily allocation now."""
        self.api_calls.append((self.clock.now(), calls))

    def inject(
        self,
        status: int,
        errors: Any,
        *,
        path_contains: str = "",
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Answer the next ``times`` matching data calls with ``status`` and ``errors``."""
        fault = Fault(status, errors, path_contains, times, dict(headers or {}))
        self.faults.append(fault)
        return fault

    def _checked(self, obj: str, fields: Mapping[str, Value]) -> dict[str, Value]:
        definition = OBJECTS[obj]
        checked: dict[str, Value] = {}
        for name, value in fields.items():
            field_def = definition.field(name)
            if field_def is None:
                raise KeyError(f"{obj} has no field {name}")
            checked[field_def.name] = value
        return checked

    # --- limits -----------------------------------------------------------------------------

    def api_usage(self) -> int:
        """Calls made in the last 24 hours (the allocation is a rolling 24-hour window)."""
        horizon = self.clock.now() - timedelta(hours=24)
        while self.api_calls and self.api_calls[0][0] <= horizon:
            self.api_calls.popleft()
        return sum(count for _when, count in self.api_calls)

    # --- recycle bin ------------------------------------------------------------------------

    def purge_recycle_bin(self) -> None:
        """Deleted records older than the retention are gone for good."""
        horizon = self.now() - timedelta(days=self.recycle_bin_days)
        for obj, record_id, when in list(self.deleted_log):
            if when <= horizon and record_id in self.tables[obj]:
                del self.tables[obj][record_id]

    # --- query ------------------------------------------------------------------------------

    def run_query(
        self, text: str, *, include_deleted: bool, batch_size: int, version: str
    ) -> dict[str, Any]:
        self.purge_recycle_bin()
        query = parse(text)
        root = object_def(query.source)
        _validate(query, root)
        rows = self._select(query, root, include_deleted)
        rendered = [self._render(query, root, record, include_deleted, version) for record in rows]
        weights = [1 + _child_count(row) for row in rendered]
        cursor = _Cursor(rendered, weights, self.clock.now())
        return self._batch(cursor, 0, batch_size, version)

    def query_more(self, locator: str, batch_size: int, version: str) -> dict[str, Any]:
        # The locator names the cursor and a position in it ("01gD0000002HU6KIAW-2000" in the
        # REST guide), so fetching the same nextRecordsUrl again returns the same batch.
        key, _sep, offset = locator.partition("-")
        cursor = self.cursors.get(key)
        expired = cursor is not None and self.clock.now() - cursor.created > timedelta(days=2)
        if cursor is None or expired or not offset.isdigit() or int(offset) > len(cursor.rows):
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._batch(cursor, int(offset), batch_size, version, key)

    def _batch(
        self, cursor: _Cursor, start: int, batch_size: int, version: str, key: str | None = None
    ) -> dict[str, Any]:
        capacity = max(BATCH_MIN, min(BATCH_MAX, batch_size))
        if self.max_batch is not None:
            capacity = min(capacity, self.max_batch)
        end, used = start, 0
        while end < len(cursor.rows):
            weight = cursor.weights[end]
            if end > start and used + weight > capacity:
                break
            used += weight
            end += 1
        done = end >= len(cursor.rows)
        answer: dict[str, Any] = {
            "totalSize": len(cursor.rows),
            "done": done,
            "records": cursor.rows[start:end],
        }
        if not done:
            key = key or f"01gD{next(self._locators):011d}AAA"
            self.cursors[key] = cursor
            answer["nextRecordsUrl"] = f"/services/data/{version}/query/{key}-{end}"
        return answer

    def _select(
        self, query: Query, root: ObjectDef, include_deleted: bool
    ) -> list[dict[str, Value]]:
        table = self.tables[root.name]
        candidates = [r for r in table.values() if include_deleted or not r["IsDeleted"]]
        chosen = [r for r in candidates if matches(query.where, self._resolver(root, r))]
        chosen.sort(key=lambda r: sort_key(query.order_by, self._resolver(root, r)))
        chosen = chosen[query.offset :]
        return chosen if query.limit is None else chosen[: query.limit]

    def _resolver(self, obj: ObjectDef, record: dict[str, Value]) -> Any:
        def resolve(path: str) -> tuple[str, Value]:
            current_obj, current = obj, record
            *parents, last = path.split(".")
            for relationship in parents:
                ref = current_obj.parent(relationship)
                assert ref is not None
                assert ref.reference_to is not None
                parent_id = current.get(ref.name)
                parent = self.tables[ref.reference_to].get(parent_id) if parent_id else None
                current_obj = OBJECTS[ref.reference_to]
                if parent is None:
                    field_def = current_obj.field(last)
                    return (field_def.type if field_def else "string"), None
                current = parent
            field_def = current_obj.field(last)
            assert field_def is not None
            return field_def.type, current.get(field_def.name)

        return resolve

    def _render(
        self,
        query: Query,
        obj: ObjectDef,
        record: dict[str, Value],
        include_deleted: bool,
        version: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(obj.name, str(record["Id"]), version)}
        subqueries = {sub.source.lower(): sub for sub in query.subqueries}
        for item in query.items:
            if item.startswith("("):
                sub = subqueries[item[1:-1].lower()]
                out[_child_name(obj, sub.source)] = self._children(
                    obj, record, sub, include_deleted, version
                )
            else:
                self._put_path(out, obj, record, item.split("."), version)
        return out

    def _put_path(
        self,
        out: dict[str, Any],
        obj: ObjectDef,
        record: dict[str, Value],
        parts: list[str],
        version: str,
    ) -> None:
        head, *rest = parts
        if not rest:
            field_def = obj.field(head)
            assert field_def is not None
            out[field_def.name] = _json_value(record.get(field_def.name))
            return
        ref = obj.parent(head)
        assert ref is not None
        assert ref.reference_to is not None
        assert ref.relationship_name is not None
        name = ref.relationship_name
        parent_id = record.get(ref.name)
        parent = self.tables[ref.reference_to].get(parent_id) if parent_id else None
        if parent is None:
            out[name] = None
            return
        nested = out.get(name)
        if not isinstance(nested, dict):
            nested = {"attributes": _attributes(ref.reference_to, str(parent["Id"]), version)}
            out[name] = nested
        self._put_path(nested, OBJECTS[ref.reference_to], parent, rest, version)

    def _children(
        self,
        obj: ObjectDef,
        record: dict[str, Value],
        sub: Query,
        include_deleted: bool,
        version: str,
    ) -> dict[str, Any] | None:
        relationship = obj.child(sub.source)
        assert relationship is not None
        child_obj = OBJECTS[relationship.child_object]
        rows = [
            r
            for r in self.tables[child_obj.name].values()
            if r.get(relationship.field) == record["Id"] and (include_deleted or not r["IsDeleted"])
        ]
        rows = [r for r in rows if matches(sub.where, self._resolver(child_obj, r))]
        rows.sort(key=lambda r: sort_key(sub.order_by, self._resolver(child_obj, r)))
        if sub.limit is not None:
            rows = rows[: sub.limit]
        if not rows:
            return None
        rendered = [self._render(sub, child_obj, r, include_deleted, version) for r in rows]
        return {"totalSize": len(rendered), "done": True, "records": rendered}


def object_def(name: str) -> ObjectDef:
    for candidate in OBJECTS.values():
        if candidate.name.lower() == name.lower():
            return candidate
    raise SoqlError("INVALID_TYPE", f"sObject type '{name}' is not supported.")


def _child_name(obj: ObjectDef, source: str) -> str:
    relationship = obj.child(source)
    assert relationship is not None
    return relationship.relationship_name


def _validate_path(obj: ObjectDef, path: str) -> str:
    """Check a field path against describe; returns the field's type."""
    current = obj
    *parents, last = path.split(".")
    for relationship in parents:
        ref = current.parent(relationship)
        if ref is None or ref.reference_to is None:
            raise SoqlError(
                "INVALID_FIELD", f"Didn't understand relationship '{relationship}' in field path."
            )
        current = OBJECTS[ref.reference_to]
    field_def = current.field(last)
    if field_def is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{last}' on entity '{current.name}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name.",
        )
    return field_def.type


def _condition_paths(condition: Any) -> list[str]:
    if condition is None:
        return []
    if hasattr(condition, "operands"):
        return [p for c in condition.operands for p in _condition_paths(c)]
    if hasattr(condition, "operand"):
        return _condition_paths(condition.operand)
    return [condition.path]


def _validate(query: Query, obj: ObjectDef) -> None:
    seen: set[str] = set()
    for path in query.fields:
        if path.lower() in seen:
            raise SoqlError("MALFORMED_QUERY", f"duplicate field selected: {path}")
        seen.add(path.lower())
        _validate_path(obj, path)
    for path in _condition_paths(query.where) + [k.path for k in query.order_by]:
        _validate_path(obj, path)
    check_literals(query.where, lambda path: _validate_path(obj, path))
    for sub in query.subqueries:
        relationship = obj.child(sub.source)
        if relationship is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"Didn't understand relationship '{sub.source}' in FROM part of query call.",
            )
        _validate(sub, OBJECTS[relationship.child_object])


def _attributes(obj: str, record_id: str, version: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{record_id}"}


def _json_value(value: Value) -> Any:
    if isinstance(value, datetime):
        return sf_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _child_count(row: Mapping[str, Any]) -> int:
    return sum(len(v["records"]) for v in row.values() if isinstance(v, dict) and "records" in v)
