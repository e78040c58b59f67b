"""The simulated HubSpot account's data: CRM objects, associations, owners, and a time index.

Deals are indexed by ``(hs_lastmodifieddate ms, -id)`` so a date-range search is a bisect, not
a scan (benchmarks push 50k deals through). Deals that share an instant sort by *descending*
id on purpose: HubSpot does not promise any order among ties, and a client that assumes id
order must fail here rather than in production.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

OBJECT_TYPES = {
    "deals": "deals", "deal": "deals", "0-3": "deals",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
}  # fmt: skip
"""Every name HubSpot accepts for the three object types, to the canonical plural."""

SINGULAR = {"deals": "deal", "companies": "company", "contacts": "contact"}
MODIFIED_PROPERTY = {
    "deals": "hs_lastmodifieddate",
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
}
"""Contacts keep their modified date in ``lastmodifieddate`` (no ``hs_`` prefix)."""

FIRST_IDS = {"deals": 20_000, "companies": 5_000, "contacts": 7_000}


def iso(moment: datetime) -> str:
    """HubSpot's timestamp form: ISO 8601, UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def millis(moment: datetime) -> int:
    """Epoch milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass
class CrmObject:
    """One deal, company or contact as the account stores it."""

    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None

    def modified_ms(self) -> int:
        """The modified instant the search index sorts by."""
        return millis(self.updated_at)

    def as_json(self, names: list[str] | None) -> dict[str, Any]:
        """The API's SimplePublicObject, with ``names`` (or every property) in ``properties``."""
        props = self.properties if names is None else {n: self.properties.get(n) for n in names}
        data: dict[str, Any] = {
            "id": self.id,
            "properties": dict(props),
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            data["archivedAt"] = iso(self.archived_at)
        return data


@dataclass
class CrmStore:
    """Objects by type and id, directed associations, owners, and the deal time index."""

    objects: dict[str, dict[str, CrmObject]] = field(
        default_factory=lambda: {kind: {} for kind in FIRST_IDS}
    )
    links: dict[tuple[str, str], dict[str, list[str]]] = field(default_factory=dict)
    primary: set[tuple[str, str]] = field(default_factory=set)
    owners: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    """Bumped on every change, so cached search results know they are stale."""
    _index: list[tuple[int, int]] = field(default_factory=list)
    _next_id: dict[str, int] = field(default_factory=lambda: dict(FIRST_IDS))

    def new_id(self, kind: str) -> str:
        """The next object id of ``kind`` (numeric strings, like HubSpot's)."""
        self._next_id[kind] += 1
        return str(self._next_id[kind])

    def put(self, kind: str, obj: CrmObject) -> None:
        """Insert or replace an object, keeping the deal index and modified property in step."""
        old = self.objects[kind].get(obj.id)
        if kind == "deals" and old is not None and old.archived_at is None:
            self._unindex(old)
        obj.properties["hs_object_id"] = obj.id
        obj.properties[MODIFIED_PROPERTY[kind]] = iso(obj.updated_at)
        self.objects[kind][obj.id] = obj
        if kind == "deals" and obj.archived_at is None:
            bisect.insort(self._index, (obj.modified_ms(), -int(obj.id)))
        self.version += 1

    def live(self, kind: str, object_id: str) -> CrmObject | None:
        """The object if it exists and is not archived."""
        obj = self.objects[kind].get(object_id)
        return obj if obj is not None and obj.archived_at is None else None

    def archive(self, kind: str, object_id: str, when: datetime) -> None:
        """Archive an object: it leaves search and the live lists, and shows in archived lists."""
        obj = self.objects[kind][object_id]
        if obj.archived_at is None and kind == "deals":
            self._unindex(obj)
        obj.archived_at = when
        self.version += 1

    def associate(self, from_kind: str, from_id: str, to_kind: str, to_id: str) -> None:
        """Link two objects both ways (HubSpot associations are readable from either side)."""
        for (a, a_id), (b, b_id) in (((from_kind, from_id), (to_kind, to_id)),
                                      ((to_kind, to_id), (from_kind, from_id))):  # fmt: skip
            targets = self.links.setdefault((a, b), {}).setdefault(a_id, [])
            if b_id not in targets:
                targets.append(b_id)
        self.version += 1

    def linked(self, from_kind: str, from_id: str, to_kind: str) -> list[str]:
        """Ids of live ``to_kind`` objects associated with one object."""
        ids = self.links.get((from_kind, to_kind), {}).get(from_id, [])
        return [i for i in ids if self.live(to_kind, i) is not None]

    def deals_between(self, low_ms: int, high_ms: int) -> list[str]:
        """Live deal ids modified in [low, high] ms, in index order (time, then id descending)."""
        start = bisect.bisect_left(self._index, (low_ms, -(10**30)))
        stop = bisect.bisect_right(self._index, (high_ms, 10**30))
        return [str(-neg) for _, neg in self._index[start:stop]]

    def _unindex(self, obj: CrmObject) -> None:
        key = (obj.modified_ms(), -int(obj.id))
        at = bisect.bisect_left(self._index, key)
        if at < len(self._index) and self._index[at] == key:
            del self._index[at]
