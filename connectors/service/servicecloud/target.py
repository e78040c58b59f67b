"""``ServiceCloudTarget``: the ServiceTarget protocol (and TicketDesk) over one Service Cloud org.

The identity index is kept from a SOQL keyset feed (:mod:`.identity`), never by querying once
per deal; only its misses are looked up directly, in batches (:mod:`.lookup`). ``read`` selects
the records by Id, 200 a query; ``write`` goes through sObject Collections (:mod:`.writer`);
alerts become cases (:mod:`.tickets`). Field metadata comes from describe (:mod:`.catalog`).
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from connectors.base import CustomerRecord, FieldInfo, Health, RecordChange, RecordRef, WriteResult
from connectors.desk import AlertTickets, DeskTarget
from connectors.errors import PermanentError
from connectors.record_values import RecordProblem, read_each, unread_records
from connectors.service.servicecloud.catalog import (
    BYTES_PER_CHAR_MAX,
    Describes,
    ObjectSchema,
    build_catalog,
    note_chars,
)
from connectors.service.servicecloud.client import ServiceCloudApi
from connectors.service.servicecloud.config import ServiceCloudConfig
from connectors.service.servicecloud.identity import IdentityFeed, identity_fields
from connectors.service.servicecloud.lookup import Lookup
from connectors.service.servicecloud.payloads import SOBJECT, IdentityFields, reader
from connectors.service.servicecloud.queries import VALUES_MAX, fitting, in_list, select
from connectors.service.servicecloud.tickets import CaseTickets
from connectors.service.servicecloud.writer import Writer
from connectors.settings import ConnectorOptions

log = structlog.get_logger("dealbridge.servicecloud")

SMALLEST_LONG_TEXT = 256
"""The shortest Long Text Area Setup offers (FACTS.md 2.3): the note's limit until describe has
said what it is (every read describes first, so the engine never plans on this)."""


class ServiceCloudTarget(AlertTickets, DeskTarget[ServiceCloudConfig, ServiceCloudApi]):
    """A Salesforce Service Cloud org as the contact center's service desk.

    Customers come from accounts then contacts changed since the cursor (SOQL keyset on
    SystemModstamp, ``identity``); lookups read the records themselves (``lookup``); alerts
    become Cases with an internal CaseComment (``tickets``)."""

    system = "servicecloud"

    def __init__(self, name: str, config: ServiceCloudConfig, options: ConnectorOptions) -> None:
        text_limit = SMALLEST_LONG_TEXT // BYTES_PER_CHAR_MAX
        super().__init__(name, config, config.write_batch_size, text_limit)
        self._api = ServiceCloudApi(name, config, options)
        self._describes = Describes(self._api.describe, config.describe_refresh)
        self._feed = IdentityFeed(self._api, config, self._identity_of)
        self._lookup = Lookup(self._api, config, self._identity_of)
        self._writer = Writer(self._api, config, self._describes)
        self._tickets = CaseTickets(self._api, config, self._describes)
        self._note_problem: str | None = None

    @property
    def requests_sent(self) -> int:
        """Requests sent so far (API and token endpoint, retries included)."""
        return self._api.requests_sent

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values and ``SystemModstamp`` of the records, 200 ids a query; records
        deleted (or in the recycle bin) are left out."""
        await self._note_limit()
        found: dict[str, CustomerRecord] = {}
        for kind in self.config.record_kinds:
            ids = list(dict.fromkeys(r.id for r in refs if r.kind == kind))
            if ids:
                found.update({r.ref.key: r for r in await self._read_kind(kind, ids)})
        return [found[r.key] for r in refs if r.key in found]

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """sObject Collections updates; one result per change, in order (``writer``)."""
        await self._note_limit()
        return await self._writer.write(changes)

    async def field_catalog(self) -> list[FieldInfo]:
        """Every writable field of the configured kinds, from describe; the note field's
        ``max_length`` is the note's limit in characters (``text_limit``)."""
        schemas: dict[str, ObjectSchema] = {
            kind: await self._schema(kind) for kind in self.config.record_kinds
        }
        await self._note_limit()
        return build_catalog(schemas, self.config.fields, self.config.note_field, self.text_limit)

    async def check(self) -> Health:
        """The note field's describe, then one record id of the first kind: proves the login
        and read access, and shows the org's API usage (``Sforce-Limit-Info``)."""
        health = await super().check()
        if health.ok and self._note_problem is not None:
            return Health(ok=False, detail=self._note_problem, api_usage=health.api_usage)
        return health

    async def _prove_access(self) -> str:
        await self._note_limit()
        sobject = SOBJECT[self.config.record_kinds[0]]
        await self._api.query_rows(select(sobject, ["Id"]) + " LIMIT 1", "check")
        return f"{self._api.flow} login accepted; note in {self.config.note_field}"

    def _usage(self) -> str | None:
        return self._api.usage_text()

    def notices(self) -> list[str]:
        """Facts an admin should see in ``status``."""
        config = self.config
        facts = [
            f"writes go through sObject Collections, {self.write_batch_size} records a call",
            f"note in {config.note_field}: up to {self.text_limit} characters "
            "(Salesforce counts text areas in UTF-8 bytes)",
            f"dealbridge stops at {1 - config.api_reserve:.0%} of the org's 24-hour API "
            f"allocation (api_reserve {config.api_reserve:.0%})",
        ]
        if self._note_problem:
            facts.append(self._note_problem)
        usage = self._api.usage_text()
        if usage:
            facts.append(usage)
        stats = self._writer.stats
        if stats.version_checks:
            facts.append(f"{stats.version_checks} version check queries before writes")
        return facts

    # -- internals --------------------------------------------------------------------------
    async def _schema(self, kind: str) -> ObjectSchema:
        return await self._describes.get(SOBJECT[kind])

    async def _identity_of(self, kind: str) -> IdentityFields:
        return identity_fields(kind, await self._schema(kind), self.config)

    async def _read_kind(self, kind: str, ids: list[str]) -> list[CustomerRecord]:
        for attempt in (1, 2):
            schema = await self._schema(kind)
            identity = identity_fields(kind, schema, self.config)
            values = [c.name for c in schema.writable(self.config.fields)]
            columns = list(dict.fromkeys([*identity.select(), *values]))

            def render(
                part: Sequence[str], sobject: str = schema.name, columns: list[str] = columns
            ) -> str:
                return select(sobject, columns, in_list("Id", part))

            try:
                rows = [
                    row
                    for soql in fitting(ids, render, self._api.fits, VALUES_MAX)
                    for row in await self._api.query_rows(soql, f"read {kind}s")
                ]
            except PermanentError as exc:
                if attempt == 2 or exc.vendor_code != "INVALID_FIELD":
                    raise
                self._describes.cache.pop(schema.name, None)  # a field was deleted: describe again
                continue
            problems: list[RecordProblem] = []
            read = reader(kind, identity, values)
            records = read_each(
                rows, read, desk="Service Cloud", kind=kind, problems=problems, id_field="Id"
            )
            asked = {i: RecordRef(kind=kind, id=i) for i in ids}
            return records + unread_records(problems, asked, records)
        return []  # pragma: no cover - the loop returns or raises

    async def _note_limit(self) -> None:
        """Set ``text_limit`` from the note field's describe, on every configured kind."""
        limits = []
        problems = []
        for kind in self.config.record_kinds:
            schema = await self._schema(kind)
            column = schema.get(self.config.note_field)
            if column is None or not column.writable or column.type not in ("textarea", "string"):
                problems.append(
                    f"note_field {self.config.note_field!r} is not a writable text field of "
                    f"{schema.name}: create it as a Long Text Area or change note_field"
                )
                continue
            limits.append(note_chars(column, self.config.note_max_chars))
        self._note_problem = "; ".join(problems) or None
        if limits:
            self.text_limit = min(limits)
