"""``GET /crm/v8/{module}`` (list and ``ids``) and ``GET /crm/v8/{module}/deleted`` (FACTS.md §3,
§5, §7).

List: ``fields`` mandatory without ``ids`` (REQUIRED_PARAM_MISSING), at most 50 (LIMIT_EXCEEDED);
API names the module does not have are left out of the records (the harder of the possible
answers, as FACTS.md §3.1 models it); ``per_page`` at most 200; ``sort_by`` id (default),
Created_Time or Modified_Time, ``sort_order`` desc by default; ties on a time are listed in the
order the records were last written (undocumented, §3.5: deliberately not by id).
``If-Modified-Since`` keeps records modified strictly after it (the stricter reading, §3.5);
nothing left is 304, nothing at all 204. ``page`` reaches only the first 2,000 records
(DISCRETE_PAGINATION_LIMIT_EXCEEDED); ``page_token`` from ``next_page_token`` goes on, as a
position in the live result (positions shift when records change: the weaker case, §3.2),
bound to the other parameters (TOKEN_BOUND_DATA_MISMATCH), valid 24 hours (EXPIRED_VALUE),
unknown (INVALID_DATA) and capped at 100,000 (PAGINATION_LIMIT_EXCEEDED); ``page`` with
``page_token`` is AMBIGUITY_DURING_PROCESSING. ``ids`` returns those records (100 at most,
unverified), deleted ones left out.

Deleted: ``type`` all/recycle/permanent, newest first (unverified), 200 a page,
``If-Modified-Since`` on ``deleted_time``; 204 when none; purged entries without names (the
§5.2 sample's nulls); the 2,000-record ``page`` cap applies (unverified, §5.3).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.sales.zoho.simulator.org import Org, Record
from connectors.sales.zoho.simulator.render import list_value

PER_PAGE_MAX = 200
DISCRETE_CAP = 2000
TOKEN_CAP = 100_000
MAX_FIELDS = 50
MAX_IDS = 100
TOKEN_LIFETIME = timedelta(hours=24)
SORTABLE = ("id", "Created_Time", "Modified_Time")


class ApiError(Exception):
    """An error answer: HTTP status and Zoho's ``{code, details, message, status}``."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "details": self.details,
            "message": self.message,
            "status": "error",
        }


@dataclass(frozen=True)
class Answer:
    """A success: status (200, 204, 304) and body (None for the empty ones)."""

    status: int
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Token:
    signature: tuple[Any, ...]
    position: int
    expires: datetime


class PageTokens:
    """Issued page tokens: a position in a query, bound to its parameters."""

    def __init__(self) -> None:
        self.issued: dict[str, _Token] = {}

    def issue(
        self, signature: tuple[Any, ...], position: int, now: datetime
    ) -> tuple[str, datetime]:
        """A new token for ``position``; returns it and when it expires."""
        value = secrets.token_hex(12)
        self.issued[value] = _Token(signature, position, now + TOKEN_LIFETIME)
        return value, now + TOKEN_LIFETIME

    def use(self, value: str, signature: tuple[Any, ...], now: datetime) -> int:
        token = self.issued.get(value)
        if token is None:
            raise ApiError(
                400,
                "INVALID_DATA",
                "The token given seems to be invalid",
                {"param_name": "page_token"},
            )
        if token.expires <= now:
            raise ApiError(
                400, "EXPIRED_VALUE", "the page token has expired", {"param_name": "page_token"}
            )
        if token.signature != signature:
            raise ApiError(
                400,
                "TOKEN_BOUND_DATA_MISMATCH",
                "the page token does not belong to this request",
                {"param_name": "page_token"},
            )
        return token.position

    def expire_all(self, now: datetime) -> None:
        for value, token in list(self.issued.items()):
            self.issued[value] = _Token(token.signature, token.position, now)


def list_records(
    org: Org,
    tokens: PageTokens,
    module: str,
    params: Mapping[str, str],
    since: datetime | None,
) -> Answer:
    """Answer ``GET /{module}`` (see the module docstring)."""
    if module not in org.fields:
        raise ApiError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"module": module}
        )
    fields = [f for f in (params.get("fields") or "").split(",") if f]
    if len(fields) > MAX_FIELDS:
        raise ApiError(
            400,
            "LIMIT_EXCEEDED",
            "fields exceeds the limit",
            {"param_name": "fields", "limit": MAX_FIELDS},
        )
    if params.get("ids"):
        return _by_ids(org, module, params["ids"].split(","), fields)
    if not fields:
        raise ApiError(
            400,
            "REQUIRED_PARAM_MISSING",
            "One of the expected parameter is missing",
            {"param_name": "fields"},
        )
    if "page" in params and "page_token" in params:
        raise ApiError(
            400,
            "AMBIGUITY_DURING_PROCESSING",
            "page and page_token cannot be given together",
            {"ambiguity_due_to": ["page", "page_token"]},
        )
    sort_by = params.get("sort_by", "id")
    sort_order = params.get("sort_order", "desc")
    if sort_by not in SORTABLE or sort_order not in ("asc", "desc"):
        raise ApiError(400, "INVALID_DATA", "invalid sort parameters", {"param_name": "sort_by"})
    per_page = _number(params.get("per_page"), PER_PAGE_MAX, "per_page")
    per_page = max(1, min(per_page, PER_PAGE_MAX))
    matched = [r for r in org.live(module) if since is None or r.modified > since]
    matched.sort(key=lambda r: _sort_key(r, sort_by), reverse=sort_order == "desc")
    signature = (module, tuple(fields), sort_by, sort_order, per_page, since)
    now = org.now()
    if "page_token" in params:
        position = tokens.use(params["page_token"], signature, now)
        page = position // per_page + 1
        if position >= TOKEN_CAP:
            raise ApiError(
                400,
                "PAGINATION_LIMIT_EXCEEDED",
                "no more than 100000 records can be fetched",
                {"limit": TOKEN_CAP},
            )
    else:
        page = _number(params.get("page"), 1, "page")
        position = (page - 1) * per_page
        if position >= DISCRETE_CAP:
            raise ApiError(
                400,
                "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                "You can only get the first 2000 records without using page_token param.",
                {"limit": DISCRETE_CAP},
            )
    window = matched[position : position + per_page]
    if not window:
        return Answer(304 if since is not None and not matched else 204)
    more = len(matched) > position + per_page
    token, expiry = tokens.issue(signature, position + per_page, now) if more else (None, None)
    return Answer(
        200,
        {
            "data": [_render(org, module, r, fields) for r in window],
            "info": {
                "call": False,
                "per_page": per_page,
                "next_page_token": token,
                "count": len(window),
                "sort_by": sort_by,
                "page": page,
                "previous_page_token": None,
                "page_token_expiry": org.render_time(expiry) if expiry else None,
                "sort_order": sort_order,
                "email": False,
                "more_records": more,
            },
        },
    )


def _by_ids(org: Org, module: str, ids: list[str], fields: list[str]) -> Answer:
    if len(ids) > MAX_IDS:
        raise ApiError(
            400, "LIMIT_EXCEEDED", "too many ids", {"param_name": "ids", "limit": MAX_IDS}
        )
    names = fields or [f["api_name"] for f in org.fields[module]]
    found = [r for i in dict.fromkeys(ids) if (r := org.get(module, i.strip())) is not None]
    if not found:
        return Answer(204)
    data = [_render(org, module, r, names) for r in found]
    info = {"per_page": len(data), "count": len(data), "page": 1, "more_records": False}
    return Answer(200, {"data": data, "info": info})


def list_deleted(
    org: Org, module: str, params: Mapping[str, str], since: datetime | None
) -> Answer:
    """Answer ``GET /{module}/deleted``."""
    if module not in org.fields:
        raise ApiError(
            400, "INVALID_MODULE", "the module name given seems to be invalid", {"module": module}
        )
    kind = params.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        raise ApiError(400, "INVALID_DATA", "invalid type", {"param_name": "type"})
    per_page = max(1, min(_number(params.get("per_page"), PER_PAGE_MAX, "per_page"), PER_PAGE_MAX))
    page = _number(params.get("page"), 1, "page")
    position = (page - 1) * per_page
    if position >= DISCRETE_CAP:
        raise ApiError(
            400,
            "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
            "You can only get the first 2000 records without using page_token param.",
            {"limit": DISCRETE_CAP},
        )
    entries = [
        e for e in org.listed_deletions(module, kind) if since is None or e.deleted_time > since
    ]
    entries.sort(key=lambda e: (e.deleted_time, int(e.id)), reverse=True)
    window = entries[position : position + per_page]
    if not window:
        return Answer(204)
    data = []
    for entry in window:
        user = org.users.get(entry.deleted_by or "")
        by = {"name": user.full_name, "id": user.id} if user else None
        kept = entry.kind == "recycle"  # a purged record keeps only its id and time (§5.2 sample)
        data.append(
            {
                "deleted_by": by if kept else None,
                "id": entry.id,
                "display_name": entry.display_name if kept else None,
                "type": entry.kind,
                "created_by": by if kept else None,
                "deleted_time": org.render_time(entry.deleted_time),
            }
        )
    more = len(entries) > position + per_page
    info = {"per_page": per_page, "count": len(data), "page": page, "more_records": more}
    return Answer(200, {"data": data, "info": info})


def _render(org: Org, module: str, record: Record, fields: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record.id}
    for name in fields:
        if name == "id" or (org.field(module, name) is None):
            continue  # an API name the module does not have is left out (§3.1, as modelled)
        out[name] = list_value(org, module, name, record)
    return out


def _sort_key(record: Record, sort_by: str) -> tuple[Any, ...]:
    if sort_by == "Modified_Time":
        return (record.modified, record.written)
    if sort_by == "Created_Time":
        return (record.created, record.written)
    return (int(record.id),)


def _number(raw: str | None, default: int, name: str) -> int:
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(400, "INVALID_DATA", f"invalid {name}", {"param_name": name})
    return int(raw)
