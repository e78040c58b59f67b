"""A doc-fake of the Intercom REST API (2.15), built from connectors/service/intercom/FACTS.md
and the OpenAPI description alone: no simulator code was read.

It serves what an Intercom target needs: companies (create-or-update, update, retrieve, scroll),
contacts (search, find by external id, update), contact notes, data attributes, the per-app
rate limit in 10-second windows, and the ``error.list`` bodies. Every request body is checked
against the operation's request schema (a mismatch answers 400 ``parameter_invalid``); the
self-tests check every response against the response schemas. ``§n`` refers to FACTS.md.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.intercom_openapi import OpenApiSpec, intercom_spec

WINDOW_SECONDS = 10  # §3.1: the per-minute limit is spread over 10-second windows
STRING_ATTRIBUTE_MAX = 255  # §6.4 [3p]
SEARCH_MAX_NESTING = 2  # §5.3
SEARCH_MAX_FILTERS = 15  # §5.3
SEARCH_DEFAULT_PER_PAGE = 50  # §5.3
SEARCH_MAX_PER_PAGE = 150  # §5.3 [unverified for contacts]
DATE_FIELDS = frozenset({"created_at", "updated_at", "signed_up_at", "last_seen_at"})  # §5.3
DATE_OPERATORS = frozenset({"=", "<", ">"})  # §5.3: other operators on dates are errors
VERSIONS = frozenset(f"1.{n}" for n in range(5)) | frozenset(f"2.{n}" for n in range(16))  # §1.3


class IntercomError(Exception):
    """An answer in the ``error.list`` shape (§2.1)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class DataAttribute:
    name: str
    model: str  # "company" | "contact"
    data_type: str  # §6.1: string, integer, float, boolean, date
    custom: bool = True
    api_writable: bool = True
    options: list[str] = field(default_factory=list)


@dataclass
class Scroll:
    param: str
    offset: int
    last_used: float


class IntercomFake:
    """In-memory workspace behind a Starlette app; ``clock`` decides every timestamp."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        tokens: frozenset[str] = frozenset({"tok-dealbridge"}),
        per_minute: int = 10_000,
        workspace_utc_offset_hours: int = 0,
        search_index_delay: float = 120.0,
        scroll_page_size: int = 15,
        scroll_ttl: float = 60.0,
        spec: OpenApiSpec | None = None,
    ) -> None:
        self.clock = clock
        self.tokens = tokens
        self.per_window = math.ceil(per_minute * WINDOW_SECONDS / 60)  # §3.1: 1,000/min → 167
        self.workspace_tz = timedelta(hours=workspace_utc_offset_hours)
        self.search_index_delay = search_index_delay  # §5.3 "a few minutes" [unverified length]
        self.scroll_page_size = scroll_page_size  # §4.7 page size undocumented (the gap)
        self.scroll_ttl = scroll_ttl  # §4.7: one minute unused
        self.spec = spec or intercom_spec()
        self.companies: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, dict[str, Any]] = {}
        self.attributes: list[DataAttribute] = [
            DataAttribute("name", "company", "string", custom=False),
            DataAttribute("company_id", "company", "string", custom=False, api_writable=False),
            DataAttribute("email", "contact", "string", custom=False),
            DataAttribute("external_id", "contact", "string", custom=False),
        ]
        self.scroll: Scroll | None = None  # §4.7: one open scroll per app
        self.requests: list[tuple[str, str]] = []
        self._window_start = -1
        self._window_count = 0
        self._ids = 0
        self.app = Starlette(routes=self._routes())

    # ---- seeding (what agents and other integrations do) ---------------------------------

    def define_attribute(self, attribute: DataAttribute) -> None:
        self.attributes.append(attribute)

    def add_company(self, company_id: str, name: str, **custom: Any) -> str:
        now = int(self.clock.now())
        company: dict[str, Any] = {
            "type": "company",
            "id": self._new_id(),
            "company_id": company_id,
            "name": name,
            "app_id": "fakeapp",
            "created_at": now,
            "updated_at": now,
            "remote_created_at": now,
            "user_count": 0,
            "monthly_spend": 0,
            "session_count": 0,
            "plan": {},
            "custom_attributes": dict(custom),
            "tags": {"type": "tag.list", "tags": []},
            "segments": {"type": "segment.list", "segments": []},
        }
        self.companies[company["id"]] = company
        return str(company["id"])

    def add_contact(
        self,
        email: str,
        *,
        external_id: str | None = None,
        role: str = "user",
        company_ids: tuple[str, ...] = (),
        **custom: Any,
    ) -> str:
        now = int(self.clock.now())
        contact_id = self._new_id()
        self.contacts[contact_id] = {
            "type": "contact",
            "id": contact_id,
            "workspace_id": "fakeapp",
            "external_id": external_id,
            "role": role,
            "email": email,
            "email_domain": email.partition("@")[2],
            "name": None,
            "created_at": now,
            "updated_at": now,
            "custom_attributes": dict(custom),
            "company_ids": list(company_ids),
        }
        for company_id in company_ids:
            self.companies[company_id]["user_count"] += 1
        return contact_id

    def agent_edits_company(self, company_id: str, **custom: Any) -> None:
        """An agent changes attributes in the inbox: values and ``updated_at`` move (§9)."""
        company = self.companies[company_id]
        company["custom_attributes"].update(custom)
        company["updated_at"] = int(self.clock.now())

    def agent_edits_contact(self, contact_id: str, **custom: Any) -> None:
        contact = self.contacts[contact_id]
        contact["custom_attributes"].update(custom)
        contact["updated_at"] = int(self.clock.now())

    # ---- HTTP surface ----------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        # Literal paths first: "/companies/scroll" and "/contacts/search" would otherwise be
        # taken for ids.
        return [
            Route("/companies/scroll", self._guard(self._scroll), methods=["GET"]),
            Route("/companies", self._guard(self._create_or_update_company), methods=["POST"]),
            Route("/companies", self._guard(self._retrieve_companies), methods=["GET"]),
            Route("/companies/{id}", self._guard(self._company), methods=["GET", "PUT"]),
            Route("/contacts/search", self._guard(self._search_contacts), methods=["POST"]),
            Route(
                "/contacts/find_by_external_id/{external_id}",
                self._guard(self._find_by_external_id),
                methods=["GET"],
            ),
            Route(
                "/contacts/{id}/notes", self._guard(self._contact_notes), methods=["GET", "POST"]
            ),
            Route("/contacts/{id}", self._guard(self._contact), methods=["GET", "PUT"]),
            Route("/notes/{id}", self._guard(self._note), methods=["GET"]),
            Route("/data_attributes", self._guard(self._data_attributes), methods=["GET"]),
        ]

    def _guard(self, handler: Any) -> Any:
        async def endpoint(request: Request) -> Response:
            self.requests.append((request.method, request.url.path))
            token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if token not in self.tokens:  # §1.2
                return _error_response(IntercomError(401, "unauthorized", "Access Token Invalid"))
            limit_headers, allowed = self._count_request()
            if not allowed:  # §3.3
                message = f"Exceeded rate limit of {self.per_window} in 10_seconds"
                exc = IntercomError(429, "rate_limit_exceeded", message)
                return _error_response(exc, limit_headers)
            try:
                version = request.headers.get("intercom-version", "2.15")  # §1.3 default
                if version not in VERSIONS:  # §1.3: the real answer is a gap [unverified]
                    raise IntercomError(400, "bad_request", f"Unknown version {version!r}")
                body = await self._checked_body(request)
                status, payload = handler(request, body)
            except IntercomError as exc:
                return _error_response(exc, limit_headers)
            return JSONResponse(payload, status_code=status, headers=limit_headers)

        return endpoint

    async def _checked_body(self, request: Request) -> Any:
        if request.method not in {"POST", "PUT"}:
            return None
        try:
            body = json.loads(await request.body() or b"null")
        except ValueError as exc:
            raise IntercomError(400, "bad_request", f"body is not JSON: {exc}") from exc
        problems = self.spec.request_errors(request.method, request.url.path, body)
        if problems:  # the spec's request schema is the contract [spec]
            raise IntercomError(400, "parameter_invalid", "; ".join(problems))
        return body

    def _count_request(self) -> tuple[dict[str, str], bool]:
        """§3.1 to 3.3: a fixed budget per 10-second window; headers on authenticated answers."""
        now = self.clock.now()
        window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        if window != self._window_start:
            self._window_start, self._window_count = window, 0
        allowed = self._window_count < self.per_window
        if allowed:
            self._window_count += 1
        headers = {
            "X-RateLimit-Limit": str(self.per_window),
            "X-RateLimit-Remaining": str(self.per_window - self._window_count),
            "X-RateLimit-Reset": str(window + WINDOW_SECONDS),
        }
        return headers, allowed

    # ---- companies (§4) ---------------------------------------------------------------------

    def _create_or_update_company(self, request: Request, body: Any) -> tuple[int, Any]:
        company_id = (body or {}).get("company_id")
        if not company_id:  # §4.2 looks companies up by company_id; without one: [unverified]
            raise IntercomError(400, "bad_request", "company_id is required")
        found = next((c for c in self.companies.values() if c["company_id"] == company_id), None)
        if found is None:  # §4.2: not found → created
            found = self.companies[self.add_company(company_id, body.get("name", ""))]
        self._apply_company(found, body)
        return 200, _public_company(found)

    def _retrieve_companies(self, request: Request, body: Any) -> tuple[int, Any]:
        wanted = request.query_params.get("company_id")
        name = request.query_params.get("name")
        matches = [
            c
            for c in self.companies.values()
            if (wanted is None or c["company_id"] == wanted) and (name is None or c["name"] == name)
        ]
        if not matches:  # §4.4
            raise IntercomError(404, "company_not_found", "Company Not Found")
        pages = {"type": "pages", "page": 1, "per_page": 15, "total_pages": 1}
        data = [_public_company(c) for c in matches]
        return 200, {"type": "list", "data": data, "pages": pages, "total_count": len(data)}

    def _company(self, request: Request, body: Any) -> tuple[int, Any]:
        company = self.companies.get(request.path_params["id"])
        if company is None:  # §4.3, §4.4
            raise IntercomError(404, "company_not_found", "Company Not Found")
        if request.method == "PUT":
            self._apply_company(company, body)
        return 200, _public_company(company)

    def _apply_company(self, company: dict[str, Any], body: dict[str, Any]) -> None:
        updates = self._checked_custom("company", body.get("custom_attributes") or {})
        for key in ("name", "website", "industry", "size", "monthly_spend"):
            if key in body:
                company[key] = body[key]
        company["custom_attributes"].update(updates)
        company["updated_at"] = int(self.clock.now())

    def _scroll(self, request: Request, body: Any) -> tuple[int, Any]:
        """§4.7: one scroll per app, one minute to live, empty page at the end."""
        now = self.clock.now()
        if self.scroll is not None and now - self.scroll.last_used > self.scroll_ttl:
            self.scroll = None
        param = request.query_params.get("scroll_param")
        if param is None:
            if self.scroll is not None:  # §4.7 code [lib]; status [unverified]
                raise IntercomError(400, "scroll_exists", "scroll already exists for this app")
            self.scroll = Scroll(secrets.token_hex(16), 0, now)
        elif self.scroll is None or self.scroll.param != param:  # §4.7 expired [3p]
            raise IntercomError(404, "not_found", "scroll parameter not found or expired")
        scroll = self.scroll
        everything = sorted(self.companies.values(), key=lambda c: str(c["id"]))
        page = everything[scroll.offset : scroll.offset + self.scroll_page_size]
        scroll.offset += len(page)
        scroll.last_used = now
        if not page:  # §4.7: the end is an empty page, and the parameter expires
            self.scroll = None
        return 200, {
            "type": "list",
            "data": [_public_company(c) for c in page],
            "pages": None,
            "total_count": None,
            "scroll_param": scroll.param,
        }

    # ---- contacts (§5) ----------------------------------------------------------------------

    def _contact(self, request: Request, body: Any) -> tuple[int, Any]:
        contact = self._contact_or_404(request.path_params["id"])
        if request.method == "PUT":  # §5.5
            updates = self._checked_custom("contact", body.get("custom_attributes") or {})
            for key in ("role", "external_id", "email", "phone", "name"):
                if key in body:
                    contact[key] = body[key]
            contact["custom_attributes"].update(updates)  # §5.5 merge [unverified]
            contact["updated_at"] = int(self.clock.now())
        return 200, self._public_contact(contact)

    def _find_by_external_id(self, request: Request, body: Any) -> tuple[int, Any]:
        wanted = request.path_params["external_id"]
        for contact in self.contacts.values():
            if contact["external_id"] == wanted and contact["role"] == "user":  # §5.2
                return 200, self._public_contact(contact)
        raise IntercomError(404, "not_found", "User Not Found")

    def _search_contacts(self, request: Request, body: Any) -> tuple[int, Any]:
        query = body["query"]
        _check_query(query, depth=0)
        visible_before = self.clock.now() - self.search_index_delay  # §5.3 indexing delay
        hits = [
            c
            for c in self.contacts.values()
            if c["created_at"] <= visible_before and self._matches(c, query)
        ]
        pagination = body.get("pagination") or {}
        per_page = pagination.get("per_page") or SEARCH_DEFAULT_PER_PAGE
        if not 1 <= per_page <= SEARCH_MAX_PER_PAGE:
            raise IntercomError(400, "parameter_invalid", f"per_page must be 1..150: {per_page}")
        offset = _decode_cursor(pagination.get("starting_after"))
        page = hits[offset : offset + per_page]
        total_pages = max(1, math.ceil(len(hits) / per_page))
        pages: dict[str, Any] = {
            "type": "pages",
            "page": offset // per_page + 1,
            "per_page": per_page,
            "total_pages": total_pages,
        }
        if offset + per_page < len(hits):  # §5.3: next.starting_after only while more remain
            pages["next"] = {
                "per_page": per_page,
                "starting_after": _encode_cursor(offset + per_page),
            }
        data = [self._public_contact(c) for c in page]
        return 200, {"type": "list", "data": data, "total_count": len(hits), "pages": pages}

    def _matches(self, contact: dict[str, Any], query: dict[str, Any]) -> bool:
        if query.get("operator") in {"AND", "OR"}:
            results = (self._matches(contact, part) for part in query["value"])
            return all(results) if query["operator"] == "AND" else any(results)
        name, operator, value = query["field"], query["operator"], query["value"]
        if name in DATE_FIELDS:
            return self._date_matches(contact.get(name), operator, value)
        actual = (
            contact["custom_attributes"].get(name.removeprefix("custom_attributes."))
            if name.startswith("custom_attributes.")
            else contact.get(name)
        )
        return _compare(actual, operator, value)

    def _date_matches(self, actual: Any, operator: str, value: Any) -> bool:
        """§5.3: dates are compared by calendar day in the workspace's time zone."""
        if actual is None:
            return False
        day = self._day_start(int(value))
        if operator == "=":
            return bool(day <= actual < day + 86_400)
        if operator == ">":
            return bool(actual >= day + 86_400)  # from the start of the next day
        return bool(actual < day)  # "<": before the start of that day

    def _day_start(self, timestamp: int) -> int:
        local = datetime.fromtimestamp(timestamp, UTC) + self.workspace_tz
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0) - self.workspace_tz
        return int(midnight.timestamp())

    def _contact_or_404(self, contact_id: str) -> dict[str, Any]:
        contact = self.contacts.get(contact_id)
        if contact is None:
            raise IntercomError(404, "not_found", "User Not Found")
        return contact

    def _public_contact(self, contact: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in contact.items() if k != "company_ids"}
        ids = contact["company_ids"]
        public["companies"] = {  # §5.1: up to 10 shown
            "data": [{"id": i, "type": "company", "url": f"/companies/{i}"} for i in ids[:10]],
            "url": f"/contacts/{contact['id']}/companies",
            "total_count": len(ids),
            "has_more": len(ids) > 10,
        }
        return public

    # ---- notes (§7) and the catalog (§6) ----------------------------------------------------

    def _contact_notes(self, request: Request, body: Any) -> tuple[int, Any]:
        contact = self._contact_or_404(request.path_params["id"])
        if request.method == "POST":  # §7.1: append only
            note: dict[str, Any] = {
                "type": "note",
                "id": str(len(self.notes) + 1),
                "created_at": int(self.clock.now()),
                "contact": {"type": "contact", "id": contact["id"]},
                "author": {"type": "admin", "id": str(body.get("admin_id", "0"))},
                "body": f"<p>{body['body']}</p>",
            }
            self.notes[note["id"]] = note
            return 200, note
        mine = [n for n in self.notes.values() if n["contact"]["id"] == contact["id"]]
        pages = {"type": "pages", "page": 1, "per_page": 50, "total_pages": 1}
        return 200, {"type": "list", "data": mine, "total_count": len(mine), "pages": pages}

    def _note(self, request: Request, body: Any) -> tuple[int, Any]:
        note = self.notes.get(request.path_params["id"])
        if note is None:
            raise IntercomError(404, "not_found", "Note Not Found")
        return 200, note

    def _data_attributes(self, request: Request, body: Any) -> tuple[int, Any]:
        model = request.query_params.get("model")
        data = [
            {
                "type": "data_attribute",
                "name": a.name,
                "full_name": f"custom_attributes.{a.name}" if a.custom else a.name,
                "label": a.name.replace("_", " ").title(),
                "data_type": a.data_type,
                "api_writable": a.api_writable,
                "ui_writable": True,
                "messenger_writable": False,
                "custom": a.custom,
                "archived": False,
                "model": a.model,
                **({"options": a.options} if a.options else {}),
            }
            for a in self.attributes
            if model is None or a.model == model
        ]
        return 200, {"type": "list", "data": data}

    def _checked_custom(self, model: str, values: dict[str, Any]) -> dict[str, Any]:
        """§6: custom attributes must be defined, writable and of their declared type."""
        defined = {a.name: a for a in self.attributes if a.model == model and a.custom}
        for name, value in values.items():
            attribute = defined.get(name)
            if attribute is None:  # §6.2: attributes must exist before values are written
                raise IntercomError(
                    400, "parameter_invalid", f"Custom attribute '{name}' does not exist"
                )
            if not attribute.api_writable:
                raise IntercomError(400, "parameter_invalid", f"'{name}' is not API writable")
            if attribute.data_type == "string" and not isinstance(value, str | None):
                raise IntercomError(400, "parameter_invalid", f"'{name}' expects a string")
            if isinstance(value, str) and len(value) > STRING_ATTRIBUTE_MAX:  # §6.4 [unverified]
                raise IntercomError(
                    400, "parameter_invalid", f"'{name}' is longer than 255 characters"
                )
            if attribute.options and value not in attribute.options:  # §6.5 [unverified]
                raise IntercomError(400, "parameter_invalid", f"'{value}' is not an option")
        return values

    def _new_id(self) -> str:
        self._ids += 1
        return f"{self._ids:024x}"


def _public_company(company: dict[str, Any]) -> dict[str, Any]:
    return dict(company)


def _compare(actual: Any, operator: str, value: Any) -> bool:
    """§5.3 string and integer operators."""
    if operator in {"IN", "NIN"}:
        return bool(actual in value) == (operator == "IN")
    if operator in {"=", "!="}:
        return bool(actual == value) == (operator == "=")
    if actual is None:
        return False
    text, wanted = str(actual), str(value)
    checks = {
        "~": lambda: wanted in text,
        "!~": lambda: wanted not in text,
        "^": lambda: text.startswith(wanted),
        "$": lambda: text.endswith(wanted),
        ">": lambda: float(actual) > float(value),
        "<": lambda: float(actual) < float(value),
        ">=": lambda: float(actual) >= float(value),
        "<=": lambda: float(actual) <= float(value),
    }
    return bool(checks[operator]())


def _check_query(query: dict[str, Any], depth: int) -> None:
    """§5.3: at most 2 levels of AND/OR groups, 15 filters a group, 3 operators on dates."""
    if query.get("operator") not in {"AND", "OR"}:
        if query.get("field") in DATE_FIELDS and query.get("operator") not in DATE_OPERATORS:
            raise IntercomError(
                400, "parameter_invalid", f"{query.get('operator')} is not allowed on dates"
            )
        return
    if depth >= SEARCH_MAX_NESTING:
        raise IntercomError(400, "parameter_invalid", "at most 2 nested filters are allowed")
    if len(query["value"]) > SEARCH_MAX_FILTERS:
        raise IntercomError(400, "parameter_invalid", "at most 15 filters per AND/OR group")
    for part in query["value"]:
        _check_query(part, depth + 1)


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise IntercomError(400, "parameter_invalid", "starting_after is not a cursor") from exc


def _error_response(exc: IntercomError, headers: dict[str, str] | None = None) -> Response:
    body = {  # §2.1
        "type": "error.list",
        "request_id": str(uuid.uuid4()),
        "errors": [{"code": exc.code, "message": exc.message}],
    }
    return JSONResponse(body, status_code=exc.status, headers=headers)
