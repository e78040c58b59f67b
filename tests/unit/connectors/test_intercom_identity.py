"""Intercom identity: the company scroll on its interval, the day-granular contact feed, and
direct lookups for what the index misses, all against the simulator behind the spec check."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import Cursor, CustomerRecord, IdentityKey
from connectors.service.intercom import IntercomTarget
from connectors.service.intercom.identity import DAY_OVERLAP, IdentityCursor, contact_query
from connectors.service.intercom.simulator import COMPANY, CONTACT
from connectors.service.intercom.simulator.scroll import RESTART_MESSAGE
from sandbox.controls import Fault
from tests.unit.connectors.intercom_support import desk, intercom_token

pytestmark = pytest.mark.anyio
__all__ = ["intercom_token"]
DAY = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


class SimClock:
    def __init__(self, now: datetime = DAY) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def read(
    target: IntercomTarget, since: Cursor | None = None
) -> tuple[list[CustomerRecord], Cursor | None]:
    """Every record of one refresh, and the last checkpoint."""
    records: list[CustomerRecord] = []
    last = since
    async for page in target.customers(since):
        records += page.records
        last = page.checkpoint
    return records, last


def keys(records: list[CustomerRecord]) -> list[str]:
    return [r.ref.key for r in records]


# -- companies: a scroll when one is due ------------------------------------------------------


async def test_the_first_refresh_scrolls_every_company_and_reads_every_user() -> None:
    d = desk(search_lag=0.0, scroll_page_size=3)
    records, cursor = await read(d.target())
    store = d.sim.store
    assert sorted(keys(records)) == sorted(
        [f"company:{i}" for i in store.companies] + [f"contact:{i}" for i in store.contacts]
    )
    acme = next(r for r in records if r.external_id == "CUST-1001")
    assert acme.domains == ("acme.example",)
    assert IdentityCursor.decode(cursor).scrolled_at == d.now()
    d.assert_spec_clean()


async def test_companies_are_scrolled_again_only_when_the_interval_has_passed() -> None:
    d = desk(search_lag=0.0)
    target = d.target(company_scroll_minutes=60)
    _, cursor = await read(target)
    d.sim.controls.reset_log()
    d.clock[0] += 59 * 60
    records, cursor = await read(target, cursor)
    assert d.sim.requests("GET", "/companies/scroll") == 0
    assert not [r for r in records if r.ref.kind == COMPANY]
    d.clock[0] += 60
    records, _ = await read(target, cursor)
    assert d.sim.requests("GET", "/companies/scroll") >= 1
    assert len([r for r in records if r.ref.kind == COMPANY]) == len(d.sim.store.companies)


async def test_a_refresh_that_stops_mid_scroll_scrolls_again_next_time() -> None:
    d = desk(search_lag=0.0, scroll_page_size=2)
    target = d.target()
    checkpoints: list[Cursor] = []
    async for page in target.customers(None):
        checkpoints.append(page.checkpoint)
        if len(checkpoints) == 2:
            break  # the run died after two pages of companies
    assert IdentityCursor.decode(checkpoints[-1]).scrolled_at is None
    d.sim.pass_time(61)  # our abandoned scroll expires
    records, _ = await read(target, checkpoints[-1])
    assert len([r for r in records if r.ref.kind == COMPANY]) == len(d.sim.store.companies)


async def test_another_open_scroll_leaves_companies_for_the_next_refresh_and_says_so() -> None:
    d = desk(search_lag=0.0)
    d.sim.workspace.scrolls.page(None, d.sim.store.companies)  # another integration scrolls
    target = d.target()
    records, cursor = await read(target)
    assert {r.ref.kind for r in records} == {CONTACT}
    assert IdentityCursor.decode(cursor).scrolled_at is None
    assert any("another company scroll is open" in n for n in target.notices())


async def test_a_lost_scroll_is_started_again_and_no_company_comes_twice() -> None:
    d = desk(search_lag=0.0, scroll_page_size=2)
    target = d.target()
    seen: list[str] = []
    broken = False
    async for page in target.customers(None):
        seen += [r.ref.key for r in page.records if r.ref.kind == COMPANY]
        if len(seen) == 2 and not broken:
            d.sim.break_scroll()  # the next page answers "restart the scroll"
            broken = True
    assert sorted(seen) == sorted(f"company:{i}" for i in d.sim.store.companies)
    assert d.sim.workspace.scrolls.opened == 2


async def test_a_scroll_that_expires_while_the_engine_is_busy_is_started_again() -> None:
    d = desk(search_lag=0.0, scroll_page_size=2)
    target = d.target()
    seen: list[str] = []
    async for page in target.customers(None):
        seen += [r.ref.key for r in page.records if r.ref.kind == COMPANY]
        d.sim.pass_time(61)  # longer than a scroll lives unused
    assert len(seen) == len(set(seen)) == len(d.sim.store.companies)


async def test_a_scroll_lost_again_and_again_without_progress_gives_up_for_this_refresh() -> None:
    d = desk(search_lag=0.0)
    body = {
        "type": "error.list",
        "request_id": None,
        "errors": [{"code": "server_error", "message": RESTART_MESSAGE}],
    }
    d.sim.controls.inject(Fault(status=500, body=body, path_contains="/companies/scroll", times=99))
    target = d.target()
    records, cursor = await read(target)
    assert {r.ref.kind for r in records} == {CONTACT}  # contacts still indexed
    assert IdentityCursor.decode(cursor).scrolled_at is None
    assert d.sim.requests("GET", "/companies/scroll") == 3
    assert any("lost 3 times in one refresh" in n for n in target.notices())


# -- contacts: a day-granular search and a cursor behind the search's lag ---------------------


def test_the_contact_query_asks_from_the_day_before_the_cursor() -> None:
    assert contact_query(("user",), None) == {"field": "role", "operator": "=", "value": "user"}
    query = contact_query(("user", "lead"), 1_000_000)
    assert query == {
        "operator": "AND",
        "value": [
            {"field": "role", "operator": "IN", "value": ["lead", "user"]},
            {"field": "updated_at", "operator": ">", "value": 1_000_000 - DAY_OVERLAP},
        ],
    }


@pytest.mark.parametrize("hours", [-12, -5, 0, 5.5, 14])
@pytest.mark.parametrize("local", [time(0, 0, 30), time(23, 58, 0)])
async def test_a_change_just_after_the_cursor_is_read_whatever_the_time_zone(
    hours: float, local: time
) -> None:
    zone = timezone(timedelta(hours=hours))
    clock = SimClock(datetime.combine(DAY.date(), local, tzinfo=zone))
    d = desk(clock=clock, search_lag=0.0, zone=zone)
    target = d.target(search_lag_seconds=0)
    clock.now += timedelta(minutes=1)
    _, cursor = await read(target)
    clock.now += timedelta(minutes=1)  # at 23:58 local: past midnight, on the next day
    changed = d.sim.add_contact("Later", "later@x.example", indexed=True)
    records, _ = await read(target, cursor)
    assert keys(records) == [f"contact:{changed['id']}"]


async def test_contacts_older_than_the_cursor_on_the_overlapping_day_are_not_yielded_again() -> (
    None
):
    clock = SimClock()
    d = desk(clock=clock, search_lag=0.0)
    target = d.target(search_lag_seconds=0)
    clock.now += timedelta(minutes=1)
    _, cursor = await read(target)
    clock.now += timedelta(hours=1)
    records, _ = await read(target, cursor)
    assert records == []  # the demo users changed today, before the cursor
    assert d.sim.requests("POST", "/contacts/search") >= 2


async def test_a_contact_the_search_had_not_indexed_yet_is_read_by_the_next_refresh() -> None:
    clock = SimClock()
    d = desk(clock=clock, search_lag=180.0)
    target = d.target(search_lag_seconds=300)
    _, cursor = await read(target)
    clock.now += timedelta(seconds=30)
    young = d.sim.add_contact("Young", "young@x.example")  # searchable in 3 minutes
    clock.now += timedelta(seconds=10)
    first, cursor = await read(target, cursor)
    assert f"contact:{young['id']}" not in keys(first)
    clock.now += timedelta(minutes=5)
    second, _ = await read(target, cursor)
    assert f"contact:{young['id']}" in keys(second)


async def test_leads_are_indexed_only_when_configured() -> None:
    d = desk(search_lag=0.0)
    lead = d.sim.add_contact("Lead", "lead@x.example", role="lead", indexed=True)
    users_only, _ = await read(d.target(record_kinds=["contact"]))
    both, _ = await read(d.target(record_kinds=["contact"], contact_roles=["user", "lead"]))
    assert f"contact:{lead['id']}" not in keys(users_only)
    assert f"contact:{lead['id']}" in keys(both)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    page=st.integers(min_value=1, max_value=7),
    scroll_page=st.integers(min_value=1, max_value=6),
    lag=st.sampled_from([0.0, 60.0, 240.0]),
    offset=st.integers(min_value=-12, max_value=14),
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(min_value=0, max_value=11), max_size=5),  # contacts touched
            st.integers(min_value=0, max_value=3),  # ties: how many share one second
            st.integers(min_value=0, max_value=2 * 86400),  # time passing before the read
        ),
        max_size=4,
    ),
)
def test_every_change_reaches_the_index_and_no_read_yields_a_record_twice(
    page: int, scroll_page: int, lag: float, offset: int, steps: list[tuple[list[int], int, int]]
) -> None:
    """Any page sizes, time zones, update-time ties and search lags: each read yields a record
    at most once, and once the search has caught up the index holds every contact's latest
    change and every company."""

    async def scenario() -> None:
        clock = SimClock()
        d = desk(
            clock=clock,
            search_lag=lag,
            scroll_page_size=scroll_page,
            zone=timezone(timedelta(hours=offset)),
        )
        for n in range(12 - len(d.sim.store.contacts)):
            d.sim.add_contact(f"P {n}", f"p{n}@x.example", indexed=True)
        target = d.target(contact_page_size=page, search_lag_seconds=300, company_scroll_minutes=1)
        index: dict[str, Any] = {}

        async def refresh(cursor: Cursor | None) -> Cursor | None:
            records, cursor = await read(target, cursor)
            assert len(keys(records)) == len(set(keys(records))), "a record came twice in one read"
            index.update({r.ref.key: r.updated_at for r in records})
            d.clock[0] += 3600
            return cursor

        cursor = await refresh(None)
        ids = list(d.sim.store.contacts)
        for touched, ties, passing in steps:
            stamp = d.sim.store.now()
            for n in touched:
                d.sim.store.touch(CONTACT, ids[n % len(ids)], when=stamp if ties else None)
            clock.now += timedelta(seconds=passing)
            cursor = await refresh(cursor)
        clock.now += timedelta(seconds=lag)
        await refresh(cursor)
        for contact_id, contact in d.sim.store.contacts.items():
            assert index[f"contact:{contact_id}"].timestamp() == contact["updated_at"]
        assert {f"company:{i}" for i in d.sim.store.companies} <= set(index)
        await target.aclose()

    asyncio.run(scenario())


# -- lookups for misses (FACTS.md §4.4, §5.2, §5.3) -----------------------------------------


async def test_a_company_created_a_second_ago_is_found_by_company_id_in_any_case() -> None:
    d = desk(search_lag=180.0)
    target = d.target()
    _, _cursor = await read(target)
    new = d.sim.add_company("Brand New", "CUST-9001", website="https://brandnew.example")
    found = await target.lookup(
        [IdentityKey(match="external_id", value="cust-9001", kind="company")]
    )
    assert [(r.ref.id, r.external_id) for r in found] == [(new["id"], "CUST-9001")]
    assert d.sim.requests("POST", "/companies") == 0  # looked up, never created
    d.assert_spec_clean()


async def test_a_company_domain_cannot_be_looked_up_and_costs_nothing() -> None:
    d = desk(search_lag=0.0)
    target = d.target()
    found = await target.lookup([IdentityKey(match="domain", value="acme.example", kind="company")])
    assert found == []
    assert d.sim.requests() == 0


async def test_a_user_is_found_by_external_id_before_the_search_sees_them() -> None:
    d = desk(search_lag=180.0)
    target = d.target()
    new = d.sim.add_contact("New User", "new@x.example", external_id="u-77")
    by_id = await target.lookup([IdentityKey(match="external_id", value="u-77", kind="contact")])
    by_email = await target.lookup(
        [IdentityKey(match="email", value="new@x.example", kind="contact")]
    )
    assert [r.ref.id for r in by_id] == [new["id"]]
    assert by_email == []  # the search is Intercom's only way to an email: minutes behind
    d.sim.pass_time(180)
    by_email = await target.lookup(
        [IdentityKey(match="email", value="new@x.example", kind="contact")]
    )
    assert [r.ref.id for r in by_email] == [new["id"]]


async def test_email_lookups_go_fifteen_to_a_search_and_return_current_values() -> None:
    d = desk(search_lag=180.0)
    for n in range(20):
        d.sim.add_contact(f"P{n}", f"p{n}@x.example", indexed=True)
    acme_user = d.sim.customers["acme"][1]
    d.sim.agent_edit(CONTACT, acme_user, email="riley@acme.example")  # the search still has the old
    target = d.target()
    wanted = [
        IdentityKey(match="email", value=f"p{n}@x.example", kind="contact") for n in range(20)
    ]
    wanted.append(IdentityKey(match="email", value="ops@acme.example", kind="contact"))
    found = await target.lookup(wanted)
    assert d.sim.requests("POST", "/contacts/search") == 2
    by_id = {r.ref.id: r for r in found}
    assert by_id[acme_user].emails == ("riley@acme.example",)  # read again, not the stale copy
    assert len(found) == 21
    d.assert_spec_clean()


async def test_lookups_skip_kinds_the_target_does_not_index() -> None:
    d = desk(search_lag=0.0)
    target = d.target(record_kinds=["company"])
    found = await target.lookup(
        [IdentityKey(match="external_id", value="user-acme", kind="contact")]
    )
    assert found == []
    assert d.sim.requests() == 0
