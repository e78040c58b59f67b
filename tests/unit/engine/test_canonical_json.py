"""The fingerprint's text made by pydantic's serializer is byte for byte the standard encoder's
(``json.dumps(form less modified_at, sort_keys=True, separators=(",", ":"))``, as every
earlier version hashed it): over any terms, any text (control characters, DEL, beyond the
basic plane, lone surrogates) and any custom values, and for forms of another shape."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_jobs.domain.model import _SORTED_TERMS, AccountIdentity, DealTerms, terms_fingerprint
from sync_jobs.store.encoded import model_text
from tests.unit.engine.test_terms_fingerprint import PLAIN, RICH

_REFERENCE = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def reference_text(form: dict[str, Any]) -> bytes:
    """The text stage 1 hashed before pydantic's serializer wrote it (kept plain here)."""
    data = {key: value for key, value in form.items() if key != "modified_at"}
    return _REFERENCE.encode(data).encode()


def reference_fingerprint(form: dict[str, Any]) -> str:
    return hashlib.sha256(reference_text(form)).hexdigest()[:32]


ANY_TEXT = st.text(st.characters(codec=None, categories=None, exclude_categories=()), max_size=12)
"""Any code point, surrogates included."""
SOME_TEXT = st.one_of(st.text(max_size=12), ANY_TEXT, st.sampled_from(["a\x7fb", "é", "😀", ""]))
MAYBE_TEXT = st.none() | SOME_TEXT
KEYS = st.text(max_size=8) | st.sampled_from(["é", "😀", "a\x7f"])
"""A custom term's name or an object's key (a lone surrogate in a key fails pydantic's dump
itself, before any fingerprint)."""
CUSTOM_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | SOME_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
PLAIN_CUSTOM = st.none() | st.booleans() | SOME_TEXT | st.lists(SOME_TEXT, max_size=3)
"""Custom values pydantic's serializer writes as the standard encoder does (the fast way)."""


@st.composite
def terms(draw: st.DrawFn) -> DealTerms:
    texts = st.lists(SOME_TEXT, max_size=3).map(tuple)
    return DealTerms.model_validate(
        {
            "deal": {
                "system": draw(SOME_TEXT),
                "source": "salesforce_west",
                "job": draw(SOME_TEXT),
                "id": draw(SOME_TEXT),
                "territory": draw(SOME_TEXT),
                "url": draw(MAYBE_TEXT),
            },
            "name": draw(MAYBE_TEXT),
            "stage": draw(MAYBE_TEXT),
            "active": draw(st.booleans()),
            "deleted": draw(st.booleans()),
            "close_date": draw(st.none() | st.dates()),
            "amount": draw(st.none() | st.decimals(allow_nan=False, allow_infinity=False)),
            "currency": draw(MAYBE_TEXT),
            "owner_email": draw(MAYBE_TEXT),
            "account": {
                "name": draw(MAYBE_TEXT),
                "external_ids": draw(texts),
                "domains": draw(texts),
                "emails": draw(texts),
                "phone": draw(MAYBE_TEXT),
            },
            "discount_percent": draw(st.none() | st.decimals(min_value=0, max_value=100, places=3)),
            "free_services": draw(texts),
            "sla": draw(MAYBE_TEXT),
            "valid_until": draw(st.none() | st.dates()),
            "custom": draw(
                st.dictionaries(KEYS, PLAIN_CUSTOM, max_size=3)
                | st.dictionaries(KEYS, CUSTOM_VALUES, max_size=3)
            ),
            "modified_at": draw(st.datetimes(timezones=st.just(UTC))),
        }
    )


@settings(max_examples=400, deadline=None)
@given(terms())
def test_the_text_is_the_standard_encoders(one: DealTerms) -> None:
    form = one.model_dump(mode="json")
    assert _SORTED_TERMS.text(form) == reference_text(form)
    assert terms_fingerprint(form) == reference_fingerprint(form)


@settings(max_examples=200, deadline=None)
@given(form=st.dictionaries(SOME_TEXT, CUSTOM_VALUES, max_size=5), keep=st.booleans())
def test_a_form_of_another_shape_is_written_by_the_standard_encoder(
    form: dict[str, Any], keep: bool
) -> None:
    if keep:
        form["modified_at"] = "2026-12-06T00:00:00Z"
    assert _SORTED_TERMS.text(form) == reference_text(form)


def test_terms_of_the_model_shape_go_the_fast_way() -> None:
    """Else the property above would hold trivially: plain terms are written by pydantic."""
    ascii_only = PLAIN.model_copy(update={"custom": {"tier": "gold", "tags": ["a", "b"]}})
    for one in (PLAIN, ascii_only, PLAIN.model_copy(update={"name": "Zürich \x7f 😀"})):
        assert _SORTED_TERMS._ordered(one.model_dump(mode="json")) is not None
    assert _SORTED_TERMS._ordered(RICH.model_dump(mode="json")) is None, "numbers in custom"


def test_a_changed_form_keeps_nothing_from_the_last_one() -> None:
    """Forms that differ only where a fast path could merge them hash apart."""
    base = PLAIN.model_dump(mode="json")
    other = json.loads(json.dumps(base))
    other["deal"]["url"] = None
    assert terms_fingerprint(base) != terms_fingerprint(other)
    missing = {key: value for key, value in base.items() if key != "sla"}
    assert _SORTED_TERMS.text(missing) == reference_text(missing)
    extra = base | {"later_field": 1}
    assert _SORTED_TERMS.text(extra) == reference_text(extra)


def test_the_pinned_value_holds_on_the_fast_way_whatever_the_modification_time() -> None:
    plain = DealTerms.model_validate(
        PLAIN.model_dump() | {"modified_at": datetime(2020, 1, 1, tzinfo=UTC)}
    )
    assert terms_fingerprint(plain.model_dump(mode="json")) == "dd13b6df457865d93d9e68efa76c259d"


@settings(max_examples=400, deadline=None)
@given(terms())
def test_the_terms_own_values_give_the_standard_encoders_text(one: DealTerms) -> None:
    """Stage 1 fingerprints the terms without dumping them (``SortedForm.model_text``): the
    same text, byte for byte, as the dumped form's, or no text (then the form decides)."""
    form = one.model_dump(mode="json")
    raw = _SORTED_TERMS.model_text(one)
    if raw is not None:
        assert raw == reference_text(form)
    assert one.fingerprint() == reference_fingerprint(form)


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(allow_nan=False, allow_infinity=False),
    discount=st.decimals(min_value=0, max_value=100),
    day=st.dates(),
)
def test_decimals_and_dates_are_written_as_their_json_form_holds_them(
    amount: Decimal, discount: Decimal, day: date
) -> None:
    """A decimal in any exponent or precision (``1E+2``, ``-0``, ``0.000``), any date."""
    one = PLAIN.model_validate(
        PLAIN.model_dump() | {"amount": amount, "discount_percent": discount, "valid_from": day}
    )
    form = one.model_dump(mode="json")
    assert _SORTED_TERMS.model_text(one) == reference_text(form)


class _Subclass(DealTerms):
    later: str = "x"


class _Account(AccountIdentity):
    later: str = "x"


def test_the_terms_own_values_are_written_only_of_the_models_own_classes() -> None:
    """Plain terms go this way (else the properties above would hold trivially); terms of
    another class, or holding an account of another class, or a number in ``custom``, take
    the dumped form."""
    for one in (PLAIN, PLAIN.model_copy(update={"name": "Zürich \x7f 😀", "custom": {"a": "b"}})):
        assert _SORTED_TERMS.model_text(one) == reference_text(one.model_dump(mode="json"))
    subclass = _Subclass.model_validate(PLAIN.model_dump())
    account = PLAIN.model_copy(update={"account": _Account(name="x")})
    for other in (subclass, account, RICH):
        assert _SORTED_TERMS.model_text(other) is None
        assert other.fingerprint() == reference_fingerprint(other.model_dump(mode="json"))
    lone = PLAIN.model_copy(update={"name": "a\ud800"})
    assert _SORTED_TERMS.model_text(lone) is None
    assert lone.fingerprint() == reference_fingerprint(lone.model_dump(mode="json"))


@settings(max_examples=400, deadline=None)
@given(
    one=terms(),
    named_like_the_time=st.none() | PLAIN_CUSTOM,
)
def test_the_stored_text_and_the_fingerprint_come_from_one_serialization(
    one: DealTerms, named_like_the_time: Any
) -> None:
    """``DealTerms.stored_text``: the text decodes to the terms' JSON form (as pydantic's own
    text of them does) and validates back to the same terms, and the fingerprint is the
    reference's, whatever the text holds (a custom term named like the modification time,
    whose key the text is cut at, included); None only where the terms' own values cannot
    tell (then stage 1 makes the two as before)."""
    if named_like_the_time is not None:
        one = one.model_copy(update={"custom": one.custom | {"modified_at": named_like_the_time}})
    form = one.model_dump(mode="json")
    both = one.stored_text()
    if both is None:
        assert _SORTED_TERMS.model_text(one) is None
        return
    text, digest = both
    assert digest == reference_fingerprint(form) == one.fingerprint()
    assert json.loads(text) == form == json.loads(model_text(one))
    assert DealTerms.model_validate_json(text) == one
    assert text.isascii()


def test_the_stored_text_is_made_for_plain_terms() -> None:
    """Else the property above would hold trivially: plain terms (any text) take one
    serialization; terms of another class, numbers in ``custom`` or a lone surrogate do not."""
    odd = PLAIN.model_copy(
        update={"name": "Zürich \x7f 😀", "custom": {"a": "b", "modified_at": "x"}}
    )
    quoted = PLAIN.model_copy(update={"name": 'x","modified_at":"y', "sla": ',"modified_at":'})
    for one in (PLAIN, odd, quoted):
        both = one.stored_text()
        assert both is not None
        assert both[1] == reference_fingerprint(one.model_dump(mode="json"))
        assert json.loads(both[0]) == one.model_dump(mode="json")
    assert PLAIN.stored_text() is not None
    assert PLAIN.stored_text()[1] == "dd13b6df457865d93d9e68efa76c259d"  # type: ignore[index]
    subclass = _Subclass.model_validate(PLAIN.model_dump())
    for other in (subclass, RICH, PLAIN.model_copy(update={"name": "a\ud800"})):
        assert other.stored_text() is None
