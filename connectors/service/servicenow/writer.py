"""Writes: checked against the catalog, refused when the record moved on, sent in batches.

For each ``write`` call:

1. Every change is checked against its table's schema (:mod:`values`): an unknown column, a
   value outside a choice list, a value longer than the column, a choice column to clear, a
   value of the wrong type fail that record before anything is sent; ServiceNow itself would
   accept most of these silently (FACTS.md 6.4, 6.5, 7.4).
2. Changes that carry ``expected_version`` are compared with ``sys_mod_count`` read just
   before the write (``GET ...?sysparm_query=sys_idIN...&sysparm_fields=sys_id,sys_mod_count``,
   100 ids a call): the Table API has no ETag or conditional update (7.3), so a record saved
   since the plan was made (an agent's edit) is refused as "changed since read" and planned
   again from fresh values next time; a record gone since is refused as deleted. The window
   between this read and the PATCH remains; a ``sys_mod_count`` that moved by more than one
   across the write is logged.
3. The rest go through the Batch API (``POST /api/now/v1/batch``): one PATCH item per record,
   ``sysparm_fields`` limited to what was written, so the answer is the read-back. Items run one
   after another "with the same performance characteristics as individual API requests", and the
   REST Batch API transaction quota cancels a batch after 30 seconds (8.3-8.4): a batch carries
   as many items as fit ``batch_seconds`` at the item time the instance reports
   (``execution_time``), at most ``batch_max_items``. Ids in ``unserviced_requests`` (the quota
   or a size limit stopped the batch before them) are sent again in a new, smaller batch, up to
   ``batch_rounds`` times; an item answered 429 or 5xx is sent again the same way. Items
   already served are never sent again. At most ``batches_in_flight`` batches of one connector
   run at once, however many batches the engine writes concurrently ("not intended for
   parallel transaction processing", 8.4).
4. When the instance has no Batch API for this user (a URI that matches no API answers 400,
   8.5; an access policy may answer 403), the connector falls back to one PATCH per record for
   the rest of its life and says so in ``notices()``.

Each served item's answer is compared with what was sent: a value the instance did not store
as sent (cut at a length limit, changed by a business rule) fails the record and says what
was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from connectors.base import RecordChange, WriteResult
from connectors.desk import PlannedChange
from connectors.errors import ConnectorError, PermanentError, RecordError
from connectors.record_values import MalformedRecord, field_value, objects, unreadable_answer
from connectors.service.servicenow.batch import BatchAnswer, BatchItem, ItemAnswer
from connectors.service.servicenow.catalog import TableSchema
from connectors.service.servicenow.client import TABLE, ServiceNowApi
from connectors.service.servicenow.config import ServiceNowConfig
from connectors.service.servicenow.dictionary import Catalog, CatalogPart
from connectors.service.servicenow.paging import SYS_ID
from connectors.service.servicenow.payloads import TABLES
from connectors.service.servicenow.values import Rejected, decode, encode_fields, same_stored

log = structlog.get_logger("dealbridge.servicenow")

MISSING_API_STATUSES = frozenset({400, 403, 404, 405})
"""Batch-call answers meaning "no Batch API here for you" rather than a bad item."""
LEARNING = 0.3
"""Weight of the latest batch in the running item-time estimate."""


@dataclass(frozen=True)
class Planned(PlannedChange):
    """A checked change: its table, the body to PATCH and its position in the call."""

    schema: TableSchema
    body: dict[str, str]

    @property
    def item_id(self) -> str:
        """The batch item id (unique within one write call)."""
        return str(self.index)

    @property
    def fields(self) -> str:
        """``sysparm_fields`` for the read-back: the version and what was written."""
        return ",".join(["sys_id", "sys_mod_count", *self.body])

    @property
    def path(self) -> str:
        """The record's Table API path."""
        return f"{TABLE}/{self.schema.table}/{self.change.ref.id}"


class Writer(CatalogPart):
    """Applies ``RecordChange`` batches; remembers whether the Batch API is usable."""

    def __init__(self, api: ServiceNowApi, config: ServiceNowConfig, catalog: Catalog) -> None:
        super().__init__(api, config, catalog)
        self.batch_refused: str | None = None
        """Why the Batch API is not used (None while it is)."""
        self.item_seconds = config.batch_item_seconds
        self.unserviced = 0
        """Items the instance left unserviced so far (each sent again)."""
        self._slots = asyncio.Semaphore(config.batches_in_flight)

    @property
    def batch_size(self) -> int:
        """Items per batch: as many as fit ``batch_seconds`` at the observed item time."""
        fits = int(self._config.batch_seconds / max(self.item_seconds, 0.001))
        return max(1, min(self._config.batch_max_items, fits))

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """One result per change, in order; a bad record fails alone, account problems raise."""
        results: dict[int, WriteResult] = {}
        kinds = sorted({c.ref.kind for c in changes if c.ref.kind in self._config.record_kinds})
        schemas = await self._catalog.schemas([TABLES[k] for k in kinds])
        planned: list[Planned] = []
        for index, change in enumerate(changes):
            outcome = _plan(index, change, schemas, self._config.record_kinds)
            if isinstance(outcome, WriteResult):
                results[index] = outcome
            else:
                planned.append(outcome)
        planned = await self._unmoved(planned, results)
        if planned and self._config.use_batch_api and self.batch_refused is None:
            await self._batched(planned, results)
        elif planned:
            await self._singly(planned, results)
        return [results[i] for i in range(len(changes))]

    async def _unmoved(
        self, planned: list[Planned], results: dict[int, WriteResult]
    ) -> list[Planned]:
        """Drop (as failed) records whose ``sys_mod_count`` moved since they were read."""
        asked = [p for p in planned if p.change.expected_version is not None]
        if not asked:
            return planned
        current: dict[tuple[str, str], str | None] = {}
        size = self._config.ids_per_query
        for table in sorted({p.schema.table for p in asked}):
            ids = [p.change.ref.id for p in asked if p.schema.table == table]
            for start in range(0, len(ids), size):
                rows = await self._api.list_all(
                    table,
                    {
                        "sysparm_query": f"sys_idIN{','.join(ids[start : start + size])}",
                        "sysparm_fields": "sys_id,sys_mod_count",
                        "sysparm_limit": size,
                    },
                    operation=f"versions {table}",
                )
                # a row that is not an object names no record: the change it would have
                # guarded fails below as not found, so nothing is written unchecked
                current.update({(table, str(r.get("sys_id"))): _count(r) for r in objects(rows)})
        kept = []
        for p in planned:
            expected = p.change.expected_version
            key = (p.schema.table, p.change.ref.id)
            if expected is None:
                kept.append(p)
            elif key not in current:
                results[p.index] = _gone(p.change)
            elif current[key] != str(expected).strip():
                results[p.index] = _failed(
                    p.change,
                    moved=True,
                    error=f"{p.change.ref.kind} {p.change.ref.id} changed since it was read "
                    f"(sys_mod_count {expected} -> {current[key]}): someone saved it in "
                    "ServiceNow meanwhile; nothing was written, it is planned again from its "
                    "current values",
                )
            else:
                kept.append(p)
        return kept

    async def _batched(self, planned: list[Planned], results: dict[int, WriteResult]) -> None:
        pending = planned
        size = self.batch_size
        for _round in range(self._config.batch_rounds):
            left: list[Planned] = []
            queue = list(pending)
            while queue:
                chunk, queue = queue[:size], queue[size:]
                if self.batch_refused is not None:
                    await self._singly(chunk + queue, results)
                    queue = []
                    break
                try:
                    async with self._slots:  # the engine writes many batches at once
                        answer = await self._api.batch([_item(p) for p in chunk])
                except ConnectorError as exc:
                    if not _missing_api(exc):
                        raise
                    self._refused(exc)
                    await self._singly(chunk + queue, results)
                    queue = []
                    break
                self._learn(answer)
                for p in chunk:
                    served = answer.served.get(p.item_id)
                    if served is None or _again(served):
                        left.append(p)
                    else:
                        results[p.index] = self._outcome(p, served)
                if answer.unserviced:  # a limit stopped it: later batches carry fewer
                    self.unserviced += len(answer.unserviced)
                    # Half of what got through (half the batch when nothing did), so an item
                    # that stops every batch it is in ends up alone and holds back no other.
                    done = len(chunk) - len(answer.unserviced)
                    size = max(1, min(self.batch_size, (done or len(chunk)) // 2))
            pending = left
            if not pending:
                return
            log.info("servicenow_batch_unserviced", items=len(pending), next_batch=size)
        for p in pending:
            results[p.index] = _failed(
                p.change,
                f"the Batch API left this update unserviced {self._config.batch_rounds} times "
                "(its 30-second quota or size limits stopped each batch before it); nothing "
                "was written, and the next run tries again",
            )

    async def _singly(self, planned: list[Planned], results: dict[int, WriteResult]) -> None:
        outcomes = await asyncio.gather(*(self._one(p) for p in planned), return_exceptions=True)
        fatal: BaseException | None = None
        for p, outcome in zip(planned, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                fatal = fatal or outcome
            else:
                results[p.index] = outcome
        if fatal is not None:
            raise fatal

    async def _one(self, p: Planned) -> WriteResult:
        try:
            stored = await self._api.patch(p.schema.table, p.change.ref.id, p.body, p.fields)
        except RecordError as exc:
            if exc.status == 404:
                return _gone(p.change)
            return _failed(p.change, _refusal(p, exc.message))
        return self._stored(p, stored)

    def _outcome(self, p: Planned, served: ItemAnswer) -> WriteResult:
        if served.status == 404:
            return _gone(p.change)
        result = served.body.get("result") if isinstance(served.body, dict) else None
        if 200 <= served.status < 300 and isinstance(result, dict):
            return self._stored(p, result)
        return _failed(p.change, _refusal(p, _message(served)))

    def _stored(self, p: Planned, stored: dict[str, Any]) -> WriteResult:
        fields: dict[str, Any] = {}
        for name, sent in p.body.items():
            column = p.schema.column(name)
            assert column is not None  # encode_fields only keeps known columns
            if name not in stored:
                self._catalog.forget()
                return _failed(
                    p.change,
                    f"ServiceNow did not return {name} after the write: the column may have "
                    f"been removed from {p.schema.table}; the catalog is read again",
                )
            try:  # the stored value's form first: a malformed object is no value to compare
                fields[name] = field_value(decode(column, stored[name]), name)
            except MalformedRecord as exc:
                return _failed(p.change, unreadable_answer("ServiceNow", p.change.ref, exc))
            if not same_stored(sent, stored[name], column):
                return _failed(p.change, _altered(name, sent, stored[name], column.max_length))
        _note_version_jump(p, stored.get("sys_mod_count"))
        return WriteResult(ref=p.change.ref, ok=True, fields=fields)

    def _learn(self, answer: BatchAnswer) -> None:
        times = [a.execution_ms for a in answer.served.values() if a.execution_ms is not None]
        if times:
            observed = sum(times) / len(times) / 1000
            self.item_seconds = (1 - LEARNING) * self.item_seconds + LEARNING * observed

    def _refused(self, exc: ConnectorError) -> None:
        self.batch_refused = f"HTTP {exc.status}: {exc.message}"
        log.warning(
            "servicenow_batch_api_unavailable",
            error=str(exc),
            fallback="PATCH /api/now/table/<table>/<sys_id> one record at a time",
        )


def _plan(
    index: int, change: RecordChange, schemas: dict[str, TableSchema], kinds: Sequence[str]
) -> Planned | WriteResult:
    ref = change.ref
    if ref.kind not in kinds:
        known = ", ".join(kinds)
        return _failed(change, f"{ref.kind!r} is not a record kind of this connector ({known})")
    if not SYS_ID.fullmatch(ref.id):
        return _failed(change, f"{ref.id!r} is not a ServiceNow sys_id")
    schema = schemas[TABLES[ref.kind]]
    try:
        body = encode_fields(schema, change.fields)
    except Rejected as exc:
        return _failed(change, str(exc))
    return Planned(index=index, change=change, schema=schema, body=body)


def _item(p: Planned) -> BatchItem:
    query = f"sysparm_fields={p.fields}&sysparm_exclude_reference_link=true"
    return BatchItem(id=p.item_id, method="PATCH", url=f"{p.path}?{query}", body=p.body)


def _again(served: ItemAnswer) -> bool:
    """Items worth sending again: throttled, failed inside the instance, or never run."""
    return served.status in (0, 429) or served.status >= 500


def _missing_api(exc: ConnectorError) -> bool:
    return isinstance(exc, PermanentError) and exc.status in MISSING_API_STATUSES


def _count(row: dict[str, Any]) -> str | None:
    value = row.get("sys_mod_count")
    return None if value is None else str(value).strip()


def _message(served: ItemAnswer) -> str:
    body = served.body
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = str(error.get("message") or "").strip()
        detail = str(error.get("detail") or "").strip()
        text = f"{message}: {detail}" if detail and detail != message else message
        if text:
            return text
    return served.error or f"HTTP {served.status}"


def _refusal(p: Planned, message: str) -> str:
    sent = ", ".join(f"{k}={v[:60]!r}" for k, v in p.body.items())
    where = f"{p.schema.table} {p.change.ref.id}"
    return f"ServiceNow refused the update of {where}: {message} (sent {sent})"


def _altered(name: str, sent: str, stored: Any, limit: int | None) -> str:
    value = stored.get("value") if isinstance(stored, dict) else stored
    text = "" if value is None else str(value)
    if len(text) < len(sent) and sent.startswith(text):
        where = f" at the column's {limit:,} characters" if limit else ""
        return (
            f"ServiceNow cut {name} to {len(text):,} of {len(sent):,} characters{where}; "
            "shorten the agents' text in that field"
        )
    return (
        f"ServiceNow stored {text[:80]!r} in {name} where {sent[:80]!r} was sent (a business "
        "rule or data policy changes it); the field is reported, not written again blindly"
    )


def _note_version_jump(p: Planned, after: Any) -> None:
    expected = p.change.expected_version
    try:
        moved = int(str(after)) - int(str(expected))
    except ValueError:
        return
    if moved > 1:
        log.warning(
            "servicenow_saved_meanwhile",
            record=p.change.ref.key,
            expected=expected,
            now=after,
            hint="someone saved the record between the version check and the write",
        )


def _gone(change: RecordChange) -> WriteResult:
    ref = change.ref
    return _failed(
        change,
        f"{ref.kind} {ref.id} no longer exists in ServiceNow (deleted, or hidden by an ACL, "
        "since it was matched); nothing was written; its deals are matched again",
    )


def _failed(change: RecordChange, error: str, *, moved: bool = False) -> WriteResult:
    log.warning("servicenow_record_rejected", record=change.ref.key, error=error)
    return WriteResult(ref=change.ref, ok=False, error=error, moved=moved)
