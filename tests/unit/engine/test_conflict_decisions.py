"""Every conflict kind x decision: what the planner does, and that decisions stay put."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sync_jobs.domain.mapping import WriteRule
from sync_jobs.domain.planner import Resolution
from tests.unit.engine.test_planner import FIELD, RULES, plan, terms

VALID = "organization_fields.terms_valid_until"


def edited(take: str, value: Any = None, pinned: Any = "20") -> dict[str, Resolution]:
    return {
        FIELD: Resolution(
            conflict_id=7, kind="target_edited", take=take, value=value, pinned=pinned
        )
    }


def disagreement(take: str, value: Any = None) -> dict[str, Resolution]:
    return {
        FIELD: Resolution(
            conflict_id=8,
            kind="territory_disagreement",
            take=take,
            value=value,
            pinned={"EMEA": "10", "West": "15"},
        )
    }


@pytest.mark.parametrize(
    ("take", "value", "written"), [("source", None, 20), ("value", 18, 18), ("target", None, None)]
)
def test_a_resolved_agent_edit_applies_the_decision(take: str, value: Any, written: Any) -> None:
    result = plan(
        terms(discount="20"), fields={FIELD: 12}, base={FIELD: 15}, resolutions=edited(take, value)
    )
    assert result.fields.get(FIELD) == written
    assert result.findings == ()
    assert result.applied == (7,)


def test_an_agent_only_edit_is_held_for_a_person_without_a_write() -> None:
    """The deal still says what we wrote (20); an agent typed 12: held, flagged in the note."""
    result = plan(terms(discount="20"), fields={FIELD: 12}, base={FIELD: 20})
    assert FIELD not in result.fields, "the agent's value stays"
    assert [f.kind for f in result.findings] == ["target_edited"]
    assert "! " in result.fields["notes"]


@pytest.mark.parametrize(
    ("take", "value", "written"), [("source", None, 20), ("value", 18, 18), ("target", None, None)]
)
def test_a_resolved_agent_only_edit_applies_the_decision(
    take: str, value: Any, written: Any
) -> None:
    """Deciding for the deal writes its value back, though only the agent changed the field."""
    result = plan(
        terms(discount="20"), fields={FIELD: 12}, base={FIELD: 20}, resolutions=edited(take, value)
    )
    assert result.fields.get(FIELD) == written
    assert result.findings == ()
    assert result.applied == (7,)


@pytest.mark.parametrize("take", ["source", "value", "target"])
def test_a_decision_is_stable_over_repeated_runs(take: str) -> None:
    """After the decision is written, further runs write nothing and raise nothing."""
    value = 18 if take == "value" else None
    first = plan(
        terms(discount="20"), fields={FIELD: 12}, base={FIELD: 15}, resolutions=edited(take, value)
    )
    stored = first.fields.get(FIELD, 12)
    for _ in range(3):
        again = plan(
            terms(discount="20"),
            fields={FIELD: stored, "notes": first.fields["notes"]},
            base={FIELD: stored if FIELD in first.fields else 15},
            resolutions=edited(take, value),
        )
        assert again.changes == ()
        assert again.findings == ()


def test_a_decision_stops_applying_when_the_deal_changes_again() -> None:
    result = plan(
        terms(discount="25"), fields={FIELD: 12}, base={FIELD: 15}, resolutions=edited("target")
    )
    assert result.stale == (7,)
    assert result.findings[0].kind == "target_edited"
    assert FIELD not in result.fields


@pytest.mark.parametrize(
    ("take", "value", "written"),
    [
        ("value", 12, 12),
        ("territory", "EMEA", 10),
        ("territory", "West", 15),
        ("target", None, None),
    ],
)
def test_a_resolved_territory_disagreement_writes_the_chosen_value(
    take: str, value: Any, written: Any
) -> None:
    result = plan(
        terms("006A", "West", "15"),
        terms("hs-1", "EMEA", "10"),
        resolutions=disagreement(take, value),
    )
    assert result.fields.get(FIELD) == written
    assert result.findings == ()


def test_list_all_shows_every_territory_without_raising() -> None:
    rules = {FIELD: WriteRule(value="discount_percent", on_disagreement="list_all")}
    result = plan(terms("006A", "West", "15"), terms("hs-1", "EMEA", "10"), rules=rules)
    assert FIELD not in result.fields
    assert result.findings == ()
    note = result.fields["notes"]
    assert "15% discount" in note
    assert "10% discount" in note


def test_deals_under_policy_review_are_shown_but_not_written() -> None:
    result = plan(terms(discount="45"), under_review=True)
    assert FIELD not in result.fields
    assert "[outside policy: under review]" in result.fields["notes"]


def test_expired_terms_typed_by_hand_are_reported() -> None:
    rules = {**RULES, VALID: WriteRule(value="valid_until")}
    result = plan(terms(valid_until=date(2026, 1, 1)), fields={VALID: "2026-01-01"}, rules=rules)
    assert [f.kind for f in result.findings] == ["expired_terms_present"]


def test_expired_terms_we_wrote_ourselves_are_simply_cleared() -> None:
    rules = {**RULES, VALID: WriteRule(value="valid_until")}
    result = plan(
        terms(valid_until=date(2026, 1, 1)),
        fields={VALID: "2026-01-01"},
        base={VALID: "2026-01-01"},
        rules=rules,
    )
    assert result.findings == ()
    assert result.fields[VALID] is None
