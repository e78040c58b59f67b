"""The planner: one customer's deals + record + base -> field writes, one note, conflicts."""

from __future__ import annotations

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
FIELD = "organization_fields.special_discount"
RULES = {FIELD: WriteRule(value="discount_percent")}
TEMPLATES = NoteTemplates("text")


def terms(
    deal_id: str = "006A", territory: str = "West", discount: str | None = "15", **extra: Any
) -> DealTerms:
    values: dict[str, Any] = {
        "deal": DealRef(
            system="salesforce", source="sf", job=territory.lower(), id=deal_id, territory=territory
        ),
        "discount_percent": Decimal(discount) if discount else None,
        "valid_until": date(2027, 3, 31),
        "owner_name": "Dana Ortiz",
        "modified_at": datetime(2026, 11, 20, tzinfo=UTC),
    }
    values.update(extra)
    return DealTerms(**values)


def plan(
    *deals: DealTerms,
    fields: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
    rules: dict[str, WriteRule] | None = None,
    note: NoteRule | None = None,
    limit: int = 64_000,
    resolutions: dict[str, Resolution] | None = None,
    under_review: bool = False,
) -> Plan:
    record = CustomerRecord(
        ref=RecordRef(kind="organization", id="1"), name="Acme", fields=fields or {}
    )
    state = CustomerState(
        target="zendesk",
        record=record,
        deals=[DealView(terms=d, rules=rules or RULES, under_review=under_review) for d in deals],
        base=base or {},
        note=note or NoteRule(),
        text_limit=limit,
        today=TODAY,
        resolutions=resolutions or {},
    )
    return plan_customer(state, lambda d: TEMPLATES.line(d.terms, None, Path()))


def test_first_sync_writes_the_field_and_appends_the_note_after_agent_text() -> None:
    result = plan(terms(), fields={"notes": "VIP: always escalate"})
    assert result.fields[FIELD] == 15
    note = result.fields["notes"]
    assert note.startswith("VIP: always escalate\n\n" + BLOCK_START)
    assert "15% discount" in note
    assert note.endswith(BLOCK_END)


def test_replanning_an_up_to_date_record_changes_nothing() -> None:
    first = plan(terms(), fields={"notes": "VIP"})
    again = plan(terms(), fields={FIELD: 15.0, "notes": first.fields["notes"]}, base={FIELD: 15})
    assert again.changes == ()


def test_agent_text_around_the_block_is_preserved_byte_for_byte() -> None:
    first = plan(terms(), fields={"notes": "before"}).fields["notes"]
    surrounded = f"  before  \n{first.split(chr(10) * 2, 1)[1]}\nafter: keep me\t"
    updated = plan(
        terms(discount="20"), fields={"notes": surrounded, FIELD: 15}, base={FIELD: 15}
    ).fields["notes"]
    assert updated.startswith("  before  \n" + BLOCK_START)
    assert updated.endswith(BLOCK_END + "\nafter: keep me\t")
    assert "20% discount" in updated


def test_two_territories_disagreeing_hold_the_field_and_tell_the_agent() -> None:
    result = plan(terms("006A", "West", "15"), terms("hs-1", "EMEA", "10"))
    assert FIELD not in result.fields
    finding = result.findings[0]
    assert finding.kind == "territory_disagreement"
    assert finding.details["values"] == {"EMEA": 10, "West": 15}
    assert "! territories differ on" in result.fields["notes"]
    assert "| West" in result.fields["notes"]
    assert "| EMEA" in result.fields["notes"]


def test_priority_policy_writes_the_preferred_territory() -> None:
    rules = {
        FIELD: WriteRule(
            value="discount_percent", on_disagreement="priority", priority=("EMEA", "West")
        )
    }
    result = plan(terms("006A", "West", "15"), terms("hs-1", "EMEA", "10"), rules=rules)
    assert result.fields[FIELD] == 10
    assert result.findings == ()


def test_expired_terms_drop_out_and_their_field_is_cleared() -> None:
    expired = terms(valid_until=date(2026, 11, 1))
    note = plan(terms(), fields={"notes": "VIP"}).fields["notes"]
    result = plan(expired, fields={FIELD: 15, "notes": note}, base={FIELD: 15})
    assert result.fields[FIELD] is None
    assert result.fields["notes"] == "VIP"


def test_agent_edit_since_last_sync_is_held_as_conflict() -> None:
    result = plan(terms(discount="20"), fields={FIELD: 12}, base={FIELD: 15})
    assert FIELD not in result.fields
    assert result.findings[0].kind == "target_edited"
    assert (
        result.findings[0].details | {"base": 15, "target": 12, "desired": 20}
        == result.findings[0].details
    )


def test_markup_in_rep_text_cannot_reach_the_agent_view() -> None:
    result = plan(terms(special_instructions="<script>alert(1)</script>Call <b>Dana</b>\x07"))
    note = result.fields["notes"]
    assert "<" not in note
    assert "\x07" not in note
    assert "Call Dana" in note


def test_a_deleted_end_marker_fails_the_record_instead_of_eating_agent_text() -> None:
    result = plan(terms(), fields={"notes": f"agent text\n{BLOCK_START}\nsomething"})
    assert result.error is not None
    assert "end marker" in result.error


def test_a_note_longer_than_the_target_allows_lists_what_fits_and_counts_the_rest() -> None:
    many = [terms(f"006{i:03}", sla="x" * 150) for i in range(30)]
    note = plan(*many, limit=1500).fields["notes"]
    assert len(note) <= 1500
    listed = [d for d in range(30) if f"Salesforce 006{d:03}" in note]
    assert listed == list(range(len(listed))), "the first deals in listing order"
    assert f"+{30 - len(listed)} more deal(s): see `dealbridge deals show ID`" in note
    assert "SLA: " + "x" * 20 in note
    assert "…[+" in note, "each listed SLA is cut, visibly"
    assert note.endswith(BLOCK_END)


def test_whole_field_mode_owns_the_field() -> None:
    result = plan(
        terms(),
        fields={"organization_fields.deal_note": "old"},
        note=NoteRule(field="organization_fields.deal_note", mode="whole"),
    )
    note = result.fields["organization_fields.deal_note"]
    assert note.startswith("Special terms: 1 active deal(s)"), "the agents' old text is replaced"
    assert BLOCK_START not in note, "a field dealbridge alone writes carries no markers"


def test_a_field_already_holding_the_wanted_value_is_confirmed_for_the_audit() -> None:
    """After a crash between the write and its commit the base is missing: recorded, audited."""
    result = plan(terms(), fields={FIELD: 15})
    assert FIELD not in result.fields
    assert result.adopt == {FIELD: 15}
    assert result.confirmed == (FIELD,)
