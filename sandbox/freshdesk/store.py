"""In-memory companies and contacts, indexed so list, lookup and update stay cheap at 50k records.

Records are kept in the JSON shape Freshdesk returns (python-freshdesk fixtures, API docs).
Filtered id lists are cached per (query, data version), so paging through a big listing
filters once, not once per page; any change bumps the version.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from sandbox.freshdesk.fields import FieldDef, demo_definitions, validate_update
from sandbox.freshdesk.search import Accessor, Predicate

Clock = Callable[[], datetime]
COMPANY, CONTACT = "company", "contact"


def stamp(moment: datetime) -> str:
    """Freshdesk's timestamp form: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now() -> datetime:
    """The default simulator clock."""
    return datetime.now(UTC)


class FreshdeskStore:
    """Companies, contacts, their field definitions and lookup indexes."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self.records: dict[str, dict[int, dict[str, Any]]] = {COMPANY: {}, CONTACT: {}}
        self.fields: dict[str, dict[str, FieldDef]] = {
            COMPANY: demo_definitions(COMPANY, 43000001001),
            CONTACT: demo_definitions(CONTACT, 43000002001),
        }
        self._ids = {COMPANY: itertools.count(43000100001), CONTACT: itertools.count(43000500001)}
        self._by_email: dict[str, set[int]] = defaultdict(set)
        self._by_domain: dict[str, set[int]] = defaultdict(set)
        self._version = 0
        self._cache: dict[tuple[Any, ...], list[int]] = {}

    def add_company(
        self, name: str, *, domains: tuple[str, ...] = (), **extra: Any
    ) -> dict[str, Any]:
        """Create a company (no validation: this is the seed and test helper path)."""
        now = stamp(self.clock())
        record: dict[str, Any] = {
            "id": next(self._ids[COMPANY]),
            "name": name,
            "description": None,
            "note": None,
            "domains": list(domains),
            "custom_fields": {},
            "health_score": None,
            "account_tier": None,
            "renewal_date": None,
            "industry": None,
            "created_at": now,
            "updated_at": now,
        }
        return self._insert(COMPANY, record, extra)

    def add_contact(self, name: str, email: str | None, **extra: Any) -> dict[str, Any]:
        """Create a contact (no validation: seed and test helper path)."""
        now = stamp(self.clock())
        record: dict[str, Any] = {
            "active": True,
            "address": None,
            "company_id": None,
            "description": None,
            "email": email,
            "id": next(self._ids[CONTACT]),
            "job_title": None,
            "language": "en",
            "mobile": None,
            "name": name,
            "phone": None,
            "time_zone": "Eastern Time (US & Canada)",
            "twitter_id": None,
            "other_emails": [],
            "unique_external_id": None,
            "custom_fields": {},
            "deleted": False,
            "view_all_tickets": False,
            "created_at": now,
            "updated_at": now,
        }
        return self._insert(CONTACT, record, extra)

    def get(self, kind: str, record_id: int) -> dict[str, Any] | None:
        """One record as stored (soft-deleted contacts included, as Freshdesk shows them)."""
        return self.records[kind].get(record_id)

    def update(
        self, kind: str, record_id: int, body: Any
    ) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        """Validate and apply a PUT body: (record, []) or (None, errors); missing -> (None, [])."""
        record = self.records[kind].get(record_id)
        if record is None:
            return None, []
        problems = validate_update(kind, body, self.fields[kind])
        if problems:
            return None, problems
        self.apply(kind, record_id, body)
        return record, []

    def apply(self, kind: str, record_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change fields (``custom_fields`` merged key by key) and stamp ``updated_at``."""
        record = self.records[kind][record_id]
        self._unindex(kind, record)
        for key, value in changes.items():
            if key == "custom_fields":
                record["custom_fields"] = {**(record.get("custom_fields") or {}), **value}
            else:
                record[key] = value
        record["updated_at"] = stamp(self.clock())
        self._index(kind, record)
        self._touch()
        return record

    def set_updated_at(self, kind: str, record_id: int, moment: datetime) -> None:
        """Pretend the record last changed at ``moment`` (ties and ordering in tests)."""
        self.records[kind][record_id]["updated_at"] = stamp(moment)
        self._touch()

    def soft_delete_contact(self, record_id: int) -> None:
        """What ``DELETE /api/v2/contacts/{id}`` does: the contact stays, marked deleted."""
        self.apply(CONTACT, record_id, {"deleted": True})

    def delete_company(self, record_id: int) -> None:
        """Companies are deleted for good; their contacts lose the link."""
        record = self.records[COMPANY].pop(record_id)
        self._unindex(COMPANY, record)
        for contact in self.records[CONTACT].values():
            if contact.get("company_id") == record_id:
                contact["company_id"] = None
        self._touch()

    def ids(self, kind: str, key: tuple[Any, ...], keep: Predicate) -> list[int]:
        """Ids (ascending) of records ``keep`` accepts, cached until the data changes."""
        cache_key = (kind, self._version, *key)
        found = self._cache.get(cache_key)
        if found is None:
            if len(self._cache) > 64:
                self._cache.clear()
            found = [i for i, r in self.records[kind].items() if keep(r)]
            self._cache[cache_key] = found
        return found

    def contacts_with_email(self, email: str) -> list[int]:
        """Contacts whose primary or other email is ``email`` (index lookup)."""
        return sorted(self._by_email.get(email.strip().lower(), ()))

    def companies_with_domain(self, domain: str) -> list[int]:
        """Companies listing ``domain`` (index lookup)."""
        return sorted(self._by_domain.get(domain.strip().lower(), ()))

    def accessors(self, kind: str) -> dict[str, Accessor]:
        """Filter-query fields: built-ins plus every custom field of ``kind``."""
        common: dict[str, Accessor] = {
            "created_at": lambda r: r.get("created_at"),
            "updated_at": lambda r: r.get("updated_at"),
        }
        if kind == COMPANY:
            common |= {"domain": lambda r: r.get("domains") or [], "name": lambda r: r.get("name")}
        else:
            common |= {
                "email": lambda r: [r.get("email"), *(r.get("other_emails") or [])],
                "company_id": lambda r: r.get("company_id"),
                "active": lambda r: r.get("active"),
            }
        for name, field in self.fields[kind].items():
            if not field.default:
                common[name] = _custom(name)
        return common

    def _insert(
        self, kind: str, record: dict[str, Any], extra: Mapping[str, Any]
    ) -> dict[str, Any]:
        custom = extra.get("custom_fields") or {}
        record.update({k: v for k, v in extra.items() if k != "custom_fields"})
        record["custom_fields"] = self._blank_custom(kind) | dict(custom)
        self.records[kind][record["id"]] = record
        self._index(kind, record)
        self._touch()
        return record

    def _blank_custom(self, kind: str) -> dict[str, Any]:
        return {name: None for name, f in self.fields[kind].items() if not f.default}

    def _index(self, kind: str, record: Mapping[str, Any]) -> None:
        for key, index in self._keys(kind, record):
            index[key].add(record["id"])

    def _unindex(self, kind: str, record: Mapping[str, Any]) -> None:
        for key, index in self._keys(kind, record):
            index[key].discard(record["id"])

    def _keys(self, kind: str, record: Mapping[str, Any]) -> list[tuple[str, dict[str, set[int]]]]:
        if kind == COMPANY:
            values = record.get("domains") or []
            index = self._by_domain
        else:
            values = [record.get("email"), *(record.get("other_emails") or [])]
            index = self._by_email
        return [(v.strip().lower(), index) for v in values if isinstance(v, str) and v.strip()]

    def _touch(self) -> None:
        self._version += 1


def _custom(name: str) -> Accessor:
    return lambda record: (record.get("custom_fields") or {}).get(name)
