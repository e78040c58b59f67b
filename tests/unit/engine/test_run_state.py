"""What one run keeps in memory stays bounded however large the book is."""

from __future__ import annotations

import functools
import io

from rich.console import Console

from sync_jobs.app.report import print_report
from sync_jobs.run.context import KEPT, CustomerPreview, RunState
from sync_jobs.run.runner import RunReport


def _preview(n: int) -> CustomerPreview:
    return CustomerPreview(f"organization:{n}", f"Customer {n}", [("notes", "", "x")], [])


def test_a_run_keeps_the_first_previews_and_counts_the_rest() -> None:
    state = RunState(run_id="r", job="west")
    for n in range(KEPT + 250):
        state.add_preview(_preview(n))
    assert len(state.previews) == KEPT
    assert state.previews[0].name == "Customer 0"
    assert state.previews_omitted == 250


def test_a_preview_past_the_kept_ones_is_counted_without_being_built() -> None:
    state = RunState(run_id="r", job="west")
    built: list[int] = []

    def make(n: int) -> CustomerPreview:
        built.append(n)
        return _preview(n)

    for n in range(KEPT + 250):
        state.add_preview_of(functools.partial(make, n))
    assert built == list(range(KEPT))
    assert [p.name for p in state.previews] == [f"Customer {n}" for n in range(KEPT)]
    assert state.previews_omitted == 250


def test_every_record_error_is_counted_but_only_the_first_messages_are_kept() -> None:
    state = RunState(run_id="r", job="west")
    for n in range(KEPT * 3):
        state.record_error(f"deal {n}: bad discount")
    assert state.counts["record_errors"] == KEPT * 3
    assert len(state.errors) == KEPT
    assert state.errors[-1] == f"deal {KEPT - 1}: bad discount"


def test_the_report_says_how_many_customers_it_did_not_list() -> None:
    shown = [_preview(n) for n in range(KEPT)]
    report = RunReport("west", "r", "ok", {"customers_written": KEPT + 7}, [], [], shown, 7)
    out = io.StringIO()
    print_report(Console(file=out, width=120), report)
    listed = [line for line in out.getvalue().splitlines() if line.startswith("Customer")]
    assert len(listed) == 40
    assert f"... and {KEPT - 40 + 7} more customers" in out.getvalue()
