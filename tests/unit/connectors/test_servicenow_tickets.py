"""ServiceNow as an alert desk (``TicketDesk``): cases with work notes, de-duplicated by key."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import DeskTicket, TicketDesk
from connectors.service.servicenow.simulator import ServiceNowSimulator
from connectors.service.servicenow.tickets import journal_entries
from tests.unit.connectors.servicenow_kit import connect

pytestmark = pytest.mark.anyio

CASES = "sn_customerservice_case"


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return ServiceNowSimulator().seed_demo()


ALERT = "Deal 006A for Acme is outside policy: 35% discount."


def ticket(body: str = ALERT, **kw: str) -> DeskTicket:
    fields = {"key": "a1b2c3d4", "subject": "Out of policy: Acme", "body": body, **kw}
    return DeskTicket.model_validate(fields | {"severity": "critical"})


async def test_an_alert_opens_a_case_whose_work_notes_hold_it(sim: ServiceNowSimulator) -> None:
    target = connect(sim, case_account=sim.customers["acme"][0])
    assert isinstance(target, TicketDesk)
    case = await target.open_ticket(ticket())
    row = sim.record(CASES, case)
    assert row["short_description"] == "[dealbridge critical] Out of policy: Acme"
    assert row["correlation_id"] == "a1b2c3d4"
    assert row["account"] == sim.customers["acme"][0]
    assert row["work_notes"] == ""  # a journal column: the text lives in its entries
    assert sim.work_notes(case) == [ALERT]
    await target.aclose()


async def test_a_create_retried_after_a_lost_answer_finds_the_case_it_opened(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    first = await target.open_ticket(ticket())
    again = await target.open_ticket(ticket())
    assert again == first
    assert len(sim.store.rows[CASES]) == 1
    await target.aclose()


async def test_follow_ups_are_work_notes_on_the_same_case(sim: ServiceNowSimulator) -> None:
    target = connect(sim)
    case = await target.open_ticket(ticket())
    same = await target.add_internal_note(case, ticket("Resolved by Dana: approved at 20%."))
    assert same == case
    assert sim.work_notes(case)[-1] == "Resolved by Dana: approved at 20%."
    await target.aclose()


async def test_a_deleted_case_gets_a_new_one_that_says_what_it_follows(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    case = await target.open_ticket(ticket())
    sim.store.delete(CASES, case)
    new = await target.add_internal_note(case, ticket("Still open.", key="e5f6a7b8"))
    assert new != case
    assert sim.work_notes(new) == [f"Follows alert case {case}.\n\nStill open."]
    await target.aclose()


async def test_a_long_alert_continues_in_further_entries_of_at_most_4000_characters(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    body = "\n".join(f"line {n}: " + "x" * 90 for n in range(100))  # about 10,000 characters
    case = await target.open_ticket(ticket(body))
    entries = sim.work_notes(case)
    assert len(entries) == 3
    assert all(len(e) <= 4000 for e in entries)
    assert "".join(entries) == body
    await target.aclose()


async def test_without_a_key_column_cases_are_opened_and_notices_say_they_are_not_deduplicated(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim, case_key_field="u_alert_key")
    await target.open_ticket(ticket())
    await target.open_ticket(ticket())
    assert len(sim.store.rows[CASES]) == 2
    assert any("are not de-duplicated" in fact for fact in target.notices())
    await target.aclose()


@given(st.text(max_size=300), st.integers(min_value=1, max_value=40))
def test_journal_entries_keep_every_character_in_order(text: str, size: int) -> None:
    entries = journal_entries(text, size)
    assert "".join(entries) == text
    assert all(len(e) <= size for e in entries)
    assert all(entries) or entries == [""]
