"""A deal's account key (the match pass's grouping) is the digest of the first identity key
its mapping's rules try: read from the account's tuples, it must be the key the plain
derivation from every wanted key gives (kept here as the reference)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.mapping import IdentityRule
from sync_jobs.domain.matching import rule_order, wanted_keys
from sync_jobs.domain.model import AccountIdentity
from sync_jobs.run.pass_order import account_key


def reference_account_key(account: AccountIdentity, rules: Sequence[IdentityRule]) -> str:
    """The key as stage 1 derived it before: every wanted key, then the first rule's least."""
    wanted = wanted_keys(account, rules)
    for match in rule_order(rules):
        values = sorted(value for kind, value in wanted if kind == match)
        if values:
            return hashlib.blake2b(f"{match}:{values[0]}".encode(), digest_size=16).hexdigest()
    return ""


VALUES = st.lists(st.text(max_size=6) | st.sampled_from(["a", "b", "B", "é", ""]), max_size=4)
RULES = st.lists(
    st.builds(
        IdentityRule.model_validate,
        st.fixed_dictionaries(
            {
                "from": st.sampled_from(["Account.Id", "Contact.Email", "Account.Website"]),
                "match": st.sampled_from(["external_id", "email", "domain"]),
            }
        ),
    ),
    min_size=0,
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    external_ids=VALUES,
    emails=VALUES,
    domains=VALUES,
    rules=RULES,
    as_tuple=st.booleans(),
)
def test_the_key_is_the_first_wanted_keys_digest(
    external_ids: list[str],
    emails: list[str],
    domains: list[str],
    rules: list[IdentityRule],
    as_tuple: bool,
) -> None:
    account = AccountIdentity(
        external_ids=tuple(external_ids), emails=tuple(emails), domains=tuple(domains)
    )
    given_rules: Sequence[IdentityRule] = tuple(rules) if as_tuple else rules
    assert account_key(account, given_rules) == reference_account_key(account, given_rules)


def test_an_account_without_values_of_any_rule_has_no_key() -> None:
    account = AccountIdentity(emails=("a@b.example",))
    rules = (IdentityRule.model_validate({"from": "Account.Id", "match": "external_id"}),)
    assert account_key(account, rules) == ""
    assert account_key(AccountIdentity(), ()) == ""
