"""Worker processes spend a desk's budgets together: each gets its share, never more, and a
budget only the lead process uses (the identity export, the source) stays whole; a helper's
spent daily budget reaches the lead as one."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from connectors.clock import VirtualClock, share_of
from connectors.errors import BudgetExhausted
from connectors.ratelimit import Window
from connectors.service.zendesk.config import ZendeskConfig
from connectors.service.zendesk.pacing import build_pacing
from sync_jobs.run.context import JobRun, RunState
from sync_jobs.run.wiring import desk_of
from sync_jobs.run.workers import SpentBudget, budget_shares, team_size
from tests.unit.engine.worker_world import config_with_workers, engine_with_workers


def test_a_window_split_among_processes_never_adds_up_to_more_than_the_budget() -> None:
    window = Window(700)

    parts = [window.shared(1 / 3).limit for _ in range(3)]

    assert parts == [233, 233, 233]
    assert sum(parts) <= 700
    assert window.shared(1.0) is window
    assert Window(1).shared(0.5).limit == 1, "a process always has a request"


def test_slots_split_among_processes_round_down_but_leave_one() -> None:
    assert share_of(20, 0.5) == 10
    assert share_of(20, 1 / 3) == 6
    assert share_of(1, 0.25) == 1


def test_a_shared_gate_paces_at_the_processes_share_and_an_unshared_one_at_the_whole() -> None:
    timing = VirtualClock(share=0.5)

    shared = timing.gate(rate_per_second=10.0)
    whole = timing.gate(rate_per_second=10.0, shared=False)

    assert shared._rate == 5.0
    assert whole._rate == 10.0


def test_zendesk_splits_the_account_budget_and_job_slots_but_not_the_export(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZD_TEST_TOKEN", "token")
    config = ZendeskConfig.model_validate(
        {
            "kind": "zendesk",
            "base_url": "https://acme.zendesk.com",
            "email": "bot@acme.example",
            "api_token": "${ZD_TEST_TOKEN}",
            "plan_rpm": 700,
        }
    )

    pacing = build_pacing(config, None, share=0.5)

    assert pacing.gate._window is not None
    assert pacing.gate._window.limit == 350
    assert pacing.incremental._window is not None
    assert pacing.incremental._window.limit == config.incremental_per_minute
    assert pacing.jobs._value == config.max_jobs_in_flight // 2


def test_every_desk_of_a_run_with_workers_is_shared_and_no_source_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = config_with_workers(tmp_path, monkeypatch, 4)

    shares = budget_shares(config)

    assert shares == {"zendesk": 0.25}
    assert not set(shares) & {job.source for job in config.jobs.values()}
    alone = config_with_workers(tmp_path, monkeypatch, 1)
    assert budget_shares(alone) == {}, "one process spends the whole budget"


def test_the_lookups_a_run_may_ask_are_divided_among_its_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each process asks the keys of the deals it commits, counting in its own run state.
    config = config_with_workers(tmp_path, monkeypatch, 4)
    engine = config.engine.model_copy(update={"lookups_per_run": 1000})

    assert engine.lookups_per_process == 250
    assert engine.model_copy(update={"lookups_per_run": 3}).lookups_per_process == 1, (
        "every process may ask at least one key"
    )
    alone = config_with_workers(tmp_path, monkeypatch, 1).engine
    assert alone.lookups_per_process == alone.lookups_per_run


def test_a_runs_desk_asks_within_its_process_share(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_workers(tmp_path, monkeypatch, 4)
    # desk_of reads only these of the run.
    run = SimpleNamespace(
        engine=engine,
        job="west",
        target_name="zendesk",
        target=None,
        state=RunState(run_id="r", job="west"),
    )

    desk = desk_of(cast("JobRun", run))

    assert desk.lookups_per_run == engine.config.engine.lookups_per_run // 4


def test_a_helpers_spent_budget_reaches_the_lead_as_a_spent_budget() -> None:
    until = datetime(2026, 12, 7, tzinfo=UTC)
    spent = BudgetExhausted(
        "daily limit reached", until=until, exact=False, connector="zendesk", operation="write"
    )

    travelled = pickle.loads(pickle.dumps(SpentBudget.of(spent))).error()

    assert isinstance(travelled, BudgetExhausted)
    assert (travelled.until, travelled.exact, travelled.connector) == (until, False, "zendesk")
    assert str(travelled) == str(spent)


def test_one_team_of_workers_per_desk_so_its_budget_is_split_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engine_with_workers(tmp_path, monkeypatch, 3)

    with (
        team_size(engine, "zendesk") as first,
        team_size(engine, "zendesk") as concurrent,  # the daemon's next job of the same desk
        team_size(engine, "freshdesk") as other,
    ):
        assert (first, concurrent, other) == (2, 0, 2)
    with team_size(engine, "zendesk") as later:
        assert later == 2, "the desk's team has ended: the next run starts its own"
