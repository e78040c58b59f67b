"""Deal lines kept for reuse by stored terms and template: a kept line is only ever served for
the same stored terms, rendered by the same template, and the notes planned with kept lines
are the notes planned without them (hostile deal text, cut values, expiry on other days,
HTML fields, deals under review)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from connectors.errors import ConfigError
from sync_jobs.domain.mapping import NoteRule
from sync_jobs.domain.model import DealRef, DealTerms
from sync_jobs.domain.notes import LINE_KEPT_MAX, LINES_KEPT, NoteTemplates, StoredAs
from sync_jobs.domain.planner import CustomerState, DealView, Plan, plan_customer
from tests.unit.engine.test_note_properties import PLACEMENTS, RULES, TODAY, Deal, deals

MODIFIED = datetime(2026, 11, 20, tzinfo=UTC)


def terms(deal_id: str = "D1", **changes: object) -> DealTerms:
    ref = DealRef(system="salesforce", source="sf", job="west", id=deal_id, territory="West")
    data = {"deal": ref, "discount_percent": Decimal(15), "modified_at": MODIFIED}
    return DealTerms.model_validate(data | changes)


def stored_as(deal: DealTerms) -> StoredAs:
    """As stage 2 names stored terms: stage 1's fingerprint and the modification time."""
    return deal.fingerprint(), deal.modified_at


def write(folder: Path, name: str, text: str) -> Path:
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_a_line_is_kept_for_its_stored_terms_and_template(tmp_path: Path) -> None:
    folder = write(tmp_path, "line.j2", "- {{ deal | summary }} | {{ deal.deal.id }}")
    renderer = NoteTemplates()
    deal = terms()
    first = renderer.line(deal, "line.j2", folder, stored=stored_as(deal))
    assert first == "- 15% discount | D1"
    other = terms(discount_percent=Decimal(20))
    # Only a kept line can answer for other terms under the same name: it is kept.
    assert renderer.line(other, "line.j2", folder, stored=stored_as(deal)) == first


@pytest.mark.parametrize(
    "changed",
    [
        {"discount_percent": Decimal(20)},  # another fingerprint
        {"modified_at": MODIFIED + timedelta(seconds=1)},  # same terms, saved again later
    ],
)
def test_other_stored_terms_are_rendered_afresh(tmp_path: Path, changed: dict[str, object]) -> None:
    folder = write(tmp_path, "line.j2", "{{ deal | summary }} at {{ deal.modified_at }}")
    renderer = NoteTemplates()
    deal = terms()
    renderer.line(deal, "line.j2", folder, stored=stored_as(deal))
    newer = terms("D1", **changed)
    assert renderer.line(newer, "line.j2", folder, stored=stored_as(newer)) == (
        NoteTemplates().line(newer, "line.j2", folder)
    )


def test_each_template_keeps_its_own_lines(tmp_path: Path) -> None:
    one = write(tmp_path, "one.j2", "one {{ deal.deal.id }}")
    write(tmp_path, "two.j2", "two {{ deal.deal.id }}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere, "one.j2", "elsewhere {{ deal.deal.id }}")
    renderer = NoteTemplates()
    deal = terms()
    key = stored_as(deal)
    assert renderer.line(deal, "one.j2", one, stored=key) == "one D1"
    assert renderer.line(deal, "two.j2", one, stored=key) == "two D1"
    assert renderer.line(deal, "one.j2", elsewhere, stored=key) == "elsewhere D1"
    assert renderer.line(deal, None, one, stored=key).startswith("- 15% discount")


def test_an_edited_template_is_read_by_the_next_renderer(tmp_path: Path) -> None:
    """A daemon's reload builds new renderers: a kept line never outlives its template."""
    folder = write(tmp_path, "line.j2", "old {{ deal.deal.id }}")
    deal = terms()
    assert NoteTemplates().line(deal, "line.j2", folder, stored=stored_as(deal)) == "old D1"
    write(folder, "line.j2", "new {{ deal.deal.id }}")
    assert NoteTemplates().line(deal, "line.j2", folder, stored=stored_as(deal)) == "new D1"


def test_terms_not_named_as_stored_are_always_rendered(tmp_path: Path) -> None:
    folder = write(tmp_path, "line.j2", "{{ deal | summary }}")
    renderer = NoteTemplates()
    renderer.line(terms(), "line.j2", folder)
    changed = terms(discount_percent=Decimal(20))
    assert renderer.line(changed, "line.j2", folder) == "20% discount"


def test_a_long_line_is_not_kept_and_the_kept_lines_are_bounded(tmp_path: Path) -> None:
    folder = write(tmp_path, "line.j2", "{{ deal.special_instructions }}")
    renderer = NoteTemplates()
    long = terms(special_instructions="x" * (LINE_KEPT_MAX + 1))
    renderer.line(long, "line.j2", folder, stored=stored_as(long))
    other = terms(special_instructions="short")
    assert renderer.line(other, "line.j2", folder, stored=stored_as(long)) == "short"
    for n in range(LINES_KEPT + 5):
        deal = terms(f"D{n}", special_instructions=str(n))
        renderer.line(deal, "line.j2", folder, stored=stored_as(deal))
    assert len(renderer._lines) == LINES_KEPT


def test_a_failing_template_fails_every_time(tmp_path: Path) -> None:
    folder = write(tmp_path, "line.j2", "{{ deal.no_such_field }}")
    renderer = NoteTemplates()
    deal = terms()
    for _ in range(2):
        with pytest.raises(ConfigError):
            renderer.line(deal, "line.j2", folder, stored=stored_as(deal))


def _plan(
    renderer: NoteTemplates,
    note: NoteRule,
    current: str | None,
    found: list[Deal],
    limit: int,
    today: date,
    *,
    named: bool,
    review: frozenset[int],
) -> Plan:
    record = CustomerRecord(
        ref=RecordRef(kind="company", id="1"), name="Acme", fields={note.field: current}
    )
    views = [
        DealView(
            terms=d.terms,
            rules=RULES,
            under_review=i in review,
            stored=stored_as(d.terms) if named else None,
        )
        for i, d in enumerate(found)
    ]
    state = CustomerState(
        target="desk",
        record=record,
        deals=views,
        base={},
        note=note,
        text_limit=limit,
        today=today,
    )
    return plan_customer(state, lambda d: renderer.line(d.terms, None, Path(), stored=d.stored))


@settings(max_examples=40, deadline=None)
@given(
    placement=st.sampled_from(sorted(PLACEMENTS)),
    found=deals(),
    current=st.none() | st.sampled_from(["", "Agents' text", "VIP\n\nmore"]),
    limit=st.sampled_from([300, 600, 1_500, 30_000]),
    days=st.lists(st.integers(-10, 400), min_size=1, max_size=3),
    review=st.frozensets(st.integers(0, 4), max_size=2),
)
def test_notes_planned_with_kept_lines_are_the_notes_planned_without(
    placement: str,
    found: list[Deal],
    current: str | None,
    limit: int,
    days: list[int],
    review: frozenset[int],
) -> None:
    note = PLACEMENTS[placement]
    kept = NoteTemplates(note.format)
    for day in days * 2:  # the second pass finds every line kept
        today = TODAY + timedelta(days=day)
        with_kept = _plan(kept, note, current, found, limit, today, named=True, review=review)
        fresh = NoteTemplates(note.format)
        plain = _plan(fresh, note, current, found, limit, today, named=False, review=review)
        assert with_kept == plain


def test_shortened_values_are_never_served_a_kept_whole_line() -> None:
    """The fitting renders cut values with the same view: those renders must not reuse the
    line kept for the whole terms (nor be kept under their name)."""
    note = NoteRule(field="notes")
    long = Deal(terms(special_instructions="long text " * 200))
    kept = NoteTemplates()
    plans = [
        _plan(kept, note, None, [long], limit, TODAY, named=True, review=frozenset())
        for limit in (30_000, 600, 30_000, 600)
    ]
    fresh = [
        _plan(NoteTemplates(), note, None, [long], limit, TODAY, named=False, review=frozenset())
        for limit in (30_000, 600, 30_000, 600)
    ]
    assert plans == fresh
    assert "…[+" in str(plans[1].fields["notes"])
    assert plans[0]._replace(changes=()) == fresh[0]._replace(changes=())
