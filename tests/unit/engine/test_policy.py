"""The three-way decision table, row by row, for every policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_jobs.domain.policy import absent, decide

EARLY = datetime(2026, 1, 1, tzinfo=UTC)
LATE = datetime(2026, 6, 1, tzinfo=UTC)
POLICIES = ("source_wins", "target_wins", "manual", "newest_wins")


@pytest.mark.parametrize("policy", POLICIES)
def test_target_already_holding_the_deal_value_needs_no_write(policy: str) -> None:
    decision = decide(base=10, target="10.0", source=10, policy=policy)
    assert decision.action == "none"
    assert decision.adopt_base
    assert decision.conflict is None


@pytest.mark.parametrize("policy", POLICIES)
def test_first_sync_onto_an_empty_field_writes_the_deal_value(policy: str) -> None:
    decision = decide(base=absent(), target=None, source=15, policy=policy)
    assert (decision.action, decision.value, decision.conflict) == ("write", 15, None)


@pytest.mark.parametrize("policy", POLICIES)
def test_only_the_source_changed_writes_the_new_value(policy: str) -> None:
    decision = decide(base=10, target=10, source=15, policy=policy)
    assert (decision.action, decision.value, decision.conflict) == ("write", 15, None)


@pytest.mark.parametrize("policy", ["source_wins", "target_wins", "newest_wins"])
def test_only_the_agent_changed_keeps_the_agent_value_without_conflict(policy: str) -> None:
    decision = decide(base=10, target=12, source=10, policy=policy)
    assert (decision.action, decision.value, decision.conflict) == ("keep", 12, None)


def test_only_the_agent_changed_under_manual_holds_the_agent_value_for_a_person() -> None:
    """The desk no longer shows the deal's terms: whoever owns them hears of it now, not at
    the deal's next change; the agent's value stays and nothing is written."""
    decision = decide(base=10, target=12, source=10, policy="manual")
    assert (decision.action, decision.value) == ("hold", 12)
    assert decision.conflict == "agent changed the field since dealbridge wrote it"
    assert not decision.adopt_base, "the base stays what we wrote"


@pytest.mark.parametrize(
    ("policy", "source_time", "target_time", "action"),
    [
        ("source_wins", None, None, "write"),
        ("target_wins", None, None, "keep"),
        ("manual", None, None, "hold"),
        ("newest_wins", LATE, EARLY, "write"),
        ("newest_wins", EARLY, LATE, "keep"),
        ("newest_wins", None, LATE, "hold"),
        ("newest_wins", LATE, None, "hold"),
    ],
)
def test_both_sides_changed_is_a_conflict_settled_by_policy(
    policy: str, source_time: datetime | None, target_time: datetime | None, action: str
) -> None:
    decision = decide(
        base=10,
        target=12,
        source=15,
        policy=policy,
        source_time=source_time,
        target_time=target_time,
    )
    assert decision.action == action
    assert decision.conflict == "agent changed the field since dealbridge wrote it"
    assert not decision.adopt_base, "a conflict never moves the base, so it cannot flip-flop"


@pytest.mark.parametrize(
    ("policy", "action"), [("source_wins", "write"), ("target_wins", "keep"), ("manual", "hold")]
)
def test_pre_existing_value_on_first_sync_follows_the_documented_rule(
    policy: str, action: str
) -> None:
    decision = decide(base=absent(), target="5", source=15, policy=policy)
    assert decision.action == action
    assert decision.conflict == "pre-existing value on the record"


@pytest.mark.parametrize("policy", ["target_wins", "manual", "newest_wins"])
def test_repeated_runs_with_an_unresolved_conflict_never_flip_flop(policy: str) -> None:
    """The same inputs give the same non-writing decision run after run."""
    decisions = {
        decide(
            base=10, target=12, source=15, policy=policy, source_time=EARLY, target_time=LATE
        ).action
        for _ in range(5)
    }
    assert len(decisions) == 1
    assert decisions <= {"keep", "hold"}
