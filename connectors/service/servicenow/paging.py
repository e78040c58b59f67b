"""Table API list paging: the ``Link`` header, and the identity feed's keyset cursor.

List answers carry ``Link`` with ``rel="first"|"prev"|"next"|"last"`` URLs built from
``sysparm_offset``/``sysparm_limit``; the last page has no ``next`` (FACTS.md 4.4). Because
``sysparm_limit`` is applied before ACL evaluation (4.2), a page can hold fewer rows than asked
for, or none, while more follow: only a missing ``next`` ends a listing
(:func:`connectors.paging.next_link` reads it).

Offsets skip rows when the table changes during a listing (a row updated mid-scan moves to the
end and shifts the rest, 4.6), so the identity feed pages by keyset instead and uses the
``next`` link only to step over a page the ACLs emptied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from connectors.base import Cursor

STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SYS_ID = re.compile(r"[0-9a-f]{32}")


def parse_stamp(value: object) -> datetime | None:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, FACTS.md 2.3) -> aware datetime; garbage -> None."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), STAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def stamp(moment: datetime) -> str:
    """An aware datetime as ServiceNow's UTC ``YYYY-MM-DD HH:MM:SS``."""
    return moment.astimezone(UTC).strftime(STAMP_FORMAT)


@dataclass(frozen=True)
class Position:
    """Where one table's feed stands: after ``(stamp, sys_id)``; ``sys_id`` None means after
    every row of second ``stamp``; ``stamp`` None means from the start."""

    stamp: str | None = None
    sys_id: str | None = None

    def settled(self, vendor_now: datetime, settle: int) -> Position:
        """The position to store: never inside the last ``settle`` seconds, whose rows a save
        in the same second could still join behind us (one-second resolution, FACTS.md 4.6)."""
        moment = parse_stamp(self.stamp)
        if moment is None:
            return self
        edge = vendor_now.replace(microsecond=0) - timedelta(seconds=settle)
        if moment < edge:
            return self
        return Position(stamp=stamp(edge - timedelta(seconds=1)), sys_id=None)


@dataclass(frozen=True)
class FeedCursor:
    """Every configured kind's position (JSON: ``{"account": {"t": ..., "id": ...}}``)."""

    positions: dict[str, Position]

    def at(self, kind: str) -> Position:
        """One kind's position (the start when never read)."""
        return self.positions.get(kind, Position())

    def moved(self, kind: str, position: Position) -> FeedCursor:
        """A copy with one kind moved."""
        return replace(self, positions={**self.positions, kind: position})

    def encode(self) -> Cursor:
        """The JSON text the engine stores."""
        payload = {k: {"t": p.stamp, "id": p.sys_id} for k, p in self.positions.items()}
        return Cursor.of(payload)

    @classmethod
    def decode(cls, cursor: Cursor | None) -> FeedCursor:
        """Read a stored cursor; anything unreadable means "read everything again"."""
        positions: dict[str, Position] = {}
        for kind, raw in Cursor.payload(cursor).items():
            if not isinstance(raw, dict):
                continue
            moment = parse_stamp(raw.get("t"))
            sys_id = raw.get("id")
            valid = isinstance(sys_id, str) and SYS_ID.fullmatch(sys_id) is not None
            positions[str(kind)] = Position(
                stamp=stamp(moment) if moment else None,
                sys_id=sys_id if valid and moment else None,
            )
        return cls(positions=positions)
