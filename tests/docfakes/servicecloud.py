"""A doc-fake of the Salesforce REST API as a Service Cloud target uses it, built from
connectors/service/servicecloud/FACTS.md alone: no simulator code was read.

It serves the OAuth token endpoint (client credentials and JWT bearer), describe, SOQL (a
subset: ``SELECT … FROM … [WHERE …] [ORDER BY …] [LIMIT n]`` with AND/OR/parentheses, ``=``,
``!=``, ``<``, ``<=``, ``>``, ``>=``, ``IN``), sObject Collections retrieve and update, single
creates (Case, CaseComment), the rolling daily allocation with ``Sforce-Limit-Info``, and the
error arrays. ``§n`` refers to FACTS.md.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.desk_clock import FakeClock

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
QUERY_BATCH = 2_000  # §4.1
COLLECTION_MAX = 200  # §5.1
COLLECTION_CHUNKS_MAX = 10  # §5.1
RETRIEVE_MAX = 2_000  # §4.4
SOQL_MAX = 100_000  # §4.3
SOQL_STRING_MAX = 4_000  # §4.3
URI_MAX = 16_384  # §4.3
DAY = 86_400
HISTORY_VALUE_MAX = 255  # §6.3
KEY_PREFIX = {
    "Account": "001",
    "Contact": "003",
    "Case": "500",
    "CaseComment": "00a",
    "AccountHistory": "017",
    "User": "005",
}


@dataclass(frozen=True)
class FieldDef:
    """One ``fields[]`` entry of describe (§3.1)."""

    name: str
    type: str  # id, string, textarea, picklist, boolean, datetime, reference, email, anyType
    length: int = 0
    updateable: bool = True
    custom: bool = False
    external_id: bool = False
    picklist: tuple[str, ...] = ()
    restricted: bool = False

    def describe(self) -> dict[str, Any]:
        extra = "plaintextarea" if self.type == "textarea" else None
        return {
            "name": self.name,
            "label": self.name.removesuffix("__c").replace("_", " "),
            "type": self.type,
            "length": self.length,
            "byteLength": self.length * 3,
            "updateable": self.updateable,
            "createable": self.updateable,
            "nillable": self.type != "id",
            "custom": self.custom,
            "externalId": self.external_id,
            "idLookup": self.type == "id" or self.external_id,
            "picklistValues": [
                {"value": v, "label": v, "active": True, "defaultValue": False}
                for v in self.picklist
            ],
            "restrictedPicklist": self.restricted,
            "extraTypeInfo": extra,
        }


class SalesforceError(Exception):
    """A top-level error array ``[{"message", "errorCode", "fields"}]`` (§7.3)."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.body: list[dict[str, Any]] = [{"message": message, "errorCode": code}]
        if fields is not None:
            self.body[0]["fields"] = fields


@dataclass
class SObjectType:
    name: str
    fields: dict[str, FieldDef]
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


SYSTEM_FIELDS = (
    FieldDef("Id", "id", 18, updateable=False),
    FieldDef("SystemModstamp", "datetime", updateable=False),
    FieldDef("LastModifiedDate", "datetime", updateable=False),
    FieldDef("LastModifiedById", "reference", 18, updateable=False),
    FieldDef("CreatedDate", "datetime", updateable=False),
)


class ServiceCloudFake:
    """One org: objects, records, sessions and the API allocation, on an injectable clock."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        api_version: str = "v62.0",
        clients: dict[str, str] | None = None,
        jwt_public_key: str | None = None,
        daily_limit: int = 15_000,
        session_seconds: float = 7_200,
        query_batch: int = QUERY_BATCH,
        integration_user: str = "005000000000INTEG",
    ) -> None:
        self.clock = clock
        self.version = api_version
        self.clients = clients if clients is not None else {"consumer-key": "consumer-secret"}
        self.jwt_public_key = jwt_public_key
        self.daily_limit = daily_limit
        self.session_seconds = session_seconds
        self.query_batch = query_batch
        self.integration_user = integration_user
        self.sessions: dict[str, float] = {}
        self.usage: deque[float] = deque()
        self.history_tracked: set[tuple[str, str]] = set()
        self.requests: list[tuple[str, str]] = []
        self._cursors: dict[str, tuple[list[dict[str, Any]], int]] = {}
        self._serial = 0
        self.objects = {
            name: SObjectType(name, {f.name: f for f in SYSTEM_FIELDS})
            for name in ("Account", "Contact", "Case", "CaseComment")
        }
        self._standard_fields()
        base = f"/services/data/{api_version}"
        self.app = Starlette(
            routes=[
                Route("/services/oauth2/token", self._token, methods=["POST"]),
                Route(
                    base + "/sobjects/{sobject}/describe",
                    self._api(self._describe),
                    methods=["GET"],
                ),
                Route(base + "/query", self._api(self._query), methods=["GET"]),
                Route(base + "/query/{locator}", self._api(self._query_more), methods=["GET"]),
                Route(
                    base + "/composite/sobjects",
                    self._api(self._update_collection),
                    methods=["PATCH"],
                ),
                Route(
                    base + "/composite/sobjects/{sobject}",
                    self._api(self._retrieve_collection),
                    methods=["POST"],
                ),
                Route(base + "/sobjects/{sobject}", self._api(self._create), methods=["POST"]),
            ]
        )

    # ---- schema and seeding ---------------------------------------------------------------

    def _standard_fields(self) -> None:
        """§2: the standard fields a target reads or writes (lengths from the field reference)."""
        account = [
            FieldDef("Name", "string", 255),
            FieldDef("Description", "textarea", 32_000),
            FieldDef("IsPersonAccount", "boolean", updateable=False),
            FieldDef("PersonContactId", "reference", 18, updateable=False),
            FieldDef("PersonEmail", "email", 80),
        ]
        contact = [
            FieldDef("LastName", "string", 80),
            FieldDef("Email", "email", 80),
            FieldDef("AccountId", "reference", 18),
        ]
        case = [
            FieldDef("Subject", "string", 255),
            FieldDef("Description", "textarea", 32_000),
            FieldDef("AccountId", "reference", 18),
            FieldDef("ContactId", "reference", 18),
            FieldDef("Origin", "picklist", 255, picklist=("Web", "Phone", "Email")),
        ]
        comment = [
            FieldDef("ParentId", "reference", 18),
            FieldDef("CommentBody", "textarea", 4_000),
            FieldDef("IsPublished", "boolean"),
        ]
        for name, fields in (
            ("Account", account),
            ("Contact", contact),
            ("Case", case),
            ("CaseComment", comment),
        ):
            for f in fields:
                self.define_field(name, f)
        history = SObjectType("AccountHistory", {f.name: f for f in SYSTEM_FIELDS})
        self.objects["AccountHistory"] = history
        for f in (
            FieldDef("AccountId", "reference", 18),
            FieldDef("Field", "picklist", 255),
            FieldDef("OldValue", "anyType", HISTORY_VALUE_MAX),
            FieldDef("NewValue", "anyType", HISTORY_VALUE_MAX),
            FieldDef("CreatedById", "reference", 18),
        ):
            self.define_field("AccountHistory", f)

    def define_field(self, sobject: str, definition: FieldDef) -> None:
        self.objects[sobject].fields[definition.name] = definition

    def track_history(self, sobject: str, field_name: str) -> None:
        self.history_tracked.add((sobject, field_name))

    def insert(self, sobject: str, values: dict[str, Any], *, by: str | None = None) -> str:
        self._serial += 1
        record_id = f"{KEY_PREFIX[sobject]}{self._serial:012d}AAA"  # 18 characters
        now = self._timestamp()
        record = dict.fromkeys(self.objects[sobject].fields)
        record.update(
            values,
            Id=record_id,
            CreatedDate=now,
            SystemModstamp=now,
            LastModifiedDate=now,
            LastModifiedById=by or self.integration_user,
        )
        self.objects[sobject].records[record_id] = record
        return record_id

    def add_person_account(self, last_name: str, email: str, **values: Any) -> str:
        """§2.2: an Account with ``IsPersonAccount`` plus its person contact."""
        contact_id = self.insert("Contact", {"LastName": last_name, "Email": email})
        account_id = self.insert(
            "Account",
            {
                "Name": last_name,
                "IsPersonAccount": True,
                "PersonContactId": contact_id,
                "PersonEmail": email,
                **values,
            },
        )
        self.objects["Contact"].records[contact_id]["AccountId"] = account_id
        return account_id

    def agent_edit(
        self,
        sobject: str,
        record_id: str,
        values: dict[str, Any],
        *,
        agent: str = "005000000000AGENT",
    ) -> None:
        self._apply(sobject, self.objects[sobject].records[record_id], values, agent)

    def delete(self, sobject: str, record_id: str) -> None:
        del self.objects[sobject].records[record_id]

    def _timestamp(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def _apply(self, sobject: str, record: dict[str, Any], values: dict[str, Any], by: str) -> None:
        now = self._timestamp()
        for name, value in values.items():
            if (sobject, name) in self.history_tracked and record.get(name) != value:
                self._history(record["Id"], name, record.get(name), value, by)
            record[name] = value
        record.update(SystemModstamp=now, LastModifiedDate=now, LastModifiedById=by)
        person_contact = record.get("PersonContactId") if sobject == "Account" else None
        if person_contact:  # §2.2: a person account update touches both rows
            self.objects["Contact"].records[person_contact].update(
                SystemModstamp=now, LastModifiedDate=now, LastModifiedById=by
            )

    def _history(self, account_id: str, name: str, old: Any, new: Any, by: str) -> None:
        """§6.3: values longer than 255 characters are not kept [unverified: exact behaviour]."""

        def kept(value: Any) -> Any:
            return value if value is None or len(str(value)) <= HISTORY_VALUE_MAX else None

        self.insert(
            "AccountHistory",
            {
                "AccountId": account_id,
                "Field": name,
                "OldValue": kept(old),
                "NewValue": kept(new),
                "CreatedById": by,
            },
            by=by,
        )

    # ---- HTTP plumbing: token, session, allocation --------------------------------------------

    async def _token(self, request: Request) -> Response:
        """§1.1 to 1.3: client credentials or JWT bearer."""
        form = dict(parse_qsl((await request.body()).decode()))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            ok = self.clients.get(str(form.get("client_id"))) == form.get("client_secret")
            error = ("invalid_client", "invalid client credentials")
        elif grant == JWT_GRANT:
            ok, error = (
                self._valid_assertion(str(form.get("assertion", ""))),
                ("invalid_grant", "invalid assertion"),
            )
        else:
            ok, error = False, ("unsupported_grant_type", "grant type not supported")
        if not ok:
            return JSONResponse({"error": error[0], "error_description": error[1]}, 400)
        token = secrets.token_urlsafe(24)
        self.sessions[token] = self.clock.now() + self.session_seconds
        return JSONResponse(
            {
                "access_token": token,
                "instance_url": str(request.base_url).rstrip("/"),
                "token_type": "Bearer",
                "issued_at": str(int(self.clock.now() * 1000)),
                "signature": "fake",
            }
        )

    def _valid_assertion(self, assertion: str) -> bool:
        if self.jwt_public_key is None:
            return False
        try:
            claims = jwt.decode(
                assertion,
                self.jwt_public_key,
                algorithms=["RS256"],
                audience=["https://login.salesforce.com", "https://test.salesforce.com"],
                options={"verify_exp": False},
            )
        except jwt.PyJWTError:
            return False
        return claims.get("iss") in self.clients and float(claims["exp"]) > self.clock.now()

    def _api(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            expires = self.sessions.get(token)
            if expires is None or self.clock.now() >= expires:  # §1.4
                body = [
                    {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
                ]
                return JSONResponse(body, 401)
            now = self.clock.now()
            while self.usage and self.usage[0] <= now - DAY:  # §7.2: rolling 24 hours
                self.usage.popleft()
            if len(self.usage) >= self.daily_limit:  # §7.2: 403, no Retry-After
                exc = SalesforceError(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."
                )
                return self._reply(exc.status, exc.body)
            self.usage.append(now)
            if len(str(request.url)) > URI_MAX:  # §4.3
                return self._reply(414, None)
            try:
                status, body = await handler(request)
            except SalesforceError as exc:
                status, body = exc.status, exc.body
            return self._reply(status, body)

        return endpoint

    def _reply(self, status: int, body: Any) -> Response:
        usage = {"Sforce-Limit-Info": f"api-usage={len(self.usage)}/{self.daily_limit}"}  # §7.1
        if status == 204 or body is None:
            return Response(status_code=status, headers=usage)
        return JSONResponse(body, status, headers=usage)

    def _type(self, name: str) -> SObjectType:
        sobject = self.objects.get(name)
        if sobject is None:
            raise SalesforceError(
                404, "NOT_FOUND", f"The requested resource does not exist: {name}"
            )
        return sobject

    # ---- catalog and reads --------------------------------------------------------------------

    async def _describe(self, request: Request) -> tuple[int, Any]:
        sobject = self._type(request.path_params["sobject"])  # §3.1
        return 200, {
            "name": sobject.name,
            "fields": [f.describe() for f in sobject.fields.values()],
        }

    async def _query(self, request: Request) -> tuple[int, Any]:
        soql = request.query_params.get("q", "")
        if len(soql) > SOQL_MAX:  # §4.3 (error code [unverified])
            raise SalesforceError(400, "MALFORMED_QUERY", "SOQL statement too long")
        select = parse_soql(soql)
        sobject = self.objects.get(select.sobject)
        if sobject is None:
            message = f"sObject type '{select.sobject}' is not supported."
            raise SalesforceError(400, "INVALID_TYPE", message)
        for name in select.referenced():
            if name not in sobject.fields:  # §4.3: the whole query fails
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject.name}'."
                )
        rows = [
            r
            for r in sobject.records.values()
            if select.where is None or _evaluate(select.where, r, sobject)
        ]
        for name, descending in reversed(select.order):

            def by(record: dict[str, Any], field_name: str = name) -> tuple[bool, Any]:
                return _sort_key(record.get(field_name), sobject.fields[field_name])

            rows.sort(key=by, reverse=descending)
        if select.limit is not None:
            rows = rows[: select.limit]
        shaped = [self._shape(sobject, r, select.fields) for r in rows]
        return 200, self._page(shaped, total=len(shaped))

    async def _query_more(self, request: Request) -> tuple[int, Any]:
        locator = request.path_params["locator"]
        cursor = self._cursors.pop(locator, None)
        if cursor is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, self._page(*cursor)

    def _page(self, rows: list[dict[str, Any]], total: int) -> dict[str, Any]:
        """§4.1: batches of ``query_batch`` with ``nextRecordsUrl`` until ``done``."""
        batch, rest = rows[: self.query_batch], rows[self.query_batch :]
        page: dict[str, Any] = {"totalSize": total, "done": not rest, "records": batch}
        if rest:
            locator = f"01g{secrets.token_hex(6)}-{self.query_batch}"
            self._cursors[locator] = (rest, total)
            page["nextRecordsUrl"] = f"/services/data/{self.version}/query/{locator}"
        return page

    def _shape(
        self, sobject: SObjectType, record: dict[str, Any], names: list[str]
    ) -> dict[str, Any]:
        url = f"/services/data/{self.version}/sobjects/{sobject.name}/{record['Id']}"
        return {"attributes": {"type": sobject.name, "url": url}} | {
            n: record.get(n) for n in names
        }

    async def _retrieve_collection(self, request: Request) -> tuple[int, Any]:
        """§4.4: ``{ids, fields}`` → records in id order, ``null`` for unknown ids."""
        sobject = self._type(request.path_params["sobject"])
        body = await request.json()
        ids, names = body.get("ids", []), body.get("fields", [])
        if len(ids) > RETRIEVE_MAX:
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", f"more than {RETRIEVE_MAX} ids")
        unknown = [n for n in names if n not in sobject.fields]
        if unknown:
            raise SalesforceError(400, "INVALID_FIELD", f"No such column '{unknown[0]}'")
        return 200, [
            self._shape(sobject, sobject.records[i], names) if i in sobject.records else None
            for i in ids
        ]

    # ---- writes -------------------------------------------------------------------------------

    async def _update_collection(self, request: Request) -> tuple[int, Any]:
        """§5.1 to 5.4: up to 200 records, results in order, per-record errors, allOrNone."""
        body = await request.json()
        records = body.get("records")
        if not isinstance(records, list) or not records:
            raise SalesforceError(400, "JSON_PARSER_ERROR", "records must be a non-empty list")
        if len(records) > COLLECTION_MAX:  # §5.1 [issues: the code and message clients report]
            message = "record limit reached. cannot submit more than 200 records into this call"
            raise SalesforceError(400, "EXCEEDED_ID_LIMIT", message)
        types = [str((r.get("attributes") or {}).get("type")) for r in records]
        if (
            sum(1 for i, t in enumerate(types) if i == 0 or t != types[i - 1])
            > COLLECTION_CHUNKS_MAX
        ):
            # §5.1: at most 10 chunks; the error code is not documented [unverified]
            raise SalesforceError(400, "INVALID_BATCH_SIZE", "more than 10 chunks of one type")
        for sobject_name, record in zip(types, records, strict=True):
            sobject = self._type(sobject_name)
            for name in record:  # unknown field: the whole call fails (FACTS gap, modelled so)
                if name not in {"attributes", "id"} and name not in sobject.fields:
                    raise SalesforceError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {sobject_name}",
                    )
        results = [self._check(t, r) for t, r in zip(types, records, strict=True)]
        failed = any(errors for errors in results)
        all_or_none = bool(body.get("allOrNone", False))
        out: list[dict[str, Any]] = []
        for sobject_name, record, errors in zip(types, records, results, strict=True):
            if errors:
                out.append({"success": False, "errors": errors})
            elif all_or_none and failed:  # §5.3
                out.append(
                    {
                        "success": False,
                        "errors": [
                            _error(
                                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                "Record rolled back because not all "
                                "records were valid and the request was using AllOrNone header",
                            )
                        ],
                    }
                )
            else:
                target = self.objects[sobject_name].records[record["id"]]
                values = {k: v for k, v in record.items() if k not in {"attributes", "id"}}
                self._apply(sobject_name, target, values, self.integration_user)
                out.append({"id": record["id"], "success": True, "errors": []})
        return 200, out

    def _check(self, sobject_name: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        """§5.4: the per-record failures (codes from restforce's list; which fires when is
        [unverified])."""
        sobject = self.objects[sobject_name]
        record_id = record.get("id")
        if not isinstance(record_id, str) or not record_id.startswith(KEY_PREFIX[sobject_name]):
            return [_error("MALFORMED_ID", f"invalid id: {record_id}", ["Id"])]
        if record_id not in sobject.records:
            return [_error("ENTITY_IS_DELETED", "entity is deleted", [])]
        errors = []
        for name, value in record.items():
            definition = sobject.fields.get(name)
            if definition is None:
                continue
            problem = _value_problem(definition, value)
            if problem:
                errors.append(_error(problem[0], problem[1], [name]))
        return errors

    async def _create(self, request: Request) -> tuple[int, Any]:
        """§5.7, §8: a single record (alerts: Case, CaseComment)."""
        sobject = self._type(request.path_params["sobject"])
        values = await request.json()
        for name, value in values.items():
            definition = sobject.fields.get(name)
            if definition is None:
                raise SalesforceError(400, "INVALID_FIELD", f"No such column '{name}'")
            problem = _value_problem(definition, value)
            if problem:
                raise SalesforceError(400, problem[0], problem[1], [name])
        if sobject.name == "CaseComment" and not values.get("ParentId"):  # §8.2
            raise SalesforceError(
                400,
                "REQUIRED_FIELD_MISSING",
                "Required fields are missing: [ParentId]",
                ["ParentId"],
            )
        record_id = self.insert(sobject.name, values)
        return 201, {"id": record_id, "success": True, "errors": []}


def _error(code: str, message: str, fields: list[str] | None = None) -> dict[str, Any]:
    """§5.2: per-record errors say ``statusCode`` (top-level arrays say ``errorCode``)."""
    return {"statusCode": code, "message": message, "fields": fields or []}


def _value_problem(definition: FieldDef, value: Any) -> tuple[str, str] | None:
    if not definition.updateable:
        return (
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            f"Unable to create/update fields: {definition.name}",
        )
    if isinstance(value, str) and definition.type in {"string", "email", "textarea", "picklist"}:
        # §3.2: multi-line text is enforced in UTF-8 bytes through the API, others in characters
        size = len(value.encode()) if definition.type == "textarea" else len(value)
        if size > definition.length:
            return (
                "STRING_TOO_LONG",
                f"{definition.name}: data value too large (max length={definition.length})",
            )
    if definition.restricted and value not in definition.picklist:  # §3.3
        return (
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"bad value for restricted picklist field: {value}",
        )
    return None


# ---- SOQL subset ---------------------------------------------------------------------------------

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*')|(?P<datetime>\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d{4}))"
    r"|(?P<number>-?\d+(?:\.\d+)?)|(?P<op><=|>=|!=|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][\w.]*))"
)


@dataclass
class Select:
    fields: list[str]
    sobject: str
    where: Any  # nested tuples: ("and"|"or", left, right) or ("cmp", field, op, value)
    order: list[tuple[str, bool]]
    limit: int | None

    def referenced(self) -> list[str]:
        names = list(self.fields) + [name for name, _ in self.order]

        def walk(node: Any) -> None:
            if node is None:
                return
            if node[0] == "cmp":
                names.append(node[1])
            else:
                walk(node[1])
                walk(node[2])

        walk(self.where)
        return names


def parse_soql(text: str) -> Select:
    tokens: list[tuple[str, str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None or match.lastgroup is None:
            raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected token at {position}")
        tokens.append((match.lastgroup, match.group(match.lastgroup)))
        position = match.end()
    return _Parser(tokens).select()


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens, self.at = tokens, 0

    def peek(self) -> str:
        return self.tokens[self.at][1].upper() if self.at < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens) or (expected and self.peek() != expected):
            raise SalesforceError(400, "MALFORMED_QUERY", f"expected {expected or 'more'}")
        self.at += 1
        return self.tokens[self.at - 1]

    def select(self) -> Select:
        self.take("SELECT")
        fields = [self.take()[1]]
        while self.peek() == ",":
            self.take(",")
            fields.append(self.take()[1])
        self.take("FROM")
        sobject = self.take()[1]
        where = order = limit = None
        if self.peek() == "WHERE":
            self.take("WHERE")
            where = self.disjunction()
        if self.peek() == "ORDER":
            self.take("ORDER")
            self.take("BY")
            order = [self.order_item()]
            while self.peek() == ",":
                self.take(",")
                order.append(self.order_item())
        if self.peek() == "LIMIT":
            self.take("LIMIT")
            limit = int(self.take()[1])
        if self.at != len(self.tokens):
            raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected '{self.peek()}'")
        return Select(fields, sobject, where, order or [], limit)

    def order_item(self) -> tuple[str, bool]:
        name = self.take()[1]
        if self.peek() in {"ASC", "DESC"}:
            return name, self.take()[1].upper() == "DESC"
        return name, False

    def disjunction(self) -> Any:
        node = self.conjunction()
        while self.peek() == "OR":
            self.take("OR")
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> Any:
        node = self.condition()
        while self.peek() == "AND":
            self.take("AND")
            node = ("and", node, self.condition())
        return node

    def condition(self) -> Any:
        if self.peek() == "(":
            self.take("(")
            node = self.disjunction()
            self.take(")")
            return node
        name = self.take()[1]
        if self.peek() == "IN":
            self.take("IN")
            self.take("(")
            values = [self.value()]
            while self.peek() == ",":
                self.take(",")
                values.append(self.value())
            self.take(")")
            return ("cmp", name, "IN", values)
        kind, operator = self.take()
        if kind != "op":
            raise SalesforceError(400, "MALFORMED_QUERY", f"expected an operator after {name}")
        return ("cmp", name, operator, self.value())

    def value(self) -> Any:
        kind, raw = self.take()
        if kind == "string":
            text = re.sub(r"\\(.)", r"\1", raw[1:-1])
            if len(text) > SOQL_STRING_MAX:  # §4.3 (error code [unverified])
                raise SalesforceError(400, "MALFORMED_QUERY", "string longer than 4,000 characters")
            return text
        if kind == "datetime":
            return _epoch(raw)
        if kind == "number":
            return float(raw)
        lowered = raw.lower()
        if lowered in {"true", "false"}:
            return lowered == "true"
        if lowered == "null":
            return None
        raise SalesforceError(400, "MALFORMED_QUERY", f"unexpected value {raw}")


def _evaluate(node: Any, record: dict[str, Any], sobject: SObjectType) -> bool:
    if node[0] == "and":
        return _evaluate(node[1], record, sobject) and _evaluate(node[2], record, sobject)
    if node[0] == "or":
        return _evaluate(node[1], record, sobject) or _evaluate(node[2], record, sobject)
    _, name, operator, wanted = node
    definition = sobject.fields[name]
    actual = _key(record.get(name), definition)
    if operator == "IN":
        return bool(actual in [_key(w, definition) for w in wanted])
    target = _key(wanted, definition)
    if operator in {"=", "!="}:
        equal = bool(actual == target)
        return equal if operator == "=" else not equal
    if actual is None or target is None:
        return False
    return bool(
        {
            "<": actual < target,
            "<=": actual <= target,
            ">": actual > target,
            ">=": actual >= target,
        }[operator]
    )


def _key(value: Any, definition: FieldDef) -> Any:
    """Datetimes compare as instants whatever their spelling; the rest as stored."""
    if definition.type == "datetime" and isinstance(value, str):
        return _epoch(value)
    return value


def _sort_key(value: Any, definition: FieldDef) -> tuple[bool, Any]:
    """Nulls last in ascending order, as SOQL's default ``NULLS FIRST`` is not modelled."""
    key = _key(value, definition)
    return (key is None, 0 if key is None else key)


def _epoch(text: str) -> float:
    """``2026-01-02T03:04:05.000+0000``, ``…Z`` or ``…+00:00`` as Unix seconds."""
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise SalesforceError(400, "MALFORMED_QUERY", f"bad datetime {text}") from exc
