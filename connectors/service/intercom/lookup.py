"""Direct lookups for identity-index misses: companies and contacts by the keys deals carry.

* company external ids: ``GET /companies?company_id=<id>``, one call per id (FACTS.md §4.4);
  it reads the company itself, so a company created a second ago is found, and is never
  created (unlike ``POST /companies``, which creates what it does not find, §4.2);
* contact external ids: ``GET /contacts/find_by_external_id/<id>``, one call per id (§5.2,
  users only: leads have no external id to find them by);
* contact emails: ``POST /contacts/search`` with ``email IN [...]`` (15 a query, the
  documented filter limit per group read conservatively, §5.3); the search lags new contacts
  by "a few minutes", so each hit is read again with ``GET /contacts/{id}`` and only its
  current values are returned;
* company domains: Intercom has no company search (§4.8), so a domain the index lacks cannot
  be asked for; it costs nothing, finds nothing, and the company joins the index at the next
  scroll. Contacts carry no domains.

dealbridge normalises identity values to lower case before it asks. Whether Intercom matches
``company_id`` and ``external_id`` without regard to case is not documented (FACTS.md Gaps),
so a value that finds nothing is asked again in upper case when that differs (customer numbers
are usually written in capitals); the engine keeps only records whose value matches its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connectors.base import CustomerRecord, IdentityKey
from connectors.desk import DeskPart, of_kinds, wanted_keys
from connectors.record_values import RecordProblem
from connectors.service.intercom.client import IntercomApi
from connectors.service.intercom.config import IntercomConfig
from connectors.service.intercom.paging import search_pages
from connectors.service.intercom.payloads import (
    COMPANY,
    CONTACT,
    company_record,
    contact_record,
    record_id,
)

EMAILS_PER_QUERY = 15


class Lookup(DeskPart[IntercomConfig, IntercomApi]):
    """Answers ``IntercomTarget.lookup``."""

    desk = "Intercom"

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Records carrying any of ``keys`` now (each once)."""
        wanted = wanted_keys(keys, of_kinds(self._config.record_kinds))
        found: dict[str, CustomerRecord] = {}
        for value in wanted.get((COMPANY, "external_id"), []):
            rows = await self._companies(value)
            for record in self._read_into(rows, company_record, COMPANY, problems):
                found[record.ref.key] = record
        contacts: dict[str, Any] = {}
        for value in wanted.get((CONTACT, "external_id"), []):
            by_id = await self._contact(value)
            if by_id is not None:
                contacts[_id_or_position(by_id, len(contacts))] = by_id
        emails = wanted.get((CONTACT, "email"), [])
        for start in range(0, len(emails), EMAILS_PER_QUERY):
            part = emails[start : start + EMAILS_PER_QUERY]
            for row in await self._by_email(part, contacts, problems):
                contacts[_id_or_position(row, len(contacts))] = row
        roles = set(self._config.contact_roles)
        wanted_rows = [row for row in contacts.values() if _role(row) in roles]
        for record in self._read_into(wanted_rows, contact_record, CONTACT, problems):
            found[record.ref.key] = record
        return list(found.values())

    async def _companies(self, value: str) -> list[Any]:
        """The rows answered for ``value`` (in capitals when it found nothing), as sent: an
        answer holding only rows that do not read is not asked again, its rows are reported."""
        rows = await self._api.companies_by_company_id(value)
        if not rows and value.upper() != value:
            rows = await self._api.companies_by_company_id(value.upper())
        return rows

    async def _contact(self, value: str) -> dict[str, Any] | None:
        row = await self._api.contact_by_external_id(value)
        if row is None and value.upper() != value:
            row = await self._api.contact_by_external_id(value.upper())
        return row

    async def _by_email(
        self, emails: list[str], known: dict[str, Any], problems: list[RecordProblem]
    ) -> list[dict[str, Any]]:
        """The contacts the search finds, each read again; a hit that is not an object, or
        names no id, cannot be read again, so it goes to ``problems`` by its position."""
        query = {"field": "email", "operator": "IN", "value": emails}
        hits: list[str] = []
        async for page in search_pages(self._api, query, self._config.contact_page_size):
            hits += self._read_into(page.rows, record_id, CONTACT, problems)
        current = []
        for contact_id in dict.fromkeys(hits):
            if contact_id in known:
                continue
            row = await self._api.get_record(CONTACT, contact_id)
            if row is not None:
                current.append(row)
        return current


def _id_or_position(row: Any, position: int) -> str:
    """A row's id, or ``#position`` for a row without a readable one (reported when read)."""
    try:
        return record_id(row) if isinstance(row, dict) else f"#{position}"
    except ValueError:
        return f"#{position}"


def _role(row: Any) -> Any:
    return row.get("role") if isinstance(row, dict) else None
