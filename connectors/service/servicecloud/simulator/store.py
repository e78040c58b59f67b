"""The simulated org's records: per-object tables, system stamps, the recycle bin, person accounts.

Values are held as Python values (aware datetimes, dates, floats, bools, strings) and become
Salesforce's JSON forms only in answers. Ids are 18 characters with the object's key prefix
(``001`` Account, ``003`` Contact, ``500`` Case, ``00a`` CaseComment).

* Every save moves ``LastModifiedDate`` and ``SystemModstamp`` to the org's clock (FACTS.md
  6.1), in whole milliseconds; tests may pin a stamp to make ties.
* A deleted record stays in its table with ``IsDeleted = true`` (the recycle bin): ``query``
  leaves it out, ``queryAll`` returns it, and an update answers ``ENTITY_IS_DELETED``.
* A person account is an Account row plus a person contact (``IsPersonAccount = true``) whose id
  is in ``Account.PersonContactId``; ``PersonEmail`` is the contact's ``Email``, and updating
  the account moves the stamps of both (FACTS.md 2.2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from connectors.service.servicecloud.simulator.schema import Schema, SObjectSpec

Record = dict[str, Any]
Clock = Callable[[], datetime]

PERSON_MIRRORED = {"PersonEmail": "Email", "FirstName": "FirstName", "LastName": "LastName"}
"""Account field -> the person contact's field it is stored in."""


def utc_now() -> datetime:
    """Now, in whole milliseconds as Salesforce stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class OrgStore:
    """Records of every object, keyed by object name (lower case) and Id."""

    def __init__(self, schema: Schema, clock: Clock) -> None:
        self.schema = schema
        self.clock = clock
        self.tables: dict[str, dict[str, Record]] = {name: {} for name in schema.objects}
        self._counter = 0

    def spec(self, sobject: str) -> SObjectSpec:
        """The object's schema (KeyError for an unknown object)."""
        found = self.schema.get(sobject)
        if found is None:
            raise KeyError(sobject)
        return found

    def table(self, sobject: str) -> dict[str, Record]:
        """Every record of one object, by Id, deleted ones included."""
        return self.tables[sobject.lower()]

    def get(self, sobject: str, record_id: str) -> Record | None:
        """One record (deleted or not), or None."""
        return self.table(sobject).get(record_id)

    def live(self, sobject: str) -> Iterator[Record]:
        """Records not in the recycle bin."""
        return (r for r in self.table(sobject).values() if not r.get("IsDeleted"))

    def new_id(self, sobject: str) -> str:
        """A fresh 18-character Id with the object's key prefix."""
        self._counter += 1
        return f"{self.spec(sobject).key_prefix}Dx{self._counter:013d}"

    def insert(self, sobject: str, fields: Record, *, stamp: datetime | None = None) -> Record:
        """A new record; system fields are filled in."""
        when = stamp or self.clock()
        record: Record = {"Id": self.new_id(sobject), "IsDeleted": False, "CreatedDate": when}
        record.update(fields)
        record["LastModifiedDate"] = record["SystemModstamp"] = when
        self.table(sobject)[record["Id"]] = record
        return record

    def insert_person_account(
        self, fields: Record, *, stamp: datetime | None = None
    ) -> tuple[Record, Record]:
        """A person account and its person contact (Person Accounts must be enabled)."""
        assert self.schema.person_accounts, "Person Accounts are not enabled in this org"
        first, last = fields.get("FirstName"), fields.get("LastName") or "Person"
        name = " ".join(str(p) for p in (first, last) if p)
        person = {k: v for k, v in fields.items() if k not in PERSON_MIRRORED}
        account = self.insert(
            "Account",
            {**person, "Name": name, "IsPersonAccount": True}
            | {k: fields.get(k) for k in PERSON_MIRRORED},
            stamp=stamp,
        )
        contact = self.insert(
            "Contact",
            {
                "AccountId": account["Id"],
                "IsPersonAccount": True,
                "Name": name,
                **{target: fields.get(source) for source, target in PERSON_MIRRORED.items()},
            },
            stamp=stamp,
        )
        account["PersonContactId"] = contact["Id"]
        return account, contact

    def update(
        self, sobject: str, record_id: str, fields: Record, *, stamp: datetime | None = None
    ) -> Record:
        """Change fields and move the stamps (of the person contact too, for a person account)."""
        record = self.table(sobject)[record_id]
        record.update(fields)
        when = stamp or self.clock()
        record["LastModifiedDate"] = record["SystemModstamp"] = when
        if sobject.lower() == "account" and record.get("IsPersonAccount"):
            contact = self.get("Contact", str(record.get("PersonContactId")))
            if contact is not None:
                mirrored = {
                    PERSON_MIRRORED[k]: v for k, v in fields.items() if k in PERSON_MIRRORED
                }
                contact.update(mirrored)
                contact["LastModifiedDate"] = contact["SystemModstamp"] = when
        if sobject.lower() == "contact":
            self._refresh_name(record)
        if sobject.lower() == "case" and "Status" in fields:
            record["IsClosed"] = record.get("Status") == "Closed"
        return record

    def delete(self, sobject: str, record_id: str, *, stamp: datetime | None = None) -> None:
        """Move a record to the recycle bin (its person contact goes with a person account)."""
        record = self.table(sobject)[record_id]
        when = stamp or self.clock()
        record.update(IsDeleted=True, LastModifiedDate=when, SystemModstamp=when)
        if sobject.lower() == "account" and record.get("IsPersonAccount"):
            contact = self.get("Contact", str(record.get("PersonContactId")))
            if contact is not None:
                contact.update(IsDeleted=True, LastModifiedDate=when, SystemModstamp=when)

    def purge(self, sobject: str, record_id: str) -> None:
        """Empty the record out of the recycle bin: it is gone for good."""
        self.table(sobject).pop(record_id, None)

    def _refresh_name(self, record: Record) -> None:
        parts = (record.get("FirstName"), record.get("LastName"))
        record["Name"] = " ".join(str(p) for p in parts if p)
