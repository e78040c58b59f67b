"""Stage 2's planning shortcuts give what the general code gave (Hypothesis, the old code kept
here as the oracle):

* a first write (no base, nothing on the record, no decision) is decided without the
  decision table (:func:`sync_jobs.domain.planner._field` against the old one, which always
  asked :func:`~sync_jobs.domain.policy.decide`);
* a deal line the renderer cleaned is marked (:class:`~sync_jobs.domain.note_text.Clean`),
  and the note body does not clean it again: the same note as with the line unmarked;
* the deal line's summary is remembered by the values it reads
  (``notes._clean_summary`` against ``clean(summary(deal))``), equal discounts that print
  differently and long texts included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from connectors.registry import system_label
from sync_jobs.domain import planner
from sync_jobs.domain.mapping import NoteRule, WriteRule
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.note_text import Clean, clean, cleaned
from sync_jobs.domain.notes import (
    SUMMARY_KEPT_TEXT,
    NoteTemplates,
    _clean_summary,
    summary,
    vendor_name,
)
from sync_jobs.domain.planner import (
    Change,
    CustomerState,
    DealView,
    Resolution,
    _adopt,
    _decided,
    _edited,
    _release,
    _Work,
    plan_customer,
)
from sync_jobs.domain.policy import absent, decide
from sync_jobs.domain.values import comparable
from tests.unit.engine.test_default_line import TEXT, hostile_terms
from tests.unit.engine.test_note_properties import HOSTILE

TODAY = date(2026, 11, 23)
TEMPLATES = NoteTemplates("text")
RULES = {
    "f.discount": WriteRule(value="discount_percent"),
    "f.payment": WriteRule(value="payment_terms", on_conflict="source_wins"),
    "f.until": WriteRule(value="valid_until", on_conflict="target_wins"),
    "f.free": WriteRule(value="free_services", on_conflict="newest_wins"),
    "f.sla": WriteRule(value="sla", map={"gold": "Gold", "": "none"}),
}


def old_field(name: str, wanted: dict[str, tuple[Any, DealView]], work: _Work) -> None:
    """``planner._field`` before the first-write shortcut: every field through decide."""
    state = work.state
    current = state.record.fields.get(name)
    source, view = wanted.get(name, (None, None))
    base = state.base[name] if name in state.base else absent()
    if view is None:
        if name in state.base:
            _release(name, current, state.base[name], work)
        return
    policy = view.rules[name].on_conflict
    res = (
        work.resolution(name, "target_edited", comparable(source))
        if name in state.resolutions
        else None
    )
    if res is not None:
        if res.take != "target":
            _decided(name, current, res.value if res.take == "value" else source, work)
        return
    decision = decide(
        base=base,
        target=current,
        source=source,
        policy=policy,
        source_time=view.terms.modified_at,
        target_time=state.record.updated_at,
    )
    if decision.conflict:
        work.findings.append(_edited(name, current, source, view, decision, policy, state))
    if decision.action == "write":
        work.changes.append(Change(name, current, decision.value, "deal terms"))
    elif decision.adopt_base:
        _adopt(name, decision.value, work)


RECORD_VALUE = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "15", "15.0", 15, 15.0, "net30", "2027-03-31", [], "gold"]),
    st.sampled_from(HOSTILE),
    st.text(max_size=8),
)


@st.composite
def states(draw: st.DrawFn) -> CustomerState:
    """One or two deals with hostile values, a record with nothing or something on each field,
    a base or none, a decision or none."""
    deals = []
    for index in range(draw(st.integers(1, 2))):
        terms = draw(hostile_terms())
        terms = terms.model_copy(
            update={
                "deal": terms.deal.model_copy(update={"id": f"D{index}"}),
                "sla": draw(st.none() | st.sampled_from(["gold", "", "silver"]) | TEXT),
                "free_services": tuple(draw(st.lists(st.sampled_from(["", "a", "b"]), max_size=2))),
                "valid_until": draw(st.none() | st.dates(date(2026, 11, 23), date(2030, 1, 1))),
            }
        )
        deals.append(DealView(terms=terms, rules=RULES, under_review=draw(st.booleans())))
    names = sorted(RULES)
    fields = {name: v for name in names if (v := draw(RECORD_VALUE)) is not None}
    if draw(st.booleans()):
        fields = {}  # a backfill's record: nothing on it yet
    base = {name: v for name in names if draw(st.booleans()) and (v := draw(RECORD_VALUE))}
    resolutions = {}
    if draw(st.booleans()):
        name = draw(st.sampled_from(names))
        resolutions[name] = Resolution(
            conflict_id=7,
            kind="target_edited",
            take=draw(st.sampled_from(["source", "target", "value"])),
            value="chosen",
            pinned=draw(st.sampled_from([None, "15", "net30"])),
        )
    record = CustomerRecord(
        ref=RecordRef(kind="organization", id="1"),
        name="Acme",
        fields=fields,
        updated_at=draw(st.none() | st.just(datetime(2026, 11, 21, tzinfo=UTC))),
    )
    return CustomerState(
        target="zendesk",
        record=record,
        deals=deals,
        base=base,
        note=NoteRule(),
        text_limit=draw(st.sampled_from([64_000, 300])),
        today=TODAY,
        resolutions=resolutions,
    )


def render(view: DealView) -> str:
    return TEMPLATES.line(view.terms, None, Path())


@settings(max_examples=150, deadline=None)
@given(states())
def test_a_first_write_is_decided_as_the_decision_table_decides_it(
    state: CustomerState,
) -> None:
    new = plan_customer(state, render)
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(planner, "_field", old_field)
        old = plan_customer(state, render)
    assert new == old


@settings(max_examples=100, deadline=None)
@given(states())
def test_a_marked_line_makes_the_note_an_unmarked_one_makes(state: CustomerState) -> None:
    marked = plan_customer(state, render)
    assert all(type(TEMPLATES.line(d.terms, None, Path())) is Clean for d in state.deals)
    plain = plan_customer(state, lambda view: str(render(view)))  # str(): the text unmarked
    assert marked == plain


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.sampled_from(HOSTILE), st.text(), TEXT))
def test_a_marked_text_is_what_clean_makes_of_it(text: str) -> None:
    once = cleaned(text)
    assert type(once) is Clean
    assert once == clean(text)
    assert clean(once) is once
    assert clean(str(once)) == once  # the mark skips only what clean would give back


@settings(max_examples=150, deadline=None)
@given(st.lists(hostile_terms(), min_size=1, max_size=6))
def test_a_remembered_summary_is_the_summary_cleaned(deals: list[DealTerms]) -> None:
    for deal in deals * 2:  # the second time from memory
        assert _clean_summary(deal) == clean(summary(deal))


def deal_with(**values: Any) -> DealTerms:
    ref = DealRef(system="salesforce", source="sf", job="west", id="D1", territory="West")
    return DealTerms(deal=ref, modified_at=datetime(2026, 11, 20, tzinfo=UTC), **values)


def test_equal_discounts_that_print_differently_are_remembered_apart() -> None:
    for text in ["0", "-0", "0.0", "0E+2", "10", "1E+1", "10.00", "0", "-0"]:
        deal = deal_with(discount_percent=Decimal(text))
        assert _clean_summary(deal) == clean(summary(deal))
    assert _clean_summary(deal_with(discount_percent=Decimal("-0"))).startswith("-0%")


def test_long_texts_are_summarised_each_time() -> None:
    long = "<b>x</b>  " * SUMMARY_KEPT_TEXT
    for values in (
        {"special_instructions": long},
        {"sla": long},
        {"payment_terms": long},
        {"free_services": (long,)},
        {"free_services": tuple("abcdefghij")},
    ):
        deal = deal_with(**values)
        assert _clean_summary(deal) == clean(summary(deal))


def test_the_crm_label_is_the_registrys() -> None:
    for kind in ["salesforce", "hubspot", "spreadsheet", "not-a-kind", ""]:
        assert vendor_name(kind) == system_label(kind)
        assert vendor_name(kind) == system_label(kind)  # remembered
