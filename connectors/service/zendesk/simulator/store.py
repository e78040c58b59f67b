"""In-memory organizations and users, kept ordered by ``(updated_at, id)`` for the exports.

The order index is a sorted list maintained with ``bisect`` on every change, so an export page
costs ``O(log n + page)`` even with 50,000 records. A :class:`LaggingIndex` per kind is the
search index: it sees a change ``search_lag`` seconds after it was made (a change dated further
back than that, like seed data, is searchable at once).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.service.zendesk.simulator.fields import TYPES
from sandbox.searchindex import LaggingIndex

ORGANIZATION, USER = "organization", "user"
KINDS = (ORGANIZATION, USER)
Clock = Callable[[], datetime]
Key = tuple[int, int]


def utc_now() -> datetime:
    """The simulator's default wall clock."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Zendesk's timestamp form: whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskStore:
    """Records by kind and id, their export order, and their versions."""

    def __init__(self, clock: Clock = utc_now, base_url: str = "", search_lag: float = 0.0) -> None:
        self.clock = clock
        self.base_url = base_url
        self.records: dict[str, dict[int, dict[str, Any]]] = {k: {} for k in KINDS}
        self._order: dict[str, list[Key]] = {k: [] for k in KINDS}
        self._stamp: dict[str, dict[int, int]] = {k: {} for k in KINDS}
        self._ids = itertools.count(361_898_904_439)
        self.search = {
            ORGANIZATION: LaggingIndex(search_lag, self._seconds, _organization_terms),
            USER: LaggingIndex(search_lag, self._seconds, _user_terms),
        }

    def add_organization(self, name: str, **fields: Any) -> dict[str, Any]:
        """A new organization (``domain_names``, ``external_id``, ``notes``, fields...)."""
        record_id = next(self._ids)
        record = {
            "url": f"{self.base_url}/api/v2/organizations/{record_id}.json",
            "id": record_id,
            "name": name,
            "shared_tickets": False,
            "shared_comments": False,
            "external_id": fields.pop("external_id", None),
            "created_at": None,
            "updated_at": None,
            "deleted_at": None,
            "domain_names": list(fields.pop("domain_names", ())),
            "details": fields.pop("details", None),
            "notes": fields.pop("notes", None),
            "group_id": None,
            "tags": list(fields.pop("tags", ())),
            "organization_fields": _custom(ORGANIZATION, fields.pop("organization_fields", {})),
        }
        return self._insert(ORGANIZATION, record, fields.pop("updated_at", None))

    def add_user(self, name: str, email: str | None, **fields: Any) -> dict[str, Any]:
        """A new user (``role`` end-user unless given; ``organization_id``, fields...)."""
        record_id = next(self._ids)
        record = {
            "id": record_id,
            "url": f"{self.base_url}/api/v2/users/{record_id}.json",
            "name": name,
            "email": email,
            "created_at": None,
            "updated_at": None,
            "time_zone": "UTC",
            "iana_time_zone": "Etc/UTC",
            "phone": None,
            "locale": "en-US",
            "organization_id": fields.pop("organization_id", None),
            "role": fields.pop("role", "end-user"),
            "verified": True,
            "external_id": fields.pop("external_id", None),
            "tags": [],
            "active": True,
            "suspended": False,
            "details": fields.pop("details", None),
            "notes": fields.pop("notes", None),
            "user_fields": _custom(USER, fields.pop("user_fields", {})),
        }
        return self._insert(USER, record, fields.pop("updated_at", None))

    def get(self, kind: str, record_id: int) -> dict[str, Any] | None:
        """A live record (deleted organizations and inactive users are not shown)."""
        record = self.records[kind].get(record_id)
        if record is None or record.get("deleted_at") or record.get("active") is False:
            return None
        return record

    def apply(self, kind: str, record_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge changes (custom field maps merge key by key) and bump ``updated_at``."""
        record = self.records[kind][record_id]
        custom_name = f"{kind}_fields"
        for name, value in changes.items():
            if name == custom_name and isinstance(value, dict):
                record[custom_name] = {**record[custom_name], **value}
            else:
                record[name] = value
        self.touch(kind, record_id, self.clock())
        return record

    def delete(self, kind: str, record_id: int) -> None:
        """Delete: organizations get ``deleted_at``, users become inactive (both still export)."""
        record = self.records[kind][record_id]
        now = self.clock()
        if kind == USER:
            record["active"] = False
        record["deleted_at"] = iso(now)
        self.touch(kind, record_id, now)

    def touch(self, kind: str, record_id: int, moment: datetime) -> None:
        """Set ``updated_at`` and move the record in the export order."""
        stamp = int(moment.timestamp())
        old = self._stamp[kind].get(record_id)
        order = self._order[kind]
        if old is not None:
            index = bisect.bisect_left(order, (old, record_id))
            if index < len(order) and order[index] == (old, record_id):
                del order[index]
        bisect.insort(order, (stamp, record_id))
        self._stamp[kind][record_id] = stamp
        record = self.records[kind][record_id]
        record["updated_at"] = iso(moment)
        search = self.search[kind]
        settled = (self.clock() - moment).total_seconds() >= search.lag
        search.changed(record_id, record if self.get(kind, record_id) else None, now=settled)

    def since(self, kind: str, start: Key) -> Iterable[dict[str, Any]]:
        """Records at or after ``(updated_at, id)`` in export order."""
        order = self._order[kind]
        for index in range(bisect.bisect_left(order, start), len(order)):
            yield self.records[kind][order[index][1]]

    def stamp(self, kind: str, record_id: int) -> int:
        """A record's ``updated_at`` as unix seconds."""
        return self._stamp[kind][record_id]

    def _seconds(self) -> float:
        return self.clock().timestamp()

    def _insert(self, kind: str, record: dict[str, Any], moment: Any) -> dict[str, Any]:
        when = moment if isinstance(moment, datetime) else self.clock()
        record["created_at"] = iso(when)
        self.records[kind][record["id"]] = record
        self.touch(kind, record["id"], when)
        return record


def _organization_terms(record: Mapping[str, Any]) -> list[str]:
    """``domain:<name>`` per domain name (``type:organization domain:x`` searches)."""
    return [f"domain:{d.strip().lower()}" for d in record.get("domain_names") or () if d]


def _user_terms(record: Mapping[str, Any]) -> list[str]:
    """``email:<address>`` (``users/search?query=email:x``)."""
    email = record.get("email")
    return [f"email:{email.strip().lower()}"] if isinstance(email, str) and email.strip() else []


def _custom(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    stored: dict[str, Any] = {key: None for key, *_ in TYPES[kind]}
    stored.update(values)
    return stored
