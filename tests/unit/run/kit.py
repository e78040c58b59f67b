"""A stage on its own: an in-memory store, a fake CRM, a fake desk, a fixed clock, and the
stage contexts built from them (no engine, no lease, no HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.base import (
    Cursor,
    CustomerPage,
    CustomerRecord,
    DealPage,
    DealQuery,
    FieldInfo,
    Health,
    IdentityKey,
    RecordChange,
    RecordRef,
    SourceDeal,
    WriteResult,
)
from connectors.settings import ConnectorConfig
from sync_jobs.alerts.routing import AlertsConfig
from sync_jobs.config.yamlio import parse_yaml
from sync_jobs.domain.mapping import Mapping, MappingSpec
from sync_jobs.domain.matching import carries
from sync_jobs.domain.notes import NoteTemplates
from sync_jobs.run.catalog import LiveCatalog
from sync_jobs.run.context import RunState
from sync_jobs.run.control import RunControl
from sync_jobs.run.deal_conflicts import DealConflicts
from sync_jobs.run.desk_edits import DeskEdits
from sync_jobs.run.lookups import Desk
from sync_jobs.run.recheck import Relinking
from sync_jobs.run.stage1 import Stage1
from sync_jobs.run.stage2 import Stage2
from sync_jobs.store import work
from sync_jobs.store.db import Store, write_tx

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
JOB = "west"
TARGET = "desk"
DISCOUNT = "organization_fields.discount"

SPEC = """
record: organization
active_when: {field: stage, in: ["Won"]}
identity:
  - {from: customer_number, match: external_id}
  - {from: website, match: domain}
terms:
  name: {from: name}
  stage: {from: stage}
  account_name: {from: account}
  discount_percent: {from: discount, type: percent}
  valid_until: {from: valid_until, type: date}
write:
  organization_fields.discount: {value: discount_percent}
guardrails:
  discount_percent: {max: 20}
note: {field: notes}
"""


def west_mapping() -> Mapping:
    spec = MappingSpec.model_validate(parse_yaml(SPEC, "west.yaml"))
    return Mapping(spec, job=JOB, source="crm", system="fake", territory="West", base_dir=Path())


def deal(deal_id: str, **payload: Any) -> SourceDeal:
    """A won deal for Acme (CUST-1, acme.example) at 10 % until the end of 2027, unless told."""
    fields: dict[str, Any] = {
        "name": f"Deal {deal_id}",
        "stage": "Won",
        "account": "Acme",
        "customer_number": "CUST-1",
        "website": "acme.example",
        "discount": 10,
        "valid_until": "2027-12-31",
    }
    return SourceDeal(id=deal_id, modified_at=NOW, payload=fields | payload)


def org(
    record_id: str, *, number: str | None = None, domain: str = "", **fields: Any
) -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind="organization", id=record_id),
        name=f"Org {record_id}",
        external_id=number,
        domains=(domain,) if domain else (),
        fields=fields,
    )


@dataclass
class FakeCrm:
    """A CRM whose change feed is a list of pages; the cursor is the number of pages read."""

    pages: list[list[SourceDeal]] = field(default_factory=list)
    name: str = "crm"
    system: str = "fake"
    asked_since: list[str | None] = field(default_factory=list)
    read_all: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the feed's last page was taken (and so committed: a page is asked for only
    after the one before it was)."""

    async def changed_deals(
        self, query: DealQuery, since: Cursor | None
    ) -> AsyncIterator[DealPage]:
        self.asked_since.append(since.value if since else None)
        start = int(since.value) if since else 0
        for number, deals in enumerate(self.pages[start:], start=start + 1):
            yield DealPage(deals=tuple(deals), checkpoint=Cursor(value=str(number)))
        self.read_all.set()

    async def field_catalog(self) -> list[FieldInfo]:
        return []

    async def check(self) -> Health:
        return Health(ok=True)

    async def aclose(self) -> None:
        return None


@dataclass
class FakeDesk:
    """A desk holding records by key; its identity feed lists every record once."""

    records: dict[str, CustomerRecord] = field(default_factory=dict)
    name: str = TARGET
    system: str = "fake"
    write_batch_size: int = 50
    text_limit: int = 10_000
    catalog: list[FieldInfo] = field(
        default_factory=lambda: [
            FieldInfo(path=DISCOUNT, type="number", writable=True),
            FieldInfo(path="notes", type="text", writable=True),
        ]
    )
    writes: list[list[RecordChange]] = field(default_factory=list)
    looked_up: list[IdentityKey] = field(default_factory=list)
    feed_reads: int = 0
    unreadable: dict[str, str] = field(default_factory=dict)
    """Records the desk holds but answers malformed: a lookup of a key whose value is here
    reports the message as a problem instead of a record."""

    def holding(self, *records: CustomerRecord) -> FakeDesk:
        self.records |= {r.ref.key: r for r in records}
        return self

    async def customers(self, since: Cursor | None) -> AsyncIterator[CustomerPage]:
        self.feed_reads += 1
        if since is None:
            yield CustomerPage(records=tuple(self.records.values()), checkpoint=Cursor(value="1"))

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        return [self.records[r.key] for r in refs if r.key in self.records]

    async def lookup(
        self, keys: Sequence[IdentityKey], problems: list[str] | None = None
    ) -> list[CustomerRecord]:
        self.looked_up += keys
        if problems is not None:
            problems += [self.unreadable[k.value] for k in keys if k.value in self.unreadable]
        return [
            r
            for r in self.records.values()
            if any(carries(r, k.match, k.value) for k in keys if k.kind == r.ref.kind)
        ]

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        self.writes.append(list(changes))
        results = []
        for change in changes:
            record = self.records[change.ref.key]
            self.records[change.ref.key] = record.model_copy(
                update={"fields": record.fields | change.fields}
            )
            results.append(WriteResult(ref=change.ref, ok=True, fields=change.fields))
        return results

    async def field_catalog(self) -> list[FieldInfo]:
        return list(self.catalog)

    async def check(self) -> Health:
        return Health(ok=True)

    def notices(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        return None


@dataclass
class World:
    """One job (``west``) feeding one desk, on an in-memory store, at a fixed time."""

    store: Store
    crm: FakeCrm
    desk: FakeDesk
    mapping: Mapping = field(default_factory=west_mapping)
    state: RunState = field(default_factory=lambda: RunState("run-1", JOB))
    now: datetime = NOW
    control: RunControl = field(default_factory=RunControl.free)

    def clock(self) -> datetime:
        return self.now

    def later(self, delta: timedelta) -> None:
        """Time passes and a new run starts."""
        self.now += delta
        self.state = RunState(f"run-{self.now:%H%M%S}", JOB)

    def lookups(self, budget: int = 100) -> Desk:
        return Desk(JOB, TARGET, self.desk, self.store, self.clock, self.state, budget)

    def conflicts(self) -> DealConflicts:
        return DealConflicts(TARGET, AlertsConfig(), self.clock, self.state)

    def edits(self, named: set[RecordRef] | None = None) -> DeskEdits:
        """The refresh's search for agent edits; ``named``: what a desk doorbell named."""
        notes = self.mapping.spec.note.field
        return DeskEdits(TARGET, notes, named, self.store, self.clock, self.state)

    def stage1(
        self,
        *,
        lookups_per_run: int = 100,
        index_fresh_for: float = 0.0,
        named: set[RecordRef] | None = None,
    ) -> Stage1:
        return Stage1(
            job=JOB,
            mapping=self.mapping,
            source=self.crm,
            target_name=TARGET,
            target=self.desk,
            store=self.store,
            clock=self.clock,
            state=self.state,
            control=self.control,
            desk=self.lookups(lookups_per_run),
            conflicts=self.conflicts(),
            index_fresh_for=index_fresh_for,
            edits=self.edits(named),
        )

    def stage2(self, *, max_attempts: int = 3) -> Stage2:
        templates: dict[str, NoteTemplates] = {}

        def renderer(fmt: str) -> NoteTemplates:
            return templates.setdefault(fmt, NoteTemplates("html" if fmt == "html" else "text"))

        mappings = {JOB: self.mapping}
        return Stage2(
            job=JOB,
            target_name=TARGET,
            target=self.desk,
            target_config=ConnectorConfig(kind="fake", base_url="https://desk.example"),
            store=self.store,
            clock=self.clock,
            state=self.state,
            control=self.control,
            replica_id="replica-1",
            write_workers=1,
            claim_timeout=timedelta(minutes=10),
            max_attempts=max_attempts,
            alerts=AlertsConfig(),
            mappings=mappings,
            note=self.mapping.spec.note,
            mapping_folder=lambda _job: Path(),
            templates=renderer,
            catalog=LiveCatalog(),
            relink=Relinking(mappings, self.lookups(), self.conflicts()),
        )


async def written(world: World) -> None:
    """Stage 2 took every queued customer (the queue is empty again)."""
    items = await work.claim(
        world.store, TARGET, 1000, world.now, timedelta(minutes=10), holder="stage-2"
    )
    async with write_tx(world.store) as conn:
        await work.finish(conn, items)
