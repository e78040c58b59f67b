"""The Batch API's envelope: several REST requests in one ``POST /api/now/v1/batch``.

Request (FACTS.md 8.1): ``{"batch_request_id", "rest_requests": [{"id", "method", "url",
"headers": [{"name", "value"}], "body": <Base64>, "exclude_response_headers": true}]}``; ``url``
is the path including ``/api/...`` and its query; each item needs ``Content-Type`` and
``Accept`` like a direct call (7.5).

Response (8.2): ``{"batch_request_id", "serviced_requests": [{"id", "status_code",
"status_text", "body": <Base64>, "execution_time", "error_message"?}], "unserviced_requests":
["<id>", ...]}``. Items keep their own status codes; the ids in ``unserviced_requests`` were
not run (the 30-second quota or a size limit stopped the batch, 8.3) and are sent again in a
new batch.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from connectors.jsonbody import decode_json

BATCH_PATH = "/api/now/v1/batch"
"""The Batch API exists only under a versioned URL (FACTS.md 8.1)."""

JSON_HEADERS = (
    {"name": "Content-Type", "value": "application/json"},
    {"name": "Accept", "value": "application/json"},
)


@dataclass(frozen=True)
class BatchItem:
    """One request inside a batch."""

    id: str
    method: str
    url: str
    body: Any = None


@dataclass(frozen=True)
class ItemAnswer:
    """How the instance answered one serviced item."""

    id: str
    status: int
    body: Any
    """The decoded JSON body (None when absent or not JSON)."""
    error: str | None
    execution_ms: float | None


@dataclass(frozen=True)
class BatchAnswer:
    """Serviced items by id, and the ids left unserviced (or missing from the answer)."""

    served: dict[str, ItemAnswer]
    unserviced: list[str]


def envelope(batch_id: str, items: list[BatchItem]) -> dict[str, Any]:
    """The JSON body of one batch call."""
    requests = []
    for item in items:
        request: dict[str, Any] = {
            "id": item.id,
            "method": item.method,
            "url": item.url,
            "headers": [dict(h) for h in JSON_HEADERS],
            "exclude_response_headers": True,
        }
        if item.body is not None:
            raw = json.dumps(item.body, ensure_ascii=False).encode()
            request["body"] = base64.b64encode(raw).decode("ascii")
        requests.append(request)
    return {"batch_request_id": batch_id, "rest_requests": requests}


def parse(body: Any, sent: list[str]) -> BatchAnswer:
    """Read a batch answer; an id the answer does not mention at all counts as unserviced
    (it was not run as far as anyone can tell, and a PATCH is safe to send again)."""
    served: dict[str, ItemAnswer] = {}
    rows = body.get("serviced_requests") if isinstance(body, dict) else None
    for row in rows if isinstance(rows, list) else []:
        if not isinstance(row, dict) or str(row.get("id")) not in sent:
            continue
        served[str(row["id"])] = ItemAnswer(
            id=str(row["id"]),
            status=_status(row.get("status_code")),
            body=_decoded(row.get("body")),
            error=_text(row.get("error_message")),
            execution_ms=_number(row.get("execution_time")),
        )
    # Ids in ``unserviced_requests`` and ids the answer forgot are treated alike.
    return BatchAnswer(served=served, unserviced=[i for i in sent if i not in served])


def _decoded(raw: Any) -> Any:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        # Each inner answer is a vendor body like any other: decoded as the client decodes.
        return decode_json(base64.b64decode(raw, validate=False))
    except (binascii.Error, ValueError):
        return None


def _status(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _text(raw: Any) -> str | None:
    return str(raw) if raw not in (None, "") else None
