"""Dynamics 365 Sales (Dataverse Web API) as its documentation describes it: an in-memory fake.

Built from ``connectors/sales/dynamics/FACTS.md`` alone (§ numbers in comments point there),
independent of any simulator. It models: the Entra ID client-credentials token endpoint,
``opportunities`` and ``accounts`` with ``$select``/``$filter``/``$orderby``/``$expand``,
server-driven paging (``Prefer: odata.maxpagesize``, ``@odata.nextLink``), formatted-value
annotations, change tracking (``Prefer: odata.track-changes``, ``@odata.deltaLink``,
``$deletedEntity``, token expiry), the ``EntityDefinitions`` picklist metadata, service protection
limits (requests, execution time, concurrency) with 429 + ``Retry-After``, and the error object.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.crm_common import (
    InFlight,
    ManualClock,
    Refused,
    RollingWindow,
    form_fields,
    whole_seconds,
)
from tests.docfakes.dynamics_odata import (
    FORMATTED,
    MAX_PAGE_SIZE,
    NotModelled,
    Order,
    Preferences,
    parse_expand,
    parse_filter,
    parse_select,
)

API = "/api/data/v9.2"
TOKEN_SECONDS = 3599  # §2.4: use expires_in
WINDOW_SECONDS = 300  # §8.1
REQUEST_LIMIT = 6000  # §8.1
EXECUTION_LIMIT_MS = 1_200_000  # §8.1
CONCURRENCY_LIMIT = 52  # §8.1
EXPIRE_CHANGE_TRACKING_DAYS = 7  # §6.7
EXPIRED_VERSION_STAMP = "0x80044352"  # §6.7
TRACK_CHANGES_REFUSED = ("$filter", "$orderby", "$expand", "$top")  # §6.4


def iso(moment: datetime) -> str:
    """§5.2: UTC, whole seconds."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    """§9.1: ``{"error": {"code", "message"}}``."""
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Table:
    """An entity set: rows by key, columns by logical name with their attribute type."""

    entity: str
    key: str
    columns: dict[str, str]
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Choice:
    """§7.2: a choice (picklist) column's options, local or global."""

    labels: dict[int, str]
    is_global: bool = False


@dataclass
class Tombstone:
    id: str
    version: int


@dataclass
class Limits:
    """§8.1 per user; tests shrink them to stay fast."""

    requests: int = REQUEST_LIMIT
    execution_ms: int = EXECUTION_LIMIT_MS
    concurrent: int = CONCURRENCY_LIMIT
    cost_ms_per_request: int = 20


class DataverseFake:
    """One Dataverse environment plus its Entra tenant, served by one ASGI app (``.app``)."""

    def __init__(
        self,
        clock: ManualClock | None = None,
        *,
        environment: str = "https://acme.crm4.dynamics.com",
        tenant: str = "contoso.onmicrosoft.com",
        limits: Limits | None = None,
    ) -> None:
        self.clock = clock or ManualClock()
        self.environment = environment
        self.tenant = tenant
        self.limits = limits or Limits()
        self.expire_change_tracking_days = EXPIRE_CHANGE_TRACKING_DAYS
        self.clients: dict[str, str] = {}
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.version = 1000
        self.tombstones: list[Tombstone] = []
        self.choices: dict[str, Choice] = {}
        self.custom_columns: set[str] = set()
        self.in_flight = InFlight()
        self._requests: dict[str, RollingWindow] = {}
        self._execution: dict[str, RollingWindow] = {}
        self._next = 0
        self.opportunities = Table(
            "opportunity",
            "opportunityid",
            {
                "opportunityid": "Uniqueidentifier",
                "name": "String",
                "modifiedon": "DateTime",
                "estimatedvalue": "Money",
                "_parentaccountid_value": "Lookup",
            },
        )
        self.accounts = Table(
            "account",
            "accountid",
            {
                "accountid": "Uniqueidentifier",
                "name": "String",
                "websiteurl": "String",
                "emailaddress1": "String",
                "modifiedon": "DateTime",
            },
        )
        self.app = Starlette(
            routes=[
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route(API + "/{path:path}", self._api, methods=["GET"]),
            ]
        )

    @property
    def root(self) -> str:
        return f"{self.environment}{API}/"

    # ----- seeding (test side) -----

    def add_client(self, client_id: str, secret: str) -> None:
        self.clients[client_id] = secret

    def add_column(self, logical_name: str, attribute_type: str = "String") -> None:
        """§3.4: a custom column, e.g. ``new_specialdiscount``."""
        self.opportunities.columns[logical_name] = attribute_type
        self.custom_columns.add(logical_name)

    def add_choice_column(
        self, logical_name: str, labels: dict[int, str], *, is_global: bool = False
    ) -> None:
        self.add_column(logical_name, "Picklist")
        self.choices[logical_name] = Choice(labels, is_global)

    def add_account(self, name: str, **columns: Any) -> str:
        return self._write(self.accounts, None, {"name": name, **columns})

    def add_opportunity(self, name: str, account: str | None = None, **columns: Any) -> str:
        return self._write(
            self.opportunities, None, {"name": name, "_parentaccountid_value": account, **columns}
        )

    def update_opportunity(self, row_id: str, **columns: Any) -> None:
        self._write(self.opportunities, row_id, columns)

    def delete_opportunity(self, row_id: str) -> None:
        del self.opportunities.rows[row_id]
        self.version += 1
        self.tombstones.append(Tombstone(row_id, self.version))  # §6.5

    def _write(self, table: Table, row_id: str | None, columns: dict[str, Any]) -> str:
        if row_id is None:
            self._next += 1
            row_id = str(uuid.UUID(int=self._next))  # sequential ids, as Dataverse's often are
            table.rows[row_id] = {table.key: row_id}
        self.version += 1
        table.rows[row_id].update(columns)
        table.rows[row_id]["modifiedon"] = whole_seconds(self.clock.now())  # §5.2
        table.rows[row_id]["versionnumber"] = self.version  # §6.6, and the etag (§4.5)
        return row_id

    # ----- Entra ID token endpoint (§2.2 to §2.4) -----

    async def _token(self, request: Request) -> Response:
        form = await form_fields(request)
        if request.path_params["tenant"] != self.tenant:
            return self._entra_error(400, "invalid_request", 90002, "Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return self._entra_error(400, "unsupported_grant_type", 70003, "Unsupported grant.")
        client_id = form.get("client_id", "")
        if self.clients.get(client_id) != form.get("client_secret"):
            return self._entra_error(
                401, "invalid_client", 7000215, "Invalid client secret provided."
            )
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return self._entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier "
                "(application ID URI).",
            )
        if scope.removesuffix("/.default").rstrip("/") != self.environment:
            return self._entra_error(400, "invalid_resource", 500011, "Resource not found.")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = (client_id, self.clock.now() + timedelta(seconds=TOKEN_SECONDS))
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "ext_expires_in": TOKEN_SECONDS,
                "access_token": token,
            }
        )

    def _entra_error(self, status: int, code: str, aadsts: int, text: str) -> Response:
        body = {
            "error": code,
            "error_description": f"AADSTS{aadsts}: {text}",
            "error_codes": [aadsts],
            "timestamp": self.clock.now().strftime("%Y-%m-%d %H:%M:%SZ"),
            "trace_id": str(uuid.uuid4()),
            "correlation_id": str(uuid.uuid4()),
        }
        return JSONResponse(body, status_code=status)

    # ----- auth and service protection (§2.5, §8) -----

    def _user(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.tokens.get(token) if scheme == "Bearer" else None
        if found is None or self.clock.now() >= found[1]:
            return None
        return found[0]

    def _throttle(self, user: str) -> tuple[dict[str, str], Response | None]:
        """§8.1 to §8.4; concurrency is checked by the caller, before this."""
        now = self.clock.now()
        requests = self._requests.setdefault(user, RollingWindow(WINDOW_SECONDS))
        execution = self._execution.setdefault(user, RollingWindow(WINDOW_SECONDS))
        limits = self.limits
        if requests.total(now) >= limits.requests:
            wait = requests.seconds_until_room(now, limits.requests)
            message = (
                f"Number of requests exceeded the limit of {limits.requests} "
                f"over time window of {WINDOW_SECONDS} seconds."
            )
            return {}, error(429, "0x80072322", message, {"Retry-After": str(wait)})
        if execution.total(now) >= limits.execution_ms:
            wait = execution.seconds_until_room(
                now, limits.execution_ms, limits.cost_ms_per_request
            )
            message = (
                f"Combined execution time of incoming requests exceeded limit of "
                f"{limits.execution_ms:,} milliseconds over time window of {WINDOW_SECONDS} "
                "seconds. Decrease number of concurrent requests or reduce the duration of "
                "requests and try again later."
            )
            return {}, error(429, "0x80072321", message, {"Retry-After": str(wait)})
        requests.add(now)
        execution.add(now, limits.cost_ms_per_request)
        headers = {
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(
                limits.requests - int(requests.total(now))
            ),
            "x-ms-ratelimit-time-remaining-xrm-requests": str(
                limits.execution_ms - int(execution.total(now))
            ),
        }
        return headers, None

    async def _api(self, request: Request) -> Response:
        user = self._user(request)
        if user is None:  # §2.5: 401, empty body (unverified), challenge header
            challenge = (
                f"Bearer authorization_uri=https://login.microsoftonline.com/{self.tenant}"
                f"/oauth2/authorize, resource_id={self.environment}/"
            )
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        if self.in_flight.count >= self.limits.concurrent:  # §8.3: refused at once
            message = (
                f"Number of concurrent requests exceeded the limit of {self.limits.concurrent}."
            )
            return error(429, "0x80072326", message, {"Retry-After": "1"})
        self.in_flight.enter()
        try:
            await self.in_flight.wait_if_held()
            headers, refused = self._throttle(user)
            if refused is not None:
                return refused
            response = self._route(request)
            response.headers.update(headers)
            return response
        finally:
            self.in_flight.leave()

    def _route(self, request: Request) -> Response:
        path = unquote(request.path_params["path"])
        try:
            if path in ("opportunities", "accounts"):
                table = self.opportunities if path == "opportunities" else self.accounts
                return self._collection(request, table, path)
            if path.startswith("opportunities(") and path.endswith(")"):
                return self._one(request, path[len("opportunities(") : -1])
            if path.startswith("EntityDefinitions(LogicalName='opportunity')/Attributes"):
                return self._attributes(request, path)
        except Refused as refused:
            return error(400, "", refused.message)  # §9.1: the code is frequently empty
        except NotModelled as missing:
            return error(501, "", f"Not modelled by the Dataverse doc-fake: {missing}")
        segment = path.split("(")[0].split("/")[0]
        return error(404, "0x8006088a", f"Resource not found for the segment '{segment}'.")

    # ----- reading rows -----

    def _collection(self, request: Request, table: Table, entity_set: str) -> Response:
        params = request.query_params
        prefer = Preferences.parse(request)
        if "$deltatoken" in params:
            return self._delta(request, table, entity_set, prefer)
        if "$skip" in params:  # §4.3
            raise Refused("The query parameter $skip is not supported")
        if prefer.track_changes:
            for option in TRACK_CHANGES_REFUSED:
                if option in params:  # §6.4
                    raise Refused(
                        f'The "{option}" query parameter isn\'t supported when Change Tracking '
                        "is enabled."
                    )
        select = parse_select(params.get("$select"), set(table.columns), table.entity)
        expand = parse_expand(params.get("$expand"))
        if set(expand) - {"parentaccountid"} or (expand and table is not self.opportunities):
            raise Refused(f"Could not find a navigation property named '{next(iter(expand))}'.")
        keep = parse_filter(params.get("$filter"), set(table.columns))
        order = Order.parse(params.get("$orderby"), set(table.columns), table.key)
        rows = order.sort([row for row in table.rows.values() if keep(row)])
        if "$skiptoken" in params:
            rows = order.after(rows, params["$skiptoken"])
        size = prefer.max_page_size or MAX_PAGE_SIZE
        if "$top" in params and prefer.max_page_size is None:  # §4.3: else $top is ignored
            if not params["$top"].isdigit():
                raise Refused("$top must be a non-negative integer.")
            rows = rows[: int(params["$top"])]
        page, more = rows[:size], len(rows) > size
        body: dict[str, Any] = {
            "@odata.context": f"{self.root}$metadata#{entity_set}({','.join(select or ['*'])})",
            "value": [self._shape(row, table, select, expand, prefer) for row in page],
        }
        if more:
            body["@odata.nextLink"] = str(
                request.url.include_query_params(**{"$skiptoken": order.cookie(page[-1])})
            )
        elif prefer.track_changes:
            # §6.2/§6.3: the delta link comes on the last page and marks *this* moment.
            body["@odata.deltaLink"] = self._delta_link(entity_set, select)
        return JSONResponse(body, headers=self._applied(prefer))

    def _shape(
        self,
        row: dict[str, Any],
        table: Table,
        select: list[str] | None,
        expand: dict[str, list[str] | None],
        prefer: Preferences,
    ) -> dict[str, Any]:
        """§3.1 selected columns plus key and etag; §3.3 expanded account; §3.5 labels."""
        shaped: dict[str, Any] = {"@odata.etag": f'W/"{row["versionnumber"]}"'}
        for name in dict.fromkeys([*(select or table.columns), table.key]):
            value = row.get(name)
            if prefer.formatted_values:
                label = self._formatted(name, value)
                if label is not None:
                    shaped[f"{name}@{FORMATTED}"] = label
            shaped[name] = iso(value) if isinstance(value, datetime) else value
        if "parentaccountid" in expand:
            account = self.accounts.rows.get(row.get("_parentaccountid_value") or "")
            columns = expand["parentaccountid"] or ["name", "websiteurl", "emailaddress1"]
            shaped["parentaccountid"] = (
                None
                if account is None
                else {**{c: account.get(c) for c in columns}, "accountid": account["accountid"]}
            )
        return shaped

    def _formatted(self, name: str, value: Any) -> str | None:
        if value is None:
            return None
        if name in self.choices:
            return self.choices[name].labels.get(value)
        if name == "_parentaccountid_value":
            account = self.accounts.rows.get(value)
            return account["name"] if account else None
        if isinstance(value, datetime):  # in the caller's time zone; UTC for this fake
            return (
                f"{value.month}/{value.day}/{value.year} {value.strftime('%I:%M %p').lstrip('0')}"
            )
        return None

    def _one(self, request: Request, row_id: str) -> Response:
        row = self.opportunities.rows.get(row_id.lower())
        if row is None:  # §9.3 (code and message unverified)
            return error(404, "0x80040217", f"opportunity With Id = {row_id} Does Not Exist")
        prefer = Preferences.parse(request)
        select = parse_select(
            request.query_params.get("$select"), set(self.opportunities.columns), "opportunity"
        )
        shaped = self._shape(row, self.opportunities, select, {}, prefer)
        body = {"@odata.context": f"{self.root}$metadata#opportunities/$entity", **shaped}
        return JSONResponse(body, headers=self._applied(prefer))

    @staticmethod
    def _applied(prefer: Preferences) -> dict[str, str]:
        applied = prefer.applied()
        return {"Preference-Applied": applied} if applied else {}

    # ----- change tracking (§6) -----

    def _delta_link(self, entity_set: str, select: list[str] | None) -> str:
        stamp = self.clock.now().strftime("%m/%d/%Y %H:%M:%S")
        token = f"{self.version}!{stamp}"
        selected = f"$select={','.join(select)}&" if select else ""
        return f"{self.root}{entity_set}?{selected}$deltatoken={quote(token, safe='')}"

    def _delta(
        self, request: Request, table: Table, entity_set: str, prefer: Preferences
    ) -> Response:
        token = request.query_params["$deltatoken"]
        version_text, _, stamp = token.partition("!")
        try:
            since = int(version_text)
            issued = datetime.strptime(stamp, "%m/%d/%Y %H:%M:%S").replace(
                tzinfo=self.clock.now().tzinfo
            )
        except ValueError:
            return error(400, "", "The delta token is not valid.")  # §6.7 (unverified)
        if self.clock.now() - issued > timedelta(days=self.expire_change_tracking_days):
            return error(  # §6.7: code is sourced, the status is not
                400,
                EXPIRED_VERSION_STAMP,
                "Version stamp associated with the client has expired. Please perform a full sync.",
            )
        select = parse_select(request.query_params.get("$select"), set(table.columns), table.entity)
        changed = sorted(
            (row for row in table.rows.values() if row["versionnumber"] > since),
            key=lambda row: row["versionnumber"],
        )  # §6.6: new and updated first, by version ...
        deleted = [
            {
                "@odata.context": f"{self.root}$metadata#{entity_set}/$deletedEntity",
                "id": stone.id,
                "reason": "deleted",
            }
            for stone in self.tombstones
            if stone.version > since and table is self.opportunities
        ]  # ... then deletions
        entries = [self._shape(row, table, select, {}, prefer) for row in changed] + deleted
        skip = request.query_params.get("$skiptoken", "0")
        if not skip.isdigit():
            raise Refused("The $skiptoken is not valid.")
        offset = int(skip)
        size = prefer.max_page_size or MAX_PAGE_SIZE
        columns = ",".join(select or ["*"])
        body: dict[str, Any] = {
            "@odata.context": f"{self.root}$metadata#{entity_set}({columns})/$delta",
            "value": entries[offset : offset + size],
        }
        if offset + size < len(entries):
            body["@odata.nextLink"] = str(
                request.url.include_query_params(**{"$skiptoken": str(offset + size)})
            )
        else:
            body["@odata.deltaLink"] = self._delta_link(entity_set, select)
        return JSONResponse(body, headers=self._applied(prefer))

    # ----- metadata (§7) -----

    def _attributes(self, request: Request, path: str) -> Response:
        base = "EntityDefinitions(LogicalName='opportunity')/Attributes"
        cast = path[len(base) :].lstrip("/")
        context = f"{self.root}$metadata#EntityDefinitions('opportunity')/Attributes"
        if cast == "":
            rows = [
                {
                    "LogicalName": name,
                    "SchemaName": name,
                    "AttributeType": kind,
                    "IsCustomAttribute": name in self.custom_columns,
                    "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                }
                for name, kind in self.opportunities.columns.items()
            ]
            return JSONResponse({"@odata.context": context, "value": rows})
        if cast != "Microsoft.Dynamics.CRM.PicklistAttributeMetadata":
            raise NotModelled(f"attribute cast {cast!r}")
        expand = parse_expand(request.query_params.get("$expand"))
        rows = []
        for name, choice in self.choices.items():
            option_set = _option_set(name, choice)
            row: dict[str, Any] = {
                "LogicalName": name,
                "MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            }
            if "OptionSet" in expand:
                row["OptionSet"] = None if choice.is_global else option_set
            if "GlobalOptionSet" in expand:
                row["GlobalOptionSet"] = option_set if choice.is_global else None
            rows.append(row)
        return JSONResponse({"@odata.context": f"{context}/{cast}", "value": rows})


def _option_set(name: str, choice: Choice) -> dict[str, Any]:
    """§7.2: the documented OptionSet shape, English labels only."""

    def label(text: str) -> dict[str, Any]:
        localized = {"Label": text, "LanguageCode": 1033, "IsManaged": False, "HasChanged": None}
        return {"LocalizedLabels": [localized], "UserLocalizedLabel": localized}

    return {
        "Options": [
            {
                "Value": value,
                "Label": label(text),
                "Description": {"LocalizedLabels": [], "UserLocalizedLabel": None},
                "Color": None,
                "IsManaged": False,
            }
            for value, text in sorted(choice.labels.items())
        ],
        "IsGlobal": choice.is_global,
        "Name": name if choice.is_global else f"opportunity_{name}",
        "OptionSetType": "Picklist",
    }
