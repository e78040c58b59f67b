"""The checkpoint: the newest second read completely, the deal versions already read in it, and
the hash key each custom field the mapping reads had.

``update_time`` has one-second resolution, so several deals often share it (FACTS.md §9.1), and
a deal written later *in that same second* may have any id, or be one already read there and
edited again. So the next run re-reads that second (``updated_since`` is inclusive, §3.1) and
skips only the versions it lists: each deal id read in that second with a digest of the record
as Pipedrive sent it (FACTS.md §3.4 recommends skipping the ``(id, update_time)`` pairs seen;
the digest also catches a second edit within the same second). Nothing else at that second is
skipped, whatever order Pipedrive gives ties in.

``keys`` remembers ``path -> hash key`` for the custom fields the mapping reads, so a renamed
field can be reported with its old and new name (the key never changes, §5.3). ``polled`` is
when the run that wrote the checkpoint started: deleted deals stay listed for 30 days only
(§4.1), so a poll more than 30 days after the previous one may have missed deletions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import Cursor
from connectors.errors import PermanentError
from connectors.sales.pipedrive.payloads import parse_time, rfc3339


def digest(raw: dict[str, Any]) -> str:
    """A short fingerprint of one deal version as Pipedrive sent it."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """A decoded cursor."""

    ts: datetime
    seen: dict[int, str] = field(default_factory=dict)
    """Deal id -> digest of the version read, for the deals read in second ``ts``."""
    keys: dict[str, str] = field(default_factory=dict)
    polled: datetime | None = None
    """When the run that wrote this checkpoint started (our clock)."""

    def already_read(self, moment: datetime, deal_id: int, version: str) -> bool:
        """True for a deal version this checkpoint's run handed out already."""
        return moment == self.ts and self.seen.get(deal_id) == version


def encode(point: Checkpoint) -> Cursor:
    """``{"ts": "<RFC 3339>", "seen": {"<id>": "<digest>"}, "keys": {...}, "polled": ...}``."""
    data: dict[str, object] = {
        "ts": rfc3339(point.ts),
        "seen": {str(k): v for k, v in sorted(point.seen.items())},
        "keys": dict(sorted(point.keys.items())),
    }
    if point.polled is not None:
        data["polled"] = rfc3339(point.polled)
    return Cursor(value=json.dumps(data, separators=(",", ":")))


def decode(cursor: Cursor) -> Checkpoint:
    """Read a cursor back; one this connector did not write is refused clearly."""
    try:
        data = json.loads(cursor.value)
        moment = parse_time(data["ts"])
        seen = {int(k): str(v) for k, v in (data.get("seen") or {}).items()}
        keys = {str(k): str(v) for k, v in (data.get("keys") or {}).items()}
        polled = parse_time(data.get("polled"))
    except (ValueError, TypeError, KeyError, AttributeError):
        moment = None
    if moment is None:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a Pipedrive cursor "
            '({"ts": ..., "seen": {...}}); run the job once with --full to reset it',
            who_acts="admin",
            operation="read cursor",
        )
    return Checkpoint(ts=moment, seen=seen, keys=keys, polled=polled)
