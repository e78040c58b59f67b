"""Reading what a vendor answered: JSON or text bodies, values and numeric headers, safely.

Every vendor's error and limit parsing starts from these; none of them raises on a body that is
not what was hoped for (an error path must not fail while describing an error).
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.jsonbody import decode_json
from connectors.redact import redact


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when it is not JSON (or was not read).

    Decoded as every other vendor answer is (``decode_json``): an error body's texts reach
    error messages and the state store, so a lone surrogate escape in them must read as
    U+FFFD here too, not stop the run where the message is stored."""
    try:
        return decode_json(response.content)
    except (ValueError, httpx.ResponseNotRead):
        return None


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object in the body, or {} for HTML, text or a JSON non-object."""
    body = json_body(response)
    return body if isinstance(body, dict) else {}


def text_body(response: httpx.Response) -> str:
    """The body as text ("" when it was not read or is not text)."""
    try:
        return response.text
    except (httpx.ResponseNotRead, UnicodeDecodeError):
        return ""


def short_text(response: httpx.Response, fallback: str, limit: int = 300) -> str:
    """A non-JSON body as one short, redacted line (``fallback`` when it is empty)."""
    text = " ".join(text_body(response).split())[:limit]
    return redact(text or fallback)


def text_or_none(value: Any) -> str | None:
    """A body value as text; None for a missing or empty one."""
    return str(value) if value not in (None, "") else None


def header_int(raw: str | None) -> int | None:
    """A numeric header (``"60"``, ``"59.0"``, the first of ``"60, 60;w=60"``) or None."""
    if raw is None:
        return None
    try:
        return int(float(raw.split(",")[0].strip()))
    except (ValueError, OverflowError):  # not a number; inf (or digits past a float's range)
        return None
