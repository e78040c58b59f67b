"""The state of a fake Zendesk Support account: records, field catalogs, exports and jobs.

Written from Zendesk's documentation only (sources are abbreviated where used):

[IE]  developer.zendesk.com/api-reference/ticketing/ticket-management/incremental_exports/
[GIE] developer.zendesk.com/documentation/ticketing/managing-tickets/
      using-the-incremental-export-api
[ORG] developer.zendesk.com/api-reference/ticketing/organizations/organizations/
[JOB] developer.zendesk.com/api-reference/ticketing/ticket-management/job_statuses/
[RL]  developer.zendesk.com/api-reference/introduction/rate-limits (via shared/vendor-apis/
      service-apis.md section 1)
[UF]  developer.zendesk.com/api-reference/ticketing/users/user_fields/ (service-apis.md s. 1)
[SA1] shared/vendor-apis/service-apis.md section 1 (facts with their sources)
[3p]  third-party reports, named where used; [inferred] is this fake's reading, not a quote.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tests.docfakes.common import FakeClock, iso

Kind = Literal["organization", "user"]

EXCLUDED_RECENT_SECONDS = 60
"""[IE]/[GIE]: items created or changed within the minute before the request are excluded, and
``start_time`` "must be at least one minute in the past"."""
MAX_EXPORT_PAGE = 1000  # [IE] per_page: "up to a maximum of 1,000", default 1,000
MAX_SHOW_MANY = 100  # [ORG] Show Many: "a comma-separated list of up to 100" ids or external ids
MAX_UPDATE_MANY = 100  # [ORG] Update Many: "Bulk or batch updates up to 100 organizations"
MAX_JOBS_IN_FLIGHT = 30  # [RL] job limit, via [SA1]: "at most 30 queued or running jobs"
JOBS_REMEMBERED = 100  # [3p] Zendesk community post 4408867925914: "only logs the last 100 jobs"
FIELDS_PER_PAGE = 100  # [UF] via [SA1]: field metadata endpoints, "max 100 per page"
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(T00:00:00(Z|\+00:00))?$")


@dataclass(frozen=True)
class CustomField:
    """One ``organization_fields``/``user_fields`` definition [UF]."""

    key: str
    type: str
    title: str
    options: tuple[str, ...] = ()
    """Dropdown option values: the API writes the option ``value`` (the admin UI's tag) [UF]."""


@dataclass
class Record:
    kind: Kind
    id: int
    attrs: dict[str, Any]
    custom: dict[str, Any]
    created_at: int
    updated_at: int


@dataclass
class Job:
    id: str
    kind: Kind
    items: list[dict[str, Any]]
    created_at: float
    done_at: float
    results: list[dict[str, Any]] | None = None
    failure: str | None = None
    """Set for a job that fails as a whole: status "failed", nothing applied [JOB]."""


class TooManyJobs(Exception):
    def __init__(self, current: list[str]) -> None:
        super().__init__("TooManyJobs")
        self.current = current


class ZendeskAccount:
    """One account: what the API reads and writes, on a clock the test controls."""

    def __init__(
        self,
        clock: FakeClock,
        *,
        email: str = "sync-agent@acme.example",
        token: str = "zd-token-0123456789",
        plan_rpm: int = 700,
        export_rpm: int = 10,
        job_queued_seconds: float = 0.5,
        job_working_seconds: float = 1.0,
        job_expiry_seconds: float = 3600.0,
    ) -> None:
        self.clock = clock
        self.email, self.token = email, token
        self.role = "admin"  # incremental exports are "Allowed For: Admins" [IE]
        self.plan_rpm, self.export_rpm = plan_rpm, export_rpm
        self.job_queued_seconds, self.job_working_seconds = job_queued_seconds, job_working_seconds
        # [JOB] keeps status data "for one day"; [3p] community post 4408867925914 says jobs
        # "expire within an hour". The shorter one is the default: a client must not rely on more.
        self.job_expiry_seconds = job_expiry_seconds
        self.records: dict[tuple[Kind, int], Record] = {}
        self.fields: dict[Kind, list[CustomField]] = {"organization": [], "user": []}
        self.jobs: dict[str, Job] = {}
        self.forced_failures: dict[tuple[Kind, int], tuple[str, str]] = {}
        self.next_job_failure: str | None = None
        self._ids = itertools.count(360_000_001)
        self._job_ids = itertools.count(1)

    # -- seeding and agent activity -------------------------------------------------------

    def now(self) -> int:
        return int(self.clock.now())

    def add(
        self,
        kind: Kind,
        name: str,
        *,
        external_id: str | None = None,
        seconds_ago: float = 3600.0,
        custom: dict[str, Any] | None = None,
        **attrs: Any,
    ) -> Record:
        at = int(self.clock.now() - seconds_ago)
        base: dict[str, Any] = {"name": name, "external_id": external_id, "notes": None}
        base["details"] = None
        base.update(attrs)
        record = Record(kind, next(self._ids), base, dict(custom or {}), at, at)
        self.records[(kind, record.id)] = record
        return record

    def agent_edit(
        self, record: Record, *, custom: dict[str, Any] | None = None, **attrs: Any
    ) -> None:
        """An agent changes the record in the Zendesk UI now."""
        record.attrs.update(attrs)
        record.custom.update(custom or {})
        record.updated_at = self.now()

    def fail_next_update(self, kind: Kind, record_id: int, error: str, details: str) -> None:
        """The next bulk job reports this record as failed (e.g. a validation rule elsewhere)."""
        self.forced_failures[(kind, record_id)] = (error, details)

    # -- incremental exports [IE] ---------------------------------------------------------

    def _exportable(self, kind: Kind) -> list[Record]:
        newest = self.now() - EXCLUDED_RECENT_SECONDS  # [GIE] the last minute is excluded
        found = [r for (k, _), r in self.records.items() if k == kind and r.updated_at <= newest]
        return sorted(found, key=lambda r: (r.updated_at, r.id))

    def too_recent(self, start_time: int) -> bool:
        """[IE] ``start_time`` "must be at least one minute in the past"."""
        return start_time > self.now() - EXCLUDED_RECENT_SECONDS

    def time_based_page(self, kind: Kind, start_time: int, per_page: int) -> dict[str, Any]:
        """[IE] time-based export: items changed on or after ``start_time``, oldest first.

        ``end_time`` is "the most recent time present in the result set", to be used as the
        next ``start_time`` [IE], so the boundary second is returned again on the next page
        (time-based exports "may contain duplicate items": [GIE], also seen in real traffic in
        facetoe/zenpy#451). "The system may exceed the 1000-item default return limit if items
        share the same timestamp" [IE]: a page never ends inside a second.
        """
        matching = [r for r in self._exportable(kind) if r.updated_at >= start_time]
        page = matching[:per_page]
        while (
            len(page) < len(matching)
            and page
            and matching[len(page)].updated_at == page[-1].updated_at
        ):
            page.append(matching[len(page)])
        end_of_stream = len(page) == len(matching)
        end_time = page[-1].updated_at if page else start_time
        next_start = end_time
        if not end_of_stream and next_start == start_time:
            # [inferred] a page that is one whole second at start_time would otherwise be
            # served forever; that second was returned in full, so nothing is skipped.
            next_start += 1
        return {
            "count": len(page),
            "end_time": end_time,
            "end_of_stream": end_of_stream,
            "next_start_time": next_start,
            "records": page,
        }

    def cursor_page(
        self, kind: Kind, *, start_time: int | None, cursor: str | None, per_page: int
    ) -> dict[str, Any] | None:
        """[IE] cursor-based export: ``start_time`` once, then the opaque ``after_cursor``.

        Returns ``None`` for a cursor this account never issued.
        """
        if cursor is not None:
            position = _decode_cursor(cursor)
            if position is None:
                return None
        else:
            position = (int(start_time or 0) - 1, 2**62)
        after = [r for r in self._exportable(kind) if (r.updated_at, r.id) > position]
        page = after[:per_page]
        last = (page[-1].updated_at, page[-1].id) if page else position
        return {
            "records": page,
            "after_cursor": _encode_cursor(last),
            "end_of_stream": len(page) == len(after),
        }

    # -- reads and writes -----------------------------------------------------------------

    def show_many(self, kind: Kind, ids: list[str], external_ids: list[str]) -> list[Record]:
        wanted_ids = {int(i) for i in ids if i.isdigit()}
        # external_id is case-insensitive ("ian1" == "IAN1") [SA1, users page]
        wanted_ext = {e.lower() for e in external_ids}
        return [
            r
            for (k, _), r in sorted(self.records.items())
            if k == kind
            and (r.id in wanted_ids or str(r.attrs.get("external_id") or "").lower() in wanted_ext)
        ]

    def submit_job(self, kind: Kind, items: list[dict[str, Any]]) -> Job:
        self.run_jobs()
        current = [j.id for j in self.jobs.values() if j.results is None]
        if len(current) >= MAX_JOBS_IN_FLIGHT:
            raise TooManyJobs(current)
        now = self.clock.now()
        job_id = f"{next(self._job_ids):032x}"
        done_at = now + self.job_queued_seconds + self.job_working_seconds
        self.jobs[job_id] = Job(job_id, kind, items, now, done_at, failure=self.next_job_failure)
        self.next_job_failure = None
        while len(self.jobs) > JOBS_REMEMBERED:
            self.jobs.pop(next(iter(self.jobs)))
        return self.jobs[job_id]

    def occupy_job_slots(self, count: int, seconds: float) -> None:
        """Other integrations' bulk jobs, queued or running for ``seconds`` from now."""
        now = self.clock.now()
        for _ in range(count):
            job_id = f"{next(self._job_ids):032x}"
            self.jobs[job_id] = Job(job_id, "organization", [], now, now + seconds)

    def jobs_in_flight(self) -> int:
        self.run_jobs()
        return sum(1 for j in self.jobs.values() if j.results is None)

    def run_jobs(self) -> None:
        """Finish every job whose time has come; its changes land at its completion second."""
        now = self.clock.now()
        for job in self.jobs.values():
            if job.results is None and job.done_at <= now:
                job.results = (
                    []
                    if job.failure is not None
                    else [self._apply(job.kind, item, int(job.done_at)) for item in job.items]
                )
        for job_id in [
            j.id for j in self.jobs.values() if now - j.created_at > self.job_expiry_seconds
        ]:
            del self.jobs[job_id]

    def job_state(self, job: Job) -> str:
        """[JOB] status is one of "queued", "working", "failed", "completed"."""
        if job.results is not None:
            return "completed" if job.failure is None else "failed"
        return (
            "queued" if self.clock.now() < job.created_at + self.job_queued_seconds else "working"
        )

    def update_one(self, kind: Kind, item: dict[str, Any]) -> dict[str, Any]:
        """The single-record ``PUT``: applied at once, same validation as a job's record."""
        return self._apply(kind, item, self.now())

    def _apply(self, kind: Kind, item: dict[str, Any], at: int) -> dict[str, Any]:
        """One record of a job; [JOB] "Bulk update" results: id, action, success, status."""
        record_id = int(item.get("id", 0))
        record = self.records.get((kind, record_id))
        outcome: dict[str, Any] = {"id": record_id, "action": "update"}
        forced = self.forced_failures.pop((kind, record_id), None)
        problem = forced or (("RecordNotFound", "Not found") if record is None else None)
        if problem is None and record is not None:
            problem = self._write(record, item, at)
        if problem is not None:
            # Failed results carry ``error`` and ``details`` (Zendesk OAS JobStatusObject, read
            # in a generated client: "The error message", "The details of the error").
            return {**outcome, "success": False, "error": problem[0], "details": problem[1]}
        return {**outcome, "success": True, "status": "Updated"}

    def _write(self, record: Record, item: dict[str, Any], at: int) -> tuple[str, str] | None:
        custom_key = f"{record.kind}_fields"
        changes = {k: v for k, v in item.items() if k not in ("id", custom_key)}
        custom: dict[str, Any] = {}
        definitions = {f.key: f for f in self.fields[record.kind]}
        for key, value in dict(item.get(custom_key) or {}).items():
            definition = definitions.get(key)
            if definition is None:
                return ("RecordInvalid", f"{key}: no such {custom_key} key")  # [inferred] wording
            stored = _store_custom(definition, value)
            if isinstance(stored, _Invalid):
                return ("RecordInvalid", f"{definition.title}: {stored.reason}")  # [inferred]
            custom[key] = stored
        record.attrs.update(changes)
        record.custom.update(custom)
        record.updated_at = at
        return None

    # -- JSON shapes ----------------------------------------------------------------------

    def to_json(self, record: Record, base_url: str) -> dict[str, Any]:
        """The record as [ORG]/users examples print it (custom values keyed by field key)."""
        plural = "organizations" if record.kind == "organization" else "users"
        body: dict[str, Any] = {
            "id": record.id,
            "url": f"{base_url}/api/v2/{plural}/{record.id}.json",
            "tags": [],
            **record.attrs,
            f"{record.kind}_fields": {
                f.key: record.custom.get(f.key) for f in self.fields[record.kind]
            },
            "created_at": iso(record.created_at),
            "updated_at": iso(record.updated_at),
        }
        if record.kind == "organization":
            body.setdefault("domain_names", [])
            body.update(shared_tickets=False, shared_comments=False, group_id=None)
        else:
            body.setdefault("email", None)
            body.setdefault("role", "end-user")
            body.update(active=True, verified=True, organization_id=body.get("organization_id"))
        return body

    def field_json(self, kind: Kind, definition: CustomField, position: int) -> dict[str, Any]:
        """[UF]: key, type, title, active; dropdown options in ``custom_field_options``."""
        body: dict[str, Any] = {
            "id": 7_000 + position,
            "key": definition.key,
            "type": definition.type,
            "title": definition.title,
            "raw_title": definition.title,
            "position": position,
            "active": True,
            "regexp_for_validation": None,
        }
        if definition.type in ("dropdown", "multiselect"):
            body["custom_field_options"] = [
                {"id": 9_000 + i, "name": value.replace("_", " ").title(), "value": value}
                for i, value in enumerate(definition.options)
            ]
        return body


@dataclass(frozen=True)
class _Invalid:
    reason: str


def _store_custom(definition: CustomField, value: Any) -> Any:
    """A custom value as Zendesk stores and prints it; ``None`` clears the field."""
    if value is None:
        return None
    convert = _CONVERTERS.get(definition.type)
    try:
        return str(value) if convert is None else convert(definition, value)
    except (TypeError, ValueError) as exc:
        return _Invalid(str(exc))


def _dropdown(definition: CustomField, value: Any) -> str:
    # [UF]: the API writes the option value (the admin UI's tag), not the display name.
    if value not in definition.options:
        raise ValueError(f"{value!r} is not an option value")
    return str(value)


def _date(_definition: CustomField, value: Any) -> str:
    match = _DATE.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a date")
    # Read back as a timestamp: the Organizations examples print a date field as
    # "2018-11-04T00:00:00+00:00" although writes send a date [ORG], [UF] via [SA1].
    return f"{match.group(1)}T00:00:00+00:00"


def _decimal(_definition: CustomField, value: Any) -> float:
    return float(value)


def _integer(_definition: CustomField, value: Any) -> int:
    return int(float(value))


def _checkbox(_definition: CustomField, value: Any) -> bool:
    return bool(value)


_CONVERTERS: dict[str, Callable[[CustomField, Any], Any]] = {
    "dropdown": _dropdown,
    "date": _date,
    "decimal": _decimal,
    "integer": _integer,
    "checkbox": _checkbox,
}


def _encode_cursor(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}.{position[1]}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int] | None:
    try:
        first, _, second = base64.urlsafe_b64decode(cursor.encode()).decode().partition(".")
        return int(first), int(second)
    except ValueError:
        return None
