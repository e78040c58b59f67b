"""In-memory companies, contacts, notes, data attributes and tickets, in Intercom's JSON shapes.

Shapes follow the 2.15 description's examples (``company``, ``contact``, ``note``, ``ticket``;
shared/vendor-apis/fixtures/intercom). Timestamps are Unix seconds from the simulator's wall
clock. Ids are 24 hexadecimal digits, as Intercom's are.

Modelled (FACTS.md):

* §4.2: ``create_or_update_company`` creates a company for an unknown ``company_id``;
* §4.3, §5.5: updates merge ``custom_attributes`` key by key (the description does not say;
  keys left out are kept, the reading FACTS.md takes) and stamp ``updated_at``;
* §5.2: ``find_by_external_id`` finds users, never leads;
* §5.3: the contact search reads a copy of the contacts that sees each change ``search_lag``
  seconds late (new contacts "can take a few minutes" to be searchable; the simulator lags
  updates by the same delay, which is the harder case for a reader); merged contacts
  (``merge_contact``) leave the search;
* §7.1-7.2: notes are added and listed, never changed; a plain body comes back as ``<p>…</p>``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.service.intercom.simulator.attributes import (
    BUILT_INS,
    DEMO_CUSTOM,
    built_in,
    custom,
)
from sandbox.searchindex import LaggingIndex

Clock = Callable[[], datetime]
COMPANY, CONTACT = "company", "contact"
WORKSPACE_ID = "dealbridge-demo-workspace"


def utc_now() -> datetime:
    """The default simulator clock."""
    return datetime.now(UTC)


class IntercomStore:
    """One workspace's records."""

    def __init__(self, clock: Clock = utc_now, search_lag: float = 0.0) -> None:
        self.clock = clock
        self.companies: dict[str, dict[str, Any]] = {}
        self.contacts: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[dict[str, Any]]] = {}
        self.tickets: dict[str, dict[str, Any]] = {}
        self.ticket_types: dict[str, dict[str, Any]] = {}
        self.admins: dict[str, dict[str, Any]] = {}
        self.attributes: dict[str, dict[str, dict[str, Any]]] = {COMPANY: {}, CONTACT: {}}
        self.built_ins: dict[str, list[dict[str, Any]]] = {
            kind: [built_in(kind, *spec) for spec in specs] for kind, specs in BUILT_INS.items()
        }
        self._serial = itertools.count(1)
        self._serials: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._attribute_ids = itertools.count(101)
        self.search = LaggingIndex(search_lag, self.now_seconds, lambda _record: ())
        for kind, items in DEMO_CUSTOM.items():
            for name, data_type, options in items:
                self.define_attribute(kind, name, data_type, options)

    # -- time --------------------------------------------------------------------------------

    def now_seconds(self) -> float:
        """The workspace's present as Unix seconds."""
        return self.clock().timestamp()

    def now(self) -> int:
        """The workspace's present as whole Unix seconds (what records carry)."""
        return int(self.now_seconds())

    # -- data attributes ---------------------------------------------------------------------

    def define_attribute(
        self, kind: str, name: str, data_type: str, options: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """Create a custom attribute (what an admin does under Settings > Data)."""
        item = custom(
            kind, name, data_type, options, ident=next(self._attribute_ids), now=self.now()
        )
        self.attributes[kind][name] = item
        return item

    def archive_attribute(self, kind: str, name: str) -> None:
        """Archive a custom attribute: it leaves the list and takes no more values."""
        self.attributes[kind][name]["archived"] = True

    def custom_types(self, kind: str) -> dict[str, str]:
        """Live custom attributes' data types by name (for the search's typed fields)."""
        return {
            name: str(a["data_type"])
            for name, a in self.attributes[kind].items()
            if not a.get("archived")
        }

    # -- companies ---------------------------------------------------------------------------

    def add_company(
        self,
        name: str,
        company_id: str,
        *,
        website: str | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
        updated_at: int | None = None,
    ) -> dict[str, Any]:
        """A company as Intercom holds it (no validation: seed and test helper path)."""
        now = self.now()
        record: dict[str, Any] = {
            "type": "company",
            "company_id": company_id,
            "id": self._new_id("65c0"),
            "app_id": WORKSPACE_ID,
            "name": name,
            "remote_created_at": now,
            "created_at": now,
            "updated_at": updated_at if updated_at is not None else now,
            "monthly_spend": 0,
            "session_count": 0,
            "user_count": 0,
            "tags": {"type": "tag.list", "tags": []},
            "segments": {"type": "segment.list", "segments": []},
            "plan": {},
            "custom_attributes": dict(custom_attributes or {}),
        }
        if website is not None:
            record["website"] = website
        self.companies[record["id"]] = record
        return record

    def company_by_company_id(self, company_id: str) -> dict[str, Any] | None:
        """The company carrying ``company_id`` (compared exactly: case-sensitivity is not
        documented, and exact is the stricter reading)."""
        return next((c for c in self.companies.values() if c["company_id"] == company_id), None)

    def create_or_update_company(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /companies``: update the company with this ``company_id``, or create one."""
        found = self.company_by_company_id(str(body.get("company_id") or ""))
        if found is None:
            found = self.add_company(str(body.get("name") or ""), str(body.get("company_id")))
        changes = {k: v for k, v in body.items() if k != "company_id"}
        return self.apply(COMPANY, found["id"], changes)

    # -- contacts ----------------------------------------------------------------------------

    def add_contact(  # noqa: PLR0913 - a contact's identity is exactly these
        self,
        name: str | None,
        email: str | None,
        *,
        role: str = "user",
        external_id: str | None = None,
        custom_attributes: Mapping[str, Any] | None = None,
        companies: Iterable[str] = (),
        updated_at: int | None = None,
        indexed: bool = False,
    ) -> dict[str, Any]:
        """A contact (no validation); ``indexed`` makes it searchable at once (seed data)."""
        now = self.now()
        contact_id = self._new_id("65d0")
        record: dict[str, Any] = {
            "type": "contact",
            "id": contact_id,
            "workspace_id": WORKSPACE_ID,
            "external_id": external_id,
            "role": role,
            "phone": None,
            "name": name,
            "avatar": None,
            "owner_id": None,
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": False,
            "created_at": now,
            "updated_at": updated_at if updated_at is not None else now,
            "signed_up_at": now if role == "user" else None,
            "last_seen_at": None,
            "custom_attributes": dict(custom_attributes or {}),
            "tags": _link_list(contact_id, "tags"),
            "notes": _link_list(contact_id, "notes"),
            "companies": _link_list(contact_id, "companies"),
        }
        if email is not None:
            record["email"] = email
            record["email_domain"] = email.rsplit("@", 1)[-1].lower()
        self.contacts[contact_id] = record
        self._serials[contact_id] = next(self._serial)
        for company in companies:
            self.attach(contact_id, company)
        self._reindex(record, now=indexed)
        return record

    def attach(self, contact_id: str, company_id: str) -> None:
        """Attach a contact to a company (Intercom's id)."""
        contact, company = self.contacts[contact_id], self.companies[company_id]
        links = contact["companies"]
        links["data"].append(
            {"type": "company", "id": company_id, "url": f"/companies/{company_id}"}
        )
        links["total_count"] = len(links["data"])
        company["user_count"] = int(company.get("user_count") or 0) + 1

    def contact_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """The user carrying ``external_id`` (leads are not found this way, §5.2)."""
        return next(
            (
                c
                for c in self.contacts.values()
                if c.get("external_id") == external_id and c.get("role") == "user"
            ),
            None,
        )

    def searchable_contacts(self) -> list[dict[str, Any]]:
        """What the contact search sees now (lagging copies), in creation order."""
        return [copy for _serial, copy in sorted(self.search.records().items())]

    def serial(self, contact_id: str) -> int:
        """The creation order of a contact (the search's stable order and cursor)."""
        return self._serials[contact_id]

    def merge_contact(self, lead_id: str, into_id: str) -> None:
        """``POST /contacts/merge``: the lead disappears, its target stays."""
        self.contacts.pop(lead_id)
        self.search.changed(self._serials[lead_id], None)
        self.touch(CONTACT, into_id)

    # -- both --------------------------------------------------------------------------------

    def records(self, kind: str) -> dict[str, dict[str, Any]]:
        """Companies or contacts by Intercom id."""
        return self.companies if kind == COMPANY else self.contacts

    def apply(self, kind: str, record_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Change fields (``custom_attributes`` merged key by key) and stamp ``updated_at``."""
        record = self.records(kind)[record_id]
        for key, value in changes.items():
            if key == "custom_attributes":
                record["custom_attributes"] = {**record.get("custom_attributes", {}), **value}
            elif value is None and key in ("website", "email"):
                record.pop(key, None)
            else:
                record[key] = value
        if kind == CONTACT and isinstance(record.get("email"), str):
            record["email_domain"] = record["email"].rsplit("@", 1)[-1].lower()
        self.touch(kind, record_id)
        return record

    def touch(self, kind: str, record_id: str, when: int | None = None) -> None:
        """Stamp ``updated_at`` (now, or ``when``) and let the search see it in time."""
        record = self.records(kind)[record_id]
        record["updated_at"] = self.now() if when is None else when
        if kind == CONTACT:
            self._reindex(record)

    def delete(self, kind: str, record_id: str) -> None:
        """Delete a company or a contact for good."""
        self.records(kind).pop(record_id)
        if kind == CONTACT:
            self.search.changed(self._serials[record_id], None)
            self.notes.pop(record_id, None)

    def settle_search(self) -> None:
        """Let the search see every change (seed data existed long before the present)."""
        self.search.settle()

    # -- notes -------------------------------------------------------------------------------

    def add_note(self, contact_id: str, body: str, admin: Mapping[str, Any]) -> dict[str, Any]:
        """A note on a contact; a body that is not HTML becomes one paragraph (§7.1)."""
        text = body if body.lstrip().startswith("<") else f"<p>{body}</p>"
        note = {
            "type": "note",
            "id": str(next(self._ids)),
            "created_at": self.now(),
            "contact": {"type": "contact", "id": contact_id},
            "author": dict(admin),
            "body": text,
        }
        self.notes.setdefault(contact_id, []).append(note)
        links = self.contacts[contact_id]["notes"]
        links["total_count"] = len(self.notes[contact_id])
        return note

    def notes_of(self, contact_id: str) -> list[dict[str, Any]]:
        """A contact's notes, newest first (as the description's example lists them)."""
        return list(reversed(self.notes.get(contact_id, [])))

    def _reindex(self, record: dict[str, Any], *, now: bool = False) -> None:
        self.search.changed(self._serials[record["id"]], record, now=now)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):020x}"


def _link_list(contact_id: str, what: str) -> dict[str, Any]:
    return {
        "type": "list",
        "data": [],
        "url": f"/contacts/{contact_id}/{what}",
        "total_count": 0,
        "has_more": False,
    }
