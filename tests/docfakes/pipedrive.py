"""Pipedrive, as its documentation describes it: a small in-memory ASGI fake.

Built from ``connectors/sales/pipedrive/FACTS.md`` alone (the § numbers in comments point there),
independent of any simulator. It models what a source connector needs: OAuth refresh and API-token
auth, ``GET /api/v2/deals`` with ``updated_since``/``updated_until``, keyset ``cursor`` paging,
deleted and archived deals, the ``dealFields`` catalog (v2 cursor, v1 start/limit), organizations
and persons fetched by ``ids``, the daily token budget and the 2-second burst limit with their
headers and 429 body, and the documented error envelopes.

Seed it through the ``add_*``/``update_deal``/``delete_deal`` methods; time comes from the injected
clock.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.crm_common import (
    ManualClock,
    Refused,
    RollingWindow,
    b64url_json,
    form_fields,
    from_b64url_json,
    whole_seconds,
)
from tests.docfakes.pipedrive_records import (
    SOFT_DELETE_DAYS,
    Deal,
    DealField,
    DealQuery,
    by_ids,
    field_key,
    iso,
    parse_limit,
)

# §7.1 budget multipliers and §7.3 burst limits per plan: (API token, OAuth app) per 2 s.
PLAN_MULTIPLIER = {"Lite": 1, "Growth": 2, "Premium": 5, "Ultimate": 7}
BURST_PER_2S = {
    "Lite": (20, 80),
    "Growth": (40, 160),
    "Premium": (100, 400),
    "Ultimate": (120, 480),
}
BASE_TOKENS_PER_SEAT = 30_000
# §7.2 token cost per endpoint (v2 dealFields cost unknown: charged like a v2 list).
TOKEN_COST = {
    "deals": 10,
    "deals_archived": 20,
    "deal": 1,
    "persons": 10,
    "organizations": 10,
    "deal_fields_v2": 10,
    "deal_fields_v1": 20,
}
ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
ACCESS_TOKEN_SECONDS = 3600  # §2.2
REFRESH_TOKEN_IDLE_DAYS = 60  # §2.2


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """§8.1: the error envelope."""
    body = {
        "success": False,
        "error": message,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Grant:
    """An OAuth refresh token (§2.2): not rotated, expires after 60 idle days."""

    client_id: str
    last_used: datetime


@dataclass
class Caller:
    key: str
    kind: str  # "api_token" or "oauth"


class PipedriveFake:
    """In-memory Pipedrive company with one ASGI app (``.app``)."""

    def __init__(
        self,
        clock: ManualClock | None = None,
        *,
        plan: str = "Lite",
        seats: int = 1,
        daily_budget: int | None = None,
        api_domain: str = "https://acme.pipedrive.com",
    ) -> None:
        self.clock = clock or ManualClock()
        self.plan = plan
        self.daily_budget = daily_budget or BASE_TOKENS_PER_SEAT * PLAN_MULTIPLIER[plan] * seats
        self.api_domain = api_domain
        self.daily_requests_left = 10_000  # §7.4, §7.7: POST/PUT counter; this fake only reads
        self.api_tokens: set[str] = set()
        self.clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, datetime] = {}
        self.deals: dict[int, Deal] = {}
        self.persons: dict[int, dict[str, Any]] = {}
        self.organizations: dict[int, dict[str, Any]] = {}
        self.deal_fields: list[DealField] = [
            DealField("ID", "id", "int", is_custom=False),
            DealField("Title", "title", "varchar", is_custom=False),
            DealField("Organization", "org_id", "org", is_custom=False),
            DealField("Contact person", "person_id", "people", is_custom=False),
        ]
        self._next_id = 1
        self._burst: dict[str, RollingWindow] = {}
        self._spent_today = 0
        self._budget_day = self.clock.now().date()
        self.app = Starlette(
            routes=[
                Route("/oauth/token", self._token, methods=["POST"]),
                Route("/api/v2/deals", self._deals, methods=["GET"]),
                Route("/api/v2/deals/archived", self._archived_deals, methods=["GET"]),
                Route("/api/v2/deals/{deal_id:int}", self._deal, methods=["GET"]),
                Route("/api/v2/persons", self._persons, methods=["GET"]),
                Route("/api/v2/organizations", self._organizations, methods=["GET"]),
                Route("/api/v2/dealFields", self._deal_fields_v2, methods=["GET"]),
                Route("/api/v1/dealFields", self._deal_fields_v1, methods=["GET"]),
                Route("/v1/dealFields", self._deal_fields_v1, methods=["GET"]),
            ],
            exception_handlers={404: self._not_found},
        )

    # ----- seeding (test side) -----

    def add_api_token(self) -> str:
        token = secrets.token_hex(20)
        self.api_tokens.add(token)
        return token

    def add_oauth_client(self, client_id: str, client_secret: str) -> str:
        """Registers an app and returns a refresh token as if the user had installed it."""
        self.clients[client_id] = client_secret
        refresh = f"rt-{secrets.token_hex(16)}"
        self.refresh_tokens[refresh] = Grant(client_id, self.clock.now())
        return refresh

    def add_deal_field(self, name: str, field_type: str, options: list[str] | None = None) -> str:
        """A custom field (§5.1); enum/set options get ids. Returns the 40-character key."""
        code = field_key(name)
        option_rows = None
        if options is not None:
            option_rows = [{"id": 100 + n, "label": label} for n, label in enumerate(options)]
        self.deal_fields.append(DealField(name, code, field_type, True, option_rows))
        return code

    def option_id(self, key: str, label: str) -> int:
        fld = next(f for f in self.deal_fields if f.code == key)
        return int(next(o["id"] for o in fld.options or [] if o["label"] == label))

    def add_organization(self, name: str) -> int:
        org_id = self._new_id()
        now = iso(whole_seconds(self.clock.now()))
        self.organizations[org_id] = {
            "id": org_id,
            "name": name,
            "owner_id": 1,
            "add_time": now,
            "update_time": now,
            "address": None,
            "is_deleted": False,
            "visible_to": 3,
            "label_ids": [],
            "custom_fields": {},
        }
        return org_id

    def add_person(self, name: str, email: str, org_id: int | None = None) -> int:
        person_id = self._new_id()
        now = iso(whole_seconds(self.clock.now()))
        self.persons[person_id] = {
            "id": person_id,
            "name": name,
            "owner_id": 1,
            "org_id": org_id,
            "add_time": now,
            "update_time": now,
            "emails": [{"value": email, "primary": True, "label": "work"}],  # §6.2
            "phones": [],
            "is_deleted": False,
            "visible_to": 3,
            "label_ids": [],
            "custom_fields": {},
        }
        return person_id

    def add_deal(self, title: str, **fields: Any) -> int:
        now = whole_seconds(self.clock.now())
        deal = Deal(id=self._new_id(), title=title, add_time=now, update_time=now, **fields)
        self.deals[deal.id] = deal
        return deal.id

    def update_deal(self, deal_id: int, **changes: Any) -> None:
        deal = self.deals[deal_id]
        for name, value in changes.items():
            setattr(deal, name, value)
        deal.update_time = whole_seconds(self.clock.now())  # §1.4: one-second resolution

    def delete_deal(self, deal_id: int) -> None:
        """§4.1 soft delete; §4.2 (assumed for deals): update_time becomes the delete time."""
        self.update_deal(deal_id, is_deleted=True)

    def archive_deal(self, deal_id: int) -> None:
        """§3.5: archived deals leave ``GET /deals`` for ``GET /deals/archived``."""
        deal = self.deals[deal_id]
        deal.is_archived = True
        deal.archive_time = whole_seconds(self.clock.now())

    def delete_organization(self, org_id: int) -> None:
        """§6.4: deals keep the ``org_id``; ``?ids=`` no longer returns it."""
        self.organizations[org_id]["is_deleted"] = True

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # ----- auth, limits, envelope -----

    async def _token(self, request: Request) -> Response:
        """§2.2 refresh grant; §2.3 error messages (JSON shape unverified)."""
        try:
            client_id, refresh = await self._refresh_request(request)
        except Refused as refused:
            return JSONResponse({"success": False, "error": refused.message}, status_code=400)
        now = self.clock.now()
        grant = self.refresh_tokens.get(refresh)
        idle = timedelta(days=REFRESH_TOKEN_IDLE_DAYS)
        if grant is None or grant.client_id != client_id or now - grant.last_used > idle:
            body = {"success": False, "error": "Invalid grant: refresh_token is invalid"}
            return JSONResponse(body, status_code=400)
        grant.last_used = now  # §2.2: each use resets the 60 days; the same token comes back
        access = f"v1u:{secrets.token_urlsafe(24)}"
        self.access_tokens[access] = now + timedelta(seconds=ACCESS_TOKEN_SECONDS)
        return JSONResponse(
            {
                "access_token": access,
                "token_type": "bearer",
                "refresh_token": refresh,
                "scope": "base,deals:read,contacts:read",
                "expires_in": ACCESS_TOKEN_SECONDS,
                "api_domain": self.api_domain,
            }
        )

    async def _refresh_request(self, request: Request) -> tuple[str, str]:
        """The client id and refresh token of a well-formed request, else :class:`Refused`."""
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/x-www-form-urlencoded"):
            raise Refused("Invalid request: content must be application/x-www-form-urlencoded")
        form = await form_fields(request)
        client_id, secret = self._client_credentials(request, form)
        if client_id is None:
            raise Refused("Invalid client: cannot retrieve client credentials")
        if self.clients.get(client_id) != secret:
            raise Refused("Invalid client: client is invalid")
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise Refused("Missing parameter: grant_type")
        if grant_type != "refresh_token":
            raise Refused("Unsupported grant type: grant_type is invalid")
        return client_id, form.get("refresh_token", "")

    @staticmethod
    def _client_credentials(
        request: Request, form: dict[str, str]
    ) -> tuple[str | None, str | None]:
        """§2.2: Basic auth preferred, body credentials tolerated."""
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                basic_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return None, None
            return basic_id, secret
        return form.get("client_id"), form.get("client_secret", "")

    def _authenticate(self, request: Request) -> Caller | Response:
        """§2.1 API token header, §2.2 bearer token, §2.4 error bodies."""
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, bearer = header.partition(" ")
            if scheme != "Bearer" or not bearer:
                return error(400, "Invalid request: malformed authorization header")
            expires = self.access_tokens.get(bearer)
            if expires is None or self.clock.now() >= expires:
                return JSONResponse(
                    {
                        "success": False,
                        "error": "Invalid token: access_token is invalid",
                        "errorCode": 401,
                    },
                    status_code=401,
                )
            return Caller(bearer, "oauth")
        token = request.headers.get("x-api-token") or request.query_params.get("api_token")
        if token in self.api_tokens:
            return Caller(token, "api_token")
        return JSONResponse(
            {"success": False, "error": "unauthorized access", "errorCode": 401}, status_code=401
        )

    def _charge(self, caller: Caller, cost: int) -> tuple[dict[str, str], Response | None]:
        """§7.1 daily budget, §7.3 burst per token, §7.4 headers, §7.5 429 body."""
        now = self.clock.now()
        if now.date() != self._budget_day:  # §7.1: resets at midnight (UTC here, unverified)
            self._budget_day, self._spent_today = now.date(), 0
        window = self._burst.setdefault(caller.key, RollingWindow(2))
        api_limit, oauth_limit = BURST_PER_2S[self.plan]
        limit = api_limit if caller.kind == "api_token" else oauth_limit
        used = int(window.total(now))
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(0, limit - used - 1)),
            "x-ratelimit-reset": str(window.seconds_until_oldest_leaves(now)),
        }
        if caller.kind == "api_token":
            headers["x-daily-requests-left"] = str(self.daily_requests_left)
        if used >= limit:
            headers["x-ratelimit-remaining"] = "0"
            headers["retry-after"] = str(window.seconds_until_room(now, limit))  # §7.5 (3p)
            return headers, self._over_limit(headers)
        if self._spent_today + cost > self.daily_budget:
            return headers, self._over_limit(headers)  # §7.5: no Retry-After for the day budget
        window.add(now)
        self._spent_today += cost
        return headers, None

    @staticmethod
    def _over_limit(headers: dict[str, str]) -> JSONResponse:
        body = {
            "success": False,
            "error": "Request over limit",
            "errorCode": 429,
            "error_info": ERROR_INFO,
            "data": None,
            "additional_data": None,
        }
        return JSONResponse(body, status_code=429, headers=headers)

    def _guarded(self, request: Request, cost_key: str) -> tuple[dict[str, str], Response | None]:
        caller = self._authenticate(request)
        if isinstance(caller, Response):
            return {}, caller
        return self._charge(caller, TOKEN_COST[cost_key])

    async def _not_found(self, request: Request, exc: Exception) -> Response:
        return error(404, "Unknown method .")

    async def _serve(self, request: Request, cost_key: str, build: Builder) -> Response:
        """Authenticate, charge the token cost, then build the body; 400 on a refused parameter."""
        headers, refused = self._guarded(request, cost_key)
        if refused is not None:
            return refused
        try:
            result = build(request)
        except Refused as exc:
            return error(400, exc.message, headers)
        if isinstance(result, Response):
            result.headers.update(headers)
            return result
        return JSONResponse(result, headers=headers)

    # ----- deals -----

    async def _deals(self, request: Request) -> Response:
        return await self._serve(request, "deals", lambda r: self._list_deals(r, archived=False))

    async def _archived_deals(self, request: Request) -> Response:
        return await self._serve(
            request, "deals_archived", lambda r: self._list_deals(r, archived=True)
        )

    def _list_deals(self, request: Request, *, archived: bool) -> dict[str, Any]:
        query = DealQuery.parse(request)
        now = self.clock.now()
        rows = [
            deal
            for deal in self.deals.values()
            if deal.is_archived == archived  # §3.5
            and not self._purged(deal, now)  # §4.1
            and query.matches(deal)
        ]
        return query.page(rows)

    def _purged(self, deal: Deal, now: datetime) -> bool:
        return deal.is_deleted and now - deal.update_time > timedelta(days=SOFT_DELETE_DAYS)

    async def _deal(self, request: Request) -> Response:
        return await self._serve(request, "deal", self._one_deal)

    def _one_deal(self, request: Request) -> dict[str, Any] | Response:
        deal = self.deals.get(int(request.path_params["deal_id"]))
        if deal is None or self._purged(deal, self.clock.now()):
            return error(404, "Deal not found")  # §8.3 (message unverified)
        return {"success": True, "data": deal.to_json(None)}

    # ----- related records by ids (§6.1) -----

    async def _persons(self, request: Request) -> Response:
        return await self._serve(request, "persons", lambda r: by_ids(r, self.persons))

    async def _organizations(self, request: Request) -> Response:
        return await self._serve(request, "organizations", lambda r: by_ids(r, self.organizations))

    # ----- catalog (§5.1, §5.2) -----

    async def _deal_fields_v2(self, request: Request) -> Response:
        return await self._serve(request, "deal_fields_v2", self._fields_v2)

    def _fields_v2(self, request: Request) -> dict[str, Any]:
        limit = parse_limit(request)
        cursor = from_b64url_json(request.query_params.get("cursor", "")) or {}
        start = int(cursor.get("offset", 0))
        rows = [
            {
                "field_name": f.name,
                "field_code": f.code,
                "description": "",
                "field_type": f.field_type,
                "is_custom_field": f.is_custom,
                "is_optional_response_field": False,
                "options": f.options,
                "subfields": None,
            }
            for f in self.deal_fields
        ]
        more = start + limit < len(rows)
        next_cursor = b64url_json({"offset": start + limit}) if more else None
        return {
            "success": True,
            "data": rows[start : start + limit],
            "additional_data": {"next_cursor": next_cursor},
        }

    async def _deal_fields_v1(self, request: Request) -> Response:
        return await self._serve(request, "deal_fields_v1", self._fields_v1)

    def _fields_v1(self, request: Request) -> dict[str, Any]:
        limit = parse_limit(request)
        start_text = request.query_params.get("start", "0")
        if not start_text.isdigit():
            raise Refused("start must be a non-negative integer")
        start = int(start_text)
        rows = [
            {
                "id": 12_000 + n,
                "key": f.code,
                "name": f.name,
                "field_type": f.field_type,
                "edit_flag": f.is_custom,  # §5.2: true marks a custom field
                "active_flag": True,
                "mandatory_flag": False,
                **({"options": f.options} if f.options is not None else {}),
            }
            for n, f in enumerate(self.deal_fields)
        ]
        more = start + limit < len(rows)
        pagination: dict[str, Any] = {
            "start": start,
            "limit": limit,
            "more_items_in_collection": more,
        }
        if more:
            pagination["next_start"] = start + limit  # §3.7: only when more items exist
        return {
            "success": True,
            "data": rows[start : start + limit],
            "additional_data": {"pagination": pagination},
        }


Builder = Callable[[Request], "dict[str, Any] | Response"]
