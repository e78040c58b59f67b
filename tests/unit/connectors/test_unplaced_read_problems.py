"""The read before a write, when the desk's answer holds a row that did not read and names no
record (a row that is not an object, or whose id is the bad value): that row may be any record
the read asked for and the answer otherwise lacks, so each such record comes back carrying the
problem, and its write fails naming the desk's fault, instead of being taken for deleted with
no word. Without such a row a record the answer lacks is left out as before (it is gone)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import CustomerRecord, RecordRef
from connectors.record_values import RecordProblem, unread_records
from connectors.service.servicecloud.simulator import ServiceCloudSimulator
from connectors.service.servicenow.simulator import ServiceNowSimulator
from connectors.service.zendesk.payloads import organization_record
from tests.unit.connectors import test_zendesk as zd
from tests.unit.connectors.servicenow_kit import connect
from tests.unit.connectors.test_desk_bad_records import _raw_json
from tests.unit.connectors.test_desk_rows_not_objects import inserting, service_cloud, soql

pytestmark = pytest.mark.anyio

token_env = zd.token_env
UNPLACED = "not in the desk's answer but for a row that did not read: "


def ref(record_id: str) -> RecordRef:
    return RecordRef(kind="organization", id=record_id)


@given(
    asked=st.sets(st.integers(min_value=1, max_value=30), max_size=12),
    read_share=st.sets(st.integers(min_value=1, max_value=30)),
    named_share=st.sets(st.integers(min_value=1, max_value=30)),
    unplaced=st.integers(min_value=0, max_value=3),
)
def test_each_asked_record_not_read_carries_its_own_problem_or_an_unplaced_one(
    asked: set[int], read_share: set[int], named_share: set[int], unplaced: int
) -> None:
    read = {str(n) for n in asked & read_share}
    named = {str(n) for n in asked & named_share} - read
    asked_refs = {str(n): ref(str(n)) for n in asked}
    problems = [RecordProblem(n, f"bad {n}") for n in sorted(named)]
    problems += [RecordProblem(None, f"row #{k}") for k in range(unplaced)]
    problems.append(RecordProblem("999", "a record nobody asked for"))
    records = [CustomerRecord(ref=asked_refs[n]) for n in read]

    unread = unread_records(problems, asked_refs, records)

    by_id = {record.ref.id: record.problem for record in unread}
    assert len(by_id) == len(unread), "one record each"
    assert all(record.ref == asked_refs[record.ref.id] for record in unread)
    assert {n: by_id[n] for n in named} == {n: f"bad {n}" for n in named}
    rest = set(by_id) - named
    if unplaced:
        assert rest == set(asked_refs) - read - named
        more = f" (and {unplaced - 1} more such rows)" if unplaced > 1 else ""
        assert all(by_id[n] == f"{UNPLACED}row #0{more}" for n in rest)
    else:
        assert rest == set(), "a record the answer lacks is gone: left out"


# -- through each batch reader -------------------------------------------------------------


SHOW_MANY = f"{zd.BASE}/api/v2/organizations/show_many.json"


async def test_zendesk_read_gives_an_unanswered_record_the_problem_of_a_row_that_did_not_read(
    respx_mock: respx.MockRouter,
) -> None:
    rows: list[Any] = [zd.org(1), 7]
    respx_mock.get(SHOW_MANY).mock(return_value=_raw_json({"organizations": rows}))
    good, unread = await zd.make_target(record_kinds=["organization"]).read([ref("1"), ref("2")])
    assert good == organization_record(zd.org(1))
    assert unread.ref == ref("2")
    assert unread.problem == (
        UNPLACED + "Zendesk organization #2 of the page: is 7, not an object; the record was "
        "left out (correct it at Zendesk: the next read takes it)"
    )


async def test_zendesk_read_leaves_out_an_unanswered_record_when_every_row_read(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(SHOW_MANY).mock(return_value=_raw_json({"organizations": [zd.org(1)]}))
    found = await zd.make_target(record_kinds=["organization"]).read([ref("1"), ref("2")])
    assert [record.ref for record in found] == [ref("1")]


async def test_zendesk_read_ties_a_row_that_did_not_read_to_its_own_show_many_call_only(
    respx_mock: respx.MockRouter,
) -> None:
    """101 records take two calls of 100 ids at most; the first answer has a bad row and lacks
    record 5, the second lacks record 101: only record 5 carries the problem."""

    def answer(request: httpx.Request) -> httpx.Response:
        ids = [int(i) for i in request.url.params["ids"].split(",")]
        rows: list[Any] = [zd.org(i) for i in ids if i not in (5, 101)]
        return _raw_json({"organizations": rows + ([None] if 5 in ids else [])})

    respx_mock.get(SHOW_MANY).mock(side_effect=answer)
    refs = [ref(str(n)) for n in range(1, 102)]
    found = await zd.make_target(record_kinds=["organization"]).read(refs)
    unread = [record for record in found if record.problem is not None]
    assert [record.ref.id for record in unread] == ["5"]
    assert len(found) == 100, "record 101 is gone"


def servicenow_reads(request: httpx.Request) -> bool:
    return str(request.url.params.get("sysparm_query", "")).startswith("sys_idIN")


async def test_servicenow_read_gives_a_missing_record_the_problem_of_a_row_that_did_not_read() -> (
    None
):
    sim = ServiceNowSimulator().seed_demo()
    acme = RecordRef(kind="account", id=sim.customers["acme"][0])
    gone = RecordRef(kind="account", id="0" * 32)
    plain = connect(sim)
    assert [r.ref for r in await plain.read([acme, gone])] == [acme]
    await plain.aclose()
    _, wrap = inserting([[(0, "row")]], servicenow_reads)
    target = connect(sim, wrap)
    current, unread = await target.read([acme, gone])
    await target.aclose()
    assert (current.ref, current.problem) == (acme, None)
    assert unread.ref == gone
    assert unread.problem is not None
    assert unread.problem.startswith(UNPLACED + "ServiceNow account #1 of the page: is 'row'")


def service_cloud_reads(request: httpx.Request) -> bool:
    return " FROM Account WHERE Id IN " in soql(request)


async def test_service_cloud_read_gives_a_missing_record_the_unplaced_rows_problem() -> None:
    sim = ServiceCloudSimulator()
    account = RecordRef(kind="account", id=sim.add_account("Acme"))
    gone = RecordRef(kind="account", id="001" + "0" * 15)
    plain = service_cloud(sim, record_kinds=["account"])
    assert [r.ref for r in await plain.read([account, gone])] == [account]
    await plain.aclose()
    made, wrap = inserting([[(9, [])]], service_cloud_reads, "records")
    target = service_cloud(sim, wrap, record_kinds=["account"])
    current, unread = await target.read([account, gone])
    await target.aclose()
    assert made[0].positions == [[2]]
    assert (current.ref, current.problem) == (account, None)
    assert unread.ref == gone
    assert unread.problem is not None
    assert unread.problem.startswith(UNPLACED + "Service Cloud account #2 of the page: is a list")


async def test_servicenow_read_ties_a_row_that_did_not_read_to_its_own_query_only() -> None:
    """One id a query: the bad row comes in the first answer, which reads its record; the
    second answer lacks the other record (it is gone), which is left out."""
    sim = ServiceNowSimulator().seed_demo()
    acme = RecordRef(kind="account", id=sim.customers["acme"][0])
    gone = RecordRef(kind="account", id="0" * 32)
    made, wrap = inserting([[(0, "row")]], servicenow_reads)
    target = connect(sim, wrap, ids_per_query=1)
    found = await target.read([acme, gone])
    await target.aclose()
    assert made[0].positions == [[1], []]
    assert [(record.ref, record.problem) for record in found] == [(acme, None)]
