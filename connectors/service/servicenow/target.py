"""``ServiceNowTarget``: the ServiceTarget protocol (and ``TicketDesk``) over CSM tables.

``customers`` polls ``sys_updated_on`` (see ``identity``); ``lookup`` asks the tables for
index misses (see ``lookup``); ``read`` fetches current values and ``sys_mod_count`` with
``sys_idIN`` queries, 100 ids a call; ``write`` checks every value against the catalog and
writes through the Batch API (see ``writer``); alerts become cases (see ``tickets``).
"""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import CustomerRecord, FieldInfo, RecordChange, RecordRef, WriteResult
from connectors.desk import AlertTickets, DeskTarget
from connectors.record_values import RecordProblem, read_each, unread_records
from connectors.service.servicenow.catalog import field_infos
from connectors.service.servicenow.client import ServiceNowApi
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.dictionary import Catalog
from connectors.service.servicenow.identity import IdentityFeed
from connectors.service.servicenow.lookup import Lookup
from connectors.service.servicenow.pacing import build_pacing
from connectors.service.servicenow.paging import SYS_ID
from connectors.service.servicenow.payloads import TABLES, identity_columns, reader
from connectors.service.servicenow.tickets import CaseDesk
from connectors.service.servicenow.writer import Writer
from connectors.settings import ConnectorOptions


class ServiceNowTarget(AlertTickets, DeskTarget[ServiceNowConfig, ServiceNowApi]):
    """A ServiceNow instance with Customer Service Management as the service desk.

    Customers come from accounts, contacts and consumers changed since the cursor, kind by
    kind (``identity``); lookups read the tables (``lookup``); alerts open cases and go on as
    work notes (``tickets``)."""

    system = "servicenow"
    _tickets: CaseDesk

    def __init__(self, name: str, config: ServiceNowConfig, options: ConnectorOptions) -> None:
        super().__init__(name, config, config.write_batch_size, config.note_max_length)
        self._api = ServiceNowApi(
            name, config, options, build_pacing(config, options.sleep, name, options.budget_share)
        )
        self._catalog = Catalog(self._api)
        self._feed = IdentityFeed(self._api, config, self._catalog)
        self._lookup = Lookup(self._api, config, self._catalog)
        self._writer = Writer(self._api, config, self._catalog)
        self._tickets = CaseDesk(self._api, config, self._catalog)

    @property
    def api(self) -> ServiceNowApi:
        """The HTTP layer (request counts for benchmarks: ``api.http.stats``)."""
        return self._api

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        """Current values and ``sys_mod_count``, ``ids_per_query`` records a call; records
        that are gone (or hidden by an ACL) are left out."""
        kinds = [k for k in self.config.record_kinds if any(r.kind == k for r in refs)]
        if not kinds:
            return []
        schemas = await self._catalog.schemas([TABLES[k] for k in kinds])
        size = self.config.ids_per_query
        found: dict[str, CustomerRecord] = {}
        for kind in kinds:
            schema = schemas[TABLES[kind]]
            columns = identity_columns(kind, self.config, schema)
            asked = {r.id: r for r in refs if r.kind == kind and SYS_ID.fullmatch(r.id)}
            ids = list(asked)
            for start in range(0, len(ids), size):
                part = ids[start : start + size]
                rows = await self._api.list_all(
                    schema.table,
                    {
                        "sysparm_query": f"sys_idIN{','.join(part)}",
                        "sysparm_limit": size,
                    },
                    operation=f"read {schema.table}",
                )
                problems: list[RecordProblem] = []
                read = reader(kind, schema, columns)
                records = read_each(
                    rows, read, desk="ServiceNow", kind=kind, problems=problems, id_field="sys_id"
                )
                records += unread_records(problems, {i: asked[i] for i in part}, records)
                found.update({record.ref.key: record for record in records})
        return [found[r.key] for r in refs if r.key in found]

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Checked, version-guarded Batch API writes; one result per change, in order."""
        return await self._writer.write(changes)

    async def field_catalog(self) -> list[FieldInfo]:
        """Every writable, active column of the configured kinds' tables (and their parents),
        with types, choice lists and lengths."""
        tables = {kind: TABLES[kind] for kind in self.config.record_kinds}
        schemas = await self._catalog.schemas(tables.values())
        return field_infos({kind: schemas[table] for kind, table in tables.items()})

    def notices(self) -> list[str]:
        """Facts an admin should see in ``status``."""
        writer = self._writer
        facts = []
        if not self.config.use_batch_api:
            facts.append("Batch API turned off (use_batch_api: false): one PATCH per record")
        elif writer.batch_refused is not None:
            facts.append(
                f"the instance refused the Batch API ({writer.batch_refused}): writing one PATCH "
                "per record instead; ask the ServiceNow admin to allow /api/now/v1/batch for "
                "the integration user"
            )
        else:
            facts.append(
                f"writes go through the Batch API, {writer.batch_size} PATCHes a call (planned "
                f"at {self.config.batch_seconds:.0f} s of its 30-second quota, "
                f"{writer.item_seconds:.2f} s an item)"
            )
        if writer.unserviced:
            facts.append(
                f"{writer.unserviced} batch item(s) came back unserviced and were sent again "
                "in smaller batches"
            )
        facts.append(self._budget_fact())
        facts.append(
            "ServiceNow does not enforce choice lists or lengths through the API: values are "
            "checked against sys_dictionary and sys_choice before writing"
        )
        if self._catalog.hierarchy_unknown is not None:
            facts.append(self._catalog.hierarchy_unknown)
        if self._tickets.dedupe_off is not None:
            facts.append(self._tickets.dedupe_off)
        return facts

    async def _prove_access(self) -> str:
        """Read one row of the first kind's table: proves credentials, base URL and access."""
        table = TABLES[self.config.record_kinds[0]]
        await self._api.list_page(
            table, {"sysparm_fields": "sys_id", "sysparm_limit": 1}, operation="check"
        )
        return f"{self.config.auth.flow.replace('_', ' ')} accepted; {table} readable"

    def _budget_fact(self) -> str:
        hourly = self._api.pacing.hourly
        if hourly.limit is None:
            return (
                "no rate-limit rule configured or reported: requests are not paced per hour "
                "(set requests_per_hour to the rule's limit if the instance has one)"
            )
        rule = f" (rule {hourly.rule})" if hourly.rule else ""
        return (
            f"paced at {hourly.limit} requests an hour{rule}, "
            f"{self.config.hourly_share:.0%} of the rule's limit; {hourly.spent()} spent in the "
            "last hour"
        )

    def _usage(self) -> str | None:
        hourly = self._api.pacing.hourly
        if hourly.limit is None:
            return None
        return f"{hourly.spent()}/{hourly.limit} requests this hour (dealbridge's share)"
