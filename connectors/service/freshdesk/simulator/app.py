"""The Freshdesk API v2 endpoints dealbridge uses, as a Starlette app over a ``FreshdeskStore``.

Every request: Basic auth (API key as user name; the password is not checked: Freshdesk
documents ``X`` but python-freshdesk sends ``unused_with_api_key``), then the account's
per-minute budget, then for contact listings their own lower budget. Responses carry
``X-Ratelimit-Total``, ``X-Ratelimit-Remaining``, ``X-Ratelimit-Used-CurrentRequest`` and
``Date``; an exhausted budget answers 429 with ``Retry-After`` seconds.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.service.freshdesk.simulator.fields import error
from connectors.service.freshdesk.simulator.search import QueryError, compile_query
from connectors.service.freshdesk.simulator.store import COMPANY, CONTACT, FreshdeskStore
from connectors.service.freshdesk.simulator.tickets import TicketBook
from sandbox.controls import WindowLimiter

Handler = Callable[[Request], Awaitable[Response]]

INVALID_CREDENTIALS = {
    "code": "invalid_credentials",
    "message": "You have to be logged in to perform this action.",
}
CONTACT_LIST_PATH = "/api/v2/contacts"
MAX_PER_PAGE, DEFAULT_PER_PAGE = 100, 30
SEARCH_PER_PAGE, SEARCH_MAX_PAGE, QUERY_MAX = 30, 10, 512
CONTACT_FILTERS = frozenset(
    {
        "email",
        "mobile",
        "phone",
        "company_id",
        "state",
        "_updated_since",
        "updated_since",
        "unique_external_id",
    }
)


class BadRequest(Exception):
    """A request Freshdesk answers with 400 Validation failed."""

    def __init__(self, *errors: dict[str, str]) -> None:
        self.errors = list(errors)
        super().__init__(errors)


@dataclass
class Budgets:
    """The account-wide window and the contact-list window."""

    account: WindowLimiter
    contact_lists: WindowLimiter


def build_app(
    store: FreshdeskStore, api_key: str, budgets: Budgets, tickets: TicketBook | None = None
) -> Starlette:
    """The simulator's routes, each behind auth and the rate budgets."""
    api, guard = _Api(store), _Guard(store, api_key, budgets)
    book = tickets or TicketBook(store.clock)
    table: list[tuple[str, Handler, list[str]]] = [
        ("/api/v2/companies", api.list_companies, ["GET"]),
        ("/api/v2/companies/{record_id:int}", api.company, ["GET", "PUT"]),
        ("/api/v2/contacts", api.list_contacts, ["GET"]),
        ("/api/v2/contacts/{record_id:int}", api.contact, ["GET", "PUT"]),
        ("/api/v2/search/companies", api.search_companies, ["GET"]),
        ("/api/v2/search/contacts", api.search_contacts, ["GET"]),
        ("/api/v2/company_fields", api.company_fields, ["GET"]),
        ("/api/v2/contact_fields", api.contact_fields, ["GET"]),
        ("/api/v2/tickets", book.create, ["POST"]),
        ("/api/v2/tickets/{ticket_id:int}/notes", book.note, ["POST"]),
    ]
    routes = [
        Route(path, guard.wrap(handler, contact_list=path == CONTACT_LIST_PATH), methods=methods)
        for path, handler, methods in table
    ]
    return Starlette(routes=routes)


class _Guard:
    """What happens before every handler: auth, budgets, headers, validation errors."""

    def __init__(self, store: FreshdeskStore, api_key: str, budgets: Budgets) -> None:
        self.store, self.api_key, self.budgets = store, api_key, budgets

    def wrap(self, handler: Handler, *, contact_list: bool) -> Handler:
        """``handler`` behind Basic auth and the per-minute budgets."""

        async def endpoint(request: Request) -> Response:
            if not _authorised(request.headers.get("authorization"), self.api_key):
                return _json(401, INVALID_CREDENTIALS, self.store)
            allowed, headers = _spend(self.budgets, contact_list)
            if not allowed:
                return Response(status_code=429, headers=headers | _date(self.store))
            try:
                response = await handler(request)
            except BadRequest as exc:
                body = {"description": "Validation failed", "errors": exc.errors}
                response = _json(400, body, self.store)
            response.headers.update(headers)
            return response

        return endpoint


class _Api:
    """Handlers; each returns the vendor's JSON shape or raises ``BadRequest``."""

    def __init__(self, store: FreshdeskStore) -> None:
        self.store = store
        self._cache: dict[tuple[Any, ...], list[int]] = {}

    async def list_companies(self, request: Request) -> Response:
        page, per_page = _paging(request.query_params, allowed=frozenset())
        ids = self.store.ids(COMPANY, ("all",), _everything)
        return self._page(request, COMPANY, ids, page, per_page)

    async def list_contacts(self, request: Request) -> Response:
        params = request.query_params
        page, per_page = _paging(params, allowed=CONTACT_FILTERS)
        filters = {k: v for k, v in params.items() if k in CONTACT_FILTERS}
        keep = _contact_filter(filters)
        email = filters.get("email")
        if email is not None:
            ids = [
                i
                for i in self.store.contacts_with_email(email)
                if keep(self.store.records[CONTACT][i])
            ]
        else:
            ids = self.store.ids(CONTACT, ("list", *sorted(filters.items())), keep)
        return self._page(request, CONTACT, ids, page, per_page)

    async def company(self, request: Request) -> Response:
        return await self._one(request, COMPANY)

    async def contact(self, request: Request) -> Response:
        return await self._one(request, CONTACT)

    async def search_companies(self, request: Request) -> Response:
        return self._search(request, COMPANY)

    async def search_contacts(self, request: Request) -> Response:
        return self._search(request, CONTACT)

    async def company_fields(self, _request: Request) -> Response:
        return self._fields(COMPANY)

    async def contact_fields(self, _request: Request) -> Response:
        return self._fields(CONTACT)

    async def _one(self, request: Request, kind: str) -> Response:
        record_id = int(request.path_params["record_id"])
        if request.method == "GET":
            record = self.store.get(kind, record_id)
            return _json(200, record, self.store) if record else _not_found(self.store)
        try:
            body = await request.json()
        except ValueError:
            raise BadRequest(
                error("", "Request body has invalid json format", "invalid_json")
            ) from None
        record, problems = self.store.update(kind, record_id, body)
        if problems:
            raise BadRequest(*problems)
        return _json(200, record, self.store) if record else _not_found(self.store)

    def _search(self, request: Request, kind: str) -> Response:
        params = request.query_params
        page = _positive(params.get("page", "1"), "page", SEARCH_MAX_PAGE)
        query = _quoted_query(params.get("query"))
        try:
            keep = compile_query(query, self.store.accessors(kind))
        except QueryError as exc:
            raise BadRequest(error("query", str(exc), "invalid_value")) from None
        hits = self._search_hits(kind, query, keep)
        start = (page - 1) * SEARCH_PER_PAGE
        rows = hits[start : start + SEARCH_PER_PAGE]
        return _json(200, {"total": len(hits), "results": rows}, self.store)

    def _search_hits(
        self, kind: str, query: str, keep: Callable[[Mapping[str, Any]], bool]
    ) -> list[dict[str, Any]]:
        """The index's (possibly stale) copies matching the query, by id."""
        index = self.store.search[kind]
        domain = _single_domain(query) if kind == COMPANY else None
        if domain is not None:
            return index.find(f"domain:{domain.lower()}")
        copies = index.records()
        cache_key = (kind, "search", index.version, query)
        ids = self._cache.get(cache_key)
        if ids is None:
            if len(self._cache) > 64:
                self._cache.clear()
            ids = sorted(i for i, copy in copies.items() if keep(copy))
            self._cache[cache_key] = ids
        return [copies[i] for i in ids]

    def _fields(self, kind: str) -> Response:
        fields = sorted(self.store.fields[kind].values(), key=lambda f: f.position)
        return _json(200, [f.to_json() for f in fields], self.store)

    def _page(
        self, request: Request, kind: str, ids: list[int], page: int, per_page: int
    ) -> Response:
        start = (page - 1) * per_page
        records = self.store.records[kind]
        rows = [records[i] for i in ids[start : start + per_page]]
        response = _json(200, rows, self.store)
        if start + per_page < len(ids):
            query = dict(request.query_params) | {"page": str(page + 1), "per_page": str(per_page)}
            url = (
                f"{request.url.scheme}://{request.url.netloc}{request.url.path}?{urlencode(query)}"
            )
            response.headers["Link"] = f'<{url}>; rel="next"'
        return response


def _everything(_record: Mapping[str, Any]) -> bool:
    return True


STATES = ("blocked", "deleted", "unverified", "verified")


def _contact_filter(filters: Mapping[str, str]) -> Callable[[Mapping[str, Any]], bool]:
    """The list filters, AND-ed; deleted contacts only with ``state=deleted``."""
    state = filters.get("state")
    if state is not None and state not in STATES:
        message = f"It should be one of these values: '{','.join(STATES)}'"
        raise BadRequest(error("state", message, "invalid_value"))
    raw_since = filters.get("_updated_since") or filters.get("updated_since")
    since = _normal(raw_since) if raw_since is not None else None
    if raw_since is not None and since is None:
        message = "It should be in the 'yyyy-mm-ddThh:mm:ssZ' format"
        raise BadRequest(error("_updated_since", message, "invalid_value"))
    company = filters.get("company_id")
    external = filters.get("unique_external_id")

    def keep(record: Mapping[str, Any]) -> bool:
        if bool(record.get("deleted")) != (state == "deleted"):
            return False
        if since is not None and str(record.get("updated_at") or "") < since:
            return False
        if (
            external is not None
            and str(record.get("unique_external_id") or "").lower() != external.lower()
        ):
            return False
        return company is None or str(record.get("company_id")) == company

    return keep


def _paging(params: Mapping[str, str], *, allowed: frozenset[str]) -> tuple[int, int]:
    unknown = [k for k in params if k not in allowed | {"page", "per_page"}]
    if unknown:
        raise BadRequest(
            *(error(k, "Unexpected/invalid field in request", "invalid_field") for k in unknown)
        )
    page = _positive(params.get("page", "1"), "page", None)
    per_page = _positive(params.get("per_page", str(DEFAULT_PER_PAGE)), "per_page", MAX_PER_PAGE)
    return page, per_page


def _positive(raw: str, name: str, maximum: int | None) -> int:
    value = int(raw) if raw.isdigit() else 0
    if value < 1 or (maximum is not None and value > maximum):
        limit = f" less than or equal to {maximum}" if maximum else ""
        raise BadRequest(error(name, f"It should be a Positive Integer{limit}", "invalid_value"))
    return value


def _quoted_query(raw: str | None) -> str:
    if raw is None:
        raise BadRequest(error("query", "It should be a/an String", "missing_field"))
    if len(raw) > QUERY_MAX:
        message = f"Has {len(raw)} characters, it can have maximum of {QUERY_MAX} characters"
        raise BadRequest(error("query", message, "invalid_value"))
    if len(raw) < 2 or not (raw.startswith('"') and raw.endswith('"')):
        raise BadRequest(
            error("query", "Query should be enclosed in double quotes", "invalid_value")
        )
    return raw[1:-1]


def _single_domain(query: str) -> str | None:
    """``domain:'x'`` alone is answered from the domain index (the common lookup)."""
    text = query.strip()
    if text.startswith("domain:") and " " not in text:
        return text.removeprefix("domain:").strip("'")
    return None


def _normal(value: str) -> str | None:
    """A filter timestamp in the stored ``YYYY-MM-DDTHH:MM:SSZ`` form (None if unreadable)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _authorised(header: str | None, api_key: str) -> bool:
    if not header or not header.startswith("Basic "):
        return False
    try:
        decoded = base64.b64decode(header.removeprefix("Basic ").strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, _password = decoded.partition(":")
    return user == api_key


def _spend(budgets: Budgets, contact_list: bool) -> tuple[bool, dict[str, str]]:
    allowed, remaining, reset_in = budgets.account.hit("account")
    if allowed and contact_list:
        allowed, _, list_reset = budgets.contact_lists.hit("contacts")
        reset_in = list_reset if not allowed else reset_in
    headers = {
        "X-Ratelimit-Total": str(budgets.account.limit),
        "X-Ratelimit-Remaining": str(remaining),
        "X-Ratelimit-Used-CurrentRequest": "1",
    }
    if not allowed:
        headers["Retry-After"] = str(max(1, math.ceil(reset_in)))
    return allowed, headers


def _json(status: int, body: Any, store: FreshdeskStore) -> Response:
    return JSONResponse(body, status_code=status, headers=_date(store))


def _not_found(store: FreshdeskStore) -> Response:
    """Freshdesk answers a missing record with 404 and no body."""
    return Response(status_code=404, headers=_date(store))


def _date(store: FreshdeskStore) -> dict[str, str]:
    return {"Date": formatdate(store.clock().timestamp(), usegmt=True)}
