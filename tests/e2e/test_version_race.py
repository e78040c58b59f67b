"""An agent saves a record between dealbridge's read and its write.

Desks that can tell (ServiceNow's ``sys_mod_count``, Salesforce's ``SystemModstamp``, Intercom's
re-read) refuse such a write as "moved"; the engine then plans the record again from its fresh
values within the same batch, so the agent's edit is held as a conflict in this very run,
never overwritten and never left as a failing record. The simulated desks here have no
versions, so a thin wrapper gives the desk that behaviour and plays the agent."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import sqlalchemy as sa

from connectors.base import (
    Cursor,
    CustomerPage,
    CustomerRecord,
    RecordChange,
    RecordRef,
    ServiceTarget,
    WriteResult,
)
from sync_jobs.store import tables as t
from sync_jobs.store.db import read_tx
from tests.e2e.conftest import Sandbox
from tests.e2e.test_sync import edit_sheet

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def _version(record: CustomerRecord) -> str:
    return hashlib.sha256(
        json.dumps(record.fields, sort_keys=True, default=str).encode()
    ).hexdigest()


class VersionedDesk:
    """The sandbox desk with versions checked before each write, and an agent who saves
    ``agent_edit`` into a record right after dealbridge has read it for the first time."""

    def __init__(self, inner: ServiceTarget, agent_edit: RecordChange) -> None:
        self.inner = inner
        self.name, self.system = inner.name, inner.system
        self.write_batch_size, self.text_limit = inner.write_batch_size, inner.text_limit
        self.agent_edit: RecordChange | None = agent_edit
        self.refused: list[str] = []
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        return self.inner.customers(since)

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        self.reads += 1
        records = [
            r.model_copy(update={"version": _version(r)}) for r in await self.inner.read(refs)
        ]
        edit = self.agent_edit
        if edit is not None and any(r.ref == edit.ref for r in records):
            self.agent_edit = None
            await self.inner.write([edit])  # the agent saves just after our read
        return records

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        now = {r.ref.key: _version(r) for r in await self.inner.read([c.ref for c in changes])}
        moved = [c for c in changes if c.expected_version not in (None, now.get(c.ref.key))]
        self.refused += [c.ref.key for c in moved]
        written = await self.inner.write([c for c in changes if c not in moved])
        refusals = [
            WriteResult(ref=c.ref, ok=False, error="changed since read", moved=True) for c in moved
        ]
        return [*written, *refusals]


async def test_an_agent_saving_between_read_and_write_is_held_in_the_same_run(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    await sandbox.run()
    field = sandbox.field("discount_percent")
    hooli = await sandbox.ref("Hooli")
    desk = VersionedDesk(sandbox.desk, RecordChange(ref=hooli, fields={field: 11}))
    monkeypatch.setattr(sandbox.connections, "target", lambda _name: desk)
    edit_sheet(sandbox.world.sheets / "apac-deals.csv", "APAC-17", **{"Discount %": "15"})

    (report,) = await sandbox.run("apac")

    assert desk.refused == [hooli.key], "the write planned before the agent's save is refused"
    assert report.errors == [], "a race is not a failing record"
    assert report.exit_code == 0
    record = await sandbox.record("Hooli")
    assert float(record.fields[field]) == 11, "the agent's value is not overwritten"
    assert "! " in record.fields[sandbox.note_field], "the note flags the held edit at once"
    async with read_tx(sandbox.engine.store) as conn:
        query = sa.select(t.conflict.c.field).where(
            t.conflict.c.kind == "target_edited", t.conflict.c.status == "open"
        )
        held: list[str] = list((await conn.execute(query)).scalars())
        assert held == [field]
        pending = (
            await conn.execute(sa.select(sa.func.count()).select_from(t.customer_work))
        ).scalar()
    assert pending == 0, "nothing is left queued for a later run"
