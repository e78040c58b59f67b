"""Finding a deal's customer in the service desk, from a local identity index.

The state store holds every service record's external id, emails and domains (refreshed
incrementally from the target), so matching costs no API call per deal. Stage 1 loads only the
keys one page of deals asks for (:func:`wanted_keys`) into an :class:`IdentityIndex`, so memory
stays flat however many records the desk has. Rules are tried in the mapping's order; the first
rule that finds anything decides: one record is a match, several are ambiguous (never guessed),
none moves on to the next rule. The index can lag the desk, so before a rule is said to find
nothing its keys are looked up at the desk (:mod:`sync_jobs.run.lookups`); unmatched means "looked
up and not there". A match remembers the key it used (:attr:`MatchResult.key`), which the
record must still carry when it is written.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from connectors.base import CustomerRecord, IdentityKey, MatchType
from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.model import AccountIdentity, MatchResult
from sync_jobs.domain.values import normalize_domain, normalize_identity

IndexKey = tuple[str, str]
RecordId = tuple[str, str]


MATCH_TYPES: tuple[MatchType, ...] = ("external_id", "email", "domain")
"""Every match type, in the order a record's keys are listed."""


def identity_keys(record: CustomerRecord) -> list[IndexKey]:
    """Every (match type, normalised value) a record can be found by."""
    keys = [(match, value) for match in MATCH_TYPES for value in record_keys(record, match)]
    return list(dict.fromkeys(keys))


def record_keys(record: CustomerRecord, match: str) -> list[str]:
    """The normalised values a record can be found by with one match type (none for a type
    that is not one): a value's key is its own normalised form, whatever else it holds."""
    if match == "external_id":
        found = record.external_id
        return [normalize_identity(match, found)] if found else []
    if match == "email":
        return [normalize_identity(match, email) for email in record.emails if email]
    if match == "domain":
        return [normalize_domain(domain) for domain in record.domains if domain]
    return []


def keyed(records: Iterable[CustomerRecord]) -> list[tuple[CustomerRecord, list[IndexKey]]]:
    """Records with the keys the stored index should hold for them (none once deleted)."""
    return [(r, [] if r.deleted else identity_keys(r)) for r in records]


def wanted_keys(account: AccountIdentity, rules: Sequence[IdentityRule]) -> set[IndexKey]:
    """The index keys matching ``account`` by ``rules`` may look up."""
    values = _values(account)
    return {(r.match, value) for r in rules for value in values[r.match]}


def rule_order(rules: Sequence[IdentityRule]) -> list[MatchType]:
    """The match types in the order rules try them (a type listed twice counts once)."""
    return list(match_order(rules))


_ORDERS: dict[int, tuple[tuple[IdentityRule, ...], tuple[MatchType, ...]]] = {}
"""Match orders of the rule tuples seen (a mapping's, by identity), with the tuple itself:
kept alive, its id cannot name another tuple while it is here."""


def match_order(rules: Sequence[IdentityRule]) -> tuple[MatchType, ...]:
    """:func:`rule_order`, worked out once per rule tuple (a mapping's rules are one tuple
    for the process's life: matching and the match pass's order ask for it once a deal)."""
    if type(rules) is not tuple:  # a list could change after its order was remembered
        return tuple(dict.fromkeys(r.match for r in rules))
    known = _ORDERS.get(id(rules))
    if known is not None and known[0] is rules:
        return known[1]
    order = tuple(dict.fromkeys(r.match for r in rules))
    if len(_ORDERS) >= 64:
        _ORDERS.clear()  # (a process holds a handful of mappings)
    _ORDERS[id(rules)] = (rules, order)
    return order


def desk_keys(account: AccountIdentity, match: MatchType, kind: str) -> set[IdentityKey]:
    """The keys one rule asks the desk about for ``account``."""
    return {IdentityKey(match=match, value=v, kind=kind) for v in match_values(account, match)}


def match_values(account: AccountIdentity, match: MatchType) -> tuple[str, ...]:
    """The (normalised) values of ``account`` that one rule's match type tries."""
    values: tuple[str, ...] = getattr(account, _FIELDS[match])
    return values


_FIELDS = {"external_id": "external_ids", "email": "emails", "domain": "domains"}
"""Each match type's field of :class:`AccountIdentity`."""


def carries(record: CustomerRecord, match: str, value: str) -> bool:
    """Whether the record (as the desk holds it now) can be found by this key (only that
    match type's values are normalised: stage 2 asks it for every deal it writes)."""
    return value in record_keys(record, match)


def _values(account: AccountIdentity) -> dict[str, tuple[str, ...]]:
    return {
        "external_id": account.external_ids,
        "email": account.emails,
        "domain": account.domains,
    }


_VALIDATE_MATCH = MatchResult.__pydantic_validator__.validate_python


class IdentityIndex:
    """In-memory view of part of one target's identity keys (what a page of deals asks for)."""

    def __init__(self) -> None:
        self._by_key: dict[IndexKey, set[RecordId]] = defaultdict(set)
        self._records: set[RecordId] = set()
        self.version = 0
        """Moves whenever a claim is added or dropped (lookups settle until it stops)."""

    def __len__(self) -> int:
        return len(self._by_key)

    @classmethod
    def of(cls, hits: Iterable[tuple[str, str, str, str]]) -> IdentityIndex:
        """An index of stored claims, each ``(match, value, kind, record_id)``."""
        index = cls()
        # ``add`` of each claim, inlined (a page's claims: two or three a deal).
        by_key, records, added = index._by_key, index._records, 0
        for match, value, kind, record_id in hits:
            record = (kind, record_id)
            records.add(record)
            by_key[(match, value)].add(record)
            added += 1
        index.version += added
        return index

    def add(self, kind: str, record_id: str, keys: Iterable[IndexKey]) -> None:
        """Index a record under each of its keys."""
        self._records.add((kind, record_id))
        for key in keys:
            self._by_key[key].add((kind, record_id))
        self.version += 1

    def holders(self, match: str, values: Iterable[str], kind: str) -> set[RecordId]:
        """Records of ``kind`` the index says carry any of these values."""
        # A plain loop: a set built per value and merged cost twice this (asked twice a
        # deal: settling its lookups, then matching it).
        by_key = self._by_key
        found: set[RecordId] = set()
        for value in values:
            for record in by_key.get((match, value), ()):
                if record[0] == kind:
                    found.add(record)
        return found

    def refute(self, kind: str, record_id: str, keys: Iterable[IndexKey]) -> None:
        """Forget claims the desk contradicted: the record, read just now, lacks these keys."""
        for key in keys:
            claimed = self._by_key.get(key)
            if claimed is not None and (kind, record_id) in claimed:
                claimed.discard((kind, record_id))
                self.version += 1

    def overlaid(self, newer: IdentityIndex) -> IdentityIndex:
        """This index with ``newer``'s records replacing their older keys (dry runs index
        what the desk reported without storing it)."""
        if not newer._records:
            return self
        merged = IdentityIndex()
        for key, found in self._by_key.items():
            kept = found - newer._records
            if kept:
                merged._by_key[key] = set(kept)
        for key, found in newer._by_key.items():
            merged._by_key[key] |= found
        merged._records = (self._records - newer._records) | newer._records
        return merged

    def match(
        self, account: AccountIdentity, rules: Sequence[IdentityRule], kind: str
    ) -> MatchResult:
        """Apply the identity rules in order and say what was found."""
        values = _values(account)
        for match_type in match_order(rules):
            found = self.holders(match_type, values[match_type], kind)
            if len(found) == 1:
                ((record_kind, record_id),) = found
                used = [
                    v
                    for v in values[match_type]
                    if (record_kind, record_id) in self._by_key.get((match_type, v), ())
                ]
                # Validated as ``MatchResult(...)`` validates it, by the validator itself
                # (the model's Python ``__init__`` around it was a fifth of a match's cost).
                matched: MatchResult = _VALIDATE_MATCH(
                    {
                        "status": "matched",
                        "record_kind": record_kind,
                        "record_id": record_id,
                        "method": match_type,
                        "key": min(used),
                    }
                )
                return matched
            if len(found) > 1:
                return MatchResult(
                    status="ambiguous",
                    method=match_type,
                    candidates=tuple(sorted(f"{k}:{i}" for k, i in found)),
                )
        return MatchResult(status="unmatched")
