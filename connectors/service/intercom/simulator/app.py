"""The Intercom REST endpoints dealbridge uses, as a Starlette app over an ``IntercomStore``.

Every request (FACTS.md §1-3): the bearer token (401 ``unauthorized`` "Access Token Invalid"
otherwise, with no budget headers), the ``Intercom-Version`` header noted (values outside the
description's list are noted as unknown: Intercom's answer to them is not documented), then
the app's 10-second window budget; every authenticated answer carries the budget headers and
``Date``. Errors are ``error.list`` bodies.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from email.utils import formatdate
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.service.intercom.config import VERSIONS
from connectors.service.intercom.simulator.attributes import AttributeError400, check_custom_values
from connectors.service.intercom.simulator.limits import AppBudget
from connectors.service.intercom.simulator.scroll import ScrollRefused, Scrolls
from connectors.service.intercom.simulator.search import QueryError, compile_query
from connectors.service.intercom.simulator.store import COMPANY, CONTACT, IntercomStore
from connectors.service.intercom.simulator.tickets import TicketDesk, TicketRefused

Handler = Callable[[Request], Awaitable[Response]]

SEARCH_DEFAULT_PAGE, SEARCH_MAX_PAGE = 50, 150
COMPANY_UPDATE_KEYS = frozenset(
    {"name", "plan", "size", "website", "industry", "custom_attributes", "monthly_spend"}
)
COMPANY_CREATE_KEYS = COMPANY_UPDATE_KEYS | {"company_id", "remote_created_at"}
CONTACT_UPDATE_KEYS = frozenset(
    {"role", "external_id", "email", "phone", "name", "avatar", "signed_up_at", "last_seen_at",
     "owner_id", "unsubscribed_from_emails", "custom_attributes"}
)  # fmt: skip


class ApiError(Exception):
    """An ``error.list`` answer."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        self.status, self.code, self.message, self.field = status, code, message, field
        super().__init__(message)


@dataclass
class Workspace:
    """Everything the routes share: the records, the token, the budget, the scroll."""

    store: IntercomStore
    tickets: TicketDesk
    token: str
    budget: AppBudget
    scrolls: Scrolls
    admin: dict[str, Any]
    zone: tzinfo = UTC
    """The workspace's time zone: contact search dates match its calendar days (§5.3)."""
    versions: Counter[str] = field(default_factory=Counter)
    """``Intercom-Version`` values received (``<none>`` when absent)."""


def build_app(workspace: Workspace) -> Starlette:
    """The simulator's routes, each behind auth, the version note and the budget."""
    api = _Api(workspace)
    table: list[tuple[str, Handler, list[str]]] = [
        ("/me", api.me, ["GET"]),
        ("/data_attributes", api.data_attributes, ["GET"]),
        ("/companies", api.companies, ["GET", "POST"]),
        ("/companies/scroll", api.scroll, ["GET"]),
        ("/companies/{company_id}", api.company, ["GET", "PUT"]),
        ("/contacts/search", api.search, ["POST"]),
        ("/contacts/find_by_external_id/{external_id:path}", api.by_external_id, ["GET"]),
        ("/contacts/{contact_id}/notes", api.notes, ["GET", "POST"]),
        ("/contacts/{contact_id}", api.contact, ["GET", "PUT"]),
        ("/tickets", api.create_ticket, ["POST"]),
        ("/tickets/search", api.search_tickets, ["POST"]),
        ("/tickets/{ticket_id}/reply", api.reply_ticket, ["POST"]),
        ("/tickets/{ticket_id}", api.ticket, ["GET", "PUT"]),
    ]
    guard = _Guard(workspace)
    return Starlette(routes=[Route(p, guard.wrap(h), methods=m) for p, h, m in table])


class _Guard:
    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace

    def wrap(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            store = self.ws.store
            if request.headers.get("authorization") != f"Bearer {self.ws.token}":
                error = ApiError(401, "unauthorized", "Access Token Invalid")
                return _error(error, _date(store))
            version = request.headers.get("intercom-version")
            self.ws.versions[_version_label(version)] += 1
            allowed, headers = self.ws.budget.spend()
            headers |= _date(store)
            if not allowed:
                return _error(
                    ApiError(429, "rate_limit_exceeded", self.ws.budget.refusal()), headers
                )
            try:
                response = await handler(request)
            except ApiError as exc:
                return _error(exc, headers)
            response.headers.update(headers)
            return response

        return endpoint


class _Api:
    """Handlers; each returns Intercom's JSON or raises :class:`ApiError`."""

    def __init__(self, workspace: Workspace) -> None:
        self.ws = workspace
        self.store = workspace.store

    async def me(self, _request: Request) -> Response:
        admin = dict(self.ws.admin)
        admin["app"] = {
            "type": "app",
            "id_code": "dealbridge-demo-workspace",
            "name": "dealbridge demo",
            "created_at": 1734537243,
            "secure": False,
            "identity_verification": False,
            "timezone": "UTC",
            "region": "US",
        }
        return JSONResponse(admin)

    async def data_attributes(self, request: Request) -> Response:
        model = request.query_params.get("model")
        archived = request.query_params.get("include_archived") == "true"
        kinds = [model] if model in (COMPANY, CONTACT) else [COMPANY, CONTACT]
        if model not in (None, COMPANY, CONTACT, "conversation"):
            raise ApiError(400, "parameter_invalid", f"model {model!r} is not valid", "model")
        data: list[dict[str, Any]] = []
        for kind in kinds if model != "conversation" else []:
            data += self.store.built_ins[kind]
            data += [
                a for a in self.store.attributes[kind].values() if archived or not a.get("archived")
            ]
        return JSONResponse({"type": "list", "data": data})

    # -- companies ---------------------------------------------------------------------------

    async def companies(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json_object(request)
            _only(body, COMPANY_CREATE_KEYS)
            if not body.get("company_id"):
                raise ApiError(400, "parameter_not_found", "company_id not specified", "company_id")
            self._custom(COMPANY, body)
            return JSONResponse(self.store.create_or_update_company(body))
        company_id = request.query_params.get("company_id")
        name = request.query_params.get("name")
        if company_id is None and name is None:
            raise ApiError(400, "parameter_not_found", "company_id or name is required")
        found = (
            self.store.company_by_company_id(company_id)
            if company_id is not None
            else next((c for c in self.store.companies.values() if c["name"] == name), None)
        )
        if found is None:
            raise ApiError(404, "company_not_found", "Company Not Found")
        pages = {"type": "pages", "next": None, "page": 1, "per_page": 15, "total_pages": 1}
        return JSONResponse({"type": "list", "data": [found], "pages": pages, "total_count": 1})

    async def scroll(self, request: Request) -> Response:
        param = request.query_params.get("scroll_param")
        try:
            rows, following = self.ws.scrolls.page(param, self.store.companies)
        except ScrollRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        body = {
            "type": "list",
            "data": rows,
            "pages": None,
            "total_count": None,
            "scroll_param": following,
        }
        return JSONResponse(body)

    async def company(self, request: Request) -> Response:
        company_id = request.path_params["company_id"]
        record = self.store.companies.get(company_id)
        if record is None:
            raise ApiError(404, "company_not_found", "Company Not Found")
        if request.method == "GET":
            return JSONResponse(record)
        body = await _json_object(request)
        _only(body, COMPANY_UPDATE_KEYS)
        self._custom(COMPANY, body)
        return JSONResponse(self.store.apply(COMPANY, company_id, body))

    # -- contacts ----------------------------------------------------------------------------

    async def contact(self, request: Request) -> Response:
        contact_id = request.path_params["contact_id"]
        record = self.store.contacts.get(contact_id)
        if record is None:
            raise ApiError(404, "not_found", "User Not Found")
        if request.method == "GET":
            return JSONResponse(record)
        body = await _json_object(request)
        _only(body, CONTACT_UPDATE_KEYS)
        self._custom(CONTACT, body)
        return JSONResponse(self.store.apply(CONTACT, contact_id, body))

    async def by_external_id(self, request: Request) -> Response:
        found = self.store.contact_by_external_id(request.path_params["external_id"])
        if found is None:
            raise ApiError(404, "not_found", "User Not Found")
        return JSONResponse(found)

    async def search(self, request: Request) -> Response:
        body = await _json_object(request)
        if "query" not in body:
            raise ApiError(400, "parameter_not_found", "query is required", "query")
        per_page, after = _pagination(body.get("pagination"))
        try:
            keep = compile_query(body["query"], self.store.custom_types(CONTACT), self.ws.zone)
        except QueryError as exc:
            raise ApiError(400, "parameter_invalid", str(exc), "query") from None
        hits = [c for c in self.store.searchable_contacts() if keep(c)]
        start_serial, page_no = after
        rest = [c for c in hits if self.store.serial(c["id"]) > start_serial]
        rows = rest[:per_page]
        pages: dict[str, Any] = {
            "type": "pages",
            "page": page_no,
            "per_page": per_page,
            "total_pages": max(1, math.ceil(len(hits) / per_page)) if hits else 0,
        }
        if len(rest) > per_page:
            token = _cursor(self.store.serial(rows[-1]["id"]), page_no + 1)
            pages["next"] = {"page": page_no + 1, "per_page": per_page, "starting_after": token}
        return JSONResponse(
            {"type": "list", "data": rows, "total_count": len(hits), "pages": pages}
        )

    async def notes(self, request: Request) -> Response:
        contact_id = request.path_params["contact_id"]
        if contact_id not in self.store.contacts:
            raise ApiError(404, "not_found", "User Not Found")
        if request.method == "GET":
            notes = self.store.notes_of(contact_id)
            pages = {"type": "pages", "next": None, "page": 1, "per_page": 50, "total_pages": 1}
            return JSONResponse(
                {"type": "list", "data": notes, "total_count": len(notes), "pages": pages}
            )
        body = await _json_object(request)
        text = body.get("body")
        if not isinstance(text, str) or not text:
            raise ApiError(400, "parameter_not_found", "body is required", "body")
        admin = self._admin(body.get("admin_id"))
        return JSONResponse(self.store.add_note(contact_id, text, _author(admin)))

    # -- tickets -----------------------------------------------------------------------------

    async def create_ticket(self, request: Request) -> Response:
        body = await _json_object(request)
        contacts = body.get("contacts")
        if (
            not isinstance(contacts, list)
            or len(contacts) != 1
            or not isinstance(contacts[0], dict)
        ):
            raise ApiError(400, "parameter_invalid", "exactly one contact is required", "contacts")
        contact = self._ticket_contact(contacts[0])
        try:
            return JSONResponse(self.ws.tickets.create(body, contact))
        except TicketRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None

    async def ticket(self, request: Request) -> Response:
        ticket_id = request.path_params["ticket_id"]
        try:
            if request.method == "GET":
                return JSONResponse(self.ws.tickets.get(ticket_id))
            return JSONResponse(self.ws.tickets.update(ticket_id, await _json_object(request)))
        except TicketRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None

    async def reply_ticket(self, request: Request) -> Response:
        body = await _json_object(request)
        admin = self._admin(body.get("admin_id"))
        try:
            return JSONResponse(
                self.ws.tickets.reply(request.path_params["ticket_id"], body, admin)
            )
        except TicketRefused as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None

    async def search_tickets(self, request: Request) -> Response:
        body = await _json_object(request)
        per_page, _after = _pagination(body.get("pagination"))
        try:
            found = self.ws.tickets.search(body.get("query"))
        except QueryError as exc:
            raise ApiError(400, "parameter_invalid", str(exc), "query") from None
        pages = {"type": "pages", "page": 1, "per_page": per_page, "total_pages": 1 if found else 0}
        return JSONResponse(
            {
                "type": "ticket.list",
                "tickets": found[:per_page],
                "total_count": len(found),
                "pages": pages,
            }
        )

    # -- helpers -----------------------------------------------------------------------------

    def _custom(self, kind: str, body: dict[str, Any]) -> None:
        try:
            check_custom_values(body.get("custom_attributes"), self.store.attributes[kind])
        except AttributeError400 as exc:
            raise ApiError(400, "parameter_invalid", str(exc), "custom_attributes") from None

    def _admin(self, admin_id: Any) -> Mapping[str, Any]:
        if str(admin_id) != str(self.ws.admin["id"]):
            raise ApiError(404, "not_found", "Resource Not Found", "admin_id")
        return self.ws.admin

    def _ticket_contact(self, wanted: dict[str, Any]) -> Mapping[str, Any]:
        if "id" in wanted:
            found = self.store.contacts.get(str(wanted["id"]))
        elif "external_id" in wanted:
            found = self.store.contact_by_external_id(str(wanted["external_id"]))
        elif isinstance(wanted.get("email"), str):
            email = wanted["email"].lower()
            found = next(
                (
                    c
                    for c in self.store.contacts.values()
                    if str(c.get("email", "")).lower() == email
                ),
                None,
            ) or self.store.add_contact(None, wanted["email"], role="lead")
        else:
            found = None
        if found is None:
            raise ApiError(404, "not_found", "User Not Found", "contacts")
        return found


def _version_label(version: str | None) -> str:
    if version is None:
        return "<none>"
    return version if version in VERSIONS else f"unknown:{version}"


def _author(admin: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "admin",
        "id": admin["id"],
        "name": admin.get("name"),
        "email": admin.get("email"),
        "away_mode_enabled": False,
        "away_mode_reassign": False,
    }


def _only(body: Mapping[str, Any], allowed: frozenset[str]) -> None:
    for key in body:
        if key not in allowed:
            raise ApiError(400, "bad_request", f"bad '{key}' parameter", key)


def _pagination(raw: Any) -> tuple[int, tuple[int, int]]:
    if raw is None:
        return SEARCH_DEFAULT_PAGE, (0, 1)
    if not isinstance(raw, dict):
        raise ApiError(400, "parameter_invalid", "pagination must be an object", "pagination")
    per_page = raw.get("per_page", SEARCH_DEFAULT_PAGE)
    if (
        not isinstance(per_page, int)
        or isinstance(per_page, bool)
        or not 0 < per_page <= SEARCH_MAX_PAGE
    ):
        raise ApiError(
            400, "parameter_invalid", f"per_page must be 1 to {SEARCH_MAX_PAGE}", "per_page"
        )
    after = raw.get("starting_after")
    return per_page, _decode_cursor(after) if after else (0, 1)


def _cursor(serial: int, page: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([serial, page]).encode()).decode()


def _decode_cursor(token: Any) -> tuple[int, int]:
    try:
        serial, page = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        return int(serial), int(page)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(
            400, "parameter_invalid", "starting_after is not a valid cursor", "starting_after"
        ) from None


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "bad_request", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_request", "Request body must be a JSON object")
    return body


def _error(error: ApiError, headers: dict[str, str]) -> Response:
    item: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.field:
        item["field"] = error.field
    body = {"type": "error.list", "request_id": str(uuid.uuid4()), "errors": [item]}
    return JSONResponse(body, status_code=error.status, headers=headers)


def _date(store: IntercomStore) -> dict[str, str]:
    return {"Date": formatdate(store.now_seconds(), usegmt=True)}
