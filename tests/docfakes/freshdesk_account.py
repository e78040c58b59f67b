"""The state of a fake Freshdesk helpdesk: companies, contacts, field catalogs, the search index.

Written from Freshdesk's documentation and first-hand client sources only (abbreviations):

[SA2]  shared/vendor-apis/service-apis.md section 2 (facts with their sources)
[RLFD] support.freshdesk.com/support/solutions/articles/225439 (rate limits, via [SA2])
[ERR]  support.freshdesk.com/support/solutions/articles/225440 (status codes and their reasons)
[PFD]  sjkingo/python-freshdesk freshdesk/v2/api.py: Basic auth with the API key, filter
       queries <= 512 characters, 30 results a page, pages 1-10, contact list filters
       (email, mobile, phone, company_id, state, ``_updated_since``), 429 + Retry-After
[LINK] developers.freshdesk.com/api/#pagination as quoted in NangoHQ/integration-templates#63:
       "The 'link' header in the response will hold the next page url if exists. If you have
       reached the last page of objects, then the link header will not be set."
[FLT]  developers.freshdesk.com/api/#filter_companies as cited by the connector's own module
       docstring (read, not re-checked here): ``:>`` is on-or-after, dates ``YYYY-MM-DD``,
       deleted records excluded, a few minutes of indexing lag
[FX]   shared/vendor-apis/fixtures/freshdesk/*.json (real payload shapes)
[unverified] is this fake's reading where no source says it; the report lists each one.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from tests.docfakes.common import FakeClock, iso

Kind = Literal["company", "contact"]

MAX_PER_PAGE = 100  # [SA2] list pages: page/per_page, 100 at most
SEARCH_PAGE_SIZE = 30  # [PFD] filter API: 30 results a page
SEARCH_MAX_PAGE = 10  # [PFD] pages 1..10, so at most 300 results per query
MAX_QUERY_CHARS = 512  # [PFD] "Query string can have up to 512 characters"
CUSTOM_TEXT_MAX = 255  # [SA2] single-line custom text, marked [unverified] there

COMPANY_ATTRS = {
    "name",
    "description",
    "note",
    "domains",
    "custom_fields",
    "health_score",
    "account_tier",
    "renewal_date",
    "industry",
}  # [SA2] company model, [FX] company.json
CONTACT_ATTRS = {
    "name",
    "email",
    "other_emails",
    "phone",
    "mobile",
    "unique_external_id",
    "company_id",
    "other_companies",
    "description",
    "job_title",
    "address",
    "tags",
    "time_zone",
    "language",
    "custom_fields",
}  # [SA2] contact model
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class FdField:
    """A ``company_fields``/``contact_fields`` entry [SA2]: name, label, type, choices."""

    name: str
    label: str
    type: str
    choices: tuple[str, ...] = ()
    default: bool = False


@dataclass
class FdRecord:
    kind: Kind
    id: int
    attrs: dict[str, Any]
    custom: dict[str, Any]
    created_at: float
    updated_at: float
    deleted: bool = False
    versions: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    """Every saved state with its time: the search index serves a lagging one [FLT]."""


@dataclass(frozen=True)
class FieldError:
    """One entry of ``{"description": "Validation failed", "errors": [...]}`` [SA2]."""

    field: str
    message: str
    code: str


DEFAULT_COMPANY_FIELDS = [
    FdField("name", "Company Name", "default_name", default=True),
    FdField("description", "Description", "default_description", default=True),
    FdField("note", "Notes", "default_note", default=True),
    FdField("domains", "Domains for this company", "default_domains", default=True),
]
DEFAULT_CONTACT_FIELDS = [
    FdField("name", "Full Name", "default_name", default=True),
    FdField("email", "Email", "default_email", default=True),
    FdField("description", "About", "default_description", default=True),
    FdField("company_name", "Company", "default_company_name", default=True),
]


class FreshdeskAccount:
    def __init__(
        self,
        clock: FakeClock,
        *,
        api_key: str = "fd-key-abcdef012345",
        requests_per_minute: int = 200,
        contact_list_per_minute: int = 20,
        index_lag_seconds: float = 180.0,
    ) -> None:
        self.clock = clock
        self.api_key = api_key
        # [RLFD] Growth 200 a minute for the account, contact listing 20 of them.
        self.requests_per_minute = requests_per_minute
        self.contact_list_per_minute = contact_list_per_minute
        # [FLT] "a few minutes" of indexing lag: the number is this fake's [unverified] choice.
        self.index_lag_seconds = index_lag_seconds
        self.records: dict[tuple[Kind, int], FdRecord] = {}
        self.fields: dict[Kind, list[FdField]] = {
            "company": list(DEFAULT_COMPANY_FIELDS),
            "contact": list(DEFAULT_CONTACT_FIELDS),
        }
        self._ids = itertools.count(51_000_000_001)

    def now(self) -> float:
        return self.clock.now()

    def add(
        self,
        kind: Kind,
        name: str,
        *,
        seconds_ago: float = 3600.0,
        custom: dict[str, Any] | None = None,
        **attrs: Any,
    ) -> FdRecord:
        at = self.now() - seconds_ago
        base: dict[str, Any] = {"name": name, "description": None}
        if kind == "company":
            base.update(note=None, domains=[])
        else:
            base.update(email=None, other_emails=[], unique_external_id=None, company_id=None)
        base.update(attrs)
        record = FdRecord(kind, next(self._ids), base, dict(custom or {}), at, at)
        record.versions.append((at, self.to_json(record)))
        self.records[(kind, record.id)] = record
        return record

    def agent_edit(
        self, record: FdRecord, *, custom: dict[str, Any] | None = None, **attrs: Any
    ) -> None:
        """An agent saves the record in the Freshdesk UI now."""
        record.attrs.update(attrs)
        record.custom.update(custom or {})
        self._saved(record)

    def soft_delete(self, record: FdRecord) -> None:
        """Contacts are soft-deleted and listed again with ``state=deleted`` [PFD]."""
        record.deleted = True
        self._saved(record)

    def _saved(self, record: FdRecord) -> None:
        record.updated_at = max(self.now(), record.updated_at + 0.001)
        record.versions.append((record.updated_at, self.to_json(record)))

    def to_json(self, record: FdRecord) -> dict[str, Any]:
        """[FX] company.json / contact.json shapes; custom values keyed by field ``name``."""
        names = [f.name for f in self.fields[record.kind] if not f.default]
        body: dict[str, Any] = {
            "id": record.id,
            **record.attrs,
            "custom_fields": {name: record.custom.get(name) for name in names},
            "created_at": iso(record.created_at),
            "updated_at": iso(record.updated_at),
        }
        if record.kind == "company":
            body.update(health_score=None, account_tier=None, renewal_date=None, industry=None)
        else:
            body.update(
                active=True, deleted=record.deleted, job_title=None, phone=None, mobile=None
            )
        return body

    # -- lists and the search index -------------------------------------------------------

    def listed(self, kind: Kind, *, deleted: bool = False) -> list[FdRecord]:
        """List order is by id, oldest first [unverified: the docs name no default order]."""
        return sorted(
            (r for (k, _), r in self.records.items() if k == kind and r.deleted == deleted),
            key=lambda r: r.id,
        )

    def indexed(self, kind: Kind) -> list[dict[str, Any]]:
        """What the filter API sees: each record as it was ``index_lag_seconds`` ago [FLT];
        records created since are not in the index yet, deleted ones are left out [FLT]."""
        horizon = self.now() - self.index_lag_seconds
        found = []
        for record in self.listed(kind):
            versions = [v for at, v in record.versions if at <= horizon]
            if versions and not versions[-1].get("deleted", False):
                found.append(versions[-1])
        return found

    # -- writes ---------------------------------------------------------------------------

    def update(self, record: FdRecord, body: dict[str, Any]) -> list[FieldError]:
        """``PUT /api/v2/{companies|contacts}/{id}``: all-or-nothing validation [ERR: 400
        "the request body ... is not in the correct format"], then the save."""
        allowed = COMPANY_ATTRS if record.kind == "company" else CONTACT_ATTRS
        errors = [
            # code and message wording: [unverified]
            FieldError(key, "Unexpected/invalid field in request", "invalid_field")
            for key in body
            if key not in allowed
        ]
        custom: dict[str, Any] = {}
        definitions = {f.name: f for f in self.fields[record.kind] if not f.default}
        for name, value in dict(body.get("custom_fields") or {}).items():
            definition = definitions.get(name)
            if definition is None:
                errors.append(
                    FieldError(name, "Unexpected/invalid field in request", "invalid_field")
                )
                continue
            problem = _custom_problem(definition, value)
            if problem is not None:
                errors.append(problem)
            custom[name] = value
        if errors:
            return errors
        record.attrs.update({k: v for k, v in body.items() if k != "custom_fields"})
        record.custom.update(custom)
        self._saved(record)
        return []


def _custom_problem(definition: FdField, value: Any) -> FieldError | None:
    """Custom values as Freshdesk checks them; every message and code here is [unverified]
    (only the envelope is sourced [SA2]); ``None`` clears a field."""
    check = _CHECKS.get(definition.type)
    problem = None if value is None or check is None else check(definition, value)
    return None if problem is None else FieldError(definition.name, *problem)


def _dropdown(definition: FdField, value: Any) -> tuple[str, str] | None:
    # [SA2] "dropdown values must match choices" [unverified there]
    if value in definition.choices:
        return None
    return f"It should be one of these values: '{','.join(definition.choices)}'", "invalid_value"


def _number(_definition: FdField, value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return None if ok else ("It should be a/an Integer", "datatype_mismatch")


def _decimal(_definition: FdField, value: Any) -> tuple[str, str] | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return None if ok else ("It should be a/an Number", "datatype_mismatch")


def _date(_definition: FdField, value: Any) -> tuple[str, str] | None:
    # [SA2] "dates YYYY-MM-DD" [unverified there]
    ok = _DATE.match(str(value)) is not None
    return None if ok else ("It should be in the 'yyyy-mm-dd' format", "invalid_date")


def _text(_definition: FdField, value: Any) -> tuple[str, str] | None:
    length = len(str(value))
    if length <= CUSTOM_TEXT_MAX:
        return None
    return f"Has {length} characters, it can have maximum of 255 characters", "invalid_value"


_CHECKS: dict[str, Callable[[FdField, Any], tuple[str, str] | None]] = {
    "custom_dropdown": _dropdown,
    "custom_number": _number,
    "custom_decimal": _decimal,
    "custom_date": _date,
    "custom_text": _text,
}


def day(iso_time: str) -> str:
    """The UTC date of an ISO timestamp: filter queries compare dates only [FLT]."""
    return datetime.strptime(iso_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).date().isoformat()
