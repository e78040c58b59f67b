"""A doc-fake of ServiceNow's Table API, Batch API and OAuth token endpoint, built from
connectors/service/servicenow/FACTS.md alone: no simulator code was read.

Tables are dictionaries of string-valued records (§2.1). Columns are declared through the
dictionary (``define_column`` writes the ``sys_dictionary`` row, §6.1), choices through
``sys_choice`` (§6.5). Batch items run through the same dispatcher as direct requests, each
costing ``batch_item_seconds`` of simulated time against the 30-second quota (§8.3). ``§n``
refers to FACTS.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.docfakes.desk_clock import FakeClock

DEFAULT_LIMIT = 10_000  # §4.2
TOKEN_LIFESPAN = 1_800  # §1.3
BATCH_QUOTA_SECONDS = 30.0  # §8.3
BATCH_ITEM_MAX_BYTES = 5 * 1024 * 1024  # §8.3
RATE_COMMIT_SECONDS = 30  # §9.3
HOUR = 3_600
INSTANCE = "https://fake.service-now.com"
OPERATORS = (
    "ISNOTEMPTY",
    "ISEMPTY",
    "STARTSWITH",
    "ENDSWITH",
    "LIKE",
    "IN",
    "!=",
    ">=",
    "<=",
    "=",
    ">",
    "<",
)
CONDITION = re.compile(r"([a-z0-9_.]+?)(" + "|".join(re.escape(o) for o in OPERATORS) + r")(.*)")
STATUS_TEXT: dict[int, str] = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    429: "Too Many Requests",
}


@dataclass(frozen=True)
class Column:
    internal_type: str  # string, integer, reference, journal, choice, boolean, glide_date_time
    max_length: int = 40
    reference: str | None = None


@dataclass
class RateRule:
    """A ``sys_rate_limit_rules`` row for all users of one REST API (§9.1)."""

    sys_id: str
    api: str  # "Table API" | "Batch API"
    per_hour: int
    committed: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    window: int = -1
    commit_tick: int = -1


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


SYSTEM_COLUMNS = {  # §2.5: on every table, written by the platform only (§7.2)
    "sys_id": Column("GUID", 32),
    "sys_created_on": Column("glide_date_time"),
    "sys_created_by": Column("string"),
    "sys_updated_on": Column("glide_date_time"),
    "sys_updated_by": Column("string"),
    "sys_mod_count": Column("integer"),
}


class ServiceNowError(Exception):
    """A failure in the ``{"error": {message, detail}, "status": "failure"}`` envelope (§10.1)."""

    def __init__(self, status: int, message: str, detail: str | None = "") -> None:
        super().__init__(message)
        self.reply = Reply(
            status, {"error": {"message": message, "detail": detail}, "status": "failure"}
        )


class ServiceNowFake:
    """An instance with the CSM tables; ``clock`` stamps every record and drives every limit."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        users: dict[str, str] | None = None,
        oauth_clients: dict[str, str] | None = None,
        rate_rules: Iterable[RateRule] = (),
        batch_enabled: bool = True,
        batch_item_seconds: Callable[[str, str], float] | None = None,
    ) -> None:
        self.clock = clock
        self.users = users if users is not None else {"dealbridge": "secret"}
        self.oauth_clients = oauth_clients if oauth_clients is not None else {"cid": "csecret"}
        self.tokens: dict[str, tuple[str, float]] = {}
        self.rate_rules = list(rate_rules)
        self.batch_enabled = batch_enabled
        self.batch_item_seconds = batch_item_seconds or _default_item_seconds
        self.tables: dict[str, dict[str, dict[str, str]]] = {}
        self.columns: dict[str, dict[str, Column]] = {}
        self.requests: list[tuple[str, str]] = []
        self._numbers = 0
        self._create_meta_tables()
        self._create_csm_tables()
        self.app = Starlette(
            routes=[Route("/{path:path}", self._entry, methods=["GET", "POST", "PUT", "PATCH"])]
        )

    # ---- schema and seeding ---------------------------------------------------------------

    def _create_meta_tables(self) -> None:
        string, integer = Column("string", 80), Column("integer")
        self.columns["sys_dictionary"] = dict.fromkeys(
            ("name", "element", "internal_type", "column_label", "active", "read_only"), string
        ) | {"max_length": integer}
        self.columns["sys_choice"] = dict.fromkeys(
            ("name", "element", "value", "label", "language", "inactive", "dependent_value"),
            string,
        ) | {"sequence": integer}
        self.columns["sys_journal_field"] = dict.fromkeys(
            ("element", "element_id", "name"), string
        ) | {"value": Column("string", 4_000)}
        for table in self.columns:
            self.tables[table] = {}
            self.columns[table] |= SYSTEM_COLUMNS

    def _create_csm_tables(self) -> None:
        """The documented columns of §3 (customer tables) and §11 (case)."""
        account, contact, consumer = "customer_account", "customer_contact", "csm_consumer"
        case = "sn_customerservice_case"
        for table in (account, contact, consumer, case):
            self.tables[table] = {}
            self.columns[table] = dict(SYSTEM_COLUMNS)
        for name, length in (
            ("number", 40),
            ("name", 80),
            ("notes", 4_000),
            ("account_code", 255),
            ("registration_code", 40),
            ("website", 1_024),
        ):
            self.define_column(account, name, "string", length)
        self.define_column(account, "primary_contact", "reference", reference=contact)
        self.define_column(contact, "name", "string", 151)
        self.define_column(contact, "email", "string", 100)
        self.define_column(contact, "account", "reference", reference=account)
        for name, length in (("number", 40), ("name", 152), ("email", 100), ("notes", 4_000)):
            self.define_column(consumer, name, "string", length)
        self.define_column(case, "number", "string", 40)
        self.define_column(case, "short_description", "string", 160)
        for name, target in (("account", account), ("contact", contact), ("consumer", consumer)):
            self.define_column(case, name, "reference", reference=target)
        self.define_column(case, "work_notes", "journal", 4_000)
        self.define_column(case, "comments", "journal", 4_000)

    def define_column(
        self,
        table: str,
        element: str,
        internal_type: str,
        max_length: int = 40,
        *,
        reference: str | None = None,
        label: str | None = None,
    ) -> None:
        """Add a column and its ``sys_dictionary`` row (§6.1); custom ones are ``u_…`` (§6.2)."""
        self.columns[table][element] = Column(internal_type, max_length, reference)
        self.insert(
            "sys_dictionary",
            {
                "name": table,
                "element": element,
                "internal_type": internal_type,
                "max_length": str(max_length),
                "column_label": label or element,
                "active": "true",
                "read_only": "false",
            },
        )

    def add_choice(self, table: str, element: str, value: str, label: str) -> None:
        """§6.5: a ``sys_choice`` row; the API never checks values against them."""
        self.insert(
            "sys_choice",
            {
                "name": table,
                "element": element,
                "value": value,
                "label": label,
                "language": "en",
                "inactive": "false",
                "sequence": "0",
            },
        )

    def insert(self, table: str, values: dict[str, str], *, by: str = "admin") -> str:
        sys_id = secrets.token_hex(16)  # §2.5: 32 hex characters
        now = self._timestamp()
        record = dict.fromkeys(self.columns[table], "")
        if "number" in record:
            self._numbers += 1
            record["number"] = f"{_NUMBER_PREFIX.get(table, 'REC')}{self._numbers:07d}"
        record.update(
            sys_id=sys_id,
            sys_created_on=now,
            sys_created_by=by,
            sys_updated_on=now,
            sys_updated_by=by,
            sys_mod_count="0",
        )
        self.tables[table][sys_id] = record
        self._write(table, record, values, by, counts_as_update=False)
        return sys_id

    def agent_edit(self, table: str, sys_id: str, values: dict[str, str]) -> None:
        """An agent saves the form: values change and ``sys_mod_count`` moves (§7.3)."""
        self._write(table, self.tables[table][sys_id], values, "agent.smith")

    def journal(self, sys_id: str) -> list[dict[str, str]]:
        return [j for j in self.tables["sys_journal_field"].values() if j["element_id"] == sys_id]

    def _timestamp(self) -> str:
        return datetime.fromtimestamp(self.clock.now(), UTC).strftime("%Y-%m-%d %H:%M:%S")  # §2.3

    # ---- HTTP entry: auth, rate limits ------------------------------------------------------

    async def _entry(self, request: Request) -> Response:
        path = "/" + request.path_params["path"]
        self.requests.append((request.method, path))
        body = await request.body()
        if path == "/oauth_token.do" and request.method == "POST":
            reply = self._token(dict(parse_qsl(body.decode())))
        else:
            reply = self._api(
                request.method, path, dict(request.query_params), dict(request.headers), body
            )
        content = b"" if reply.body is None else json.dumps(reply.body).encode()
        return Response(
            content, status_code=reply.status, headers=reply.headers, media_type="application/json"
        )

    def _token(self, form: dict[str, str]) -> Reply:
        """§1.2 to 1.4: client credentials at ``/oauth_token.do``."""
        client_id = form.get("client_id", "")
        if form.get("grant_type") != "client_credentials" or (
            self.oauth_clients.get(client_id) != form.get("client_secret")
        ):
            return Reply(401, {"error": "invalid_client", "error_description": "access_denied"})
        token = secrets.token_urlsafe(24)
        self.tokens[token] = (f"client:{client_id}", self.clock.now() + TOKEN_LIFESPAN)
        return Reply(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFESPAN - 1,
                "scope": form.get("scope", "useraccount"),
            },
        )

    def _principal(self, headers: dict[str, str]) -> str | None:
        """§1.1: Basic or Bearer."""
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return user if self.users.get(user) == password else None
        if scheme.lower() == "bearer" and credentials in self.tokens:
            principal, expires = self.tokens[credentials]
            return principal if self.clock.now() < expires else None
        return None

    def _api(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        user = self._principal(headers)
        if user is None:  # §1.5
            return ServiceNowError(
                401, "User Not Authenticated", "Required to provide Auth information"
            ).reply
        api = "Batch API" if re.fullmatch(r"/api/now/v\d+/batch", path) else "Table API"
        limit_headers, denial = self._rate_limit(api, user)
        if denial is not None:
            return denial
        try:
            if api == "Batch API" and method == "POST":
                reply = self._batch(user, headers, body)
            else:
                reply = self._dispatch(method, path, query, headers, body, user)
        except ServiceNowError as exc:
            reply = exc.reply
        reply.headers.update(limit_headers)
        return reply

    def _rate_limit(self, api: str, user: str) -> tuple[dict[str, str], Reply | None]:
        """§9: per-hour rules whose counts are committed every 30 s, so enforcement lags."""
        now = int(self.clock.now())
        window, tick = now - now % HOUR, now - now % RATE_COMMIT_SECONDS
        for rule in self.rate_rules:
            if rule.api != api:
                continue
            if rule.window != window:  # hourly window, clock-aligned (§9.6 is a gap)
                rule.window, rule.committed, rule.pending = window, {}, {}
            if rule.commit_tick != tick:  # §9.3: each node commits its counts every 30 s
                for who, count in rule.pending.items():
                    rule.committed[who] = rule.committed.get(who, 0) + count
                rule.pending, rule.commit_tick = {}, tick
            headers = {
                "X-RateLimit-Limit": str(rule.per_hour),  # §9.4: no Remaining header
                "X-RateLimit-Reset": str(window + HOUR),
                "X-RateLimit-Rule": rule.sys_id,
            }
            if rule.committed.get(user, 0) >= rule.per_hour:
                detail = f"Rate limit of {rule.per_hour} requests per hour for {api} exceeded"
                denial = ServiceNowError(429, "Rate limit exceeded", detail).reply
                denial.headers = headers | {"Retry-After": str(window + HOUR - now)}
                return headers, denial
            rule.pending[user] = rule.pending.get(user, 0) + 1
            return headers, None
        return {}, None

    # ---- Table API ----------------------------------------------------------------------------

    def _dispatch(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        user: str,
    ) -> Reply:
        match = re.fullmatch(r"/api/now(?:/(v\d+))?/table/([a-z0-9_]+)(?:/([0-9a-f]+))?", path)
        if match is None:  # §10.2: a URI that matches no API
            raise ServiceNowError(400, "Requested URI does not represent any resource", None)
        version, table, sys_id = match.groups()
        if table not in self.tables:
            raise ServiceNowError(400, f"Invalid table {table}", None)  # text [unverified]
        if method == "GET" and sys_id is None:
            return self._list(table, version, query, path)
        if method == "GET":
            return Reply(200, {"result": self._render(table, self._find(table, sys_id), query)})
        if "content-type" not in headers or "accept" not in headers:  # §7.5
            raise ServiceNowError(400, "Accept and Content-Type headers are required", None)
        values = _json_object(body)
        if method == "POST" and sys_id is None:
            created = self.insert(table, values, by=user)
            return Reply(201, {"result": self._render(table, self.tables[table][created], query)})
        if sys_id is None:
            raise ServiceNowError(405, "Method not Supported", None)
        record = self._find(table, sys_id)
        self._write(table, record, values, user)
        if headers.get("x-no-response-body", "").lower() == "true":  # §7.1
            return Reply(200)
        return Reply(200, {"result": self._render(table, record, query)})

    def _find(self, table: str, sys_id: str) -> dict[str, str]:
        record = self.tables[table].get(sys_id)
        if record is None:  # §5.1
            raise ServiceNowError(
                404, "No Record found", "Record doesn't exist or ACL restricts the record retrieval"
            )
        return record

    def _write(
        self,
        table: str,
        record: dict[str, str],
        values: dict[str, Any],
        user: str,
        *,
        counts_as_update: bool = True,
    ) -> None:
        columns, changed = self.columns[table], False
        for name, raw in values.items():
            column = columns.get(name)
            if column is None or name.startswith("sys_"):  # §7.2, §7.4 [unverified]
                continue
            value = "" if raw is None else str(raw)
            if column.internal_type == "journal":  # §11.1: appends an entry, reads back empty
                if value:
                    self.insert(
                        "sys_journal_field",
                        {
                            "element": name,
                            "element_id": record["sys_id"],
                            "name": table,
                            "value": value[: column.max_length],
                        },
                        by=user,
                    )
                    changed = True
                continue
            if column.internal_type == "string":
                value = value[: column.max_length]  # §6.4: silent truncation [unverified]
            if record.get(name) != value:
                record[name], changed = value, True
        if changed and counts_as_update:  # §7.3: an unchanged save is not saved [unverified]
            record["sys_mod_count"] = str(int(record["sys_mod_count"]) + 1)
            record["sys_updated_on"], record["sys_updated_by"] = self._timestamp(), user

    def _list(self, table: str, version: str | None, query: dict[str, str], path: str) -> Reply:
        groups, order = _parse_query(query.get("sysparm_query", ""), set(self.columns[table]))
        rows = [r for r in self.tables[table].values() if _matches(r, groups, self.columns[table])]
        columns = self.columns[table]
        for column, descending in reversed(order):  # §4.3 ORDERBY / ORDERBYDESC

            def by(record: dict[str, str], name: str = column) -> tuple[float, str]:
                return _sort_key(record.get(name, ""), columns.get(name))

            rows.sort(key=by, reverse=descending)
        limit = int(query.get("sysparm_limit", DEFAULT_LIMIT))
        offset = int(query.get("sysparm_offset", 0))
        if offset < 0 or limit < 0:
            raise ServiceNowError(400, "sysparm_offset and sysparm_limit must not be negative")
        page = rows[offset : offset + limit]
        if not page and version == "v1":  # §4.1: v1 answers 404 where v2 answers []
            raise ServiceNowError(404, "No Record found", "Records matching query not found")
        headers = {"X-Total-Count": str(len(rows))}  # §4.4
        if query.get("sysparm_suppress_pagination_header") != "true":
            headers["Link"] = _link_header(path, query, offset, limit, len(rows))
        return Reply(200, {"result": [self._render(table, r, query) for r in page]}, headers)

    def _render(self, table: str, record: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
        wanted = [f for f in query.get("sysparm_fields", "").split(",") if f]
        names = [f for f in wanted if f in record] if wanted else list(record)  # §4.2 ignored
        bare = query.get("sysparm_exclude_reference_link") == "true"
        out: dict[str, Any] = {}
        for name in names:
            column = self.columns[table].get(name)
            value = record[name]
            if column and column.reference and value and not bare:  # §2.2
                out[name] = {
                    "link": f"{INSTANCE}/api/now/table/{column.reference}/{value}",
                    "value": value,
                }
            else:
                out[name] = value
        return out

    # ---- Batch API (§8) -----------------------------------------------------------------------

    def _batch(self, user: str, headers: dict[str, str], body: bytes) -> Reply:
        if not self.batch_enabled:  # §8.5
            raise ServiceNowError(400, "Requested URI does not represent any resource", None)
        if not headers.get("content-type", "").startswith("application/json"):  # §8.1
            raise ServiceNowError(415, "Unsupported Media Type", "only application/json")
        request = _json_object(body)
        items = request.get("rest_requests")
        if not isinstance(items, list) or not all(
            isinstance(i, dict) and {"id", "method", "url"} <= set(i) for i in items
        ):
            raise ServiceNowError(400, "rest_requests needs id, method and url on every item")
        serviced: list[dict[str, Any]] = []
        unserviced: list[str] = []
        elapsed = 0.0
        for item in items:
            try:
                payload = base64.b64decode(item.get("body") or "", validate=True)
            except binascii.Error as exc:
                raise ServiceNowError(400, f"item {item['id']}: body is not Base64") from exc
            cost = self.batch_item_seconds(item["method"], item["url"])
            if (
                unserviced
                or len(payload) > BATCH_ITEM_MAX_BYTES
                or (elapsed + cost > BATCH_QUOTA_SECONDS)
            ):  # §8.3: the transaction is cancelled; this item and the rest are unserviced
                unserviced.append(str(item["id"]))
                continue
            elapsed += cost
            self.clock.advance(cost)
            serviced.append(self._serve_item(item, payload, user, cost))
        return Reply(
            200,
            {
                "batch_request_id": request.get("batch_request_id"),
                "serviced_requests": serviced,
                "unserviced_requests": unserviced,
            },
        )

    def _serve_item(
        self, item: dict[str, Any], payload: bytes, user: str, cost: float
    ) -> dict[str, Any]:
        """§8.2: each item keeps its own status; its body comes back Base64-encoded."""
        url = urlsplit(str(item["url"]))
        headers = {str(h["name"]).lower(): str(h["value"]) for h in item.get("headers", [])}
        try:
            reply = self._dispatch(
                str(item["method"]).upper(),
                url.path,
                dict(parse_qsl(url.query)),
                headers,
                payload,
                user,
            )
        except ServiceNowError as exc:
            reply = exc.reply
        body = b"" if reply.body is None else json.dumps(reply.body).encode()
        served: dict[str, Any] = {
            "id": str(item["id"]),
            "status_code": reply.status,
            "status_text": STATUS_TEXT.get(reply.status, ""),
            "body": base64.b64encode(body).decode(),
            "execution_time": round(cost * 1000),
        }
        if not item.get("exclude_response_headers"):
            served["headers"] = [{"name": "Content-Type", "value": "application/json"}] + [
                {"name": k, "value": v} for k, v in reply.headers.items()
            ]
        return served


def _default_item_seconds(method: str, url: str) -> float:
    """A quick single-record request: 150 of them fit the 30-second batch quota (§8.3)."""
    return 0.2


_NUMBER_PREFIX = {
    "customer_account": "ACCT",
    "csm_consumer": "CSM",
    "sn_customerservice_case": "CS",
}

Condition = tuple[str, str, str]  # column, operator, value
Group = list[list[Condition]]  # AND of OR-clauses


def _parse_query(text: str, known: set[str]) -> tuple[list[Group], list[tuple[str, bool]]]:
    """§4.3: ``^`` AND, ``^OR`` OR, ``^NQ`` new query, ORDERBY[DESC]; unknown parts dropped."""
    groups: list[Group] = [[]]
    order: list[tuple[str, bool]] = []
    for part in [t for t in text.split("^") if t]:
        token = part
        if token.startswith("NQ"):
            groups.append([])
            token = token[2:]
        if token.startswith(("ORDERBYDESC", "ORDERBY")):
            descending = token.startswith("ORDERBYDESC")
            column = token.removeprefix("ORDERBYDESC" if descending else "ORDERBY")
            if column in known:
                order.append((column, descending))
            continue
        is_or = token.startswith("OR") and CONDITION.fullmatch(token[2:]) is not None
        match = CONDITION.fullmatch(token[2:] if is_or else token)
        if match is None or match.group(1) not in known:  # §4.3: invalid parts are ignored
            continue
        condition = (match.group(1), match.group(2), match.group(3))
        clauses = groups[-1]
        if is_or and clauses:
            clauses[-1].append(condition)
        else:
            clauses.append([condition])
    return groups, order


def _matches(record: dict[str, str], groups: list[Group], columns: dict[str, Column]) -> bool:
    return any(
        all(any(_holds(record, c, columns) for c in clause) for clause in group) for group in groups
    )


def _holds(record: dict[str, str], condition: Condition, columns: dict[str, Column]) -> bool:
    name, operator, value = condition
    actual = record.get(name, "")
    column = columns.get(name)
    if operator == "ISEMPTY":
        return actual == ""
    if operator == "ISNOTEMPTY":
        return actual != ""
    if operator == "IN":
        return actual in value.split(",")
    if operator in {"LIKE", "STARTSWITH", "ENDSWITH"}:
        checks = {
            "LIKE": value in actual,
            "STARTSWITH": actual.startswith(value),
            "ENDSWITH": actual.endswith(value),
        }
        return checks[operator]
    left, right = _sort_key(actual, column), _sort_key(value, column)
    comparisons = {
        "=": left == right,
        "!=": left != right,
        ">": left > right,
        ">=": left >= right,
        "<": left < right,
        "<=": left <= right,
    }
    return comparisons[operator]


def _sort_key(value: str, column: Column | None) -> tuple[float, str]:
    """Integers compare as numbers; strings and ``YYYY-MM-DD HH:MM:SS`` UTC times lexically."""
    if column is not None and column.internal_type == "integer" and re.fullmatch(r"-?\d+", value):
        return (float(value), "")
    return (0.0, value)


def _link_header(path: str, query: dict[str, str], offset: int, limit: int, total: int) -> str:
    """§4.4: first/prev/next/last page URLs."""

    def url(at: int) -> str:
        params = query | {"sysparm_offset": str(at), "sysparm_limit": str(limit)}
        return f"<{INSTANCE}{path}?{urlencode(params)}>"

    last = max(0, (total - 1) // limit * limit) if limit else 0
    links = [f'{url(0)};rel="first"']
    if offset > 0:
        links.append(f'{url(max(0, offset - limit))};rel="prev"')
    if limit and offset + limit < total:
        links.append(f'{url(offset + limit)};rel="next"')
    links.append(f'{url(last)};rel="last"')
    return ",".join(links)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError as exc:
        raise ServiceNowError(400, "Exception while reading request", str(exc)) from exc
    if not isinstance(value, dict):
        raise ServiceNowError(400, "Exception while reading request", "expected a JSON object")
    return value
