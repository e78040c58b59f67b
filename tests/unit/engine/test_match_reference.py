"""``IdentityIndex.match`` answers as it did before its rule order was remembered per rule
tuple and its match made by the validator itself: the reference below is the old method,
kept as written, run over the same index for any index, account and rules (a match type
listed twice, rules given as a tuple or as a list, changed between calls)."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import IdentityIndex, match_order, rule_order
from sync_jobs.domain.model import AccountIdentity, MatchResult

MATCHES = ("external_id", "email", "domain")
KINDS = ("organization", "user")
VALUES = ("c-1", "c-2", "a.example", "x@a.example", "", "é", "\u202e", "\ud800")
"""Identity values, among them empty, non-ASCII, bidi and lone-surrogate texts."""


def reference_match(
    index: IdentityIndex, account: AccountIdentity, rules: Sequence[IdentityRule], kind: str
) -> MatchResult:
    values = {
        "external_id": account.external_ids,
        "email": account.emails,
        "domain": account.domains,
    }
    for match_type in list(dict.fromkeys(r.match for r in rules)):
        found = index.holders(match_type, values[match_type], kind)
        if len(found) == 1:
            ((record_kind, record_id),) = found
            used = [
                v
                for v in values[match_type]
                if (record_kind, record_id) in index._by_key.get((match_type, v), ())
            ]
            return MatchResult(
                status="matched",
                record_kind=record_kind,
                record_id=record_id,
                method=match_type,
                key=min(used),
            )
        if len(found) > 1:
            return MatchResult(
                status="ambiguous",
                method=match_type,
                candidates=tuple(sorted(f"{k}:{i}" for k, i in found)),
            )
    return MatchResult(status="unmatched")


claims = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.sampled_from(("1", "2", "3")),
        st.lists(st.tuples(st.sampled_from(MATCHES), st.sampled_from(VALUES)), max_size=3),
    ),
    max_size=6,
)
identity_values = st.lists(st.sampled_from(VALUES), max_size=3).map(tuple)
accounts = st.builds(
    AccountIdentity, external_ids=identity_values, domains=identity_values, emails=identity_values
)
rule_lists = st.lists(
    st.sampled_from(MATCHES).map(
        lambda match: IdentityRule.model_validate({"from": "Account.X", "match": match})
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=500, deadline=None)
@given(claims=claims, account=accounts, rules=rule_lists, kind=st.sampled_from(KINDS))
def test_a_match_is_the_old_methods_match(
    claims: list[tuple[str, str, list[tuple[str, str]]]],
    account: AccountIdentity,
    rules: list[IdentityRule],
    kind: str,
) -> None:
    index = IdentityIndex()
    for record_kind, record_id, keys in claims:
        index.add(record_kind, record_id, keys)
    for given_rules in (tuple(rules), rules, tuple(rules)):  # the tuple's order remembered
        ours = index.match(account, given_rules, kind)
        theirs = reference_match(index, account, given_rules, kind)
        assert ours == theirs
        assert ours.__pydantic_fields_set__ == theirs.__pydantic_fields_set__
        assert list(ours.__dict__.items()) == list(theirs.__dict__.items())


@given(first=rule_lists, second=rule_lists)
def test_a_list_of_rules_changed_in_place_is_ordered_as_it_is_now(
    first: list[IdentityRule], second: list[IdentityRule]
) -> None:
    rules = list(first)
    assert match_order(rules) == tuple(dict.fromkeys(r.match for r in first))
    rules[:] = second
    assert match_order(rules) == tuple(dict.fromkeys(r.match for r in second))
    assert rule_order(tuple(second)) == list(dict.fromkeys(r.match for r in second))


def test_a_matched_deal_names_its_record_and_key() -> None:
    """Else the property could hold with both answering unmatched."""
    index = IdentityIndex()
    index.add("organization", "7", [("domain", "b.example"), ("domain", "a.example")])
    rules = (IdentityRule.model_validate({"from": "Account.Website", "match": "domain"}),)
    account = AccountIdentity(domains=("b.example", "a.example"))
    assert index.match(account, rules, "organization") == MatchResult(
        status="matched",
        record_kind="organization",
        record_id="7",
        method="domain",
        key="a.example",
    )


def reference_of(hits: list[tuple[str, str, str, str]]) -> IdentityIndex:
    index = IdentityIndex()
    for match, value, kind, record_id in hits:
        index.add(kind, record_id, [(match, value)])
    return index


@given(
    hits=st.lists(
        st.tuples(
            st.sampled_from(MATCHES),
            st.sampled_from(VALUES),
            st.sampled_from(KINDS),
            st.sampled_from(("1", "2", "3")),
        ),
        max_size=8,
    )
)
def test_an_index_of_stored_claims_is_the_one_added_claim_by_claim(
    hits: list[tuple[str, str, str, str]],
) -> None:
    ours, theirs = IdentityIndex.of(iter(hits)), reference_of(hits)
    assert list(ours._by_key.items()) == list(theirs._by_key.items())
    assert ours._records == theirs._records
    assert ours.version == theirs.version == len(hits)


def reference_holders(
    index: IdentityIndex, match: str, values: Sequence[str], kind: str
) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for value in values:
        found |= {r for r in index._by_key.get((match, value), ()) if r[0] == kind}
    return found


@given(
    claims=claims,
    match=st.sampled_from(MATCHES),
    values=st.lists(st.sampled_from(VALUES), max_size=4),
    kind=st.sampled_from(KINDS),
)
def test_holders_are_the_old_methods_holders(
    claims: list[tuple[str, str, list[tuple[str, str]]]],
    match: str,
    values: list[str],
    kind: str,
) -> None:
    index = IdentityIndex()
    for record_kind, record_id, keys in claims:
        index.add(record_kind, record_id, keys)
    keys_before = list(index._by_key)
    assert index.holders(match, values, kind) == reference_holders(index, match, values, kind)
    assert list(index._by_key) == keys_before  # asking adds no key to the index
