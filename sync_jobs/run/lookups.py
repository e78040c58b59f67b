"""Asking the desk directly what the local identity index cannot answer, before deciding a match.

The identity index lags the desk: Zendesk's exports leave out the last minute, any index is as
old as its last refresh, and a record may have changed since. So, for each deal, in the order
of the mapping's identity rules, the keys of one rule are:

* held by one record in the index: decided (the record is read before every write and must
  still carry the key then, see :mod:`sync_jobs.run.recheck`);
* held by several: those candidates are read again (one bulk read for the page) and claims the
  desk contradicts are dropped, so a stale index never makes a deal ambiguous;
* held by none: looked up at the desk (``ServiceTarget.lookup``), all of a page's deals in one
  call the connector batches, before the next rule may decide. Records found join the index.

Only when no rule's keys are held by anything, after looking, is a deal unmatched: "looked up
and not there". A key is asked at most once per run (a second deal with the same key, or
stage 2 asking again, gets the first answer), and at most ``engine.lookups_per_run`` keys are
asked per run: a deal that needs one beyond that stays undecided (``pending``, no conflict
raised) and is tried again on the next run. Deals found unmatched are not looked up again on
every later run: their row records when they were (``deal.lookup_at``), and from then on the
index refresh, which reads every later change from the desk's own change feed, brings in any
record that gains their key; such deals are matched again after every refresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from connectors.base import CustomerRecord, IdentityKey, MatchType, RecordRef, ServiceTarget
from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import (
    IdentityIndex,
    RecordId,
    carries,
    desk_keys,
    identity_keys,
    keyed,
    match_values,
    rule_order,
)
from sync_jobs.domain.model import AccountIdentity
from sync_jobs.run.context import RunState
from sync_jobs.run.control import Clock
from sync_jobs.store import deals, identity, work
from sync_jobs.store.db import Connection, Store, write_tx

log = structlog.get_logger("dealbridge.lookups")


@dataclass(frozen=True)
class Desk:
    """What asking the desk about identities needs: the target, the store its index lives
    in, and the run whose budget and counters the questions count against."""

    job: str
    target_name: str
    target: ServiceTarget
    store: Store
    clock: Clock
    state: RunState
    """Its ``asked`` keys (each asked once per run), counters and dry-run flag."""
    lookups_per_run: int


@dataclass
class Settled:
    """What settling a set of accounts learnt from the desk."""

    found: list[CustomerRecord] = field(default_factory=list)
    """Records the desk reported for keys the index missed (to be indexed)."""
    undecided: set[int] = field(default_factory=set)
    """Positions of accounts whose decision needs a key the run's budget did not allow."""
    deferred: set[IdentityKey] = field(default_factory=set)
    """The keys the budget did not allow."""


async def settle(
    desk: Desk,
    index: IdentityIndex,
    accounts: Sequence[AccountIdentity],
    *,
    rules: Sequence[IdentityRule],
    kind: str,
) -> Settled:
    """Complete ``index`` from the desk until every account's match can be decided.

    ``index.match`` then gives each account's result; accounts in ``undecided`` must not be
    reported unmatched."""
    outcome = Settled()
    read: dict[RecordId, CustomerRecord | None] = {}
    while True:
        # A record one lookup reports carries all its keys, and may join the holders of a key
        # another account was already decided by; a record read may drop a claim an earlier
        # rule relied on. So the rules are applied again until the index stops changing.
        version = index.version
        outcome.undecided.clear()
        waiting = list(range(len(accounts)))
        for match in rule_order(rules):
            rule = _Rule.of(accounts, waiting, match, kind)
            decided = await _rule(desk, index, rule, outcome, read)
            waiting = [i for i in waiting if i not in decided]
        if index.version == version:
            return outcome


@dataclass
class _Rule:
    """One identity rule for the accounts still open: each one's values for it (accounts
    without any are not its business), and the keys the desk is asked about, made only for
    accounts it is asked about or verifies (most are decided by the index alone, and an
    :class:`IdentityKey` is a validated model each)."""

    accounts: Sequence[AccountIdentity]
    match: MatchType
    kind: str
    values: dict[int, tuple[str, ...]]
    made: dict[int, set[IdentityKey]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        accounts: Sequence[AccountIdentity],
        waiting: Sequence[int],
        match: MatchType,
        kind: str,
    ) -> _Rule:
        found = {i: values for i in waiting if (values := match_values(accounts[i], match))}
        return cls(accounts, match, kind, found)

    def keys(self, i: int) -> set[IdentityKey]:
        """What the desk is asked about for account ``i`` (``desk_keys``), made once."""
        made = self.made.get(i)
        if made is None:
            made = self.made[i] = desk_keys(self.accounts[i], self.match, self.kind)
        return made


async def _rule(
    desk: Desk,
    index: IdentityIndex,
    rule: _Rule,
    outcome: Settled,
    read: dict[RecordId, CustomerRecord | None],
) -> set[int]:
    """One identity rule for every account still open: which of them it decides."""

    def held(i: int) -> set[RecordId]:
        return index.holders(rule.match, rule.values[i], rule.kind)

    asked: set[int] = set()
    denied: set[IdentityKey] = set()
    while True:
        # Several holders: read them, drop what the desk denies. That can leave an account
        # with none, and what a lookup reports can join another's holders: so round again
        # until every account holds something or has been asked about. Holders are worked
        # out again only after the index changed (its version moves with every change).
        holding = {i: held(i) for i in rule.values}
        several = {i: rule.keys(i) for i, holders in holding.items() if len(holders) > 1}
        if several:
            version = index.version
            await _verify(desk, index, several, read)
            if index.version != version:
                holding = {i: held(i) for i in rule.values}
        asks = {i: rule.keys(i) for i in rule.values if not holding[i] and i not in asked}
        if not asks:
            break
        denied |= await _ask(desk, index, set().union(*asks.values()), outcome)
        asked |= set(asks)
    decided = set()
    for i in rule.values:
        if i in asked and rule.keys(i) & denied:
            outcome.undecided.add(i)  # nothing more can be said about it this run
            decided.add(i)
        elif holding[i]:  # the index is as it was when ``holding`` was worked out
            decided.add(i)
    return decided


async def _ask(
    desk: Desk, index: IdentityIndex, wanted: set[IdentityKey], outcome: Settled
) -> set[IdentityKey]:
    """Look up the keys not asked yet this run, within budget; return those left unasked."""
    state = desk.state
    fresh = sorted(wanted - state.asked, key=lambda k: (k.kind, k.match, k.value))
    room = max(0, desk.lookups_per_run - len(state.asked))
    allowed, denied = fresh[:room], set(fresh[room:])
    if denied - outcome.deferred:
        state.counts["lookups_deferred"] += len(denied - outcome.deferred)
        log.info("lookup_budget_spent", job=desk.job, deferred=len(denied))
        outcome.deferred |= denied
    if not allowed:
        return denied
    unread: list[str] = []
    records = await desk.target.lookup(allowed, unread)
    for problem in unread:  # a hit left out: the deal that needed it may be found unmatched
        state.desk_problem(problem)
    state.asked |= set(allowed)
    state.counts["lookup_keys"] += len(allowed)
    for record in records:
        keys = identity_keys(record)
        if any((k.match, k.value) in keys for k in allowed if k.kind == record.ref.kind):
            index.add(record.ref.kind, record.ref.id, keys)
            outcome.found.append(record)
            state.counts["lookup_hits"] += 1
    return denied


async def _verify(
    desk: Desk,
    index: IdentityIndex,
    claims: dict[int, set[IdentityKey]],
    read: dict[RecordId, CustomerRecord | None],
) -> None:
    """Drop the claims the desk denies among those naming several holders for one account.

    Each named record is read at most once per rule (``read`` keeps what was read, ``None``
    for a record the desk no longer has); later checks reuse it."""
    candidates: dict[RecordId, set[IdentityKey]] = {}
    for keys in claims.values():
        for key in keys:
            for holder in index.holders(key.match, [key.value], key.kind):
                candidates.setdefault(holder, set()).add(key)
    unread = sorted(c for c in candidates if c not in read)
    if unread:
        refs = [RecordRef(kind=kind, id=record_id) for kind, record_id in unread]
        current = {r.ref.key: r for r in await desk.target.read(refs)}
        read.update({(r.kind, r.id): current.get(r.key) for r in refs})
        desk.state.counts["identity_rechecked"] += len(refs)
    for (kind, record_id), keys in candidates.items():
        record = read[(kind, record_id)]
        if record is not None and record.problem is not None:
            continue  # the desk's answer did not read: nothing is known against its claims
        denied = [
            (k.match, k.value)
            for k in keys
            if record is None or not carries(record, k.match, k.value)
        ]
        index.refute(kind, record_id, denied)


async def keep_found(desk: Desk, unsaved: IdentityIndex, found: Sequence[CustomerRecord]) -> None:
    """Records a lookup found join the index (a dry run keeps them in memory only)."""
    if not found:
        return
    if desk.state.dry_run:
        for record in found:
            unsaved.add(record.ref.kind, record.ref.id, identity_keys(record))
        return
    async with write_tx(desk.store) as conn:
        await index_records(desk, conn, found, desk.clock())


async def index_records(
    desk: Desk, conn: Connection, records: Sequence[CustomerRecord], now: datetime
) -> None:
    """Index records as the desk reported them; customers whose record lost an identity key
    (or was deleted) are queued, so deals matched through that key are checked and, if the key
    moved, follow it before anything else is written there (:mod:`sync_jobs.run.recheck`)."""
    lost = await identity.index_records(conn, desk.target_name, keyed(records), now)
    linked = await deals.linked_customers(conn, desk.target_name, [r.key for r in lost])
    if linked:
        await work.enqueue(conn, desk.target_name, linked, now)
        desk.state.counts["customers_rechecked"] += len(linked)
