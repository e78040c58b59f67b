"""Writing changed fields through sObject Collections, 200 records a call, each on its own.

Per ``write`` call:

1. **Plan** every change against the describe of its object (FACTS.md 3.1-3.3), so that one bad
   record can never fail the call for the others (an unknown field in a collection fails the
   whole request, FACTS.md 5.1 and its gap): a field the object does not have, a read-only
   field, a value of the wrong type, text over the field's limit (characters for one-line
   text, **UTF-8 bytes** for text areas, FACTS.md 3.2), a picklist value that is not an active
   choice (restricted picklists are enforced by Salesforce too, unrestricted ones are not:
   FACTS.md 3.3) are each a failed ``WriteResult`` naming the record, field and value, and
   nothing of that record is sent. A field or choice the cached describe lacks re-reads the
   describe once first (an admin may have just created it).
2. **Versions** (``check_versions``): records planned on a known ``SystemModstamp``
   (``RecordChange.expected_version``) have it read again, one ``SELECT Id, SystemModstamp ...
   WHERE Id IN (...)`` per batch: a record whose stamp moved is refused as "changed since
   read", one no longer there as deleted. sObject Collections take no ``If-Match`` /
   ``If-Unmodified-Since`` (FACTS.md 6.2), and a conditional single-record PATCH per record
   would cost 200 calls where this costs one; what it leaves open is a save landing between
   this read and the update, milliseconds later.
3. **Update**: ``PATCH /composite/sobjects`` with ``allOrNone: false`` (FACTS.md 5.1): up to
   ``write_batch_size`` records, accounts before contacts (a call takes at most 10 runs of one
   type). SaveResults come back in request order (5.2): ``ENTITY_IS_DELETED`` and kin mean the
   record was deleted between lookup and write; ``UNABLE_TO_LOCK_ROW`` is sent again once, a
   second later;
   anything else is refused with Salesforce's words and the fix (:mod:`.errors`).
   A whole-call 400 ``INVALID_FIELD`` (a field deleted since the describe) re-reads the
   describes, fails the records naming it, and sends the rest once more: a 400 wrote nothing,
   so nothing is written twice.

A record written holds what was sent: the ``WriteResult`` carries the values in the form
Salesforce stores them (numbers, ``YYYY-MM-DD`` dates, text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from connectors.base import RecordChange, WriteResult
from connectors.desk import PlannedChange
from connectors.errors import PermanentError
from connectors.record_values import objects
from connectors.service.servicecloud.catalog import Column, DescribedPart, Describes
from connectors.service.servicecloud.client import ServiceCloudApi
from connectors.service.servicecloud.config import ServiceCloudConfig
from connectors.service.servicecloud.errors import SaveError, describe_refusal, save_error
from connectors.service.servicecloud.payloads import (
    KINDS,
    SOBJECT,
    STAMP,
    Unwritable,
    api_value,
    parse_stamp,
    size_of,
)
from connectors.service.servicecloud.queries import VALUES_MAX, fitting, in_list, select

log = structlog.get_logger("dealbridge.servicecloud")

STALE_DESCRIBE = frozenset({"INVALID_FIELD", "INVALID_FIELD_FOR_INSERT_UPDATE"})
"""Whole-call refusals that mean the cached describe is out of date."""
LOCK_PAUSE = 1.0
"""Seconds before records another transaction had locked are sent again."""


@dataclass(frozen=True)
class Planned(PlannedChange):
    """A change ready to send: its collection record and the values it carries."""

    sobject: str
    row: dict[str, Any]
    sent: dict[str, Any]
    """The change's paths with the values as sent."""


@dataclass(frozen=True)
class Refused:
    """A change not sent; ``stale`` when a fresher describe might accept it."""

    result: WriteResult
    stale: bool = False


@dataclass
class WriteStats:
    """What the writer did, for notices and tests."""

    calls: int = 0
    version_checks: int = 0
    describe_refreshes: int = 0
    retried: int = 0
    refused: int = 0


class Writer(DescribedPart):
    """Applies ``RecordChange`` batches; one result per change, in order."""

    def __init__(
        self, api: ServiceCloudApi, config: ServiceCloudConfig, describes: Describes
    ) -> None:
        super().__init__(api, config, describes)
        self.stats = WriteStats()

    async def write(self, changes: Sequence[RecordChange]) -> list[WriteResult]:
        """Bad records fail alone; org-wide problems (auth, budget, a broken request) raise."""
        results: dict[int, WriteResult] = {}
        planned = await self._plan_all(list(enumerate(changes)), results, refresh=True)
        order = {kind: n for n, kind in enumerate(KINDS)}
        planned.sort(key=lambda p: (order.get(p.change.ref.kind, 0), p.index))
        size = self._config.write_batch_size
        for start in range(0, len(planned), size):
            results.update(await self._send(planned[start : start + size]))
        return [results[i] for i in range(len(changes))]

    # -- planning ---------------------------------------------------------------------------
    async def _plan_all(
        self,
        items: list[tuple[int, RecordChange]],
        results: dict[int, WriteResult],
        *,
        refresh: bool,
    ) -> list[Planned]:
        planned: list[Planned] = []
        stale: dict[int, tuple[RecordChange, Refused]] = {}
        for index, change in items:
            if not change.fields:  # nothing to change: an empty save would still move the stamp
                results[index] = WriteResult(ref=change.ref, ok=True)
                continue
            outcome = await self._plan(index, change)
            if isinstance(outcome, Planned):
                planned.append(outcome)
            elif outcome.stale and refresh:
                stale[index] = (change, outcome)
            else:
                results[index] = outcome.result
                self.stats.refused += 1
        objects = sorted({SOBJECT[change.ref.kind] for change, _ in stale.values()})
        refreshed = [sobject for sobject in objects if await self._describes.refresh(sobject)]
        self.stats.describe_refreshes += len(refreshed)
        if refreshed:
            again = [(index, change) for index, (change, _) in stale.items()]
            return planned + await self._plan_all(again, results, refresh=False)
        for index, (_, outcome) in stale.items():
            results[index] = outcome.result
            self.stats.refused += 1
        return planned

    async def _plan(self, index: int, change: RecordChange) -> Planned | Refused:
        ref = change.ref
        if ref.kind not in self._config.record_kinds:
            kinds = " or ".join(self._config.record_kinds)
            return _refused(change, f"unknown Service Cloud record kind {ref.kind!r} (use {kinds})")
        sobject = SOBJECT[ref.kind]
        schema = await self._describes.get(sobject)
        row: dict[str, Any] = {"attributes": {"type": schema.name}, "id": ref.id}
        sent: dict[str, Any] = {}
        for path, value in change.fields.items():
            column = schema.get(path)
            if column is None:
                return _refused(
                    change,
                    f"{schema.name} has no field {path!r} (describe of the Salesforce org): "
                    "create it, or fix the mapping's write: key",
                    stale=True,
                )
            problem = _problem(column, value, self._config)
            if problem is not None:
                text, stale = problem
                return _refused(change, f"{schema.name} {ref.id}: {text}", stale=stale)
            sent[path] = row[column.name] = api_value(column, value)
        return Planned(index, change, schema.name, row, sent)

    # -- sending ----------------------------------------------------------------------------
    async def _send(self, batch: list[Planned]) -> dict[int, WriteResult]:
        results: dict[int, WriteResult] = {}
        if self._config.check_versions:
            refused = await self._moved(batch)
            results.update(refused)
            batch = [p for p in batch if p.index not in refused]
        if not batch:
            return results
        answers, batch = await self._update(batch, results)
        again: list[Planned] = []
        for planned, answer in _paired(batch, answers):
            error = save_error(answer)
            if error is not None and error.verdict == "retry":
                again.append(planned)
            else:
                results[planned.index] = self._result(planned, error)
        if again:
            self.stats.retried += len(again)
            self._api.gate.block_for(LOCK_PAUSE)
            answers = await self._api.update_collection([p.row for p in again])
            self.stats.calls += 1
            for planned, answer in _paired(again, answers):
                results[planned.index] = self._result(planned, save_error(answer))
        return results

    async def _update(
        self, batch: list[Planned], results: dict[int, WriteResult]
    ) -> tuple[list[Any], list[Planned]]:
        """Send the batch; on a whole-call 400 naming a field, re-read the describes, drop the
        records that now fail their plan, and send the rest once more."""
        try:
            self.stats.calls += 1
            return await self._api.update_collection([p.row for p in batch]), batch
        except PermanentError as exc:
            if exc.status != 400 or exc.vendor_code not in STALE_DESCRIBE:
                raise
            log.warning("servicecloud_describe_stale", error=str(exc))
        for sobject in sorted({p.sobject for p in batch}):
            self._describes.cache.pop(sobject, None)
        self.stats.describe_refreshes += 1
        replanned: list[Planned] = []
        for planned in batch:
            outcome = await self._plan(planned.index, planned.change)
            if isinstance(outcome, Planned):
                replanned.append(outcome)
            else:
                results[planned.index] = outcome.result
                self.stats.refused += 1
        if not replanned:
            return [], []
        self.stats.calls += 1
        return await self._api.update_collection([p.row for p in replanned]), replanned

    async def _moved(self, batch: list[Planned]) -> dict[int, WriteResult]:
        """Records whose SystemModstamp moved since the plan's read (or that are gone)."""
        expecting = [p for p in batch if p.change.expected_version]
        if not expecting:
            return {}
        current: dict[str, str | None] = {}
        for sobject in sorted({p.sobject for p in expecting}):
            ids = [p.change.ref.id for p in expecting if p.sobject == sobject]

            def render(part: Sequence[str], sobject: str = sobject) -> str:
                return select(sobject, ["Id", STAMP], in_list("Id", part))

            for soql in fitting(ids, render, self._api.fits, VALUES_MAX):
                self.stats.version_checks += 1
                # a row that is not an object names no record: the change it would have
                # guarded is refused below as gone, so nothing is written unchecked
                for row in objects(await self._api.query_rows(soql, "check versions")):
                    if isinstance(row.get("Id"), str):
                        stamp = row.get(STAMP)
                        current[row["Id"]] = stamp if isinstance(stamp, str) else None
        refused: dict[int, WriteResult] = {}
        for planned in expecting:
            ref, expected = planned.change.ref, planned.change.expected_version
            moved = False
            if ref.id not in current:
                text = (
                    f"{ref.kind} {ref.id} no longer exists in Salesforce (deleted or merged since "
                    "it was read); its deals are matched again after the next index refresh"
                )
            elif not _same_stamp(current[ref.id], expected):
                moved = True
                text = (
                    f"{ref.kind} {ref.id} changed since read: SystemModstamp moved from "
                    f"{expected} to {current[ref.id]} (someone saved it after dealbridge read "
                    "it); nothing was written, and it is planned again from its new values"
                )
            else:
                continue
            refused[planned.index] = WriteResult(ref=ref, ok=False, error=text, moved=moved)
            self.stats.refused += 1
        return refused

    def _result(self, planned: Planned, error: SaveError | None) -> WriteResult:
        ref = planned.change.ref
        if error is None:
            return WriteResult(ref=ref, ok=True, fields=dict(planned.sent))
        text = describe_refusal(ref.kind, ref.id, error, planned.sent)
        log.warning("servicecloud_record_refused", record=ref.key, code=error.code, error=text)
        self.stats.refused += 1
        return WriteResult(ref=ref, ok=False, error=text)


def _refused(change: RecordChange, text: str, *, stale: bool = False) -> Refused:
    return Refused(WriteResult(ref=change.ref, ok=False, error=text), stale=stale)


def _problem(column: Column, value: Any, config: ServiceCloudConfig) -> tuple[str, bool] | None:
    """Why ``value`` cannot be written to ``column`` (and whether a fresher describe might
    accept it), or None."""
    if not column.updateable:
        return (
            f"field {column.name} is read-only for the integration user (describe: not "
            "updateable): give the user edit access or stop writing it",
            False,
        )
    if not column.writable:
        return (
            f"field {column.name} is of type {column.type}, which dealbridge does not write",
            False,
        )
    try:
        sent = api_value(column, value)
    except Unwritable as exc:
        return str(exc), False
    if isinstance(sent, str) and column.length:
        size = size_of(column, sent)
        if size > column.length:
            unit = "UTF-8 bytes" if column.counts_bytes else "characters"
            advice = (
                "the agents' own text in this field leaves no room: shorten it, or lower "
                "note_max_chars"
                if column.name.lower() == config.note_field.lower()
                else "shorten the value or map a shorter one"
            )
            return (
                f"{column.name} would hold {size} {unit}, over the {column.length} Salesforce "
                f"accepts in this field ({unit} are what it counts here): {advice}",
                False,
            )
    if column.has_choices and isinstance(sent, str):
        chosen = sent.split(";") if column.type == "multipicklist" else [sent]
        missing = [v for v in chosen if v not in column.choices]
        if missing:
            kind = "restricted" if column.restricted else "unrestricted (Salesforce would store it)"
            return (
                f"{column.name}: {', '.join(map(repr, missing))} is not one of the "
                f"{kind} picklist's values ({', '.join(column.choices)}): add it in Setup, or map "
                "the canonical value to one of them with 'map:'",
                True,
            )
    return None


def _same_stamp(current: str | None, expected: str | None) -> bool:
    if current is None or expected is None:
        return current == expected
    left, right = parse_stamp(current), parse_stamp(expected)
    if left is None or right is None:
        return current == expected
    return left == right


def _paired(batch: list[Planned], answers: list[Any]) -> list[tuple[Planned, Any]]:
    """Results by position (FACTS.md 5.1: in request order); a missing one is a failure."""
    text = "Salesforce returned no result for this record; it is written again on the next attempt"
    missing = {"success": False, "errors": [{"statusCode": "NO_RESULT", "message": text}]}
    return [(p, answers[i] if i < len(answers) else missing) for i, p in enumerate(batch)]
