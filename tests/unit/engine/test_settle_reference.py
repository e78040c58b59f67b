"""Settling a page of accounts works out each account's holders once per change of the index;
it must decide, ask and verify exactly as working them out at every step did (the reference
below, as ``lookups`` did it before), over arbitrary stale indexes and desks."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import IdentityKey
from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import IdentityIndex, RecordId, desk_keys, rule_order
from sync_jobs.domain.model import AccountIdentity
from sync_jobs.run import lookups
from sync_jobs.run.lookups import Settled, settle
from tests.unit.engine.test_matching_properties import (
    KIND,
    Desk,
    accounts,
    rule_sets,
    rules_of,
    run_on,
    worlds,
)


async def reference_settle(
    desk: lookups.Desk,
    index: IdentityIndex,
    accounts: Sequence[AccountIdentity],
    *,
    rules: Sequence[IdentityRule],
    kind: str,
) -> Settled:
    outcome = Settled()
    read: dict[RecordId, object] = {}
    while True:
        version = index.version
        outcome.undecided.clear()
        waiting = list(range(len(accounts)))
        for match in rule_order(rules):
            asking = {i: desk_keys(accounts[i], match, kind) for i in waiting}
            keyed = {i: keys for i, keys in asking.items() if keys}
            decided = await _reference_rule(desk, index, keyed, outcome, read)
            waiting = [i for i in waiting if i not in decided]
        if index.version == version:
            return outcome


async def _reference_rule(
    desk: lookups.Desk,
    index: IdentityIndex,
    keyed: dict[int, set[IdentityKey]],
    outcome: Settled,
    read: dict[RecordId, object],
) -> set[int]:
    def held(i: int) -> set[RecordId]:
        keys = keyed[i]
        first = next(iter(keys))
        return index.holders(first.match, (k.value for k in keys), first.kind)

    asked: set[int] = set()
    denied: set[IdentityKey] = set()
    while True:
        several = {i: keyed[i] for i in keyed if len(held(i)) > 1}
        await lookups._verify(desk, index, several, read)  # type: ignore[arg-type]
        asks = {i: keyed[i] for i in keyed if not held(i) and i not in asked}
        if not asks:
            break
        denied |= await lookups._ask(desk, index, set().union(*asks.values()), outcome)
        asked |= set(asks)
    decided = set()
    for i, keys in keyed.items():
        if i in asked and keys & denied:
            outcome.undecided.add(i)
            decided.add(i)
        elif held(i):
            decided.add(i)
    return decided


@settings(max_examples=300, deadline=None)
@given(
    world=worlds(),
    page=st.lists(accounts, min_size=1, max_size=5),
    matches=rule_sets,
    budget=st.integers(1, 6),
)
def test_settling_decides_asks_and_reads_as_the_reference(
    world: tuple[Desk, IdentityIndex],
    page: list[AccountIdentity],
    matches: tuple[str, ...],
    budget: int,
) -> None:
    rules = rules_of(matches)
    (desk, index), (ref_desk, ref_index) = copy.deepcopy(world), copy.deepcopy(world)
    run, ref_run = run_on(desk, budget), run_on(ref_desk, budget)
    settled = asyncio.run(settle(run, index, page, rules=rules, kind=KIND))
    expected = asyncio.run(reference_settle(ref_run, ref_index, page, rules=rules, kind=KIND))
    assert settled == expected
    assert desk.asked == ref_desk.asked
    assert run.state.asked == ref_run.state.asked
    assert run.state.counts == ref_run.state.counts
    assert dict(index._by_key) == dict(ref_index._by_key)
    assert [index.match(a, rules, KIND) for a in page] == [
        ref_index.match(a, rules, KIND) for a in page
    ]
