"""ServiceNow target: per-hour rate-limit rules, counted on our side because the instance
commits its counts only every 30 seconds (FACTS.md 9.3) and then refuses until the hour ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.errors import BudgetExhausted
from connectors.service.servicenow.simulator import ServiceNowSimulator
from tests.unit.connectors.servicenow_kit import account, change, connect, connect_counting_sleeps

pytestmark = pytest.mark.anyio

START = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return ServiceNowSimulator(clock=lambda: START).seed_demo()


async def test_the_connector_stays_under_its_share_of_the_rule_and_is_never_refused(
    sim: ServiceNowSimulator,
) -> None:
    sim.add_rate_rule(50)
    target, slept = connect_counting_sleeps(
        sim, requests_per_hour=50, hourly_share=0.9, max_throttle_wait=7200
    )
    acme = account(sim, "acme")
    for _ in range(100):
        await target.read([acme])
    stats = target.api.http.stats
    assert stats.by_status[429] == 0, "paced below the rule, the instance never refused"
    # The catalog (4, its dictionary and choices read again each hour) and 100 reads.
    assert stats.by_status[200] == 4 + 100 + 2 * 2
    assert sum(slept) >= 2 * 3600, "two hours of waiting for 108 requests at 45 an hour"
    assert "paced at 45 requests an hour" in " ".join(target.notices())
    await target.aclose()


async def test_a_spent_share_ends_the_run_until_the_hour_frees_instead_of_sleeping(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim, requests_per_hour=20, hourly_share=0.5)
    acme = account(sim, "acme")
    for _ in range(6):  # the catalog (4) and 6 reads spend the share of 10
        await target.read([acme])
    with pytest.raises(BudgetExhausted) as caught:
        await target.read([acme])
    assert caught.value.budget == "hourly REST API rate-limit rule"
    assert "(10 of 20 requests) is spent" in caught.value.message
    await target.aclose()


async def test_the_limit_the_instance_reports_is_adopted_when_none_is_configured(
    sim: ServiceNowSimulator,
) -> None:
    rule = sim.add_rate_rule(40)
    target = connect(sim, max_throttle_wait=7200)
    acme = account(sim, "acme")
    await target.read([acme])
    assert target.api.pacing.hourly.limit == 36
    assert target.api.pacing.hourly.rule == rule.sys_id
    for _ in range(60):
        await target.read([acme])
    assert target.api.http.stats.by_status[429] == 0
    assert f"(rule {rule.sys_id})" in " ".join(target.notices())
    await target.aclose()


async def test_an_instance_refusing_until_the_hour_resets_holds_the_job(
    sim: ServiceNowSimulator,
) -> None:
    sim.add_rate_rule(5)
    # Another integration of the same user spent the hour; the count has been committed.
    for _ in range(6):
        sim.instance.limits.check("table", "dealbridge-demo-client")
    sim.pass_time(31)
    target = connect(sim)
    with pytest.raises(BudgetExhausted) as caught:
        await target.read([account(sim, "acme")])
    assert caught.value.until == datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert "Rate limit of 5 requests per hour for Table API exceeded" in caught.value.message
    await target.aclose()


async def test_batch_items_count_against_the_hour_when_planned_so(sim: ServiceNowSimulator) -> None:
    target = connect(sim, requests_per_hour=1000, hourly_share=1.0)
    refs = [account(sim, key) for key in ("acme", "globex", "initech")]
    await target.write([change(ref, notes="n") for ref in refs])
    # The catalog (4), and one batch call carrying three items counted as 1 + 3.
    assert target.api.pacing.hourly.spent() == 4 + 4
    cautious_off = connect(sim, requests_per_hour=1000, batch_items_count=False)
    await cautious_off.write([change(ref, notes="m") for ref in refs])
    assert cautious_off.api.pacing.hourly.spent() == 4 + 1
    await target.aclose()
    await cautious_off.aclose()
