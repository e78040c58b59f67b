"""Matching against a stale index, as properties over arbitrary desks (Hypothesis).

The desk holds some records; the local index holds a stale picture of it (records missing,
records with old keys, records the desk no longer has). Whatever that picture, a deal whose
customer exists at the desk is never called unmatched, a deal is ambiguous only when the desk
really holds several candidates, and a deal is only written to a record that carries, when it
is read just before the write, the key the deal was matched by.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, IdentityKey, MatchType, RecordRef, ServiceTarget
from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import IdentityIndex, carries, identity_keys, rule_order
from sync_jobs.domain.model import AccountIdentity, MatchResult
from sync_jobs.run import lookups
from sync_jobs.run.context import RunState, utcnow
from sync_jobs.run.lookups import settle
from sync_jobs.run.recheck import reresolve
from sync_jobs.store.db import Store

KIND = "organization"
NUMBERS = ("c-1", "c-2", "c-3")
DOMAINS = ("a.example", "b.example", "c.example")
EMAILS = ("x@a.example", "y@b.example")
MATCHES = ("external_id", "email", "domain")


@dataclass
class Desk:
    """A fake service desk: records by id, answering lookups and reads as a desk would."""

    records: dict[str, CustomerRecord]
    asked: list[IdentityKey] = field(default_factory=list)

    async def lookup(
        self, keys: Sequence[IdentityKey], problems: list[str] | None = None
    ) -> list[CustomerRecord]:
        self.asked += keys
        return [
            record
            for record in self.records.values()
            if any(carries(record, k.match, k.value) for k in keys if k.kind == record.ref.kind)
        ]

    async def read(self, refs: Sequence[RecordRef]) -> list[CustomerRecord]:
        return [self.records[r.id] for r in refs if r.id in self.records]


def record(
    record_id: str, number: str | None, domains: list[str], emails: list[str]
) -> CustomerRecord:
    return CustomerRecord(
        ref=RecordRef(kind=KIND, id=record_id),
        external_id=number,
        domains=tuple(domains),
        emails=tuple(emails),
    )


def keys_strategy() -> st.SearchStrategy[tuple[str | None, list[str], list[str]]]:
    return st.tuples(
        st.sampled_from((None, *NUMBERS)),
        st.lists(st.sampled_from(DOMAINS), max_size=2, unique=True),
        st.lists(st.sampled_from(EMAILS), max_size=1),
    )


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Desk, IdentityIndex]:
    """A desk and a stale index of it: each record missing, current, or with old keys; plus
    records the index still lists though the desk no longer has them."""
    desk = {str(n): record(str(n), *draw(keys_strategy())) for n in range(draw(st.integers(0, 5)))}
    index = IdentityIndex()
    for record_id, current in desk.items():
        view = draw(st.sampled_from(("current", "missing", "stale")))
        if view == "current":
            index.add(KIND, record_id, identity_keys(current))
        elif view == "stale":
            index.add(KIND, record_id, identity_keys(record(record_id, *draw(keys_strategy()))))
    for ghost in range(draw(st.integers(0, 2))):
        index.add(KIND, f"gone-{ghost}", identity_keys(record("x", *draw(keys_strategy()))))
    return Desk(desk), index


accounts = st.builds(
    AccountIdentity,
    external_ids=st.lists(st.sampled_from(NUMBERS), max_size=2, unique=True).map(tuple),
    domains=st.lists(st.sampled_from(DOMAINS), max_size=2, unique=True).map(tuple),
    emails=st.lists(st.sampled_from(EMAILS), max_size=1).map(tuple),
)
rule_sets = st.permutations(MATCHES).flatmap(
    lambda order: st.integers(1, 3).map(lambda n: tuple(order[:n]))
)


def rules_of(matches: Sequence[str]) -> list[IdentityRule]:
    return [IdentityRule.model_validate({"from": f"field_{m}", "match": m}) for m in matches]


def run_on(desk: Desk, budget: int = 1000) -> lookups.Desk:
    """Just what matching reads of a run: its state, the desk, the lookup budget (settling
    never touches the store)."""
    return lookups.Desk(
        job="west",
        target_name="desk",
        target=cast("ServiceTarget", desk),
        store=cast("Store", None),
        clock=utcnow,
        state=RunState("r", "west"),
        lookups_per_run=budget,
    )


def values(account: AccountIdentity, match: str) -> tuple[str, ...]:
    return {
        "external_id": account.external_ids,
        "email": account.emails,
        "domain": account.domains,
    }[match]


def holders(desk: Desk, account: AccountIdentity, match: str) -> set[str]:
    """Records the desk really has that carry one of the account's values for ``match``."""
    return {
        r.ref.id
        for r in desk.records.values()
        if any(carries(r, match, v) for v in values(account, match))
    }


def check_against_desk(
    desk: Desk, account: AccountIdentity, rules: Sequence[IdentityRule], result: MatchResult
) -> None:
    """Unmatched and ambiguous are what the desk itself says; no earlier rule was skipped."""
    order = rule_order(rules)
    method = cast("MatchType", result.method)
    deciding = order.index(method) if method in order else len(order)
    for earlier in order[:deciding]:
        assert not holders(desk, account, earlier), f"rule {earlier} had a customer at the desk"
    if result.status == "ambiguous":
        assert len(holders(desk, account, str(result.method))) >= 2
    if result.status == "matched":
        assert result.key in values(account, str(result.method))


@settings(max_examples=150, deadline=None)
@given(world=worlds(), page=st.lists(accounts, min_size=1, max_size=4), matches=rule_sets)
def test_a_deal_whose_customer_exists_at_the_desk_is_never_reported_unmatched(
    world: tuple[Desk, IdentityIndex],
    page: list[AccountIdentity],
    matches: tuple[str, ...],
) -> None:
    desk, index = world
    rules = rules_of(matches)
    run = run_on(desk)
    settled = asyncio.run(settle(run, index, page, rules=rules, kind=KIND))
    assert not settled.undecided
    for account in page:
        check_against_desk(desk, account, rules, index.match(account, rules, KIND))
    assert len(desk.asked) == len(set(desk.asked)), "a key is asked at most once per run"


@settings(max_examples=150, deadline=None)
@given(
    world=worlds(),
    account=accounts,
    matches=rule_sets,
    moved=keys_strategy(),
    who=st.integers(0, 5),
)
def test_a_write_goes_only_to_a_record_that_still_carries_the_matched_key(
    world: tuple[Desk, IdentityIndex],
    account: AccountIdentity,
    matches: tuple[str, ...],
    moved: tuple[str | None, list[str], list[str]],
    who: int,
) -> None:
    desk, index = world
    rules = rules_of(matches)
    written, result, seen = asyncio.run(_match_then_write(desk, index, account, rules, moved, who))
    if written is not None:
        assert carries(written, str(result.method), str(result.key))
        check_against_desk(seen, account, rules, result)
    elif result.status == "unmatched":
        for match in matches:
            assert not holders(seen, account, match), "reported unmatched, but the desk had it"


async def _match_then_write(
    desk: Desk,
    index: IdentityIndex,
    account: AccountIdentity,
    rules: Sequence[IdentityRule],
    moved: tuple[str | None, list[str], list[str]],
    who: int,
) -> tuple[CustomerRecord | None, MatchResult, Desk]:
    """Stage 1 matches; an agent may change a record; stage 2 writes only after its check.

    Returns the record written (if any), the deal's last match, and the desk as it was when
    that match was decided."""
    await settle(run_on(desk), index, [account], rules=rules, kind=KIND)
    result = index.match(account, rules, KIND)
    seen = Desk(dict(desk.records))
    if str(who) in desk.records:  # between matching and writing, an agent changes a record
        desk.records[str(who)] = record(str(who), *moved)
    for _attempt in range(len(desk.records) + 4):
        if result.status != "matched":
            return None, result, seen
        current = desk.records.get(str(result.record_id))
        if current is not None and carries(current, str(result.method), str(result.key)):
            return current, result, seen  # stage 2 read it just now: this record is written
        seen = Desk(dict(desk.records))
        if current is None:  # gone: it leaves the index, and the deal is matched again
            index.refute(KIND, str(result.record_id), _claims(account, rules))
            await settle(run_on(desk), index, [account], rules=rules, kind=KIND)
            result = index.match(account, rules, KIND)
            continue
        _, (result,) = await reresolve(
            run_on(desk), index, [(current, account)], rules=rules, kind=KIND
        )
    raise AssertionError("the deal kept moving between records")


def _claims(account: AccountIdentity, rules: Sequence[IdentityRule]) -> list[tuple[str, str]]:
    return [(r.match, v) for r in rules for v in values(account, r.match)]


@settings(max_examples=100, deadline=None)
@given(
    world=worlds(),
    page=st.lists(accounts, min_size=1, max_size=5),
    matches=rule_sets,
    budget=st.integers(1, 4),
)
def test_past_the_lookup_budget_a_deal_waits_and_is_never_reported_unmatched(
    world: tuple[Desk, IdentityIndex],
    page: list[AccountIdentity],
    matches: tuple[str, ...],
    budget: int,
) -> None:
    desk, index = world
    rules = rules_of(matches)
    settled = asyncio.run(settle(run_on(desk, budget), index, page, rules=rules, kind=KIND))
    assert len(set(desk.asked)) <= budget
    for position, account in enumerate(page):
        if position in settled.undecided:
            continue  # pending: no conflict is raised for it this run
        result = index.match(account, rules, KIND)
        if result.status == "unmatched":
            for match in matches:
                assert not holders(desk, account, match)
