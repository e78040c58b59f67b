"""The match pass reads a waiting deal's account from its stored terms text exactly as it
read it from the decoded terms (``AccountIdentity.model_validate(json.loads(text)["account"])``),
whichever encoder wrote the text (pydantic's, or the standard one)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sync_jobs.domain.model import AccountIdentity, DealRef, DealTerms
from sync_jobs.run.stage1 import stored_account
from sync_jobs.store.encoded import model_json

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
