"""Direct lookups of identity-index misses: SOQL on the records themselves, in batches.

The index is kept from the feed (:mod:`.identity`) and can lag the org; a key it misses is
asked here before a deal is called unmatched. SOQL reads the records, not a search index, so a
record created a second ago is found (FACTS.md 4.3):

* external ids: ``WHERE <External ID field> IN ('a', 'b', ...)``. SOQL compares text ignoring
  case except on unique case-sensitive fields [doc SOQL reference, "Comparison Operators"]; the
  engine's keys are lower case, so for such a field (describe ``caseSensitive``) each value is
  also asked in upper case (``CUST-1001`` as well as ``cust-1001``; a mixed-case number is only
  found by the feed);
* account domains: ``WHERE Website LIKE '%acme.example%' OR ...`` (a URL holds its host
  anywhere after the scheme; the engine keeps only records whose host is the domain asked);
* emails: ``Contact.Email IN (...)``, and ``Account.PersonEmail IN (...)`` for person accounts.

As many values per query as the URI holds (:func:`.queries.fitting`). Keys the kind cannot
carry (a domain on a contact, an email on accounts in an org without Person Accounts) cost no
request; records in the recycle bin are not found (``query``, not ``queryAll``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from connectors.base import CustomerRecord, IdentityKey
from connectors.desk import of_kinds, wanted_keys
from connectors.record_values import RecordProblem
from connectors.service.servicecloud.identity import IdentityPart
from connectors.service.servicecloud.payloads import CONTACT, SOBJECT, reader
from connectors.service.servicecloud.queries import (
    LIKES_MAX,
    VALUES_MAX,
    both,
    business_only,
    contains_any,
    fitting,
    in_list,
    select,
)


class Lookup(IdentityPart):
    """Answers ``ServiceCloudTarget.lookup``."""

    async def records(
        self, keys: Sequence[IdentityKey], problems: list[RecordProblem]
    ) -> list[CustomerRecord]:
        """Live records carrying any of ``keys`` (each record once)."""
        wanted = wanted_keys(keys, of_kinds(self._config.record_kinds))
        for (kind, match), values in list(wanted.items()):
            if match == "external_id" and (await self._identity_of(kind)).exact_external_id:
                wanted[(kind, match)] = list(
                    dict.fromkeys(v for x in values for v in (x, x.upper()))
                )
        found: dict[str, CustomerRecord] = {}
        for (kind, match), values in sorted(wanted.items()):
            fields = await self._identity_of(kind)
            column = fields.field_for(match)
            if column is None:
                continue  # this kind carries no such key: nothing to ask
            people = business_only(fields.person_flag) if kind == CONTACT else None
            query = _Query(SOBJECT[kind], fields.select(), column, match, people)
            most = LIKES_MAX if match == "domain" else VALUES_MAX
            for soql in fitting(values, query.render, self._api.fits, most):
                rows = await self._api.query_rows(soql, f"lookup {kind}s")
                for record in self._read_into(rows, reader(kind, fields), kind, problems):
                    if not record.deleted:
                        found[record.ref.key] = record
        return list(found.values())


@dataclass(frozen=True)
class _Query:
    """One kind of lookup query, rendered for a part of the values."""

    sobject: str
    fields: list[str]
    column: str
    match: str
    extra: str | None

    def render(self, part: Sequence[str]) -> str:
        condition = (
            contains_any(self.column, part)
            if self.match == "domain"
            else in_list(self.column, part)
        )
        return select(self.sobject, self.fields, both(condition, self.extra))
