"""Writing changed fields: ``update_many`` jobs, job-status polling, read-back, bulk fallback.

Per batch of up to 100 records of one kind:

1. ``PUT /api/v2/{organizations|users}/update_many.json`` with ``{"organizations": [{"id",
   "notes", "organization_fields": {...}}]}``: Zendesk queues a job and answers its
   ``job_status`` [doc: Users API "Update Many Users"; zenpy cassettes for organizations].
2. Wait for the job (:mod:`jobwatch`: every open job of the connector is polled with one
   ``GET /api/v2/job_statuses/show_many.json``) until ``status`` is ``completed``, ``failed``
   or ``killed``; ``results[]`` hold ``{id, status: Updated|Failed, error, details}`` per
   record.
3. Records the job reported ``Updated`` hold what was sent (Zendesk stores custom field and
   ``notes`` values as given, and prints date fields as midnight-UTC timestamps: results
   report custom dates as the day, the form ``read`` gives them back in, see ``payloads``).
   Only records the job gave no verdict for (an expired status, a result list cut short) are
   read back with ``show_many`` and judged by what Zendesk holds. Skipping the read-back for
   reported records saves one request in four per batch, which is most of the gap to the
   account's request budget.

At most ``max_jobs_in_flight`` jobs (Zendesk: 30 queued or running per account) are open at
once; a ``TooManyJobs`` 429 is waited out by the HTTP client. A job status that has expired
(statuses live about an hour) leaves the outcome unknown: the read-back decides per record.

Some accounts answer 403 on bulk user endpoints (bulk user writes must be enabled by Zendesk).
Then this kind falls back to ``PUT /api/v2/{plural}/{id}.json`` one record at a time, paced
for Update User's ~1 request a second per account (Update Organization: 5 a minute per
organization, which one write per record per batch never reaches); logged once, and
reported by ``notices()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from connectors.base import RecordChange, RecordRef, WriteResult
from connectors.errors import ConnectorError, RecordError
from connectors.record_values import MalformedRecord, unreadable_answer
from connectors.service.zendesk.client import ZendeskApi
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.errors import endpoint_budget
from connectors.service.zendesk.jobwatch import JobWatch
from connectors.service.zendesk.payloads import (
    KINDS,
    USER,
    UnwritablePath,
    path_of,
    planned_update,
    record_id,
    stored_values,
)

log = structlog.get_logger("dealbridge.zendesk")

Planned = tuple[RecordChange, dict[str, Any], dict[str, Any]]
"""A change, the ``update_many`` row that carries it, and the values a write of it reports
once Zendesk accepted it (:func:`~connectors.service.zendesk.payloads.planned_update`)."""


class Writer:
    """Applies ``RecordChange`` batches; remembers which kinds fell back to single PUTs."""

    def __init__(self, api: ZendeskApi, config: ZendeskConfig) -> None:
        self._api = api
        self._config = config
        self.fallback_kinds: set[str] = set()
        self._jobs = JobWatch(api, config)

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """One result per change, in order; bad records fail alone, account problems raise."""
        results: dict[int, WriteResult] = {}
        groups: dict[str, list[tuple[int, Planned]]] = {kind: [] for kind in KINDS}
        for index, change in enumerate(changes):
            planned = self._plan(change)
            if isinstance(planned, WriteResult):
                results[index] = planned
            else:
                groups[change.ref.kind].append((index, planned))
        size = self._config.write_batch_size
        for kind, items in groups.items():
            for start in range(0, len(items), size):
                batch = items[start : start + size]
                outcomes = await self._batch(kind, [planned for _, planned in batch])
                results.update(zip((i for i, _ in batch), outcomes, strict=True))
        return [results[i] for i in range(len(changes))]

    def _plan(self, change: RecordChange) -> Planned | WriteResult:
        ref = change.ref
        if ref.kind not in KINDS:
            error = f"unknown Zendesk record kind {ref.kind!r} (use organization or user)"
            return WriteResult(ref=ref, ok=False, error=error)
        try:
            return change, *planned_update(ref.kind, ref.id, change.fields)
        except UnwritablePath as exc:
            return WriteResult(ref=ref, ok=False, error=str(exc))

    async def _batch(self, kind: str, batch: list[Planned]) -> list[WriteResult]:
        if kind in self.fallback_kinds:
            return await self._singly(kind, batch)
        try:
            job = await self._run_job(kind, [row for _, row, _ in batch])
        except ConnectorError as exc:
            if exc.status != 403 or exc.operation.startswith("job_status"):
                raise
            self._fall_back(kind, exc)
            return await self._singly(kind, batch)
        return await self._outcomes(kind, batch, job)

    async def _run_job(self, kind: str, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Submit and wait; None when the job status expired before it finished."""
        pacing = self._api.pacing
        async with pacing.jobs:
            job, response = await self._api.update_many(kind, rows)
            budget = endpoint_budget(response, "inflight-jobs")
            if budget is not None and budget[1] <= 0:
                pacing.gate.block_for(budget[2] or 1.0)  # the next submit waits for room
            return await self._jobs.wait(job)

    async def _outcomes(
        self, kind: str, batch: list[Planned], job: dict[str, Any] | None
    ) -> list[WriteResult]:
        verdicts = _job_results(job)
        found = [
            verdicts.get(change.ref.id) or verdicts.get(f"#{index}")
            for index, (change, _, _) in enumerate(batch)
        ]
        unsure = [p[0].ref.id for p, v in zip(batch, found, strict=True) if v is None]
        stored = await self._read_back(kind, unsure) if unsure else {}
        return [
            _result(planned, verdict, stored.get(planned[0].ref.id), job)
            for planned, verdict in zip(batch, found, strict=True)
        ]

    async def _read_back(self, kind: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        rows = await self._api.show_many(kind, ids)
        read: dict[str, dict[str, Any]] = {}
        for row in rows:
            if not isinstance(row, dict):
                continue  # no record: the change it was asked for shows as missing
            try:
                read[record_id(row)] = row
            except ValueError:  # no id: not one of ours to read back (it shows as missing)
                continue
        return read

    async def _singly(self, kind: str, batch: list[Planned]) -> list[WriteResult]:
        results = []
        for change, row, _ in batch:  # one at a time: Update User allows ~1/s per account
            if kind == USER:
                await self._api.pacing.take(self._api.pacing.single_users)
            try:
                stored = await self._api.update_one(kind, change.ref.id, row)
            except RecordError as exc:
                results.append(_rejected(change, exc.message, exc.field, exc.status))
                continue
            try:
                fields = stored_values(kind, stored, change.fields)
            except MalformedRecord as exc:
                error = unreadable_answer("Zendesk", change.ref, exc)
                results.append(WriteResult(ref=change.ref, ok=False, error=error))
                continue
            results.append(WriteResult(ref=change.ref, ok=True, fields=fields))
        return results

    def _fall_back(self, kind: str, exc: ConnectorError) -> None:
        self.fallback_kinds.add(kind)
        log.warning(
            "zendesk_bulk_update_refused",
            kind=kind,
            error=str(exc),
            fallback=f"PUT /api/v2/{kind}s/{{id}}.json one record at a time",
        )


def _job_results(job: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Per-record results by record id (or ``#index`` when Zendesk gave only an index)."""
    if job is None or not isinstance(job.get("results"), list):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for item in job["results"]:
        if not isinstance(item, dict):
            continue
        if item.get("id") is not None:
            found[str(item["id"]).removesuffix(".0")] = item
        elif item.get("index") is not None:
            found[f"#{item['index']}"] = item
    return found


def _result(
    planned: Planned,
    verdict: dict[str, Any] | None,
    stored: dict[str, Any] | None,
    job: dict[str, Any] | None,
) -> WriteResult:
    """What became of one record of a job (``verdict``: its result in the job, if any;
    ``stored``: the record as read back, when the job did not say)."""
    if verdict is not None and _plainly_updated(verdict):  # nearly every record: asked first
        return _written(planned[0].ref, planned[2])
    return _judged(planned, verdict, stored, job)


def _judged(
    planned: Planned,
    verdict: dict[str, Any] | None,
    stored: dict[str, Any] | None,
    job: dict[str, Any] | None,
) -> WriteResult:
    """A record's result judged in full: missing, failed, reported written, or read back."""
    change, _, reported = planned
    ref = change.ref
    missing = stored is None if verdict is None else verdict.get("error") == "RecordNotFound"
    if missing:
        return _rejected(change, f"{ref.kind} {ref.id} not found in Zendesk", None, 404)
    if verdict is not None and _failed(verdict):
        message = str(verdict.get("details") or verdict.get("error") or "update failed")
        # Zendesk documents ``error`` as a text code; any other value is reported as text
        # too, so an odd result fails its own record, not the whole job's.
        code = str(verdict.get("error") or "")
        text = f"{message} ({code})" if code and code not in message else message
        return _rejected(change, text, _named_field(ref.kind, message, change.fields), None)
    if verdict is not None:  # reported Updated: Zendesk holds what was sent
        return _written(ref, reported)
    assert stored is not None  # no verdict and not missing
    try:
        fields = stored_values(ref.kind, stored, change.fields)
    except MalformedRecord as exc:
        return WriteResult(ref=ref, ok=False, error=unreadable_answer("Zendesk", ref, exc))
    if not _matches(fields, reported):
        state = "expired" if job is None else str(job.get("status"))
        error = f"Zendesk job {state} without a result for this record, and it does not hold "
        return WriteResult(ref=ref, ok=False, error=error + "the written values", fields=fields)
    return WriteResult(ref=ref, ok=True, fields=fields)


def _plainly_updated(verdict: dict[str, Any]) -> bool:
    """A result as Zendesk reports almost every record of a job (``status: Updated``,
    ``success: true``, no error): written, as :func:`_judged` would find it. Asked first,
    as every record written passes here."""
    return (
        verdict.get("status") == "Updated"
        and verdict.get("success") is True
        and not verdict.get("error")
    )


def _failed(verdict: dict[str, Any]) -> bool:
    status = str(verdict.get("status") or "").lower()
    return status == "failed" or verdict.get("success") is False or bool(verdict.get("error"))


_VALIDATE_RESULT = WriteResult.__pydantic_validator__.validate_python


def _written(ref: RecordRef, fields: dict[str, Any]) -> WriteResult:
    """``WriteResult(ref=ref, ok=True, fields=fields)`` in one call into pydantic-core (the
    same validation without the model's Python ``__init__``: every record written passes
    here)."""
    result: WriteResult = _VALIDATE_RESULT({"ref": ref, "ok": True, "fields": fields})
    return result


def _matches(stored: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return all(_same(stored.get(path), value) for path, value in expected.items())


def _same(stored: Any, sent: Any) -> bool:
    if isinstance(stored, int | float) and isinstance(sent, int | float | str):
        try:
            return float(stored) == float(sent)
        except ValueError:
            return False
    return bool(stored == sent or (stored in (None, "") and sent in (None, "")))


def _named_field(kind: str, message: str, sent: Mapping[str, Any]) -> str | None:
    """The written path a job's free-text failure names: by field key, by its title-cased
    form ("Payment terms" for ``payment_terms``), or the only path sent."""
    text = message.lower()
    for path in sent:
        key = path.split(".")[-1]
        if key.lower() in text or key.replace("_", " ").lower() in text:
            return path_of(kind, key, sent)
    return next(iter(sent)) if len(sent) == 1 else None


def _rejected(
    change: RecordChange, message: str, field: str | None, status: int | None
) -> WriteResult:
    ref = change.ref
    if status == 404:
        error = f"{ref.kind} {ref.id} not found in Zendesk (deleted or merged?)"
    else:
        path = path_of(ref.kind, field, change.fields)
        sent = f" (sent {path} = {change.fields[path]!r})" if path in change.fields else ""
        error = f"{message}{sent}"
    log.warning("zendesk_record_rejected", record=ref.key, status=status, error=error)
    return WriteResult(ref=ref, ok=False, error=error)
