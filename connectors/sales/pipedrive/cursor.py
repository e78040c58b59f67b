"""The checkpoint: the newest second read completely, the deals already read in it, and the
hash key each custom field the mapping reads had.

``update_time`` has one-second resolution, so several deals often share it (FACTS.md §9.1), and
a deal written later *in that same second* may have any id. So the next run re-reads that second
(``updated_since`` is inclusive, §3.1) and skips only the deals it lists, as FACTS.md §3.4
recommends; nothing else at that second is skipped, whatever order Pipedrive gives ties in.

``keys`` remembers ``path -> hash key`` for the custom fields the mapping reads, so a renamed
field can be reported with its old and new name (the key never changes, §5.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import Cursor
from connectors.errors import PermanentError
from connectors.sales.pipedrive.payloads import parse_time, rfc3339


@dataclass(frozen=True)
class Checkpoint:
    """A decoded cursor."""

    ts: datetime
    ids: frozenset[int] = frozenset()
    keys: dict[str, str] = field(default_factory=dict)

    def already_read(self, moment: datetime, deal_id: int) -> bool:
        """True for a deal this checkpoint's run handed out already (same second, same id)."""
        return moment == self.ts and deal_id in self.ids


def encode(point: Checkpoint) -> Cursor:
    """``{"ts": "<RFC 3339>", "ids": [...], "keys": {...}}``."""
    data = {
        "ts": rfc3339(point.ts),
        "ids": sorted(point.ids),
        "keys": dict(sorted(point.keys.items())),
    }
    return Cursor(value=json.dumps(data, separators=(",", ":")))


def decode(cursor: Cursor) -> Checkpoint:
    """Read a cursor back; one this connector did not write is refused clearly."""
    try:
        data = json.loads(cursor.value)
        moment = parse_time(data["ts"])
        ids = frozenset(int(i) for i in data.get("ids") or [])
        keys = {str(k): str(v) for k, v in (data.get("keys") or {}).items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        moment = None
    if moment is None:
        raise PermanentError(
            f"stored cursor {cursor.value[:80]!r} is not a Pipedrive cursor "
            '({"ts": ..., "ids": [...]}); run the job once with --full to reset it',
            who_acts="admin",
            operation="read cursor",
        )
    return Checkpoint(ts=moment, ids=ids, keys=keys)
