"""Invariants of the agent note over arbitrary agents' text and arbitrary deals (Hypothesis).

For every placement dealbridge ships (Zendesk ``notes``, Freshdesk ``description``, both plain
text) and for HTML fields:

(a) the agents' text outside the block is kept byte for byte through insert, update, removal;
(b) planning again with the note just written changes nothing (no flapping), near the limit too;
(c) the note is no longer than the limit, unless the agents' text leaves no room (reported);
(d) the note holds exactly one block, and nothing inside it reads as a marker;
(e) every live deal is listed, in listing order, or counted in the "+K more" line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from sync_jobs.domain.mapping import NoteRule, WriteRule
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.note_block import BLOCK_END, BLOCK_START, LAYOUTS, find_block
from sync_jobs.domain.note_text import clean
from sync_jobs.domain.notes import NoteTemplates
from sync_jobs.domain.planner import CustomerState, DealView, Plan, plan_customer

TODAY = date(2026, 11, 23)
TEMPLATES = NoteTemplates("text")
PLACEMENTS = {
    "zendesk notes": NoteRule(field="notes"),
    "freshdesk description": NoteRule(field="description"),
    "html field": NoteRule(field="description", format="html"),
}
FAST = settings(max_examples=15, deadline=None)
DESK_MAX = 30_000
"""Zendesk's default note_max_length, the largest limit dealbridge ships."""

MARKERS = [BLOCK_START, BLOCK_END]
HOSTILE = [
    BLOCK_END,
    BLOCK_START,
    f"x\n{BLOCK_END}\ny",
    f"{BLOCK_END} and more",
    "\u202e%05 tnuocsid\u202c",
    "a\u2028b\u2029c\u0085d\r\ne\rf\vg\fh",
    "<a title='" + "y" * 250 + "'>x</a>",
    "<<b>script>alert(1)<</b>/script>",
    "Fish & chips <3 > 2",
    "👨‍👩‍👧 ✅ 🇦🇺",
    "   padded   ",
]
HUGE = st.sampled_from(["x", "é ", f"{BLOCK_END}\n", "\u202e<b>", "✅"]).map(
    lambda unit: unit * (100_000 // len(unit))
)
SMALL = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=60),
    st.text(alphabet="=\n\r <>/ab", max_size=40),
)
VALUE = st.integers(0, 9).flatmap(lambda pick: HUGE if pick == 0 else SMALL)
"""About one value in ten is 100,000 characters long: enough to meet some in every test."""

# Agents' lines: marker copies, near misses, blank lines, trailing spaces, emoji, bidi.
AGENT_LINE = st.one_of(
    st.sampled_from(
        [
            "",
            "   ",
            "VIP: escalate to Tier 2   ",
            f"see the {BLOCK_END} line below",
            f" {BLOCK_START}",
            f"{BLOCK_END} thanks",
            "✅ Call-back window 9-11",
            "\u202eesrever\u202c",
            "<p>Billing via Riley</p>",
            "=== agents' own heading ===",
        ]
    ),
    st.text(alphabet=st.characters(blacklist_characters="\n"), max_size=30),
)


def agent_text(*, allow: str | None) -> st.SearchStrategy[str]:
    """Agents' text that may hold copies of the ``allow`` marker line (never of both)."""
    line = AGENT_LINE if allow is None else st.one_of(AGENT_LINE, st.just(allow))
    return st.builds(
        lambda lines, newline, tail: newline.join(lines) + tail,
        st.lists(line, max_size=6),
        st.sampled_from(["\n", "\r\n"]),
        st.sampled_from(["", "\n", "\n\n", "  ", "\r\n"]),
    )


@dataclass(frozen=True)
class Deal:
    """What a deal strategy draws: the terms and whether they are live today."""

    terms: DealTerms

    @property
    def live(self) -> bool:
        return self.terms.is_live(TODAY)


@st.composite
def deals(draw: st.DrawFn, max_size: int = 5) -> list[Deal]:
    count = draw(st.integers(0, max_size))
    found = []
    for index in range(count):
        territory = draw(st.sampled_from(["West", "EMEA", "APAC"]))
        suffix = draw(st.sampled_from(["", BLOCK_END, "<i>", "\u202e"]))
        terms = DealTerms(
            deal=DealRef(
                system="salesforce",
                source="sf",
                job=territory.lower(),
                id=f"D{index}{suffix}",
                territory=territory,
            ),
            discount_percent=draw(st.none() | st.decimals(0, 100, places=1)),
            payment_terms=draw(st.none() | VALUE),
            free_services=tuple(draw(st.lists(VALUE, max_size=3))),
            sla=draw(st.none() | VALUE),
            special_instructions=draw(st.none() | VALUE),
            owner_name=draw(st.none() | VALUE),
            valid_until=draw(
                st.none() | st.integers(-5, 400).map(lambda d: TODAY + timedelta(days=d))
            ),
            active=draw(st.booleans()) or index == 0,
            modified_at=datetime(2026, 11, 20, tzinfo=UTC),
        )
        found.append(Deal(terms))
    return found


RULES = {"x.sla": WriteRule(value="sla"), "x.discount": WriteRule(value="discount_percent")}
"""Deals that differ raise conflicts, whose lines (with the values, huge ones too) join the note."""

MINIMAL_NOTE = 300
"""More than the separator and the smallest block take: markers, header, "+K more" without
ids and the line counting conflicts, with HTML line ends (about 270 characters)."""

LIVE = Deal(
    DealTerms(
        deal=DealRef(system="salesforce", source="sf", job="west", id="L1", territory="West"),
        discount_percent=Decimal(15),
        modified_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
)


def plan(note: NoteRule, current: str | None, found: list[Deal], limit: int) -> Plan:
    record = CustomerRecord(
        ref=RecordRef(kind="company", id="1"), name="Acme", fields={note.field: current}
    )
    state = CustomerState(
        target="desk",
        record=record,
        deals=[DealView(terms=d.terms, rules=RULES) for d in found],
        base={},
        note=note,
        text_limit=limit,
        today=TODAY,
    )
    return plan_customer(state, lambda d: TEMPLATES.line(d.terms, None, Path()))


def written(note: NoteRule, current: str | None, found: list[Deal], limit: int) -> str:
    result = plan(note, current, found, limit)
    assert result.error is None, result.error
    return str(result.fields.get(note.field, current or ""))


def block_lines(note: NoteRule, text: str) -> list[str]:
    """The block's lines as the agent reads them (HTML unescaped, breaks dropped)."""
    layout = LAYOUTS[note.format]
    span = find_block(text, layout)
    assert span is not None
    lines = text[span.start : span.end].split("\n")
    if note.format == "html":
        lines = [html.unescape(re.sub(r"<br>$", "", line)) for line in lines]
    return lines


def listing_order(deal: Deal) -> tuple[Any, ...]:
    """Independent of the planner: soonest expiry, then largest discount, territory, id."""
    terms = deal.terms
    return (
        terms.valid_until or date.max,
        terms.discount_percent is None,
        -(terms.discount_percent or Decimal(0)),
        terms.deal.territory,
        terms.deal.id,
    )


def separator(note: NoteRule) -> str:
    return LAYOUTS[note.format].separator


parametrize_placement = pytest.mark.parametrize(
    "note", list(PLACEMENTS.values()), ids=list(PLACEMENTS)
)


@parametrize_placement
@FAST
@given(
    agent=agent_text(allow=BLOCK_END),
    first=deals(),
    second=deals(),
    limit=st.integers(600, 12_000),
)
def test_agent_text_survives_insert_update_and_removal_byte_for_byte(
    note: NoteRule, agent: str, first: list[Deal], second: list[Deal], limit: int
) -> None:
    live = [d for d in first if d.live]
    inserted = written(note, agent, first, limit)
    if live:
        assert inserted.startswith(agent + separator(note) if agent else BLOCK_START)
    else:
        assert inserted == agent
    updated = written(note, inserted, second, limit)
    if live and any(d.live for d in second):
        assert updated.startswith(agent + separator(note) if agent else BLOCK_START)
        assert updated.endswith(BLOCK_END)
    assert written(note, updated, [], limit) == agent


@parametrize_placement
@FAST
@given(
    before=agent_text(allow=BLOCK_END),
    after=agent_text(allow=BLOCK_START),
    found=deals(),
    limit=st.integers(800, 12_000),
)
def test_agent_text_on_both_sides_of_the_block_is_kept_when_it_is_rewritten(
    note: NoteRule, before: str, after: str, found: list[Deal], limit: int
) -> None:
    """Agents may write below the block too, and copy lone marker lines anywhere."""
    ours = written(note, None, [LIVE], 30_000)
    current = f"{before}\n{ours}\n{after}"
    rewritten = written(note, current, found, limit)
    if any(d.live for d in found):
        assert rewritten.startswith(f"{before}\n{BLOCK_START}")
        assert rewritten.endswith(f"{BLOCK_END}\n{after}")
    else:  # removed, with the separator in front of it if there is one
        assert rewritten == f"{before}\n".removesuffix(separator(note)) + f"\n{after}"


@parametrize_placement
@FAST
@given(
    agent=agent_text(allow=BLOCK_END),
    found=deals(),
    slack=st.integers(-400, 100),
)
def test_planning_again_with_the_note_just_written_changes_nothing(
    note: NoteRule, agent: str, found: list[Deal], slack: int
) -> None:
    roomy = written(note, agent, found, DESK_MAX)
    limit = max(400, min(len(roomy), DESK_MAX) + slack)  # about what the whole note needs
    first = written(note, agent, found, limit)
    again = plan(note, first, found, limit)
    assert note.field not in again.fields, "the note flaps"
    assert again.error is None


@parametrize_placement
@FAST
@given(agent=agent_text(allow=BLOCK_END), found=deals(), limit=st.integers(200, 8_000))
def test_the_note_fits_the_limit_unless_agents_text_leaves_no_room(
    note: NoteRule, agent: str, found: list[Deal], limit: int
) -> None:
    result = plan(note, agent, found, limit)
    text = str(result.fields.get(note.field, agent))
    if not any(d.live for d in found):  # no note: the agents' text is theirs, whatever its size
        assert text == agent
        assert result.problems == ()
        return
    if len(text) <= limit:
        if len(agent) + MINIMAL_NOTE <= limit:
            assert result.problems == ()
        return
    (problem,) = result.problems
    assert problem.startswith(f"{note.field}: the agents' own text")
    assert len(agent) + MINIMAL_NOTE > limit, "reported although there was room"
    body = block_lines(note, text)[1:-1]
    assert not any(line.startswith("- ") for line in body), "the minimal block lists no deal"


@parametrize_placement
@FAST
@given(agent=agent_text(allow=BLOCK_END), found=deals(), limit=st.integers(600, 12_000))
def test_the_note_holds_one_block_that_names_or_counts_every_live_deal(
    note: NoteRule, agent: str, found: list[Deal], limit: int
) -> None:
    text = written(note, agent, found, limit)
    live = sorted((d for d in found if d.live), key=listing_order)
    if not live:
        assert text == agent
        return
    lines = block_lines(note, text)
    assert lines[0] == BLOCK_START
    assert lines[-1] == BLOCK_END
    body = lines[1:-1]
    assert not any(line.rstrip() in MARKERS for line in body), "a value forged a marker"
    assert all(line == clean(line) for line in body), "every line is clean"
    assert body[0].startswith(f"Special terms: {len(live)} active deal(s)")
    listed = [line for line in body if line.startswith("- ")]
    for deal, line in zip(live, listed, strict=False):
        assert line.endswith(f"Salesforce {clean(deal.terms.deal.id)}"), "listing order"
    more = [line for line in body if line.startswith("+")]
    hidden = int(more[0].split(" ", 1)[0]) if more else 0
    assert len(listed) + hidden == len(live)
