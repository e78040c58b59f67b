"""Direct lookups for identity-index misses: contacts and companies by the keys deals carry.

* contact emails: ``GET /api/v2/contacts?email=<address>``, one listing call per address
  [python-freshdesk ``list_contacts``]; contact external ids: ``GET
  /api/v2/contacts?unique_external_id=<id>`` [unverified filter]. Both are list endpoints over
  the contacts themselves (no search index), paced by the contact-list budget as well.
* companies by customer number (``customer_number_field``) or domain: the filter API, several
  keys OR-ed into one query of at most 512 characters, e.g.
  ``/api/v2/search/companies?query="domain:'a.example' OR domain:'b.example'"`` (30 a page,
  10 pages) [API docs "Filter Companies"]. Companies have no other lookup: their list endpoint
  filters on nothing.

The filter API is a search index: "updates may take a few minutes to be indexed" [API docs
"Filter Companies"]. A hit is therefore read again (``GET /api/v2/companies/{id}``, one call
each) so the identity values returned are current: a company that lost its customer number a
minute ago is not returned for it. A company younger than the indexing lag is not in the
filter API at all, so keys it found nothing for are checked against one listing of every
company (``GET /api/v2/companies``, 100 a page) before the engine may call them unmatched;
``company_lookup_listing: false`` saves that listing on very large books, at the price of
reporting a company created minutes ago as unmatched until the next identity refresh.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

import structlog

from connectors.base import CustomerRecord, IdentityKey
from connectors.desk import DeskPart
from connectors.errors import PermanentError
from connectors.record_values import RecordProblem
from connectors.service.freshdesk.client import COMPANIES_PATH, CONTACTS_PATH, FreshdeskApi
from connectors.service.freshdesk.config import FreshdeskConfig
from connectors.service.freshdesk.paging import SEARCH_MAX_RESULTS
from connectors.service.freshdesk.payloads import (
    COMPANY,
    CONTACT,
    company_record,
    contact_record,
    record_id,
)

log = structlog.get_logger("dealbridge.freshdesk")

QUERY_MAX = 512
"""The filter API's query limit, the surrounding double quotes included [API docs]."""
_DOMAIN = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?")
_NUMBER = re.compile(r"[^'\"\\]{1,200}")
CONTACT_FILTERS = {"email": "email", "external_id": "unique_external_id"}


class Lookup(DeskPart[FreshdeskConfig, FreshdeskApi]):
    """Answers ``FreshdeskTarget.lookup``."""

    desk = "Freshdesk"

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Records carrying any of ``keys`` (each record once, in the order found)."""
        found: dict[str, CustomerRecord] = {}
        unique = list(dict.fromkeys(keys))
        for key in unique:
            if key.kind == CONTACT and key.match in CONTACT_FILTERS:
                contacts = await self._contacts(CONTACT_FILTERS[key.match], key.value, problems)
                for record in contacts:
                    found.setdefault(record.ref.key, record)
        for match in ("external_id", "domain"):
            values = [k.value for k in unique if k.kind == COMPANY and k.match == match]
            for record in await self._companies(match, values, problems):
                found.setdefault(record.ref.key, record)
        return [r for r in found.values() if not r.deleted]

    async def _contacts(
        self, name: str, value: str, problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        params = {name: value}
        rows: list[dict[str, Any]] = []
        try:
            async for page in self._api.pages(CONTACTS_PATH, params, operation="lookup_contact"):
                rows += page.rows
        except PermanentError as exc:
            # One refused filter value (400) must not stop the other lookups of the run.
            log.warning("freshdesk_lookup_refused", filter=name, error=str(exc))
        return self._read_into(rows, contact_record, CONTACT, problems)

    async def _companies(
        self, match: str, values: list[str], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        ids: list[str] = []
        for query in self._queries(match, values):
            async for page in self._api.search_companies(query, operation="lookup_company"):
                if page.total > SEARCH_MAX_RESULTS:
                    log.warning("freshdesk_lookup_truncated", total=page.total, query=query[:80])
                ids += [i for row in page.rows if (i := _id_or_none(row)) is not None]
        unique = list(dict.fromkeys(ids))
        rows = await asyncio.gather(*(self._api.get_record(COMPANY, i) for i in unique))
        found = self._read_into([row for row in rows if row], self._company, COMPANY, problems)
        missing = {v for v in values if not any(_has(r, match, v) for r in found)}
        if missing and self._config.company_lookup_listing:
            found += await self._listed(match, missing, problems)
        return found

    async def _listed(
        self, match: str, values: set[str], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Companies carrying ``values``, from a listing of all (the filter API lags)."""
        params = {"per_page": self._config.per_page, "page": 1}
        found: list[CustomerRecord] = []
        async for page in self._api.pages(COMPANIES_PATH, params, operation="lookup_company"):
            records = self._read_into(page.rows, self._company, COMPANY, problems)
            found += [r for r in records if any(_has(r, match, v) for v in values)]
        return found

    def _queries(self, match: str, values: list[str]) -> list[str]:
        """OR-ed conditions, as many per query as fit in 512 characters."""
        field, pattern = (
            ("domain", _DOMAIN)
            if match == "domain"
            else (self._config.customer_number_field, _NUMBER)
        )
        conditions = [f"{field}:'{v}'" for v in dict.fromkeys(values) if pattern.fullmatch(v)]
        queries: list[str] = []
        current = ""
        for condition in conditions:
            joined = f"{current} OR {condition}" if current else condition
            if current and len(joined) + 2 > QUERY_MAX:
                queries.append(current)
                joined = condition
            current = joined
        if current:
            queries.append(current)
        return queries

    def _company(self, row: dict[str, Any]) -> CustomerRecord:
        return company_record(row, self._config.customer_number_field)


def _id_or_none(row: Any) -> str | None:
    """A search hit's id (None for one without a readable id: it cannot be read)."""
    try:
        return record_id(row) if isinstance(row, dict) else None
    except ValueError:
        return None


def _has(record: CustomerRecord, match: str, value: str) -> bool:
    """Whether the company carries the key (values arrive lower-cased, domains without www.)."""
    if match == "domain":
        return value in {d.removeprefix("www.") for d in record.domains}
    return (record.external_id or "").strip().lower() == value
