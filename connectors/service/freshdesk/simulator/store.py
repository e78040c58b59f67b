"""In-memory companies and contacts, indexed so list, lookup and update stay cheap at 50k records.

Records are kept in the JSON shape Freshdesk returns (python-freshdesk fixtures, API docs).
Filtered id lists are cached per (query, data version), so paging through a big listing
filters once, not once per page; any change bumps the version. The filter (search) API reads a
:class:`LaggingIndex` per kind instead of the records: it sees each change ``search_lag``
seconds late ("updates may take a few minutes to be indexed", API docs "Filter Companies").
Seed data is indexed at once (it existed long before the simulated present).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.service.freshdesk.simulator.fields import (
    FieldDef,
    demo_definitions,
    validate_update,
)
from connectors.service.freshdesk.simulator.search import Accessor, Predicate
from sandbox.searchindex import LaggingIndex

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

    def __init__(self, clock: Clock = utc_now, search_lag: float = 0.0) -> None:
        self.clock = clock
        self.records: dict[str, dict[int, dict[str, Any]]] = {COMPANY: {}, CONTACT: {}}
        self.fields: dict[str, dict[str, FieldDef]] = {
            COMPANY: demo_definitions(COMPANY, 43000001001),
            CONTACT: demo_definitions(CONTACT, 43000002001),
        }
        self._ids = {COMPANY: itertools.count(43000100001), CONTACT: itertools.count(43000500001)}
        self._by_email: dict[str, set[int]] = defaultdict(set)
        self._version = 0
        self._cache: dict[tuple[Any, ...], list[int]] = {}
        self.search = {
            COMPANY: LaggingIndex(search_lag, self._seconds, _company_terms),
            CONTACT: LaggingIndex(search_lag, self._seconds, _contact_terms),
        }

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
        self._touch(kind, record)
        return record

    def set_updated_at(self, kind: str, record_id: int, moment: datetime) -> None:
        """Pretend the record last changed at ``moment`` (ties and ordering in tests)."""
        record = self.records[kind][record_id]
        record["updated_at"] = stamp(moment)
        self._touch(kind, record)

    def settle_search(self) -> None:
        """Index every change at once (seed data: it existed long before the present)."""
        for index in self.search.values():
            index.settle()

    def soft_delete_contact(self, record_id: int) -> None:
        """What ``DELETE /api/v2/contacts/{id}`` does: the contact stays, marked deleted."""
        self.apply(CONTACT, record_id, {"deleted": True})

    def delete_company(self, record_id: int) -> None:
        """Companies are deleted for good; their contacts lose the link."""
        self.records[COMPANY].pop(record_id)
        for contact in self.records[CONTACT].values():
            if contact.get("company_id") == record_id:
                contact["company_id"] = None
        self.search[COMPANY].changed(record_id, None)
        self._version += 1

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
        self._touch(kind, record)
        return record

    def _blank_custom(self, kind: str) -> dict[str, Any]:
        return {name: None for name, f in self.fields[kind].items() if not f.default}

    def _index(self, kind: str, record: Mapping[str, Any]) -> None:
        if kind == CONTACT:
            for email in _emails(record):
                self._by_email[email].add(record["id"])

    def _unindex(self, kind: str, record: Mapping[str, Any]) -> None:
        if kind == CONTACT:
            for email in _emails(record):
                self._by_email[email].discard(record["id"])

    def _touch(self, kind: str, record: Mapping[str, Any]) -> None:
        """A record changed: listings see it now, searches once the index catches up."""
        self._version += 1
        changed = _parse(record.get("updated_at"))
        search = self.search[kind]
        settled = changed is not None and (self.clock() - changed).total_seconds() >= search.lag
        live = not record.get("deleted")
        search.changed(record["id"], record if live else None, now=settled)

    def _seconds(self) -> float:
        return self.clock().timestamp()


def _emails(record: Mapping[str, Any]) -> list[str]:
    values = [record.get("email"), *(record.get("other_emails") or [])]
    return [v.strip().lower() for v in values if isinstance(v, str) and v.strip()]


def _company_terms(record: Mapping[str, Any]) -> list[str]:
    """``domain:<name>`` per domain (the filter API's common ``domain:'x'`` query)."""
    return [
        f"domain:{d.strip().lower()}" for d in record.get("domains") or () if isinstance(d, str)
    ]


def _contact_terms(record: Mapping[str, Any]) -> list[str]:
    return [f"email:{e}" for e in _emails(record)]


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _custom(name: str) -> Accessor:
    return lambda record: (record.get("custom_fields") or {}).get(name)
