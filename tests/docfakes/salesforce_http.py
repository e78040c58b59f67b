"""The Salesforce fake's HTTP face: OAuth on the login host, the REST API on the instance.

``salesforce_app(org)`` answers the calls a deal source makes against a
:class:`~tests.docfakes.salesforce.SalesforceOrg`; the data behaviour is documented there.

Behaviour modelled, with sources (sales-apis.md = /work/shared/vendor-apis/sales-apis.md):

Auth
* ``POST {login}/services/oauth2/token``, form-encoded. ``grant_type=refresh_token`` with
  client_id/client_secret/refresh_token; with refresh-token rotation on, every refresh returns a new
  ``refresh_token`` and the previous one is invalidated (help.salesforce.com
  remoteaccess_oauth_refresh_token_flow.htm; sales-apis.md s.1). ``grant_type=urn:ietf:params:
  oauth:grant-type:jwt-bearer`` with an RS256 ``assertion`` whose iss = consumer key, sub =
  username, aud = login URL and a short exp, for a pre-approved user; no refresh token is issued
  (help.salesforce.com remoteaccess_oauth_jwt_flow.htm; sales-apis.md s.1). Answers carry
  ``access_token``, ``instance_url``, ``id``, ``token_type``, ``issued_at``, ``signature``
  (fixtures/salesforce/auth_success_response.json). Refusals are
  ``{"error", "error_description"}`` with HTTP 400 (auth_error_response.json,
  refresh_error_response.json: ``invalid_grant``; "user hasn't approved this consumer" as reported
  in striim.com's Salesforce troubleshooting page).
* Every data call goes to ``instance_url``; the login host serves only the token endpoint.
* Sessions expire after ``session_seconds`` of inactivity (default two hours; every call resets
  the timer) and then answer 401 ``[{"message": "Session expired or invalid", "errorCode":
  "INVALID_SESSION_ID"}]`` (SOAP API guide, "Error Handling for Session Expiration";
  fixtures/salesforce/expired_session_response.json).

Other resources
* ``GET /sobjects/{object}/describe`` (fields, picklistValues, childRelationships); 304 on
  ``If-Modified-Since`` when unchanged (REST guide, errorcodes).
* ``GET /services/data/`` lists versions and does not count toward limits; ``GET /limits``
  (sales-apis.md s.1).

Limits and errors
* URI longer than 16,384 bytes: HTTP 414 (help article 000386264, sales-apis.md s.1).
* ``Sforce-Limit-Info: api-usage=N/M`` on every data response; N counts calls over a rolling
  24 hours (sales-apis.md s.1, headers_api_usage.htm).
* Past the allocation: HTTP 403 ``[{"message": "TotalRequests Limit exceeded.", "errorCode":
  "REQUEST_LIMIT_EXCEEDED"}]``, no Retry-After (REST guide errorcodes; tests/fixtures/salesforce/
  request_limit_exceeded_response.json). The request is not counted.
* Error bodies are arrays of ``{"message", "errorCode"[, "fields"]}`` (errorcodes; fixtures).
  ``inject`` queues any other answer (e.g. ``QUERY_TIMEOUT``, whose HTTP status is not confirmed
  in the docs; 400 is used).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.docfakes.salesforce import (
    BATCH_DEFAULT,
    Recorded,
    SalesforceOrg,
    Session,
    object_def,
)
from tests.docfakes.soql import SoqlError

LOGIN_URL = "https://login.salesforce.example"
INSTANCE_URL = "https://acme-west.my.salesforce.example"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
URI_LIMIT = 16_384
JWT_MAX_LIFETIME = timedelta(minutes=3)
"""The JWT's ``exp`` must be within three minutes (remoteaccess_oauth_jwt_flow.htm)."""


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status)


def _oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def salesforce_app(org: SalesforceOrg) -> Starlette:
    """The REST API of ``org``: the token endpoint on the login host, data on the instance."""

    async def handle(request: Request) -> Response:
        response = await _dispatch(org, request)
        org.requests.append(
            Recorded(
                request.headers.get("host", ""),
                request.method,
                request.url.path,
                parse_qs(request.url.query),
                {k.lower(): v for k, v in request.headers.items()},
                response.status_code,
            )
        )
        return response

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET", "POST"])])


async def _dispatch(org: SalesforceOrg, request: Request) -> Response:
    raw = request.url.path + ("?" + request.url.query if request.url.query else "")
    if len(raw.encode()) > URI_LIMIT:
        return Response(status_code=414)
    host = request.headers.get("host", "")
    path = request.url.path
    if path == "/services/oauth2/token" and request.method == "POST":
        if host != urlsplit(LOGIN_URL).netloc:
            return _oauth_error("invalid_request", "token requests go to the login URL")
        return await _token(org, request)
    if host != urlsplit(INSTANCE_URL).netloc:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    if path.rstrip("/") == "/services/data":
        return JSONResponse(
            [{"version": "61.0", "url": "/services/data/v61.0", "label": "Summer '24"}]
        )
    return _with_limit_info(org, _data(org, request))


def _with_limit_info(org: SalesforceOrg, response: Response) -> Response:
    response.headers["Sforce-Limit-Info"] = f"api-usage={org.api_usage()}/{org.api_max}"
    return response


async def _token(  # noqa: PLR0911 - one answer per OAuth outcome
    org: SalesforceOrg, request: Request
) -> Response:
    # Form-encoded body (RFC 6749 s.4.5); parsed here so no multipart library is needed.
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
    grant = str(form.get("grant_type", ""))
    if grant == "refresh_token":
        client_id = str(form.get("client_id", ""))
        if client_id not in org.clients:
            return _oauth_error("invalid_client_id", "client identifier invalid")
        if org.clients[client_id] != str(form.get("client_secret", "")):
            return _oauth_error("invalid_client", "invalid client credentials")
        token = str(form.get("refresh_token", ""))
        if org.refresh_tokens.get(token) != client_id:
            return _oauth_error("invalid_grant", "expired access/refresh token")
        answer = _session_answer(org)
        if org.rotate_refresh_tokens:
            del org.refresh_tokens[token]
            rotated = f"5Aep{secrets.token_hex(20)}"
            org.refresh_tokens[rotated] = client_id
            answer["refresh_token"] = rotated
        return JSONResponse(answer)
    if grant == JWT_BEARER:
        problem = _jwt_problem(org, str(form.get("assertion", "")))
        if problem:
            return _oauth_error("invalid_grant", problem)
        return JSONResponse(_session_answer(org))
    return _oauth_error("unsupported_grant_type", "grant type not supported")


def _jwt_problem(  # noqa: PLR0911 - one answer per refusal reason
    org: SalesforceOrg, assertion: str
) -> str | None:
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        key = org.jwt_keys.get(str(unverified.get("iss")))
        if key is None:
            return "invalid client credentials"
        claims = jwt.decode(
            assertion,
            key,
            algorithms=["RS256"],
            audience=org.jwt_audience,
            options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp"]},
        )
    except jwt.InvalidAudienceError:
        return "audience is invalid"
    except jwt.PyJWTError:
        return "invalid assertion"
    # The connector signs with its own clock, so exp is judged against the real time.
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    real_now = datetime.now(UTC)
    if expires < real_now - timedelta(seconds=5):
        return "expired authorization code"
    if expires > real_now + JWT_MAX_LIFETIME + timedelta(seconds=10):
        return "invalid assertion"
    if claims["sub"] not in org.approved_users:
        return "user hasn't approved this consumer"
    return None


def _session_answer(org: SalesforceOrg) -> dict[str, Any]:
    token = f"00D5g000004WEST!{secrets.token_urlsafe(48)}"
    org.sessions[token] = Session(org.clock.now())
    return {
        "access_token": token,
        "instance_url": INSTANCE_URL,
        "id": f"{LOGIN_URL}/id/00D5g000004WESTEAA/0055g00000INTEGAAA",
        "token_type": "Bearer",
        "issued_at": str(int(org.clock.now().timestamp() * 1000)),
        "signature": secrets.token_urlsafe(32),
        "scope": "api",
    }


def _authorised(org: SalesforceOrg, request: Request) -> bool:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    session = org.sessions.get(token)
    if session is None:
        return False
    if org.clock.now() - session.last_used > timedelta(seconds=org.session_seconds):
        del org.sessions[token]
        return False
    session.last_used = org.clock.now()
    return True


def _injected(org: SalesforceOrg, path: str) -> Response | None:
    for fault in org.faults:
        if fault.times > 0 and fault.path_contains in path:
            fault.times -= 1
            return Response(
                json.dumps(fault.body),
                status_code=fault.status,
                media_type="application/json",
                headers=fault.headers,
            )
    return None


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    for part in options.split(","):
        name, _sep, value = part.strip().partition("=")
        if name.strip() == "batchSize" and value.strip().isdigit():
            return int(value)
    return BATCH_DEFAULT


def _data(org: SalesforceOrg, request: Request) -> Response:
    if not _authorised(org, request):
        return _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    parts = request.url.path.strip("/").split("/")
    # services / data / vXX.X / resource...
    if len(parts) < 4 or parts[:2] != ["services", "data"]:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    version, resource = parts[2], parts[3:]
    if org.api_usage() >= org.api_max:
        return _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    org.consume_api(1)
    injected = _injected(org, request.url.path)
    if injected is not None:
        return injected
    try:
        return _resource(org, request, version, resource)
    except SoqlError as exc:
        return _error(400, exc.code, exc.message)


def _resource(org: SalesforceOrg, request: Request, version: str, resource: list[str]) -> Response:
    params = request.query_params
    head = resource[0]
    if head in {"query", "queryAll"} and len(resource) == 1:
        text = params.get("q")
        if not text:
            return _error(400, "MALFORMED_QUERY", "q parameter is required")
        return JSONResponse(
            org.run_query(
                text,
                include_deleted=head == "queryAll",
                batch_size=_batch_size(request),
                version=version,
            )
        )
    if head in {"query", "queryAll"} and len(resource) == 2:
        return JSONResponse(org.query_more(resource[1], _batch_size(request), version))
    if head == "limits":
        used = org.api_usage()
        return JSONResponse(
            {"DailyApiRequests": {"Max": org.api_max, "Remaining": max(0, org.api_max - used)}}
        )
    if head == "sobjects" and len(resource) >= 3:
        return _sobject(org, request, resource[1], resource[2])
    return _error(404, "NOT_FOUND", "The requested resource does not exist")


def _sobject(org: SalesforceOrg, request: Request, name: str, action: str) -> Response:
    try:
        obj = object_def(name)
    except SoqlError:
        return _error(404, "NOT_FOUND", "The requested resource does not exist")
    if action == "describe":
        since = request.headers.get("if-modified-since")
        if since and parsedate_to_datetime(since) >= org.schema_changed.replace(microsecond=0):
            return Response(status_code=304)
        return JSONResponse(obj.describe())
    return _error(404, "NOT_FOUND", "The requested resource does not exist")
