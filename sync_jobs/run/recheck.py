"""Before a write: every deal must still be linked to its record by the key it was matched by.

Stage 2 reads each customer's record just before writing it. A deal matched by an identity key
(external id / customer number, email, domain) stays on that record only if the record, as
read, still carries the key (:attr:`MatchResult.key`; for deals matched before keys were kept,
any of the deal's values for that rule). Otherwise the key moved (a customer number given to a
new company, an organization's external id changed) or was removed, and the deal's customer is
resolved again (:func:`sync_jobs.run.lookups.settle`, with the old record's claims struck from the
index, so a lagging index cannot send it back there):

* found on another record: the deal moves there (its row, and a work item for the new record,
  are committed with the batch), so the next write of its terms goes to the right record;
* found on the same record by another rule (its domain, say): it stays, matched by that rule;
* found nowhere, or on several records: it leaves the record and is reported as unmatched or
  ambiguous, with the record and the key that left it; if the run's lookup budget is spent, it
  waits as ``pending`` for the next run.

A deal that leaves is planned off the old record like any deal that ends: dealbridge's note
block and the fields only it set are removed there (agents' text and edits stay, per the
decision table), and the audit trail shows it. Deals a person linked by hand are not checked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from connectors.base import CustomerRecord
from sync_jobs.domain.mapping import IdentityRule, Mapping
from sync_jobs.domain.matching import IdentityIndex, carries, identity_keys, wanted_keys
from sync_jobs.domain.model import AccountIdentity, DealTerms, MatchResult
from sync_jobs.run import lookups
from sync_jobs.run.deal_conflicts import REPORTED, DealConflicts
from sync_jobs.store import deals, identity, work
from sync_jobs.store.db import Connection, read_tx

log = structlog.get_logger("dealbridge.recheck")

KEYED = ("external_id", "email", "domain")


@dataclass(frozen=True)
class Relinking:
    """What following a moved key needs: every job's mapping (a record carries deals of
    several jobs), the desk to settle identities at, and the target's deal conflicts."""

    mappings: dict[str, Mapping]
    desk: lookups.Desk
    conflicts: DealConflicts


@dataclass(frozen=True)
class Move:
    """A deal whose record no longer carries its key, and where it belongs now."""

    row: Any
    """The deal row as stored (or as a dry run's stage 1 would have stored it)."""
    terms: DealTerms
    result: MatchResult
    lookup_at: datetime | None

    @property
    def leaves(self) -> bool:
        """The deal is no longer on the record it was planned for."""
        return bool(self.result.customer_key != self.row.customer_key)


def still_linked(row: Any, record: CustomerRecord) -> bool:
    """Whether ``record`` (read just now) still carries the key ``row``'s deal matched by."""
    detail = row.match_detail or {}
    method = detail.get("method")
    if method not in KEYED:
        return True  # linked by a person, or not by a key
    key = detail.get("key")
    if key:
        return carries(record, method, key)
    account = DealTerms.model_validate(row.terms).account  # matched before keys were kept
    return any(carries(record, method, v) for v in _values(account, method))


async def stale_links(
    relink: Relinking, rows: Sequence[Any], records: dict[str, CustomerRecord]
) -> list[Move]:
    """Deals of ``rows`` whose record (in ``records``) lost their key, each resolved again."""
    stale: dict[str, list[tuple[Any, DealTerms]]] = defaultdict(list)
    for row in rows:
        record = records.get(row.customer_key)
        if record is not None and not still_linked(row, record):
            stale[row.job].append((row, DealTerms.model_validate(row.terms)))
    moves: list[Move] = []
    for job, found in sorted(stale.items()):
        moves += await _resolve(relink, job, found, records)
    return moves


async def _resolve(
    relink: Relinking,
    job: str,
    stale: list[tuple[Any, DealTerms]],
    records: dict[str, CustomerRecord],
) -> list[Move]:
    desk = relink.desk
    mapping = relink.mappings.get(job)
    if mapping is None:  # the job was removed from config: nothing to match by any more
        return [Move(row, terms, MatchResult(status="pending"), None) for row, terms in stale]
    spec = mapping.spec
    wanted = set().union(*(wanted_keys(terms.account, spec.identity) for _, terms in stale))
    async with read_tx(desk.store) as conn:
        index = IdentityIndex.of(await identity.index_hits(conn, desk.target_name, wanted))
    pairs = [(records[row.customer_key], terms.account) for row, terms in stale]
    settled, results = await reresolve(desk, index, pairs, rules=spec.identity, kind=spec.record)
    await lookups.keep_found(desk, IdentityIndex(), settled.found)
    now = desk.clock()
    moves = []
    for (row, terms), result in zip(stale, results, strict=True):
        moves.append(Move(row, terms, result, None if result.status == "pending" else now))
        log.info(
            "deal_identity_moved",
            deal=f"{job}/{row.deal_id}",
            record=row.customer_key,
            key=(row.match_detail or {}).get("key"),
            now=result.customer_key or result.status,
        )
    return moves


async def reresolve(
    desk: lookups.Desk,
    index: IdentityIndex,
    stale: Sequence[tuple[CustomerRecord, AccountIdentity]],
    *,
    rules: Sequence[IdentityRule],
    kind: str,
) -> tuple[lookups.Settled, list[MatchResult]]:
    """Match accounts again whose record, read just now, lost the key they were matched by.

    The record's claims of keys it does not carry are struck from ``index`` first, so neither
    a lagging index nor a lagging search can send the deal back there for them."""
    for record, account in stale:
        _strike(index, record, wanted_keys(account, rules))
    accounts = [account for _, account in stale]
    settled = await lookups.settle(desk, index, accounts, rules=rules, kind=kind)
    results = [
        MatchResult(status="pending")
        if position in settled.undecided
        else index.match(account, rules, kind)
        for position, account in enumerate(accounts)
    ]
    return settled, results


def _strike(index: IdentityIndex, record: CustomerRecord, keys: set[tuple[str, str]]) -> None:
    """The record was read just now: claims of keys it does not carry are stale."""
    carried = set(identity_keys(record))
    index.refute(record.ref.kind, record.ref.id, [k for k in keys if k not in carried])


async def commit(relink: Relinking, conn: Connection, moves: Sequence[Move]) -> set[str]:
    """Record the moves with the batch (C3): rows, work for the new records, conflicts.

    Returns the customers queued (the caller wakes the workers once committed)."""
    if not moves:
        return set()
    desk, conflicts = relink.desk, relink.conflicts
    now = desk.clock()
    rows, queued, found, settled = [], set(), [], []
    for move in moves:
        row, result = move.row, move.result
        rows.append(
            dict(row._mapping)
            | {
                "customer_key": result.customer_key,
                "match_status": result.status,
                "match_detail": result.model_dump(mode="json"),
                "lookup_at": move.lookup_at,
                "updated_at": now,
            }
        )
        scope = f"{row.job}/{row.deal_id}"
        settled.append(scope)
        if result.status in REPORTED:
            why = {"left_record": row.customer_key, "left_key": _key_text(row)}
            found.append(conflicts.match_conflict(move.terms, result, why))
        if result.customer_key and move.leaves:
            queued.add(result.customer_key)
        counter = "deals_relinked" if result.customer_key else "deals_unlinked"
        desk.state.counts[counter if move.leaves else "deals_rekeyed"] += 1
    await deals.save_deals(conn, rows)
    await work.enqueue(conn, desk.target_name, queued, now)
    await conflicts.settle(conn, found, settled, kinds=REPORTED)
    return queued


def _key_text(row: Any) -> str:
    detail = row.match_detail or {}
    return f"{detail.get('method')} {detail.get('key') or '?'}"


def _values(account: AccountIdentity, method: str) -> tuple[str, ...]:
    return {
        "external_id": account.external_ids,
        "email": account.emails,
        "domain": account.domains,
    }[method]
