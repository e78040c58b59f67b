"""Where a read stands, as the JSON text the engine stores after every committed page.

``{"mode": "delta", "link": <@odata.deltaLink>}``
    Change tracking is set up: the next run GETs the delta link.
``{"mode": "load", "link": <@odata.deltaLink>, "ts": <modifiedon>}``
    The first full read is under way: the delta link is already taken, and the deals are read
    ordered by ``modifiedon``; a resumed run goes on at ``modifiedon ge ts`` (ties are read
    again rather than skipped; the engine drops unchanged deals by fingerprint).
``{"mode": "modifiedon", "ts": <modifiedon>}``
    Polling by change time (change tracking off): ``modifiedon ge ts - overlap``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from connectors.base import Cursor
from connectors.errors import PermanentError
from connectors.sales.dynamics.odata import datetime_literal
from connectors.sales.dynamics.payloads import parse_modifiedon

Mode = Literal["delta", "load", "modifiedon"]
MODES: tuple[Mode, ...] = ("delta", "load", "modifiedon")


@dataclass(frozen=True)
class Position:
    """A decoded cursor."""

    mode: Mode
    link: str | None = None
    ts: datetime | None = None

    def cursor(self) -> Cursor:
        """The stored form (compact, stable key order)."""
        data: dict[str, str] = {"mode": self.mode}
        if self.link is not None:
            data["link"] = self.link
        if self.ts is not None:
            data["ts"] = datetime_literal(self.ts)
        return Cursor(value=json.dumps(data, sort_keys=True, separators=(",", ":")))


def decode(cursor: Cursor) -> Position:
    """The position a stored cursor names; a cursor this connector did not write is refused."""
    try:
        data = json.loads(cursor.value)
    except ValueError:
        data = None
    position = _position(data) if isinstance(data, dict) else None
    if position is None:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a Dynamics cursor; run the job once "
            "with --full to start again",
            who_acts="admin",
            operation="read cursor",
        )
    return position


def _position(data: dict[str, object]) -> Position | None:
    mode = data.get("mode")
    link = data.get("link")
    ts = parse_modifiedon(data.get("ts")) if "ts" in data else None
    if mode == "delta" and isinstance(link, str) and link:
        return Position("delta", link=link)
    if mode == "load" and isinstance(link, str) and link:
        return Position("load", link=link, ts=ts)
    if mode == "modifiedon" and ts is not None:
        return Position("modifiedon", ts=ts)
    return None
