"""Pipedrive's answer bodies: the success envelope and the error shapes (FACTS.md §8, §2, §7)."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse, Response

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
OVER_LIMIT = "Request over limit"
"""The 429 message (PD-OAUTHCODES: "API requests limit reached for a company")."""

CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html><head><title>Attention Required! | Cloudflare</title></head>"
    "<body><h1>Sorry, you have been blocked</h1></body></html>"
)
"""FACTS.md §7.6: integrations that keep going after 429s get 403 with an HTML page."""


def ok(data: Any, *, next_cursor: str | None = None, paged: bool = True) -> JSONResponse:
    """``{"success": true, "data": ..., "additional_data": {"next_cursor": ...}}``."""
    body: dict[str, Any] = {"success": True, "data": data}
    if paged:
        body["additional_data"] = {"next_cursor": next_cursor}
    return JSONResponse(body)


def v1_page(data: list[Any], start: int, limit: int, total: int) -> JSONResponse:
    """A v1 list page: ``additional_data.pagination`` with ``next_start`` only when more items
    exist (FACTS.md §3.7)."""
    pagination: dict[str, Any] = {
        "start": start,
        "limit": limit,
        "more_items_in_collection": start + limit < total,
    }
    if start + limit < total:
        pagination["next_start"] = start + limit
    return JSONResponse(
        {"success": True, "data": data, "additional_data": {"pagination": pagination}}
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The error envelope of every API error (FACTS.md §8.1)."""
    body = {
        "success": False,
        "error": message,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def unauthorized() -> JSONResponse:
    """An invalid or missing API token (the v1 spec's example; FACTS.md §2.4)."""
    body = {"success": False, "error": "unauthorized access", "errorCode": 401}
    return JSONResponse(body, status_code=401)


def over_limit(headers: dict[str, str]) -> JSONResponse:
    """429 for either limit (FACTS.md §7.5; fields beyond success/error are unverified)."""
    body = {
        "success": False,
        "error": OVER_LIMIT,
        "errorCode": 429,
        "error_info": ERROR_INFO,
        "data": None,
        "additional_data": None,
    }
    return JSONResponse(body, status_code=429, headers=headers)


def blocked() -> Response:
    """Cloudflare's block page."""
    return Response(CLOUDFLARE_PAGE, status_code=403, media_type="text/html")


def oauth_error(message: str) -> JSONResponse:
    """400 from ``/oauth/token`` with a documented message (body shape unverified, §2.3)."""
    return JSONResponse({"success": False, "error": message}, status_code=400)
