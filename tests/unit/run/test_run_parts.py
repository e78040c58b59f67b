"""A run's parts done by other processes (a helper's units of stage 1, its report at the end)
merged into the lead's run state: counts and errors add up as if one process had done all
the work, except that a desk record that did not read is reported once a run, whichever
processes met it (the lead's refresh and a helper's lookup, or two helpers)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from sync_jobs.run.context import RunState

BAD_RECORDS = [f"Zendesk organization {n}: field id is True" for n in range(4)]

event = st.one_of(
    st.tuples(st.just("desk"), st.sampled_from(BAD_RECORDS)),
    st.tuples(st.just("write"), st.sampled_from(["customer 1 failed", "customer 2 failed"])),
    st.tuples(st.just("count"), st.sampled_from(["deals_read", "customers_written"])),
)


def play(state: RunState, events: list[tuple[str, str]]) -> RunState:
    for kind, text in events:
        if kind == "desk":
            state.desk_problem(text)
        elif kind == "write":
            state.record_error(text)
        else:
            state.counts[text] += 1
    return state


@given(lead=st.lists(event, max_size=12), parts=st.lists(st.lists(event, max_size=12), max_size=4))
def test_merged_parts_count_and_list_what_one_process_would(
    lead: list[tuple[str, str]], parts: list[list[tuple[str, str]]]
) -> None:
    merged = play(RunState(run_id="r", job="west"), lead)
    for events in parts:  # each part in its own process: its own state
        part = play(RunState(run_id="r", job="west"), events)
        merged.take_part(dict(part.counts), part.errors, frozenset(part.desk_problems))

    alone = play(RunState(run_id="r", job="west"), [e for events in [lead, *parts] for e in events])
    assert +merged.counts == +alone.counts
    assert Counter(merged.errors) == Counter(alone.errors)
    assert merged.desk_problems == alone.desk_problems


def test_a_record_the_lead_reported_is_not_reported_again_by_a_helpers_part() -> None:
    lead = RunState(run_id="r", job="west")
    lead.desk_problem(BAD_RECORDS[0])
    lead.counts["deals_read"] += 2

    lead.take_part(
        {"record_errors": 2, "deals_read": 3},
        [BAD_RECORDS[0], BAD_RECORDS[1]],
        {
            BAD_RECORDS[0],
            BAD_RECORDS[1],
        },
    )

    assert lead.counts["record_errors"] == 2
    assert lead.counts["deals_read"] == 5
    assert lead.errors == [BAD_RECORDS[0], BAD_RECORDS[1]]
