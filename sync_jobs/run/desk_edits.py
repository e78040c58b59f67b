"""Agent edits of fields dealbridge wrote, found from the desk's side, and queued for stage 2.

Stage 2's planner holds an agent's edit of a synced field as a conflict (alert, note flag)
when it plans that customer, and it plans the customers stage 1 queues: an agent's edit
changes no deal, so it would wait for the customer's next deal change. Here the identity
index refresh queues such records itself:

* every record the desk's change feed reports that dealbridge wrote to (a field base or a
  note) and whose reported values differ from what it wrote. A record that agrees is our own
  write coming back through the feed, and costs nothing; judging it from the feed's copy is
  what keeps this free on the regular refresh (else every record we write would be read
  again at the next refresh). A record whose feed entry does not carry the written fields
  (ServiceNow's index feed carries identity only) cannot be judged here: it is queued only
  when the desk rang.
* when the desk rang (a verified desk notification, :mod:`sync_jobs.run.desk_bells`), every
  record the notifications named that dealbridge wrote to is queued: the feed may not show
  the change yet (Zendesk's exports leave out the last minute). A ring that named no record
  (a vendor whose notification carries no id) makes the refresh run at once instead,
  whatever ``index_refresh_every``, and that refresh also queues the records it cannot judge.
  A ring that named its records leaves the refresh on its interval: the named records are
  what changed, and an early refresh would spend the desk's scarce export budget (Zendesk: 10
  a minute, two per refresh) on a feed that cannot show them yet, slowing every later run.

The notification supplies ids at most: what the planner compares is stage 2's own read of
each queued record (one desk read per batch of records, as for any queued customer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.values import same_value
from sync_jobs.run.context import RunState
from sync_jobs.run.control import Clock
from sync_jobs.store import work
from sync_jobs.store.bases import Written, note_hash, written_to
from sync_jobs.store.db import Connection, Store, read_tx, write_tx


def differs(record: CustomerRecord, written: Written, note_field: str) -> bool | None:
    """Whether ``record`` as reported differs from what dealbridge wrote to it; None when the
    report does not carry every written field (it cannot be told)."""
    unknown = False
    for name, base in written.bases.items():
        if name not in record.fields:
            unknown = True
        elif not same_value(record.fields[name], base):
            return True
    if written.note_hash is not None:
        if note_field not in record.fields:
            unknown = True
        elif note_hash(str(record.fields[note_field] or "")) != written.note_hash:
            return True
    return None if unknown else False


@dataclass
class DeskEdits:
    """One index refresh's search for agent edits (see the module's docstring)."""

    target_name: str
    note_field: str
    """Where the target's note lives (every job of a target agrees on it)."""
    named: set[RecordRef] | None
    """What the desk's notifications named since its last run (None: it did not ring)."""
    store: Store
    clock: Clock
    state: RunState
    queued: set[str] = field(default_factory=set)

    @property
    def rung(self) -> bool:
        """A desk notification arrived since the desk's last run."""
        return self.named is not None

    @property
    def refresh_now(self) -> bool:
        """The refresh must run now: the desk rang without naming what changed."""
        return self.named is not None and not self.named

    async def page(
        self, conn: Connection, records: Sequence[CustomerRecord], now: datetime
    ) -> None:
        """Queue the records of one index page that an agent changed since we wrote them."""
        live = [r for r in records if not r.deleted]
        written = await written_to(conn, self.target_name, [r.ref.key for r in live])
        keys = []
        for record in live:
            mine = written.get(record.ref.key)
            verdict = None if mine is None else differs(record, mine, self.note_field)
            if mine is not None and (verdict or (verdict is None and self.rung)):
                keys.append(record.ref.key)
        await self._queue(conn, keys, now)

    async def finish(self) -> None:
        """Queue the records the desk's notifications named, when dealbridge wrote to them."""
        keys = [ref.key for ref in self.named or ()]
        if not keys:
            return
        async with read_tx(self.store) as conn:
            mine = list(await written_to(conn, self.target_name, keys))
        if mine:
            async with write_tx(self.store) as conn:
                await self._queue(conn, mine, self.clock())

    async def _queue(self, conn: Connection, keys: list[str], now: datetime) -> None:
        fresh = set(keys) - self.queued
        if not fresh:
            return
        await work.enqueue(conn, self.target_name, fresh, now)
        self.queued |= fresh
        self.state.counts["desk_edits_queued"] += len(fresh)
