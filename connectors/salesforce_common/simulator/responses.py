"""The REST API's JSON answers as both Salesforce simulators send them."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer the way Salesforce sends it."""
    return Response(
        json.dumps(body), status, headers=headers, media_type="application/json;charset=UTF-8"
    )


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """Salesforce's top-level error body: a JSON array of ``{message, errorCode}``."""
    return json_response(status, [{"message": message, "errorCode": code}], headers)
