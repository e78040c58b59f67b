"""Stage 2's direct paths for the common customer give what the general code gave (Hypothesis,
the old code kept here as the oracle):

* the link check asks only the matched method's values of the record
  (:func:`~sync_jobs.domain.matching.carries` against the old one, which listed all of the
  record's keys);
* stored terms are validated by pydantic's validator without ``model_validate_json``'s
  wrapper (the same terms, the same reason for unreadable ones);
* one deal's wanted values are taken as they are (:func:`sync_jobs.domain.planner._desired`
  against the version that collected every deal's values per field first), with several
  deals, deals under review, values a write rule's map does not list, hostile text.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.mapping import NoteRule, WriteRule
from sync_jobs.domain.matching import carries, identity_keys
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.planner import (
    CustomerState,
    DealView,
    _candidates,
    _desired,
    _disagreement,
    _newest,
    _unmapped,
    _Work,
)
from sync_jobs.domain.values import comparable, normalize_domain, normalize_identity, to_target
from sync_jobs.run import stage2
from tests.unit.engine.test_note_properties import HOSTILE

KEY_TEXT = st.one_of(
    st.sampled_from(
        ["C-1", " c-1 ", "c-1", "İstanbul", "ß", "A.example", "www.a.example/x", "x@A.example"]
    ),
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
)


@settings(max_examples=500, deadline=None)
@given(
    external_id=st.none() | KEY_TEXT,
    emails=st.lists(KEY_TEXT, max_size=3),
    domains=st.lists(KEY_TEXT, max_size=3),
    method=st.sampled_from(["external_id", "email", "domain"]),
    key=KEY_TEXT,
    own=st.booleans(),
)
def test_the_link_check_and_the_record_s_keys_agree_with_the_whole_key_list_as_it_was(
    external_id: str | None,
    emails: list[str],
    domains: list[str],
    method: str,
    key: str,
    own: bool,
) -> None:
    record = CustomerRecord(
        ref=RecordRef(kind="organization", id="1"),
        external_id=external_id,
        emails=tuple(emails),
        domains=tuple(domains),
    )
    if own:  # a key the record may carry: one of its values, as the index normalises it
        carried = [value for kind, value in reference_keys(record) if kind == method]
        key = carried[0] if carried else key
    assert carries(record, method, key) == ((method, key) in reference_keys(record))
    assert identity_keys(record) == reference_keys(record)


def reference_keys(record: CustomerRecord) -> list[tuple[str, str]]:
    """Every key of the record, as ``identity_keys`` listed them before it was built from
    ``record_keys`` (the oracle of the link check)."""
    keys: list[tuple[str, str]] = []
    if record.external_id:
        keys.append(("external_id", normalize_identity("external_id", record.external_id)))
    keys += [("email", normalize_identity("email", e)) for e in record.emails if e]
    keys += [("domain", normalize_domain(d)) for d in record.domains if d]
    return list(dict.fromkeys(keys))


def reference_desired(
    live: Sequence[DealView], work: _Work
) -> tuple[dict[str, tuple[Any, DealView]], set[str]]:
    """``planner._desired`` before the one-deal path (the oracle)."""
    per_field: dict[str, list[tuple[Any, DealView]]] = defaultdict(list)
    held: set[str] = set()
    for view in live:
        if view.under_review:
            continue
        for target_field, rule in view.rules.items():
            value = view.terms.value(rule.value)
            if value is None or (type(value) is not Decimal and value == ()):
                continue
            value = to_target(value)
            if rule.map is not None:
                if str(value) not in rule.map:
                    work.problems.append(_unmapped(target_field, rule, value, view))
                    held.add(target_field)
                    continue
                value = rule.map[str(value)]
            per_field[target_field].append((value, view))
    wanted: dict[str, tuple[Any, DealView]] = {}
    for name, found in per_field.items():
        if name in held:
            continue
        if len(found) == 1:
            wanted[name] = found[0]
            continue
        if len({comparable(v) for v, _ in found}) == 1:
            wanted[name] = max(found, key=lambda item: _newest(item[1]))
            continue
        chosen = _disagreement(name, _candidates(found), work)
        if chosen is None:
            held.add(name)
        else:
            wanted[name] = chosen
    return wanted, held


TEXT = st.one_of(st.sampled_from(["net30", "Net 60", "4h", "", " "]), st.sampled_from(HOSTILE))
RULES = st.dictionaries(
    st.sampled_from(["f.discount", "f.terms", "f.sla", "f.until", "f.free", "f.custom"]),
    st.builds(
        WriteRule,
        value=st.sampled_from(
            ["discount_percent", "payment_terms", "sla", "valid_until", "free_services", "custom.x"]
        ),
        map=st.none() | st.dictionaries(st.sampled_from(["net30", "10", "4h", "x"]), TEXT),
        on_disagreement=st.sampled_from(["manual", "list_all", "priority"]),
        priority=st.sampled_from([(), ("EMEA", "West")]),
    ),
    max_size=4,
)


@st.composite
def views(draw: st.DrawFn) -> list[DealView]:
    rules = draw(RULES)
    found = []
    for index in range(draw(st.integers(1, 3))):
        terms = DealTerms(
            deal=DealRef(
                system="salesforce",
                source="sf",
                job="west",
                id=f"d{index}",
                territory=draw(st.sampled_from(["West", "EMEA"])),
            ),
            discount_percent=draw(st.none() | st.sampled_from([Decimal(0), Decimal(10)])),
            payment_terms=draw(st.none() | TEXT),
            sla=draw(st.none() | TEXT),
            free_services=tuple(draw(st.lists(TEXT, max_size=2))),
            valid_until=draw(st.none() | st.just(date(2099, 12, 31))),
            custom=draw(st.sampled_from([{}, {"x": "4h"}, {"x": None}])),
            modified_at=datetime(2026, 12, index + 1, tzinfo=UTC),
        )
        found.append(DealView(terms, rules, under_review=draw(st.booleans())))
    return found


def work_for(found: Sequence[DealView]) -> _Work:
    record = CustomerRecord(ref=RecordRef(kind="organization", id="1"))
    state = CustomerState(
        target="zendesk",
        record=record,
        deals=found,
        base={},
        note=NoteRule(field="notes"),
        text_limit=65_535,
        today=date(2026, 12, 6),
    )
    return _Work(state)


@settings(max_examples=500, deadline=None)
@given(found=views())
def test_one_deal_s_values_are_what_the_general_choice_made(found: list[DealView]) -> None:
    new, old = work_for(found), work_for(found)
    assert _desired(found, new) == reference_desired(found, old)
    for name in _Work.__slots__:
        if name != "state":
            assert getattr(new, name) == getattr(old, name), name


def validated_or_reason(read: Callable[[], DealTerms]) -> DealTerms | str:
    """The terms, or the reason stage 2 gives for unreadable ones (the error's first line)."""
    try:
        return read()
    except ValueError as exc:
        return str(exc).splitlines()[0]


STORED = DealTerms(
    deal=DealRef(system="salesforce", source="sf", job="west", id="1", territory="West"),
    payment_terms="net30",
    modified_at=datetime(2026, 12, 6, tzinfo=UTC),
).model_dump_json()


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.just(STORED),
        st.sampled_from(["", "{", "null", "[]", '{"deal": 1}', STORED[:-1], STORED + "x"]),
        st.builds(
            lambda a, b: STORED.replace(a, b),
            st.sampled_from(['"net30"', '"West"', "2026"]),
            st.sampled_from([*HOSTILE, "1", "null", '"x"', "\\ud800"]),
        ),
        st.text(max_size=40),
    ),
)
def test_stored_terms_read_as_model_validate_json_reads_them(text: str) -> None:
    # A fingerprint never used before: the terms cache names one text by it.
    row = SimpleNamespace(
        terms_text=text, payload_hash=str(uuid4()), modified_at=datetime(2026, 1, 1, tzinfo=UTC)
    )
    expected = validated_or_reason(lambda: DealTerms.model_validate_json(text))
    assert validated_or_reason(lambda: stage2._terms(row)) == expected
