"""HubSpot's response bodies and headers, as the simulator sends them.

Shapes: the "Error" schema of HubSpot's spec collection (``status``, ``message``,
``correlationId``, ``category``, ``subCategory``, ``context``, ``errors``, ``links``); the 429
body with ``errorType: RATE_LIMIT`` and ``policyName`` (sales-apis.md section 2); the OAuth
token endpoint's ``{"status": "BAD_REFRESH_TOKEN", "message": ...}``.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.responses import JSONResponse

RATE_LIMIT_MESSAGES = {
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "SECONDLY": "You have reached your secondly limit.",
    "DAILY": "You have reached your daily limit.",
}
AUTH_MISSING = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


def correlation_id() -> str:
    """A fresh request id, as HubSpot puts in every error (and in a response header)."""
    return str(uuid.uuid4())


def error(
    status: int,
    message: str,
    category: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An API error answer in HubSpot's standard shape."""
    body = {"status": "error", "message": message, "correlationId": correlation_id()}
    body |= {"category": category, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


def validation(message: str, **extra: Any) -> JSONResponse:
    """HTTP 400 VALIDATION_ERROR."""
    return error(400, message, "VALIDATION_ERROR", **extra)


def rate_limited(policy: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """HTTP 429 with the rate-limit body for ``policy``."""
    body = {
        "status": "error",
        "message": RATE_LIMIT_MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": correlation_id(),
    }
    return JSONResponse(body, status_code=429, headers=headers)


def rate_limit_body(policy: str) -> dict[str, Any]:
    """The 429 body alone, for injected faults."""
    return {
        "status": "error",
        "message": RATE_LIMIT_MESSAGES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": "3b5a7c1e-8f2d-4a61-9c0e-5d7b2f9a1c44",
        "policyName": policy,
    }


def auth_body(
    message: str = AUTH_MISSING, category: str = "INVALID_AUTHENTICATION"
) -> dict[str, Any]:
    """The 401 body alone, for injected faults."""
    return {
        "status": "error",
        "message": message,
        "correlationId": "9d1f4e0a-2b7c-4c3e-8a51-6f0e2d9b7a13",
        "category": category,
    }


def oauth_error(status: str, message: str) -> JSONResponse:
    """The token endpoint's refusal (HTTP 400, its own ``status`` code, no ``category``)."""
    body = {"status": status, "message": message, "correlationId": correlation_id()}
    return JSONResponse(body | {"requestId": correlation_id()}, status_code=400)


def not_found_in_batch(kind: str, ids: list[str]) -> dict[str, Any]:
    """The 207 error entry for batch-read ids that do not exist (or are archived)."""
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": (
            f"Could not get some {kind.upper()} objects, they may be deleted or not exist. "
            "Check that ids are valid."
        ),
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def no_associations(from_kind: str, from_id: str, to_kind: str) -> dict[str, Any]:
    """The 207 error entry for an object with no associations of the asked type."""
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No {to_kind} is associated with {from_kind} {from_id}.",
        "context": {
            "fromObjectId": [from_id],
            "fromObjectType": [from_kind],
            "toObjectType": [to_kind],
        },
        "errors": [],
        "links": {},
    }
