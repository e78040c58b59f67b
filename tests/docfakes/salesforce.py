"""A second Salesforce fake, written from the vendor's documentation only (never from sandbox/).

``SalesforceOrg`` is the in-memory org (records, sessions, API allocation, query cursors) and
``salesforce_app(org)`` the ASGI app that answers the REST calls a deal source makes. Time comes
from an injected :class:`~tests.docfakes.clock.FakeClock`.

Behaviour modelled, with sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md):

Auth
* ``POST {login}/services/oauth2/token``, form-encoded. ``grant_type=refresh_token`` with
  client_id/client_secret/refresh_token; with refresh-token rotation on, every refresh returns a new
  ``refresh_token`` and the previous one is invalidated (help.salesforce.com
  remoteaccess_oauth_refresh_token_flow.htm; sales-apis.md s.1). ``grant_type=urn:ietf:params:
  oauth:grant-type:jwt-bearer`` with an RS256 ``assertion`` whose iss = consumer key, sub =
  username, aud = login URL and a short exp, for a pre-approved user; no refresh token is issued
  (help.salesforce.com remoteaccess_oauth_jwt_flow.htm; sales-apis.md s.1). Answers carry
  ``access_token``, ``instance_url``, ``id``, ``token_type``, ``issued_at``, ``signature``
  (fixtures/salesforce/auth_success_response.json). Refusals are
  ``{"error", "error_description"}`` with HTTP 400 (auth_error_response.json,
  refresh_error_response.json: ``invalid_grant``; "user hasn't approved this consumer" as reported
  in striim.com's Salesforce troubleshooting page).
* Every data call goes to ``instance_url``; the login host serves only the token endpoint.
* Sessions expire after ``session_seconds`` of inactivity (default two hours; every call resets
  the timer) and then answer 401 ``[{"message": "Session expired or invalid", "errorCode":
  "INVALID_SESSION_ID"}]`` (SOAP API guide, "Error Handling for Session Expiration";
  fixtures/salesforce/expired_session_response.json).

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
* URI longer than 16,384 bytes: HTTP 414 (help article 000386264, sales-apis.md s.1).
* Deleted records stay in the recycle bin ``recycle_bin_days`` (15) days, then are purged and no
  query sees them (sales-apis.md s.1, getDeleted). getUpdated/getDeleted themselves are not
  modelled: the connector learns deletions from queryAll.

Other resources
* ``GET /sobjects/{object}/describe`` (fields, picklistValues, childRelationships); 304 on
  ``If-Modified-Since`` when unchanged (REST guide, errorcodes).
* ``GET /services/data/`` lists versions and does not count toward limits; ``GET /limits``
  (sales-apis.md s.1).

Limits and errors
* ``Sforce-Limit-Info: api-usage=N/M`` on every data response; N counts calls over a rolling
  24 hours (sales-apis.md s.1, headers_api_usage.htm).
* Past the allocation: HTTP 403 ``[{"message": "TotalRequests Limit exceeded.", "errorCode":
  "REQUEST_LIMIT_EXCEEDED"}]``, no Retry-After (REST guide errorcodes; tests/fixtures/salesforce/
  request_limit_exceeded_response.json). The request is not counted.
* Error bodies are arrays of ``{"message", "errorCode"[, "fields"]}`` (errorcodes; fixtures).
  ``inject`` queues any other answer (e.g. ``QUERY_TIMEOUT``, whose HTTP status is not confirmed
  in the docs; 400 is used).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

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

LOGIN_URL = "https://login.salesforce.example"
INSTANCE_URL = "https://acme-west.my.salesforce.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
URI_LIMIT = 16_384
BATCH_DEFAULT, BATCH_MIN, BATCH_MAX = 2000, 200, 2000
JWT_MAX_LIFETIME = timedelta(minutes=3)
"""The JWT's ``exp`` must be within three minutes (remoteaccess_oauth_jwt_flow.htm)."""


def sf_datetime(value: datetime) -> str:
    """Salesforce's JSON form of a dateTime: UTC, milliseconds, ``+0000``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000+0000"


def _error(status: int, code: str, message: str, fields: list[str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"message": message, "errorCode": code}
    if fields is not None:
        body["fields"] = fields
    return JSONResponse([body], status_code=status)


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


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
class _Session:
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
        self.sessions: dict[str, _Session] = {}
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
        root = _object(query.source)
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


def _object(name: str) -> ObjectDef:
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


# --- the ASGI app ---------------------------------------------------------------------------


def salesforce_app(org: SalesforceOrg) -> Starlette:
    """The REST API of ``org``: the token endpoint on the login host, data on the instance."""

    async def handle(request: Request) -> Response:
        response = await _dispatch(org, request)
        org.requests.append(
            Recorded(
                request.headers.get("host", ""),
                request.method,
                request.url.path,
                parse_qs(request.url.query),
                {k.lower(): v for k, v in request.headers.items()},
                response.status_code,
            )
        )
        return response

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


async def _dispatch(org: SalesforceOrg, request: Request) -> Response:
    raw = request.url.path + ("?" + request.url.query if request.url.query else "")
    if len(raw.encode()) > URI_LIMIT:
        return Response(status_code=414)
    host = request.headers.get("host", "")
    path = request.url.path
    if path == "/services/oauth2/token" and request.method == "POST":
        if host != urlsplit(LOGIN_URL).netloc:
            return _oauth_error("invalid_request", "token requests go to the login URL")
        return await _token(org, request)
    if host != urlsplit(INSTANCE_URL).netloc:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    if path.rstrip("/") == "/services/data":
        return JSONResponse(
            [{"version": "61.0", "url": "/services/data/v61.0", "label": "Summer '24"}]
        )
    return _with_limit_info(org, _data(org, request))


def _with_limit_info(org: SalesforceOrg, response: Response) -> Response:
    response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_usage()}/{org.api_max}"
    return response


async def _token(  # noqa: PLR0911 - one answer per OAuth outcome
    org: SalesforceOrg, request: Request
) -> Response:
    # Form-encoded body (RFC 6749 s.4.5); parsed here so no multipart library is needed.
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    grant = str(form.get("grant_type", ""))
    if grant == "refresh_token":
        client_id = str(form.get("client_id", ""))
        if client_id not in org.clients:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if org.clients[client_id] != str(form.get("client_secret", "")):
            return _oauth_error("invalid_client", "invalid client credentials")
        token = str(form.get("refresh_token", ""))
        if org.refresh_tokens.get(token) != client_id:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        answer = _session_answer(org)
        if org.rotate_refresh_tokens:
            del org.refresh_tokens[token]
            rotated = f"5Aep{secrets.token_hex(20)}"
            org.refresh_tokens[rotated] = client_id
            answer["refresh_token"] = rotated
        return JSONResponse(answer)
    if grant == JWT_BEARER:
        problem = _jwt_problem(org, str(form.get("assertion", "")))
        if problem:
            return _oauth_error("invalid_grant", problem)
        return JSONResponse(_session_answer(org))
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def _jwt_problem(  # noqa: PLR0911 - one answer per refusal reason
    org: SalesforceOrg, assertion: str
) -> str | None:
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        key = org.jwt_keys.get(str(unverified.get("iss")))
        if key is None:
            return "invalid client credentials"
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=org.jwt_audience,
            options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidAudienceError:
        return "audience is invalid"
    except jwt.PyJWTError:
        return "invalid assertion"
    # The connector signs with its own clock, so exp is judged against the real time.
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    real_now = datetime.now(UTC)
    if expires < real_now - timedelta(seconds=5):
        return "expired authorization code"
    if expires > real_now + JWT_MAX_LIFETIME + timedelta(seconds=10):
        return "invalid assertion"
    if claims["sub"] not in org.approved_users:
        return "user hasn't approved this consumer"
    return None


def _session_answer(org: SalesforceOrg) -> dict[str, Any]:
    token = f"00D5g000004WEST!{secrets.token_urlsafe(48)}"
    org.sessions[token] = _Session(org.clock.now())
    return {
        "access_token": token,
        "instance_url": INSTANCE_URL,
        "id": f"{LOGIN_URL}/id/00D5g000004WESTEAA/0055g00000INTEGAAA",
        "token_type": "Bearer",
        "issued_at": str(int(org.clock.now().timestamp() * 1000)),
        "signature": secrets.token_urlsafe(32),
        "scope": "api",
    }


def _authorised(org: SalesforceOrg, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    session = org.sessions.get(token)
    if session is None:
        return False
    if org.clock.now() - session.last_used > timedelta(seconds=org.session_seconds):
        del org.sessions[token]
        return False
    session.last_used = org.clock.now()
    return True


def _injected(org: SalesforceOrg, path: str) -> Response | None:
    for fault in org.faults:
        if fault.times > 0 and fault.path_contains in path:
            fault.times -= 1
            return Response(
                json.dumps(fault.body),
                status_code=fault.status,
                media_type="application/json",
                headers=fault.headers,
            )
    return None


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _sep, value = part.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return int(value)
    return BATCH_DEFAULT


def _data(org: SalesforceOrg, request: Request) -> Response:
    if not _authorised(org, request):
        return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    parts = request.url.path.strip("/").split("/")
    # services / data / vXX.X / resource...
    if len(parts) < 4 or parts[:2] != ["services", "data"]:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    version, resource = parts[2], parts[3:]
    if org.api_usage() >= org.api_max:
        return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    org.consume_api(1)
    injected = _injected(org, request.url.path)
    if injected is not None:
        return injected
    try:
        return _resource(org, request, version, resource)
    except SoqlError as exc:
        return _error(400, exc.code, exc.message)


def _resource(org: SalesforceOrg, request: Request, version: str, resource: list[str]) -> Response:
    params = request.query_params
    head = resource[0]
    if head in {"query", "queryAll"} and len(resource) == 1:
        text = params.get("q")
        if not text:
            return _error(400, "MALFORMED_QUERY", "q parameter is required")
        return JSONResponse(
            org.run_query(
                text,
                include_deleted=head == "queryAll",
                batch_size=_batch_size(request),
                version=version,
            )
        )
    if head in {"query", "queryAll"} and len(resource) == 2:
        return JSONResponse(org.query_more(resource[1], _batch_size(request), version))
    if head == "limits":
        used = org.api_usage()
        return JSONResponse(
            {"DailyApiRequests": {"Max": org.api_max, "Remaining": max(0, org.api_max - used)}}
        )
    if head == "sobjects" and len(resource) >= 3:
        return _sobject(org, request, resource[1], resource[2])
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _sobject(org: SalesforceOrg, request: Request, name: str, action: str) -> Response:
    try:
        obj = _object(name)
    except SoqlError:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    if action == "describe":
        since = request.headers.get("if-modified-since")
        if since:
            from email.utils import parsedate_to_datetime

            if parsedate_to_datetime(since) >= org.schema_changed.replace(microsecond=0):
                return Response(status_code=304)
        return JSONResponse(obj.describe())
    return _error(404, "NOT_FOUND", "The requested resource does not exist")
