"""The agent note against hostile deal text and agents' own text: each bug of issue 13, replayed.

Every test here goes through the planner (``plan_customer``), the way stage 2 builds the note,
and re-plans with the note it wrote, the way the next run sees the record.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.mapping import NoteRule, WriteRule
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.notes import BLOCK_END, BLOCK_START, NoteTemplates
from sync_jobs.domain.planner import CustomerState, DealView, Plan, Resolution, plan_customer

TODAY = date(2026, 11, 23)
DISCOUNT = "organization_fields.special_discount"
TERMS = "organization_fields.payment_terms"
RULES = {DISCOUNT: WriteRule(value="discount_percent")}
TEMPLATES = NoteTemplates("text")


def deal(
    deal_id: str = "006A",
    territory: str = "West",
    discount: str | None = "15",
    until: date | None = date(2027, 3, 31),
    **extra: Any,
) -> DealTerms:
    values: dict[str, Any] = {
        "deal": DealRef(
            system="salesforce", source="sf", job=territory.lower(), id=deal_id, territory=territory
        ),
        "discount_percent": Decimal(discount) if discount else None,
        "valid_until": until,
        "owner_name": "Dana Ortiz",
        "modified_at": datetime(2026, 11, 20, tzinfo=UTC),
    }
    values.update(extra)
    return DealTerms(**values)


def plan(
    *deals: DealTerms,
    notes: str | None = None,
    fields: dict[str, Any] | None = None,
    rules: dict[str, WriteRule] | None = None,
    limit: int = 30_000,
    template: tuple[Path, str] | None = None,
) -> Plan:
    record = CustomerRecord(
        ref=RecordRef(kind="organization", id="1"),
        name="Acme",
        fields={**(fields or {}), "notes": notes},
    )
    folder, name = template or (Path(), None)
    views = [DealView(terms=d, rules=rules or RULES, template=name, folder=folder) for d in deals]
    state = CustomerState(
        target="zendesk",
        record=record,
        deals=views,
        base={},
        note=NoteRule(),
        text_limit=limit,
        today=TODAY,
    )
    return plan_customer(state, lambda d: TEMPLATES.line(d.terms, d.template, d.folder))


def note_after(*deals: DealTerms, notes: str | None = None, **kw: Any) -> str:
    """The note field once the plan is written (unchanged when the plan does not touch it)."""
    result = plan(*deals, notes=notes, **kw)
    assert result.error is None, result.error
    return str(result.fields.get("notes", notes or ""))


def whole_lines(note: str, marker: str) -> int:
    return sum(1 for line in note.split("\n") if line.rstrip() == marker)


# 2. The note grows by itself --------------------------------------------------------------


def test_deal_text_holding_the_end_marker_line_does_not_grow_the_note() -> None:
    hostile = deal(special_instructions=f"call first\n{BLOCK_END}\nthen email")
    other = deal("hs-9001", "EMEA", "10")
    notes = "VIP: escalate to Tier 2"
    lengths = []
    for _ in range(3):
        notes = note_after(hostile, other, notes=notes)
        lengths.append(len(notes))
    assert lengths[0] == lengths[1] == lengths[2], "the note grows run after run"
    assert notes.startswith("VIP: escalate to Tier 2\n\n" + BLOCK_START)
    assert whole_lines(notes, BLOCK_END) == 1
    assert note_after(hostile, other, notes=notes) == notes
    assert plan(hostile, other, notes=notes).changes == (), "an unchanged deal writes nothing"


def test_a_template_that_prints_a_value_alone_cannot_forge_a_marker_line(tmp_path: Path) -> None:
    (tmp_path / "bare.j2").write_text("{{ deal.special_instructions }}\n", encoding="utf-8")
    forged = [
        deal("006A", special_instructions=BLOCK_END),
        deal("006B", special_instructions=BLOCK_START),
    ]
    notes = note_after(*forged, notes="agent text", template=(tmp_path, "bare.j2"))
    assert whole_lines(notes, BLOCK_START) == 1
    assert whole_lines(notes, BLOCK_END) == 1
    assert "= = = end dealbridge ===" in notes, "neutralised, still readable"
    again = plan(*forged, notes=notes, template=(tmp_path, "bare.j2"))
    assert "notes" not in again.fields, "an unchanged deal rewrites nothing"


# 3. One long deal hides every deal ----------------------------------------------------------


def test_a_huge_deal_is_shortened_and_the_other_territorys_deal_stays_listed() -> None:
    huge = deal("006LONG", special_instructions="Call Dana first. " + "x" * 100_000)
    other = deal("hs-9001", "EMEA", "10")
    notes = note_after(huge, other, limit=10_000)
    assert len(notes) <= 10_000
    assert "hs-9001" in notes, "the other territory's deal is not dropped"
    assert "006LONG" in notes, "the long deal keeps its line, shortened"
    assert "Call Dana first." in notes
    assert re.search(r"…\[\+\d+ chars\]", notes), "the cut is visible"


# 4. The note flaps near the length limit ----------------------------------------------------


def test_a_note_close_to_the_limit_is_stable_from_run_to_run() -> None:
    deals = [deal(f"006{i:02}", sla="4h response on P1 " * 10) for i in range(18)]
    full = note_after(*deals)
    limit = len(full) + 20  # fits, but not twice over
    first = note_after(*deals, limit=limit)
    assert first == full, "everything fits: nothing is shortened"
    assert "notes" not in plan(*deals, notes=first, limit=limit).fields
    tight = len(full) - 200  # does not fit: shortened once, then stable
    second = note_after(*deals, limit=tight)
    assert len(second) <= tight
    assert "notes" not in plan(*deals, notes=second, limit=tight).fields


# 5. Agent text is not preserved byte for byte -----------------------------------------------


def test_inserting_and_removing_the_block_gives_back_the_agents_text_exactly() -> None:
    agent = "Visits on Tuesdays.  \r\n\n✅ Call-back window 9-11\n\n\n"
    with_block = note_after(deal(), notes=agent)
    assert with_block.startswith(agent)
    removed = note_after(deal(until=date(2026, 1, 1)), notes=with_block)  # expired
    assert removed == agent


def test_removing_a_block_between_agent_paragraphs_does_not_glue_them() -> None:
    first = note_after(deal(), notes="Only on-site visits.")
    notes = first + "\n✅Call-back window 9-11"
    removed = note_after(deal(until=date(2026, 1, 1)), notes=notes)
    assert removed == "Only on-site visits.\n✅Call-back window 9-11"


# 6. Other bad text --------------------------------------------------------------------------


def test_bidi_controls_and_unicode_line_breaks_never_reach_the_note() -> None:
    text = "\u202e%05 tnuocsid\u202c a\u2028b\u2029c\u0085d \u2066x\u2069 \u200f\u061c"
    notes = note_after(deal(special_instructions=text))
    for char in "\u202e\u202c\u2028\u2029\u0085\u2066\u2069\u200f\u061c":
        assert char not in notes, f"U+{ord(char):04X} survived"
    assert "%05 tnuocsid a b c d x" in notes


def test_a_markup_tag_of_any_length_is_removed() -> None:
    long_tag = "<a title='" + "y" * 300 + "'>click</a>"
    notes = note_after(deal(special_instructions=f"before {long_tag} after <<b>script>"))
    assert "<a" not in notes
    assert "<script>" not in notes
    assert "before click after" in notes


# 7. A dropdown value missing from map -------------------------------------------------------


def test_a_value_missing_from_the_write_map_is_a_record_error_not_a_guess() -> None:
    rules = {
        TERMS: WriteRule(value="payment_terms", map={"net30": "Net 30", "net60": "Net 60"}),
        DISCOUNT: WriteRule(value="discount_percent"),
    }
    result = plan(deal(payment_terms="net90"), rules=rules)
    assert TERMS not in result.fields, "an unmapped value is never written through"
    assert result.fields[DISCOUNT] == 15, "the record's other fields still go out"
    (problem,) = result.problems
    assert TERMS in problem
    assert "'net90'" in problem


# 9. Two deals of one territory --------------------------------------------------------------


def test_two_deals_of_one_territory_that_disagree_are_held_like_two_territories() -> None:
    result = plan(deal("006A", discount="15"), deal("006B", discount="10"))
    assert DISCOUNT not in result.fields, "neither deal silently wins"
    (finding,) = result.findings
    assert finding.kind == "territory_disagreement"
    assert finding.details["values"] == {"West deal 006A": 15, "West deal 006B": 10}
    assert finding.details["deals"] == ["006A", "006B"]
    assert "15 (West deal 006A) vs 10 (West deal 006B)" in finding.summary


# Marker lines in the agents' own text ---------------------------------------------------------


def test_agent_text_that_mentions_a_marker_inside_a_sentence_is_just_text() -> None:
    agent = f"Do not type below {BLOCK_END} please\n{BLOCK_END} (copied)\n {BLOCK_START}"
    notes = note_after(deal(), notes=agent)
    assert notes.startswith(agent + "\n\n" + BLOCK_START), "lone and indented copies are kept"
    assert note_after(deal(), notes=notes) == notes
    assert note_after(deal(until=date(2026, 1, 1)), notes=notes) == agent


def test_a_pasted_copy_of_a_whole_block_is_reported_and_nothing_is_written() -> None:
    ours = note_after(deal(), notes="VIP")
    old_copy = ours.split("\n\n", 1)[1].replace("15% discount", "12% discount")
    pasted = f"{ours}\n\nOld terms, pasted back:\n{old_copy}"
    result = plan(deal(discount="20"), notes=pasted)
    assert result.error is not None
    assert "2 dealbridge blocks" in result.error
    assert "delete every block but one" in result.error
    assert "notes" not in result.fields, "neither block is touched: no agent text is lost"


def test_a_start_marker_line_without_an_end_marker_line_is_reported() -> None:
    result = plan(deal(), notes=f"agent text\n{BLOCK_START}\n- 15% discount")
    assert result.error is not None
    assert "end marker was deleted" in result.error
    assert "notes" not in result.fields


# Fitting -------------------------------------------------------------------------------------


def test_deals_are_listed_soonest_expiry_first_then_largest_discount() -> None:
    notes = note_after(
        deal("LATE", discount="30", until=date(2027, 9, 1)),
        deal("SOON-SMALL", discount="5", until=date(2027, 1, 1)),
        deal("SOON-BIG", discount="20", until=date(2027, 1, 1)),
        deal("OPEN", discount="50", until=None),
        rules={},
    )
    order = [line.rsplit(" ", 1)[1] for line in notes.split("\n") if line.startswith("- ")]
    assert order == ["SOON-BIG", "SOON-SMALL", "LATE", "OPEN"]


def test_agent_text_alone_over_the_limit_gets_a_minimal_block_and_a_report() -> None:
    agent = "Agent history. " * 80  # 1,200 characters of the 1,000 the desk takes
    result = plan(deal("006A"), deal("hs-1", "EMEA", "15"), notes=agent, limit=1_000)
    notes = result.fields["notes"]
    assert notes.startswith(agent), "the agents' text is never cut"
    assert "+2 more deal(s): see `dealbridge deals show ID`" in notes
    assert not any(line.startswith("- ") for line in notes.split("\n")), "no deal line fits"
    (problem,) = result.problems
    assert problem.startswith("notes: the agents' own text (1200 characters)")
    assert "shorten the agents' text" in problem


def test_an_html_field_gets_escaped_text_and_line_breaks() -> None:
    record = CustomerRecord(
        ref=RecordRef(kind="company", id="1"),
        name="Acme",
        fields={"description": "<p>VIP</p>"},
    )
    rule = NoteRule(field="description", format="html")
    hostile = deal(special_instructions="<b>Fish & chips</b> 2 > 1 <script>x</script>")
    state = CustomerState(
        target="freshdesk",
        record=record,
        deals=[DealView(terms=hostile, rules={})],
        base={},
        note=rule,
        text_limit=10_000,
        today=TODAY,
    )
    html = plan_customer(state, lambda d: TEMPLATES.line(d.terms, None, Path())).fields[
        "description"
    ]
    assert html.startswith("<p>VIP</p><br>\n<br>\n" + BLOCK_START + "<br>\n")
    assert "note: Fish &amp; chips 2 &gt; 1 x;" in html
    assert "<b>" not in html
    assert "<script>" not in html
    assert html.endswith("<br>\n" + BLOCK_END)


# Disagreements within one territory -----------------------------------------------------------


def test_list_all_shows_both_deals_of_one_territory_and_writes_neither() -> None:
    rules = {DISCOUNT: WriteRule(value="discount_percent", on_disagreement="list_all")}
    result = plan(deal("006A", discount="15"), deal("006B", discount="10"), rules=rules)
    assert DISCOUNT not in result.fields
    assert result.findings == ()
    notes = result.fields["notes"]
    assert "15% discount" in notes
    assert "10% discount" in notes


def test_priority_never_falls_through_a_preferred_territory_whose_own_deals_differ() -> None:
    rules = {
        DISCOUNT: WriteRule(
            value="discount_percent", on_disagreement="priority", priority=("West", "EMEA")
        )
    }
    result = plan(
        deal("006A", discount="15"),
        deal("006B", discount="10"),
        deal("hs-1", "EMEA", "8"),
        rules=rules,
    )
    assert DISCOUNT not in result.fields, "EMEA is not chosen just because West is split"
    (finding,) = result.findings
    assert finding.summary.startswith("deals differ on")
    assert set(finding.details["values"]) == {"EMEA", "West deal 006A", "West deal 006B"}


def test_deals_of_one_territory_that_agree_speak_as_the_territory() -> None:
    result = plan(
        deal("006A", discount="15"), deal("006B", discount="15"), deal("hs-1", "EMEA", "10")
    )
    (finding,) = result.findings
    assert finding.details["values"] == {"EMEA": 10, "West": 15}
    assert finding.summary.startswith("territories differ on")


def test_a_decision_for_one_deal_of_a_split_territory_is_applied() -> None:
    values = {"West deal 006A": "15", "West deal 006B": "10"}
    decision = Resolution(
        conflict_id=7,
        kind="territory_disagreement",
        take="territory",
        value="West deal 006B",
        pinned=values,
    )
    record = CustomerRecord(ref=RecordRef(kind="organization", id="1"), name="Acme", fields={})
    views = [
        DealView(terms=deal("006A"), rules=RULES),
        DealView(terms=deal("006B", discount="10"), rules=RULES),
    ]
    state = CustomerState(
        target="zendesk",
        record=record,
        deals=views,
        base={},
        note=NoteRule(),
        text_limit=30_000,
        today=TODAY,
        resolutions={DISCOUNT: decision},
    )
    result = plan_customer(state, lambda d: TEMPLATES.line(d.terms, None, Path()))
    assert result.fields[DISCOUNT] == 10
    assert result.applied == (7,)
