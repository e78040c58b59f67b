"""The HubSpot fake's HTTP face: tokens, the CRM endpoints a deal source calls, limits, errors.

``hubspot_app(account)`` serves a :class:`~tests.docfakes.hubspot.HubSpotAccount`.

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

Endpoints
* ``GET /crm/v3/objects/deals?archived=true`` lists archived deals with ``archivedAt``; limit at
  most 100, ``after`` cursor (sales-apis.md s.2; fixtures/archived_deals.json).
* ``POST /crm/v4/associations/deals/{companies|contacts}/batch/read``: at most 1,000 inputs
  (changelog "Batch Read Limit for HubSpot Associations API"); deals without associations come
  back as ``errors`` with ``NO_ASSOCIATIONS_FOUND`` and HTTP 207; the deal's primary company has
  association type 5 "Primary" besides 341 (fixtures/associations_deals_*.json).
* ``POST /crm/v3/objects/{companies|contacts}/batch/read``: at most 100 inputs ([M], sales-apis.md
  s.2); unknown ids come back as ``OBJECT_NOT_FOUND`` errors with HTTP 207
  (fixtures/companies_batch_read.json).
* ``GET /crm/v3/owners`` pages with ``after`` (fixtures/owners.json).
* ``GET /crm/v3/properties/{objectType}`` serves :mod:`tests.docfakes.hubspot_catalog`.
* Search and limits: :mod:`tests.docfakes.hubspot_search`, :mod:`tests.docfakes.hubspot_limits`.

Errors: the standard body ``{status, message, correlationId, category[, errors]}``
(fixtures/error_400_validation.json); 403 ``MISSING_SCOPES`` (error_403_missing_scopes.json) can
be injected with ``inject``.
"""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.hubspot import HubSpotAccount, Recorded
from tests.docfakes.hubspot_catalog import PROPERTIES, property_types
from tests.docfakes.hubspot_limits import rate_limit_body
from tests.docfakes.hubspot_search import ALWAYS_RETURNED, SearchRefused, hs_time, search

ASSOCIATION_BATCH_MAX = 1000
OBJECT_BATCH_MAX = 100
LIST_LIMIT_MAX = 100
PRIMARY_COMPANY, DEAL_TO_COMPANY, DEAL_TO_CONTACT = 5, 341, 3


def _error(status: int, category: str, message: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status)


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
            property_types("deals"),
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
