"""The match pass reads a waiting deal's account from its stored terms text exactly as it
read it from the decoded terms (``AccountIdentity.model_validate(json.loads(text)["account"])``),
whichever encoder wrote the text (pydantic's, or the standard one)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.run.stage1 import _sorted_account, stored_account
from sync_jobs.store.encoded import model_json, model_text

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
"""Any code point, lone surrogates included (JSON carries them as escapes)."""
TERMS = DealTerms(
    deal=DealRef(system="fake", source="crm", job="west", id="D1", territory="West"),
    name="Deal D1",
    modified_at=datetime(2026, 12, 6, 12, tzinfo=UTC),
)


def reference(text: str) -> AccountIdentity:
    return AccountIdentity.model_validate(json.loads(text)["account"])


accounts = st.builds(
    AccountIdentity,
    name=st.none() | ANY_TEXT,
    external_ids=st.lists(ANY_TEXT, max_size=3).map(tuple),
    domains=st.lists(ANY_TEXT, max_size=3).map(tuple),
    emails=st.lists(ANY_TEXT, max_size=3).map(tuple),
    phone=st.none() | ANY_TEXT,
)


@given(account=accounts)
def test_the_account_read_from_the_text_is_the_decoded_terms_account(
    account: AccountIdentity,
) -> None:
    terms = TERMS.model_copy(update={"account": account})
    for text in (model_json(terms).text, json.dumps(terms.model_dump(mode="json"))):
        assert stored_account(text) == reference(text) == account


def test_a_lone_surrogate_is_read_as_the_standard_decoder_reads_it() -> None:
    text = json.dumps({"account": {"name": "\ud800x"}, "deal": {}})
    assert stored_account(text) == AccountIdentity(name="\ud800x")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"deal": {}}', KeyError),
        ('{"account": {"name": "x", "extra": 1}}', ValidationError),
    ],
)
def test_terms_that_do_not_hold_an_account_fail_as_before(
    text: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        reference(text)
    with pytest.raises(error):
        stored_account(text)


HOSTILE = st.sampled_from(['},"active":', '"},"active":true,', "}", '\\"', "\\", "é😀\x7f"])
"""Texts that look like the end of the stored account's object, or escape into it."""


@settings(max_examples=300, deadline=None)
@given(
    account=accounts,
    tricky=st.lists(HOSTILE, max_size=3).map("".join),
    custom=st.dictionaries(st.sampled_from(["active", "account", "a"]), HOSTILE, max_size=3),
    active=st.booleans(),
)
def test_the_account_of_terms_stored_sorted_is_read_from_its_own_text(
    account: AccountIdentity, tricky: str, custom: dict[str, str], active: bool
) -> None:
    """Stage 1 stores terms with their keys sorted (``DealTerms.stored_text``): the match
    pass validates the account's own text alone (``_sorted_account``), and reads what the
    decoded terms hold, whatever the account's texts or custom terms look like."""
    if account.name is not None:
        account = account.model_copy(update={"name": account.name + tricky})
    terms = TERMS.model_copy(
        update={"account": account, "custom": custom, "active": active, "name": tricky}
    )
    both = terms.stored_text()
    if both is None:  # a lone surrogate: stored in field order, read the general way
        assert stored_account(model_text(terms)) == account
        return
    text = both[0]
    assert _sorted_account(text) == reference(text) == account
    assert stored_account(text) == account
    assert _sorted_account(model_text(terms)) is None  # field order: the general reading


@pytest.mark.parametrize(
    "text",
    [
        '{"account":{"name":"x","extra":1},"active":true}',
        '{"account":{"name":"x"}}',
        '{"account":{"name":"\\ud800"},"active":true}',
    ],
)
def test_a_sorted_text_that_does_not_validate_is_read_the_general_way(text: str) -> None:
    assert _sorted_account(text) is None
    try:
        expected: object = reference(text)
    except (KeyError, ValidationError) as exc:
        expected = type(exc)
    try:
        got: object = stored_account(text)
    except (KeyError, ValidationError) as exc:
        got = type(exc)
    assert got == expected
