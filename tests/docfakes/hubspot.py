"""A second HubSpot fake, written from HubSpot's documentation only (never from sandbox/).

``HubSpotAccount`` holds one account's deals, companies, contacts, owners, associations and
property definitions, the search index (which lags writes), tokens and limits;
``hubspot_app(account)`` is the ASGI app answering the CRM calls a deal source makes. Search
details are in :mod:`tests.docfakes.hubspot_search`, limits in :mod:`tests.docfakes.hubspot_limits`.

Behaviour modelled, with sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md;
fixtures = /work/main/tests/fixtures/hubspot):

Auth
* Private app: a static ``Authorization: Bearer`` token that does not expire (sales-apis.md s.2).
* OAuth: ``POST /oauth/v1/token`` or ``/oauth/v3/token``, form-encoded ``grant_type=
  refresh_token``, client_id, client_secret, refresh_token; answer ``{token_type, refresh_token,
  access_token, expires_in: 1800}`` (fixtures/oauth_token.json; "access tokens last 30 minutes",
  changelog upcoming-expiration-of-oauth-access-tokens). An unknown refresh token answers 400
  ``{"status": "BAD_REFRESH_TOKEN", ...}`` (fixtures/oauth_bad_refresh_token.json).
* Expired access token: 401 ``category: EXPIRED_AUTHENTICATION`` (fixtures/error_401_expired.json);
  unknown token: 401 ``INVALID_AUTHENTICATION`` (error_401_invalid.json). HubSpot asks apps to
  refresh from ``expires_in`` and says a 401 "is not a valid indicator that a new access token
  must be retrieved" (developers.hubspot.com/docs/api/usage-details).

Objects
* Every property value is a string (or null); deals carry ``hs_lastmodifieddate``, contacts
  ``lastmodifieddate``; records ``{id, properties, createdAt, updatedAt, archived}`` (sales-apis.md
  s.2; fixtures/search_deals_page1.json, contacts_batch_read.json).
* Search (``POST /crm/v3/objects/deals/search``) sees writes only after ``search_lag``: HubSpot's
  search index is eventually consistent; "changes made by other API calls will take several
  seconds to propagate to the search indexing" (docs.locoia.com HubSpot connector page;
  sales-apis.md s.2 lists it as [M]). Reads by id and batch reads see writes at once
  [assumed]. Archived deals never appear in search.
* ``GET /crm/v3/objects/deals?archived=true`` lists archived deals with ``archivedAt``; limit at
  most 100, ``after`` cursor (sales-apis.md s.2; fixtures/archived_deals.json). Archived records are
  kept about 90 days ([M], sales-apis.md s.2), after which nothing lists them.
* ``POST /crm/v4/associations/deals/{companies|contacts}/batch/read``: at most 1,000 inputs
  (changelog "Batch Read Limit for HubSpot Associations API"); deals without associations come
  back as ``errors`` with ``NO_ASSOCIATIONS_FOUND`` and HTTP 207; the deal's primary company has
  association type 5 "Primary" besides 341 (fixtures/associations_deals_*.json).
* ``POST /crm/v3/objects/{companies|contacts}/batch/read``: at most 100 inputs ([M], sales-apis.md
  s.2); unknown ids come back as ``OBJECT_NOT_FOUND`` errors with HTTP 207
  (fixtures/companies_batch_read.json).
* ``GET /crm/v3/owners`` pages with ``after`` (fixtures/owners.json).
* ``GET /crm/v3/properties/{objectType}``: ``name, label, type, fieldType, options[{label, value,
  displayOrder, hidden}], hubspotDefined, ...``; multi-select is ``enumeration``/``checkbox``
  (sales-apis.md s.2; fixtures/properties_*.json).

Errors: the standard body ``{status, message, correlationId, category[, errors]}``
(fixtures/error_400_validation.json); 403 ``MISSING_SCOPES`` (error_403_missing_scopes.json) can
be injected with ``inject``.
"""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.clock import FakeClock
from tests.docfakes.hubspot_limits import Limits, rate_limit_body
from tests.docfakes.hubspot_search import (
    ALWAYS_RETURNED,
    RESULT_CAP,
    Indexed,
    SearchRefused,
    hs_time,
    search,
)

ACCESS_TOKEN_SECONDS = 1800
ASSOCIATION_BATCH_MAX = 1000
OBJECT_BATCH_MAX = 100
LIST_LIMIT_MAX = 100
ARCHIVE_RETENTION = timedelta(days=90)
PRIMARY_COMPANY, DEAL_TO_COMPANY, DEAL_TO_CONTACT = 5, 341, 3


@dataclass(frozen=True)
class PropertyDef:
    name: str
    type: str
    field_type: str
    label: str = ""
    options: tuple[tuple[str, str], ...] = ()
    """(value, label) pairs."""
    hubspot_defined: bool = True

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "fieldType": self.field_type,
            "description": "",
            "groupName": "dealinformation",
            "options": [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (value, label) in enumerate(self.options)
            ],
            "calculated": False,
            "externalOptions": False,
            "hasUniqueValue": self.name == "hs_object_id",
            "hidden": False,
            "hubspotDefined": self.hubspot_defined,
            "formField": not self.hubspot_defined,
            "archived": False,
        }


def _opts(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v) for v in values)


def _common(last_modified: str) -> tuple[PropertyDef, ...]:
    return (
        PropertyDef("hs_object_id", "number", "number", "Record ID"),
        PropertyDef("createdate", "datetime", "date", "Create Date"),
        PropertyDef(last_modified, "datetime", "date", "Last Modified Date"),
    )


PROPERTIES: dict[str, tuple[PropertyDef, ...]] = {
    "deals": (
        *_common("hs_lastmodifieddate"),
        PropertyDef("dealname", "string", "text", "Deal Name"),
        PropertyDef("amount", "number", "number", "Amount"),
        PropertyDef("closedate", "datetime", "date", "Close Date"),
        PropertyDef("pipeline", "enumeration", "select", "Pipeline", _opts("default")),
        PropertyDef(
            "dealstage",
            "enumeration",
            "radio",
            "Deal Stage",
            (("closedwon", "Closed Won"), ("closedlost", "Closed Lost")),
        ),
        PropertyDef("hubspot_owner_id", "enumeration", "select", "Deal owner"),
        PropertyDef(
            "deal_currency_code", "enumeration", "select", "Currency", _opts("EUR", "GBP", "USD")
        ),
        PropertyDef("special_discount", "number", "number", "Special discount", (), False),
        PropertyDef(
            "payment_terms",
            "enumeration",
            "select",
            "Payment terms",
            _opts("Net 30", "Net 45", "Net 60"),
            False,
        ),
        PropertyDef(
            "free_services",
            "enumeration",
            "checkbox",
            "Free services",
            _opts("Onsite training", "Priority support", "Quarterly review"),
            False,
        ),
        PropertyDef("sla_promise", "string", "text", "SLA promise", (), False),
        PropertyDef("special_instructions", "string", "textarea", "Instructions", (), False),
        PropertyDef("terms_valid_until", "date", "date", "Terms valid until", (), False),
        PropertyDef("approved_by", "string", "text", "Approved by", (), False),
        PropertyDef("has_special_terms", "bool", "booleancheckbox", "Special terms", (), False),
    ),
    "companies": (
        *_common("hs_lastmodifieddate"),
        PropertyDef("name", "string", "text", "Company name"),
        PropertyDef("domain", "string", "text", "Company Domain Name"),
        PropertyDef("customer_number", "string", "text", "Customer number", (), False),
    ),
    "contacts": (
        *_common("lastmodifieddate"),
        PropertyDef("email", "string", "text", "Email"),
        PropertyDef("firstname", "string", "text", "First Name"),
        PropertyDef("lastname", "string", "text", "Last Name"),
    ),
}


def _types(object_type: str) -> dict[str, str]:
    return {p.name: p.type for p in PROPERTIES[object_type]}


def _error(status: int, category: str, message: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status)


@dataclass
class CrmObject:
    id: str
    properties: dict[str, str | None]
    created: datetime
    updated: datetime
    archived_at: datetime | None = None
    index: list[tuple[datetime, Indexed | None]] = field(default_factory=list)
    """Search index versions: (visible from, what search sees; None = not searchable)."""

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "properties": dict(self.properties),
            "createdAt": hs_time(self.created),
            "updatedAt": hs_time(self.updated),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            out["archivedAt"] = hs_time(self.archived_at)
        return out


@dataclass
class Fault:
    status: int
    body: Any
    path_contains: str = ""
    times: int = 1


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


class HubSpotAccount:
    """One HubSpot account (portal) and the API state around it."""

    def __init__(self, clock: FakeClock, *, search_lag: timedelta = timedelta(seconds=5)) -> None:
        self.clock = clock
        self.search_lag = search_lag
        self.objects: dict[str, dict[str, CrmObject]] = {t: {} for t in PROPERTIES}
        self.owners: dict[str, dict[str, Any]] = {}
        self.deal_companies: dict[str, dict[str, bool]] = {}
        self.deal_contacts: dict[str, set[str]] = {}
        self.private_app_token: str | None = None
        self.oauth_clients: dict[str, str] = {}
        self.refresh_tokens: dict[str, str] = {}
        self.access_tokens: dict[str, datetime] = {}
        self.access_token_seconds = ACCESS_TOKEN_SECONDS
        """HubSpot: "follow expires_in, not hardcoded values" (changelog, sales-apis.md s.2)."""
        self.limits = Limits()
        self.tie_salt = "docfake"
        self.result_cap = RESULT_CAP
        self.faults: list[Fault] = []
        self.requests: list[Recorded] = []
        self._ids = {
            "deals": itertools.count(18452330001),
            "companies": itertools.count(9344412001),
            "contacts": itertools.count(551201),
            "owners": itertools.count(61458801),
        }

    # --- credentials ------------------------------------------------------------------------

    def add_private_app(self, token: str) -> None:
        self.private_app_token = token

    def add_oauth_install(self, client_id: str, client_secret: str, refresh_token: str) -> None:
        self.oauth_clients[client_id] = client_secret
        self.refresh_tokens[refresh_token] = client_id

    # --- records ----------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock.now()

    def _write(self, kind: str, obj: CrmObject, when: datetime) -> None:
        last = "lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"
        obj.updated = when
        obj.properties[last] = hs_time(when)
        if kind == "deals":
            snapshot = None
            if obj.archived_at is None:
                snapshot = Indexed(
                    obj.id, dict(obj.properties), hs_time(obj.created), hs_time(obj.updated)
                )
            obj.index.append((when + self.search_lag, snapshot))

    def create(self, kind: str, *, at: datetime | None = None, **properties: Any) -> str:
        """Create a deal, company or contact; property values are stored as strings."""
        when = at or self.now()
        object_id = str(next(self._ids[kind]))
        values: dict[str, str | None] = {p.name: None for p in PROPERTIES[kind]}
        values.update(_strings(kind, properties))
        values.update(hs_object_id=object_id, createdate=hs_time(when))
        obj = CrmObject(object_id, values, when, when)
        self.objects[kind][object_id] = obj
        self._write(kind, obj, when)
        return object_id

    def update(
        self, kind: str, object_id: str, *, at: datetime | None = None, **properties: Any
    ) -> None:
        obj = self.objects[kind][object_id]
        obj.properties.update(_strings(kind, properties))
        self._write(kind, obj, at or self.now())

    def archive(self, kind: str, object_id: str) -> None:
        obj = self.objects[kind][object_id]
        obj.archived_at = self.now()
        self._write(kind, obj, self.now())

    def add_owner(self, email: str, first: str, last: str) -> str:
        owner_id = str(next(self._ids["owners"]))
        self.owners[owner_id] = {
            "id": owner_id,
            "email": email,
            "type": "PERSON",
            "firstName": first,
            "lastName": last,
            "userId": int(owner_id) % 10_000_000,
            "archived": False,
            "createdAt": hs_time(self.now()),
            "updatedAt": hs_time(self.now()),
        }
        return owner_id

    def associate_company(self, deal_id: str, company_id: str, *, primary: bool = False) -> None:
        self.deal_companies.setdefault(deal_id, {})[company_id] = primary

    def associate_contact(self, deal_id: str, contact_id: str) -> None:
        self.deal_contacts.setdefault(deal_id, set()).add(contact_id)

    def inject(self, status: int, body: Any, *, path_contains: str = "", times: int = 1) -> Fault:
        fault = Fault(status, body, path_contains, times)
        self.faults.append(fault)
        return fault

    # --- reads ------------------------------------------------------------------------------

    def searchable_deals(self) -> list[Indexed]:
        """What the search index holds now: each deal's newest version that has propagated."""
        now = self.now()
        visible: list[Indexed] = []
        for obj in self.objects["deals"].values():
            current = [snap for since, snap in obj.index if since <= now]
            if current and current[-1] is not None:
                visible.append(current[-1])
        return visible

    def archived_deals(self) -> list[CrmObject]:
        horizon = self.now() - ARCHIVE_RETENTION
        return [
            o
            for o in self.objects["deals"].values()
            if o.archived_at is not None and o.archived_at > horizon
        ]


def _strings(kind: str, properties: Mapping[str, Any]) -> dict[str, str | None]:
    known = _types(kind)
    out: dict[str, str | None] = {}
    for name, value in properties.items():
        if name not in known:
            raise KeyError(f"{kind} has no property {name}")
        if value is None:
            out[name] = None
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        else:
            out[name] = str(value)
    return out


# --- the ASGI app ---------------------------------------------------------------------------


def hubspot_app(account: HubSpotAccount) -> Starlette:
    """HubSpot's API root (https://api.hubapi.com) for ``account``."""

    async def handle(request: Request) -> Response:
        raw = await request.body()
        body: Any = None
        if raw and request.headers.get("content-type", "").startswith("application/json"):
            body = json.loads(raw)
        elif raw:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        response = _dispatch(account, request, body)
        account.requests.append(
            Recorded(
                request.method,
                request.url.path,
                parse_qs(request.url.query),
                body,
                response.status_code,
            )
        )
        return response

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


def _dispatch(account: HubSpotAccount, request: Request, body: Any) -> Response:
    path = request.url.path
    if path in {"/oauth/v1/token", "/oauth/v3/token"} and request.method == "POST":
        return _token(account, body or {})
    who = _authenticate(account, request)
    if isinstance(who, Response):
        return who
    private_app = who == "private"
    is_search = path.endswith("/search")
    policy = account.limits.check(account.now(), is_search=is_search, daily_applies=private_app)
    if policy is not None:
        return JSONResponse(rate_limit_body(policy), status_code=429)
    for fault in account.faults:
        if fault.times > 0 and fault.path_contains in path:
            fault.times -= 1
            return JSONResponse(fault.body, status_code=fault.status)
    try:
        response = _route(account, request, body)
    except SearchRefused as exc:
        response = _error(400, exc.code, exc.message)
    if not is_search:
        response.headers.update(account.limits.headers(daily_applies=private_app))
    return response


def _token(account: HubSpotAccount, form: Mapping[str, str]) -> Response:
    if form.get("grant_type") != "refresh_token":
        return JSONResponse({"status": "BAD_GRANT_TYPE", "message": "unsupported grant type"}, 400)
    client_id = form.get("client_id", "")
    if account.oauth_clients.get(client_id) != form.get("client_secret"):
        return JSONResponse(
            {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}, 400
        )
    refresh = form.get("refresh_token", "")
    if account.refresh_tokens.get(refresh) != client_id:
        return JSONResponse(
            {
                "status": "BAD_REFRESH_TOKEN",
                "message": "missing or unknown refresh token",
                "correlationId": str(uuid.uuid4()),
            },
            status_code=400,
        )
    token = f"CJSP{secrets.token_urlsafe(40)}"
    lifetime = account.access_token_seconds
    account.access_tokens[token] = account.now() + timedelta(seconds=lifetime)
    return JSONResponse(
        {
            "token_type": "bearer",
            "refresh_token": refresh,
            "access_token": token,
            "expires_in": lifetime,
        }
    )


def _authenticate(account: HubSpotAccount, request: Request) -> str | Response:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if account.private_app_token is not None and token == account.private_app_token:
        return "private"
    expires = account.access_tokens.get(token)
    if expires is None:
        return _error(
            401,
            "INVALID_AUTHENTICATION",
            "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
        )
    if expires <= account.now():
        ago = int((account.now() - expires).total_seconds())
        return _error(
            401,
            "EXPIRED_AUTHENTICATION",
            f"The OAuth token used to make this call expired {ago} second(s) ago.",
        )
    return "oauth"


def _route(  # noqa: PLR0911 - a routing table
    account: HubSpotAccount, request: Request, body: Any
) -> Response:
    path = request.url.path.rstrip("/")
    parts = path.strip("/").split("/")
    params = request.query_params
    if path == "/crm/v3/objects/deals/search" and request.method == "POST":
        answer = search(
            body or {},
            account.searchable_deals(),
            _types("deals"),
            salt=account.tie_salt,
            result_cap=account.result_cap,
        )
        return JSONResponse(answer)
    if parts[:3] == ["crm", "v4", "associations"] and parts[-2:] == ["batch", "read"]:
        return _association_read(account, parts[4], body or {})
    if parts[:3] == ["crm", "v3", "objects"] and parts[-2:] == ["batch", "read"]:
        return _batch_read(account, parts[3], body or {})
    if path == "/crm/v3/objects/deals" and request.method == "GET":
        return _list_deals(account, params.get("archived") == "true", params)
    if path == "/crm/v3/owners":
        return _owners(account, params)
    if parts[:3] == ["crm", "v3", "properties"] and len(parts) == 4 and parts[3] in PROPERTIES:
        return JSONResponse({"results": [p.describe() for p in PROPERTIES[parts[3]]]})
    if path == "/account-info/v3/details":
        return JSONResponse(
            {"portalId": 4412001, "timeZone": "Europe/Berlin", "uiDomain": "app.hubspot.com"}
        )
    return _error(404, "OBJECT_NOT_FOUND", "resource not found")


def _now_fields(account: HubSpotAccount) -> dict[str, str]:
    stamp = hs_time(account.now())
    return {"startedAt": stamp, "completedAt": stamp}


def _inputs(body: Mapping[str, Any], most: int) -> list[str]:
    inputs = [str(i.get("id")) for i in body.get("inputs", [])]
    if len(inputs) > most:
        raise SearchRefused(f"Batch input size {len(inputs)} exceeds the maximum of {most}")
    return inputs


def _association_type(type_id: int, label: str | None = None) -> dict[str, Any]:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}


def _associated(account: HubSpotAccount, deal_id: str, target: str) -> list[dict[str, Any]]:
    """The deal's ``to`` list: the primary company also carries type 5 "Primary"."""
    if target == "companies":
        return [
            {
                "toObjectId": int(company_id),
                # The fixtures list "Primary" both before and after 341; it comes last here.
                "associationTypes": [_association_type(DEAL_TO_COMPANY)]
                + [_association_type(PRIMARY_COMPANY, "Primary")] * primary,
            }
            for company_id, primary in sorted(account.deal_companies.get(deal_id, {}).items())
        ]
    return [
        {"toObjectId": int(contact_id), "associationTypes": [_association_type(DEAL_TO_CONTACT)]}
        for contact_id in sorted(account.deal_contacts.get(deal_id, set()))
    ]


def _no_associations(deal_id: str, target: str) -> dict[str, Any]:
    singular = target.removesuffix("s").replace("companie", "company")
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No {singular} is associated with deal {deal_id}.",
        "context": {
            "fromObjectId": [deal_id],
            "fromObjectType": ["deal"],
            "toObjectType": [singular],
        },
        "errors": [],
        "links": {},
    }


def _association_read(account: HubSpotAccount, target: str, body: Mapping[str, Any]) -> Response:
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for deal_id in _inputs(body, ASSOCIATION_BATCH_MAX):
        to = _associated(account, deal_id, target)
        if to:
            results.append({"from": {"id": deal_id}, "to": to})
        else:
            errors.append(_no_associations(deal_id, target))
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results, **_now_fields(account)}
    if errors:
        answer.update(numErrors=len(errors), errors=errors)
    return JSONResponse(answer, status_code=207 if errors else 200)


def _batch_read(account: HubSpotAccount, kind: str, body: Mapping[str, Any]) -> Response:
    if kind not in PROPERTIES:
        return _error(404, "OBJECT_NOT_FOUND", f"unknown object type {kind}")
    keep = {*body.get("properties", []), *ALWAYS_RETURNED, "lastmodifieddate"}
    found, missing = [], []
    for object_id in dict.fromkeys(_inputs(body, OBJECT_BATCH_MAX)):
        obj = account.objects[kind].get(object_id)
        if obj is None or obj.archived_at is not None:
            missing.append(object_id)
            continue
        record = obj.record()
        record["properties"] = {k: v for k, v in record["properties"].items() if k in keep}
        found.append(record)
    answer: dict[str, Any] = {"status": "COMPLETE", "results": found, **_now_fields(account)}
    if missing:
        error = {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": f"Could not get some {kind.upper()} objects, they may be deleted or not "
            "exist. Check that ids are valid.",
            "context": {"ids": missing},
            "errors": [],
            "links": {},
        }
        answer.update(numErrors=1, errors=[error])
    return JSONResponse(answer, status_code=207 if missing else 200)


def _page(items: list[dict[str, Any]], params: Mapping[str, str], most: int) -> dict[str, Any]:
    limit = min(int(params.get("limit", "10")), most)
    after = int(params.get("after", "0") or 0)
    page: dict[str, Any] = {"results": items[after : after + limit]}
    if after + limit < len(items):
        page["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
    return page


def _list_deals(account: HubSpotAccount, archived: bool, params: Mapping[str, str]) -> Response:
    wanted = set(str(params.get("properties", "")).split(",")) - {""}
    chosen = (
        account.archived_deals()
        if archived
        else [o for o in account.objects["deals"].values() if o.archived_at is None]
    )
    records = []
    for obj in sorted(chosen, key=lambda o: int(o.id)):
        record = obj.record()
        if wanted:
            keep = wanted | {"hs_object_id", "createdate", "hs_lastmodifieddate"}
            record["properties"] = {k: v for k, v in record["properties"].items() if k in keep}
        records.append(copy.deepcopy(record))
    return JSONResponse(_page(records, params, LIST_LIMIT_MAX))


def _owners(account: HubSpotAccount, params: Mapping[str, str]) -> Response:
    owners = [account.owners[k] for k in sorted(account.owners, key=int)]
    return JSONResponse(_page(owners, params, 500))
