"""Deal terms go to the store with the JSON text pydantic makes of them: that text is what is
written, it decodes to exactly the JSON form stage 1 fingerprints, and a deal's fingerprint
is the one earlier versions stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.model import DealTerms, MatchResult, terms_fingerprint
from sync_jobs.store.bulk import json_text
from sync_jobs.store.encoded import EncodedJson, model_json, model_text
from tests.unit.engine.test_canonical_json import terms as any_terms
from tests.unit.engine.test_terms_fingerprint import PLAIN, RICH

CUSTOM_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
"""Anything a mapping's custom term can hold: any text (lone surrogates too), any float."""


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(),
    amount=st.decimals(allow_nan=False, allow_infinity=False, places=2),
    custom=st.dictionaries(st.text(), CUSTOM_VALUES, max_size=4),
    modified=st.datetimes(timezones=st.just(UTC)),
)
def test_the_text_decodes_to_the_json_form_in_its_order(
    name: str, amount: Decimal, custom: dict[str, Any], modified: datetime
) -> None:
    terms = RICH.model_copy(
        update={"name": name, "amount": amount, "custom": custom, "modified_at": modified}
    )
    form = terms.model_dump(mode="json")
    encoded = model_json(terms)
    assert encoded == form
    assert json.loads(encoded.text) == json.loads(json.dumps(form))
    assert list(json.loads(encoded.text)) == list(form), "keys in the model's order"
    assert terms_fingerprint(encoded) == terms.fingerprint()
    assert DealTerms.model_validate_json(encoded.text) == DealTerms.model_validate(form)


def test_the_pinned_fingerprints_stay() -> None:
    assert terms_fingerprint(model_json(PLAIN)) == "dd13b6df457865d93d9e68efa76c259d"
    assert terms_fingerprint(model_json(RICH)) == "4cde74d38e13d938b8e1939edd2b0bd3"


def test_pydantics_text_is_compact_and_keeps_non_ascii_characters() -> None:
    form = RICH.model_dump(mode="json")
    assert model_json(RICH).text == json.dumps(form, separators=(",", ":"), ensure_ascii=False)


def test_a_lone_surrogate_is_escaped_as_the_standard_encoder_does() -> None:
    terms = PLAIN.model_copy(update={"name": "a\ud800b"})
    encoded = model_json(terms)
    assert encoded.text == json.dumps(terms.model_dump(mode="json"))
    assert json.loads(encoded.text)["name"] == "a\ud800b"


def test_the_store_writes_the_carried_text_as_it_is() -> None:
    assert json_text(EncodedJson({"a": 1}, '{"a":1}')) == '{"a":1}'
    assert json_text({"a": 1}) == '{"a": 1}', "a plain dict is encoded as json.dumps does"


@settings(max_examples=300, deadline=None)
@given(any_terms())
def test_the_text_is_what_pydantic_makes_of_the_model(terms: DealTerms) -> None:
    """The text comes from the dumped form (``to_json``), and must be what the model's own
    serializer (``model_dump_json``, which stage 1 called before) makes of the terms."""
    try:
        expected = terms.model_dump_json()
    except ValueError:  # a lone surrogate: the standard encoder's text, as always
        expected = json.dumps(terms.model_dump(mode="json"))
    assert model_json(terms).text == expected
    assert model_text(terms) == expected, "the text alone, as stage 1 stores it"


@given(
    key=st.none() | st.text(),
    candidates=st.lists(st.text(), max_size=3).map(tuple),
    status=st.sampled_from(["matched", "ambiguous", "unmatched", "pending"]),
)
def test_a_models_text_alone_is_the_text_model_json_carries(
    key: str | None, candidates: tuple[str, ...], status: str
) -> None:
    result = MatchResult.model_validate(
        {"status": status, "record_kind": "organization", "key": key, "candidates": candidates}
    )
    text = model_text(result)
    assert text == model_json(result).text
    assert json.loads(text) == result.model_dump(mode="json")
    assert json_text(text) == text, "written as it is"
    assert type(json_text(text)) is str


def test_a_lone_surrogate_in_a_models_text_is_escaped_as_the_standard_encoder_does() -> None:
    result = MatchResult(status="matched", record_kind="organization", key="a\ud800b")
    assert model_text(result) == json.dumps(result.model_dump(mode="json"))
