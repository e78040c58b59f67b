"""Finding a deal's customer in the service desk, from a local identity index.

The index holds every service record's external id, emails and domains (refreshed
incrementally from the target), so matching costs no API call per deal. Rules are tried in the
mapping's order; the first rule that finds anything decides: one record is a match, several are
ambiguous (never guessed), none moves on to the next rule. Nothing found is unmatched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from connectors.base import CustomerRecord
from sync_jobs.mapping import IdentityRule
from sync_jobs.model import AccountIdentity, MatchResult
from sync_jobs.values import normalize_domain, normalize_identity

IndexKey = tuple[str, str]
RecordId = tuple[str, str]


def identity_keys(record: CustomerRecord) -> list[IndexKey]:
    """Every (match type, normalised value) a record can be found by."""
    keys: list[IndexKey] = []
    if record.external_id:
        keys.append(("external_id", normalize_identity("external_id", record.external_id)))
    keys += [("email", normalize_identity("email", e)) for e in record.emails if e]
    keys += [("domain", normalize_domain(d)) for d in record.domains if d]
    return list(dict.fromkeys(keys))


class IdentityIndex:
    """In-memory view of one target's identity keys (loaded from the state store per run)."""

    def __init__(self) -> None:
        self._by_key: dict[IndexKey, set[RecordId]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self._by_key)

    def add(self, kind: str, record_id: str, keys: Iterable[IndexKey]) -> None:
        """Index a record under each of its keys."""
        for key in keys:
            self._by_key[key].add((kind, record_id))

    def match(
        self, account: AccountIdentity, rules: Sequence[IdentityRule], kind: str
    ) -> MatchResult:
        """Apply the identity rules in order and say what was found."""
        values = {
            "external_id": account.external_ids,
            "email": account.emails,
            "domain": account.domains,
        }
        for match_type in dict.fromkeys(r.match for r in rules):
            found: set[RecordId] = set()
            for value in values[match_type]:
                found |= {r for r in self._by_key.get((match_type, value), ()) if r[0] == kind}
            if len(found) == 1:
                ((record_kind, record_id),) = found
                return MatchResult(
                    status="matched",
                    record_kind=record_kind,
                    record_id=record_id,
                    method=match_type,
                )
            if len(found) > 1:
                return MatchResult(
                    status="ambiguous",
                    method=match_type,
                    candidates=tuple(sorted(f"{k}:{i}" for k, i in found)),
                )
        return MatchResult(status="unmatched")
