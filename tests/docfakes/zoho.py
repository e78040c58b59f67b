"""Zoho CRM (API v8), as its documentation describes it: a small in-memory ASGI fake.

Built from ``connectors/sales/zoho/FACTS.md`` alone (§ numbers in comments point there),
independent of any simulator. One org lives in one data centre; the app answers for every DC's
accounts server and API domain (routing on the ``Host`` header) so wrong-DC calls fail the way
§2.5 describes. Modelled: refresh-token OAuth with ``api_domain``, ``GET /crm/v8/Deals`` with
``fields``, ``page``/``per_page``, ``page_token`` past 2,000 records, ``If-Modified-Since``, 204
and 304; ``/Deals/deleted``; COQL with limit/offset and lookup traversal; ``/settings/fields``;
accounts by ``ids``; API credits per 24 h and concurrency with 429 ``TOO_MANY_REQUESTS`` and
``X-API-CREDITS-REMAINING``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.crm_common import (
    InFlight,
    ManualClock,
    RollingWindow,
    parse_instant,
    whole_seconds,
)
from tests.docfakes.zoho_records import (
    MAX_FIELDS,
    Coql,
    CoqlNotModelled,
    Field,
    Module,
    ZohoError,
    matches,
    parse_coql,
    render,
    value_of,
    zoho_time,
)

# §1.1 accounts servers and API domains per data centre.
ACCOUNTS = {
    "us": "accounts.zoho.com",
    "eu": "accounts.zoho.eu",
    "in": "accounts.zoho.in",
    "au": "accounts.zoho.com.au",
    "cn": "accounts.zoho.com.cn",
    "jp": "accounts.zoho.jp",
    "ca": "accounts.zohocloud.ca",
    "sa": "accounts.zoho.sa",
}
API_DOMAINS = {
    "us": "www.zohoapis.com",
    "eu": "www.zohoapis.eu",
    "in": "www.zohoapis.in",
    "au": "www.zohoapis.com.au",
    "cn": "www.zohoapis.com.cn",
    "jp": "www.zohoapis.jp",
    "ca": "www.zohoapis.ca",
    "sa": "www.zohoapis.sa",
}
# §8.1 credits (base, per user licence, maximum) and §8.2 concurrency, by edition.
EDITION_CREDITS = {
    "Free": (5_000, 0, 5_000),
    "Standard": (50_000, 250, 100_000),
    "Professional": (50_000, 500, 3_000_000),
    "Enterprise": (50_000, 1_000, 5_000_000),
    "Ultimate": (50_000, 2_000, None),
}
EDITION_CONCURRENCY = {
    "Free": 5,
    "Standard": 10,
    "Professional": 15,
    "Enterprise": 20,
    "Ultimate": 25,
}
ACCESS_TOKEN_SECONDS = 3600  # §2.2
TOKENS_PER_REFRESH_PER_10_MIN = 10  # §2.4
MAX_PER_PAGE = 200  # §3.1
DISCRETE_PAGE_LIMIT = 2000  # §3.2
PAGE_TOKEN_LIMIT = 100_000  # §3.2
PAGE_TOKEN_HOURS = 24  # §3.2
RECYCLE_DAYS, PERMANENT_DAYS = 60, 120  # §5.3
SORT_FIELDS = ("id", "Created_Time", "Modified_Time")  # §3.1
Build = Callable[[Request, str], Awaitable[Response]]


@dataclass
class PageToken:
    """§3.2: bound to the request's other parameters, to its user, for 24 hours."""

    fingerprint: str
    user: str
    offset: int
    expires: datetime


@dataclass
class Deleted:
    """§5.2: one entry of ``/Deals/deleted``."""

    id: str
    display_name: str | None
    type: str
    deleted_time: datetime


class ZohoFake:
    """One Zoho CRM org in one data centre, served by one ASGI app (``.app``)."""

    def __init__(
        self,
        clock: ManualClock | None = None,
        *,
        dc: str = "eu",
        edition: str = "Enterprise",
        users: int = 10,
        credits_per_day: int | None = None,
        concurrency: int | None = None,
        utc_offset_minutes: int = 60,
    ) -> None:
        self.clock = clock or ManualClock()
        self.dc = dc
        base, per_user, maximum = EDITION_CREDITS[edition]
        computed = base + per_user * users
        self.credits_per_day = credits_per_day or (min(computed, maximum) if maximum else computed)
        self.concurrency = concurrency or EDITION_CONCURRENCY[edition]
        self.offset = utc_offset_minutes
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, tuple[str, datetime]] = {}
        self.page_tokens: dict[str, PageToken] = {}
        self.deleted: list[Deleted] = []
        self.in_flight = InFlight()
        self._credits = RollingWindow(86_400)
        self._issued: dict[str, RollingWindow] = {}
        self._next_id = 5725767000000400000
        self.modules = {
            "Accounts": Module(
                "Accounts",
                [
                    Field("Account_Name", "Account Name", "text"),
                    Field("Website", "Website", "website"),
                    Field("Modified_Time", "Modified Time", "datetime"),
                ],
            ),
            "Deals": Module(
                "Deals",
                [
                    Field("Deal_Name", "Deal Name", "text"),
                    Field("Stage", "Stage", "picklist", picklist=["Qualification", "Closed Won"]),
                    Field("Amount", "Amount", "currency"),
                    Field("Account_Name", "Account Name", "lookup", lookup_module="Accounts"),
                    Field("Created_Time", "Created Time", "datetime"),
                    Field("Modified_Time", "Modified Time", "datetime"),
                ],
            ),
        }
        self.app = Starlette(
            routes=[
                Route("/oauth/v2/token", self._token, methods=["POST"]),
                Route("/crm/v8/coql", self._coql, methods=["POST"]),
                Route("/crm/v8/settings/fields", self._fields, methods=["GET"]),
                Route("/crm/v8/{module}/deleted", self._deleted, methods=["GET"]),
                Route("/crm/v8/{module}", self._records, methods=["GET"]),
            ],
            exception_handlers={404: self._not_found},
        )

    @property
    def api_domain(self) -> str:
        return f"https://{API_DOMAINS[self.dc]}"

    @property
    def accounts_server(self) -> str:
        return f"https://{ACCOUNTS[self.dc]}"

    # ----- seeding (test side) -----

    def add_client(self, client_id: str, secret: str) -> str:
        """A Self Client with one refresh token (§2.2); returns the refresh token."""
        self.clients[client_id] = secret
        refresh = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.refresh_tokens[refresh] = client_id
        return refresh

    def add_field(self, api_name: str, label: str, data_type: str, **extra: Any) -> None:
        self.modules["Deals"].fields.append(Field(api_name, label, data_type, custom=True, **extra))

    def add_account(self, name: str, website: str | None = None) -> str:
        return self._write("Accounts", None, {"Account_Name": name, "Website": website})

    def add_deal(self, name: str, account: str | None = None, **values: Any) -> str:
        link = None
        if account is not None:
            link = {
                "name": self.modules["Accounts"].records[account]["Account_Name"],
                "id": account,
            }
        return self._write("Deals", None, {"Deal_Name": name, "Account_Name": link, **values})

    def update_deal(self, deal_id: str, **values: Any) -> None:
        self._write("Deals", deal_id, values)

    def delete_deal(self, deal_id: str, *, permanent: bool = False) -> None:
        record = self.modules["Deals"].records.pop(deal_id)
        kind = "permanent" if permanent else "recycle"
        self.deleted.append(Deleted(deal_id, record["Deal_Name"], kind, self._now()))

    def delete_account(self, account_id: str) -> None:
        """§7.2: deals keep the dangling lookup; ``?ids=`` no longer returns the account."""
        del self.modules["Accounts"].records[account_id]

    def _write(self, module: str, record_id: str | None, values: dict[str, Any]) -> str:
        records = self.modules[module].records
        if record_id is None:
            self._next_id += 1
            record_id = str(self._next_id)
            records[record_id] = {"id": record_id, "Created_Time": self._now()}
        records[record_id].update(values)
        records[record_id]["Modified_Time"] = self._now()
        return record_id

    def _now(self) -> datetime:
        return whole_seconds(self.clock.now())  # §10.1: one-second resolution

    # ----- OAuth (§2) -----

    async def _token(self, request: Request) -> Response:
        if request.url.hostname != ACCOUNTS[self.dc]:
            return JSONResponse({"error": "invalid_code"})  # §2.5: another DC knows no token
        params = dict(request.query_params)
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id = params.get("client_id", "")
        if self.clients.get(client_id) != params.get("client_secret"):
            return JSONResponse({"error": "invalid_client"})  # §2.3: 200 with "error"
        refresh = params.get("refresh_token", "")
        if (
            params.get("grant_type") != "refresh_token"
            or self.refresh_tokens.get(refresh) != client_id
        ):
            return JSONResponse({"error": "invalid_code"})
        issued = self._issued.setdefault(refresh, RollingWindow(600))
        now = self.clock.now()
        if issued.total(now) >= TOKENS_PER_REFRESH_PER_10_MIN:  # §2.4
            body = {
                "error": "Access Denied",
                "error_description": (
                    "You have made too many requests continuously. Please try again after some "
                    "time."
                ),
            }
            return JSONResponse(body, status_code=400)
        issued.add(now)
        access = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
        self.access_tokens[access] = (client_id, now + timedelta(seconds=ACCESS_TOKEN_SECONDS))
        return JSONResponse(
            {
                "access_token": access,
                "scope": "ZohoCRM.modules.ALL ZohoCRM.settings.fields.READ ZohoCRM.coql.READ",
                "api_domain": self.api_domain,
                "token_type": "Bearer",
                "expires_in": ACCESS_TOKEN_SECONDS,
            }
        )

    # ----- the guard every API call passes (§2.5, §2.6, §8) -----

    async def _serve(self, request: Request, build: Build, cost: int = 1) -> Response:
        try:
            user = self._user(request)
            if self.in_flight.count >= self.concurrency:  # §8.2, §8.3
                raise ZohoError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "concurrency limit of the user for the app is exceeded",
                )
            now = self.clock.now()
            if self._credits.total(now) + cost > self.credits_per_day:  # §8.1, §8.3
                raise ZohoError(
                    429,
                    "TOO_MANY_REQUESTS",
                    "Number of API requests for the 24 hour period is exceeded",
                )
        except ZohoError as refused:
            return JSONResponse(refused.body(), status_code=refused.status)
        self.in_flight.enter()
        try:
            await self.in_flight.wait_if_held()
            self._credits.add(now, cost)
            try:
                response = await build(request, user)
            except ZohoError as refused:
                response = JSONResponse(refused.body(), status_code=refused.status)
            used = self._credits.total(now)
            if used >= self.credits_per_day / 2:  # §8.4: only from 50 % usage on
                response.headers["X-API-CREDITS-REMAINING"] = str(int(self.credits_per_day - used))
            return response
        finally:
            self.in_flight.leave()

    def _user(self, request: Request) -> str:
        """§2.1: ``Zoho-oauthtoken`` only; §2.5: a token works only on its own DC's domain."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        found = self.access_tokens.get(token) if scheme == "Zoho-oauthtoken" else None
        if (
            found is None
            or self.clock.now() >= found[1]
            or request.url.hostname != API_DOMAINS[self.dc]
        ):
            raise ZohoError(401, "INVALID_TOKEN", "invalid oauth token")  # §2.5, §2.6
        return found[0]

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        error = ZohoError(
            404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one"
        )
        return JSONResponse(error.body(), status_code=404)

    def _module(self, name: str | None) -> Module:
        module = self.modules.get(name or "")
        if module is None:
            raise ZohoError(400, "INVALID_MODULE", "the module name given seems to be invalid")
        return module

    # ----- GET /crm/v8/{module} (§3, §7) -----

    async def _records(self, request: Request) -> Response:
        return await self._serve(request, self._list_records)

    async def _list_records(self, request: Request, user: str) -> Response:
        module = self._module(request.path_params["module"])
        params = request.query_params
        ids = params["ids"].split(",") if "ids" in params else None
        names = params["fields"].split(",") if "fields" in params else None
        if names is None and ids is None:  # §3.1: mandatory when fetching all records
            raise ZohoError(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "fields"},
            )
        if names is not None and len(names) > MAX_FIELDS:
            raise ZohoError(
                400, "LIMIT_EXCEEDED", "Max field limit exceeded", {"limit": MAX_FIELDS}
            )
        since = self._if_modified_since(request)
        rows = [
            r
            for r in module.records.values()
            if (ids is None or r["id"] in ids) and (since is None or r["Modified_Time"] > since)
        ]  # §3.5: strictly after the header ([unverified] stricter case)
        rows = self._sorted(rows, params)
        offset, per_page = self._window(request, user)
        page = rows[offset : offset + per_page]
        if not page:  # §3.3: 304 when If-Modified-Since found nothing, else 204
            return Response(status_code=304 if since is not None else 204)
        more = offset + per_page < len(rows)
        token = self._issue_token(request, user, offset + per_page) if more else None
        info = {
            "call": False,
            "per_page": per_page,
            "count": len(page),
            "page": offset // per_page + 1,
            "sort_by": params.get("sort_by", "id"),
            "sort_order": params.get("sort_order", "desc"),
            "more_records": more,
            "next_page_token": token,
            "previous_page_token": None,
            "page_token_expiry": (
                zoho_time(self.page_tokens[token].expires, self.offset) if token else None
            ),
            "email": False,
        }
        data = [render(r, names or [f.api_name for f in module.fields], self.offset) for r in page]
        return JSONResponse({"data": data, "info": info})

    def _if_modified_since(self, request: Request) -> datetime | None:
        text = request.headers.get("if-modified-since")
        if text is None:
            return None
        moment = parse_instant(text)
        if moment is None:
            raise ZohoError(
                400, "INVALID_DATA", "invalid data", {"header_name": "If-Modified-Since"}
            )
        return moment

    @staticmethod
    def _sorted(rows: list[dict[str, Any]], params: Any) -> list[dict[str, Any]]:
        """§3.1: sort_by id (default), Created_Time, Modified_Time; sort_order default desc."""
        sort_by = params.get("sort_by", "id")
        order = params.get("sort_order", "desc")
        if sort_by not in SORT_FIELDS or order not in ("asc", "desc"):
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "sort_by"})
        rows = sorted(rows, key=lambda r: int(r["id"]))  # ties: by id ascending ([unverified])
        key = (lambda r: int(r["id"])) if sort_by == "id" else (lambda r: r[sort_by])
        return sorted(rows, key=key, reverse=order == "desc")

    def _window(self, request: Request, user: str) -> tuple[int, int]:
        """§3.2: ``page`` within the first 2,000 records, ``page_token`` beyond."""
        params = request.query_params
        per_page = _positive(params, "per_page", MAX_PER_PAGE)
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": "per_page"})
        if "page_token" in params and "page" in params:
            raise ZohoError(
                400, "AMBIGUITY_DURING_PROCESSING", "You cannot use both page and page_token"
            )
        if "page_token" not in params:
            page = _positive(params, "page", 1)
            if page * per_page > DISCRETE_PAGE_LIMIT:
                raise ZohoError(
                    400,
                    "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                    "You can only get the first 2000 records without using page_token param.",
                )
            return (page - 1) * per_page, per_page
        token = self.page_tokens.get(params["page_token"])
        if token is None or token.user != user:
            raise ZohoError(400, "INVALID_DATA", "The token given seems to be invalid")
        if self.clock.now() >= token.expires:
            raise ZohoError(400, "EXPIRED_VALUE", "The token given has expired")
        if token.fingerprint != _fingerprint(request):
            raise ZohoError(
                400,
                "TOKEN_BOUND_DATA_MISMATCH",
                "The page_token given seems to be invalid or input param is added, altered, "
                "or deleted.",
            )
        if token.offset >= PAGE_TOKEN_LIMIT:
            raise ZohoError(
                400,
                "PAGINATION_LIMIT_EXCEEDED",
                "You can only get up to first 100000 records using page_token param.",
            )
        return token.offset, per_page

    def _issue_token(self, request: Request, user: str, offset: int) -> str:
        token = secrets.token_hex(16)
        expires = self.clock.now() + timedelta(hours=PAGE_TOKEN_HOURS)
        self.page_tokens[token] = PageToken(_fingerprint(request), user, offset, expires)
        return token

    # ----- GET /crm/v8/{module}/deleted (§5) -----

    async def _deleted(self, request: Request) -> Response:
        return await self._serve(request, self._list_deleted)

    async def _list_deleted(self, request: Request, user: str) -> Response:
        self._module(request.path_params["module"])
        kind = request.query_params.get("type", "all")
        if kind not in ("all", "recycle", "permanent"):
            raise ZohoError(
                400, "PATTERN_NOT_MATCHED", "Please check whether the input values are correct"
            )
        since = self._if_modified_since(request)
        now = self.clock.now()
        keep_days = {"recycle": RECYCLE_DAYS, "permanent": PERMANENT_DAYS}
        rows = [
            d
            for d in self.deleted
            if kind in ("all", d.type)
            and now - d.deleted_time <= timedelta(days=keep_days[d.type])
            and (since is None or d.deleted_time > since)
        ]
        rows.sort(key=lambda d: d.deleted_time, reverse=True)  # newest first ([unverified])
        page = _positive(request.query_params, "page", 1)
        per_page = min(_positive(request.query_params, "per_page", MAX_PER_PAGE), MAX_PER_PAGE)
        chunk = rows[(page - 1) * per_page : page * per_page]
        if not chunk:
            return Response(status_code=204)
        deleter = {"name": "Patricia Boyle", "id": "410888000000086001"}
        data = [
            {  # §5.2: permanently deleted entries lose their names (documented sample)
                "deleted_by": deleter if d.type == "recycle" else None,
                "id": d.id,
                "display_name": d.display_name if d.type == "recycle" else None,
                "type": d.type,
                "created_by": deleter if d.type == "recycle" else None,
                "deleted_time": zoho_time(d.deleted_time, self.offset),
            }
            for d in chunk
        ]
        info = {
            "per_page": per_page,
            "count": len(chunk),
            "page": page,
            "more_records": page * per_page < len(rows),
        }
        return JSONResponse({"data": data, "info": info})

    # ----- POST /crm/v8/coql (§4) -----

    async def _coql(self, request: Request) -> Response:
        """Authenticates, parses (no credits charged for a refused query, [unverified]), runs."""
        try:
            self._user(request)
            body = json.loads(await request.body())
            query = parse_coql(str(body["select_query"]), self.modules)
        except ZohoError as refused:
            return JSONResponse(refused.body(), status_code=refused.status)
        except CoqlNotModelled as missing:
            error = ZohoError(501, "NOT_MODELLED", f"Not modelled by the Zoho doc-fake: {missing}")
            return JSONResponse(error.body(), status_code=501)
        except (ValueError, KeyError, TypeError):
            error = ZohoError(400, "INVALID_DATA", "invalid data", {"api_name": "select_query"})
            return JSONResponse(error.body(), status_code=400)

        async def run(request: Request, user: str) -> Response:
            return self._run_coql(query)

        return await self._serve(request, run, query.credits)

    def _sort_key(self, column: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
        return lambda record: _sortable(value_of(record, column, self.modules))

    def _run_coql(self, query: Coql) -> Response:
        module = self.modules[query.module]
        rows = [r for r in module.records.values() if matches(r, query.conditions, self.modules)]
        for column, descending in reversed(query.order):  # stable sorts, last key first
            rows.sort(key=self._sort_key(column), reverse=descending)
        chunk = rows[query.offset : query.offset + query.limit]
        if not chunk:
            return Response(status_code=204)  # [unverified] for COQL
        data = []
        for record in chunk:
            shaped: dict[str, Any] = {"id": record["id"]}
            for column in query.columns:
                value = (
                    value_of(record, column, self.modules) if "." in column else record.get(column)
                )
                if isinstance(value, dict):
                    value = {"id": value["id"]}  # §4.5: the lookup itself is only its id
                shaped[column] = (
                    zoho_time(value, self.offset) if isinstance(value, datetime) else value
                )
            data.append(shaped)
        more = query.offset + query.limit < len(rows)
        return JSONResponse({"data": data, "info": {"count": len(data), "more_records": more}})

    # ----- GET /crm/v8/settings/fields (§6) -----

    async def _fields(self, request: Request) -> Response:
        return await self._serve(request, self._field_list)

    async def _field_list(self, request: Request, user: str) -> Response:
        name = request.query_params.get("module")
        if name is None:
            raise ZohoError(
                400,
                "REQUIRED_PARAM_MISSING",
                "One of the expected parameter is missing",
                {"param_name": "module"},
            )
        module = self._module(name)
        return JSONResponse({"fields": [f.to_json(n) for n, f in enumerate(module.fields)]})


def _positive(params: Any, name: str, default: int) -> int:
    text = params.get(name, str(default))
    if not text.isdigit() or int(text) < 1:
        raise ZohoError(400, "INVALID_DATA", "invalid data", {"param_name": name})
    return int(text)


def _fingerprint(request: Request) -> str:
    """Everything a page token is bound to: the parameters except paging, and the header."""
    params = sorted(
        (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "page_token")
    )
    return json.dumps([request.url.path, params, request.headers.get("if-modified-since")])


def _sortable(value: Any) -> tuple[int, Any]:
    """Nulls first; ids compare as numbers."""
    if value is None:
        return (0, "")
    return (1, int(value)) if isinstance(value, str) and value.isdigit() else (1, value)
