"""``ZendeskTarget``: the ServiceTarget protocol (and ``TicketDesk``) over organizations and
end-users.

``read`` batches ids through ``show_many`` (100 a call); ``write`` goes through bulk
``update_many`` jobs (see ``writer``); the identity index is kept from incremental exports
(see ``identity``), never by searching once per deal; only its misses are looked up directly
(see ``lookup``), in batches. Alerts become tickets with private comments (see ``tickets``).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from connectors.base import CustomerRecord, FieldInfo, RecordChange, RecordRef, WriteResult
from connectors.desk import AlertTickets, DeskTarget
from connectors.record_values import RecordProblem, read_each, unread_records
from connectors.service.zendesk.catalog import build_catalog
from connectors.service.zendesk.client import SHOW_MANY_MAX, ZendeskApi
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.identity import IdentityFeed
from connectors.service.zendesk.lookup import Lookup
from connectors.service.zendesk.pacing import build_pacing
from connectors.service.zendesk.payloads import KINDS, to_record
from connectors.service.zendesk.tickets import ZendeskTickets
from connectors.service.zendesk.writer import Writer
from connectors.settings import ConnectorOptions


class ZendeskTarget(AlertTickets, DeskTarget[ZendeskConfig, ZendeskApi]):
    """A Zendesk Support account as the contact center's service desk.

    Customers come from incremental exports of organizations then end-users (``identity``);
    lookups read external ids 100 a call and search emails and domains one each, hits read
    again through ``show_many`` (``lookup``)."""

    system = "zendesk"

    def __init__(self, name: str, config: ZendeskConfig, options: ConnectorOptions) -> None:
        super().__init__(name, config, config.write_batch_size, config.note_max_length)
        self._api = ZendeskApi(
            name, config, options, build_pacing(config, options.sleep, options.budget_share)
        )
        self._budget = (self._api.pacing.gate, "this minute")
        self._feed = IdentityFeed(self._api, config)
        self._writer = Writer(self._api, config)
        self._lookup = Lookup(self._api)
        self._tickets = ZendeskTickets(self._api.http)

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values via ``show_many`` (100 ids a call); missing records are left out."""
        found: dict[str, CustomerRecord] = {}
        for kind in KINDS:
            asked = {r.id: r for r in refs if r.kind == kind}  # each record's ref: see to_record
            ids = list(asked)
            for start in range(0, len(ids), SHOW_MANY_MAX):
                part = ids[start : start + SHOW_MANY_MAX]
                rows = await self._api.show_many(kind, part)
                problems: list[RecordProblem] = []
                records = read_each(
                    rows,
                    partial(_to_record, kind, asked),
                    desk="Zendesk",
                    kind=kind,
                    problems=problems,
                )
                records += unread_records(problems, {i: asked[i] for i in part}, records)
                found.update({record.ref.key: record for record in records})
        return [record for r in refs if (record := found.get(r.key)) is not None]

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Bulk ``update_many`` jobs; one result per change, in order."""
        return await self._writer.write(changes)

    async def field_catalog(self) -> list[FieldInfo]:
        """``notes``, ``details`` and every active custom field of the configured kinds."""
        kinds = self.config.record_kinds
        definitions: dict[str, list[dict[str, Any]]] = {
            kind: await self._api.field_definitions(kind) for kind in kinds
        }
        return build_catalog(definitions, kinds, self.text_limit)

    def notices(self) -> list[str]:
        """Facts an admin should see in ``status``."""
        facts = [
            f"writes go through update_many jobs of up to {self.write_batch_size} records, "
            f"at most {self.config.max_jobs_in_flight} jobs at once",
            f"identity index from incremental exports, paced at "
            f"{self.config.incremental_per_minute}/min",
        ]
        facts += [
            f"Zendesk refused bulk updates of {kind}s (403): writing one PUT per record "
            "instead; ask Zendesk Support to enable bulk updates for this account"
            for kind in sorted(self._writer.fallback_kinds)
        ]
        seen = self._api.pacing.gate.last_signal.limit
        if seen is not None and seen < self.config.plan_rpm:
            facts.append(
                f"account limit is {seen}/min, below plan_rpm={self.config.plan_rpm}: "
                "lower plan_rpm to avoid 429 responses"
            )
        return facts

    async def _prove_access(self) -> str:
        """``GET /api/v2/users/me.json``: proves email, token and base URL in one call."""
        await self._api.ping()
        return "API token accepted"


def _to_record(kind: str, asked: dict[str, RecordRef], row: dict[str, Any]) -> CustomerRecord:
    return to_record(kind, row, asked)
