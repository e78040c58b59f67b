"""The simulated org's records: per-object dicts, a child index, and a modstamp index.

Values are held as Python values (aware datetimes, dates, floats, bools, strings) and turned
into Salesforce's JSON forms only when a query projects them. Ids look like real ones: the
object's key prefix (``006`` Opportunity) and 15 more characters.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from connectors.sales.salesforce.simulator.schema import OBJECTS, ObjectSpec

Record = dict[str, Any]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """Now, in whole milliseconds as Salesforce stores it."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Org:
    """Records of every simulated sObject, with the indexes queries need."""

    def __init__(self, clock: Clock = utc_now) -> None:
        self.clock = clock
        self._records: dict[str, dict[str, Record]] = {name: {} for name in OBJECTS}
        self._children: dict[tuple[str, str], dict[str, list[str]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self._by_modstamp: dict[str, list[tuple[datetime, str]] | None] = {}
        self._counter = 0

    def table(self, spec: ObjectSpec) -> dict[str, Record]:
        """Every record of one object, by Id (deleted ones included)."""
        return self._records[spec.name.lower()]

    def get(self, sobject: str, record_id: object) -> Record | None:
        """One record by object name and Id, or None."""
        if not isinstance(record_id, str):
            return None
        return self._records[sobject.lower()].get(record_id)

    def new_id(self, spec: ObjectSpec) -> str:
        """A fresh 18-character Id with the object's key prefix."""
        self._counter += 1
        return f"{spec.key_prefix}Dx{self._counter:013d}"

    def insert(self, spec: ObjectSpec, fields: Record, *, modstamp: datetime | None = None) -> str:
        """Add a record; system fields are filled in (``SystemModstamp`` = ``modstamp`` or now)."""
        stamp = modstamp or self.clock()
        record: Record = {"IsDeleted": False, "CreatedDate": stamp, **fields}
        record.setdefault("Id", self.new_id(spec))
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        self.table(spec)[record["Id"]] = record
        self._index_children(spec, record, None)
        self._by_modstamp[spec.name.lower()] = None
        return str(record["Id"])

    def update(
        self, spec: ObjectSpec, record_id: str, fields: Record, *, modstamp: datetime | None = None
    ) -> Record:
        """Change fields and move ``SystemModstamp`` (to ``modstamp`` or now)."""
        record = self.table(spec)[record_id]
        before = dict(record)
        record.update(fields)
        stamp = modstamp or self.clock()
        record["LastModifiedDate"] = record["SystemModstamp"] = stamp
        self._index_children(spec, record, before)
        self._by_modstamp[spec.name.lower()] = None
        return record

    def children(self, child: ObjectSpec, field: str, parent_id: str) -> list[Record]:
        """Live child records whose ``field`` points at ``parent_id``."""
        ids = self._children[(child.name.lower(), field.lower())].get(parent_id, [])
        table = self.table(child)
        return [table[i] for i in ids if not table[i].get("IsDeleted")]

    def modstamp_order(self, spec: ObjectSpec) -> list[tuple[datetime, str]]:
        """(SystemModstamp, Id) of every record, ascending; rebuilt only after a change."""
        key = spec.name.lower()
        index = self._by_modstamp.get(key)
        if index is None:
            index = sorted((r["SystemModstamp"], r["Id"]) for r in self.table(spec).values())
            self._by_modstamp[key] = index
        return index

    def changed_since(self, spec: ObjectSpec, moment: datetime, *, inclusive: bool) -> list[str]:
        """Ids with SystemModstamp at/after ``moment``, in (SystemModstamp, Id) order."""
        index = self.modstamp_order(spec)
        probe = (moment, "") if inclusive else (moment, "\uffff")
        return [record_id for _, record_id in index[bisect.bisect_left(index, probe) :]]

    def all_ids(self, spec: ObjectSpec) -> Iterable[str]:
        """Every Id of one object (deleted included)."""
        return self.table(spec).keys()

    def _index_children(self, spec: ObjectSpec, record: Record, before: Record | None) -> None:
        for field in spec.fields:
            if field.type != "reference":
                continue
            slot = self._children[(spec.name.lower(), field.name.lower())]
            old = before.get(field.name) if before else None
            new = record.get(field.name)
            if before is not None and old == new:
                continue
            if isinstance(old, str) and record["Id"] in slot.get(old, []):
                slot[old].remove(record["Id"])
            if isinstance(new, str):
                slot[new].append(record["Id"])
