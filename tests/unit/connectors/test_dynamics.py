"""Dynamics source reads: first read by change tracking, deltas, batched re-reads, deletions,
polling by modifiedon, and the record-level problems (unlabelled choices, vanished accounts)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from connectors.base import Cursor, DealPage, DealQuery
from connectors.errors import PermanentError
from connectors.sales.dynamics import DynamicsSource
from connectors.sales.dynamics.needs import UnknownColumn
from connectors.sales.dynamics.odata import QueryBuildError
from tests.fixtures.dynamics.builders import (
    API,
    DEALS,
    SECRET,
    SECRET_ENV,
    OData,
    deleted,
    delta_link,
    error,
    guid,
    metadata,
    mock_deals,
    page,
    query,
    row,
    source,
)

pytestmark = pytest.mark.anyio

QUERY = DealQuery(
    fields=(
        "name",
        "new_specialdiscount",
        "new_paymentterms",
        "parentaccountid.websiteurl",
        "parentaccountid.new_customernumber",
    )
)
ACCOUNT = {
    "accountid": guid(900),
    "websiteurl": "https://www.acme.example",
    "new_customernumber": "CUST-1001",
}


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


async def read(
    src: DynamicsSource, since: Cursor | None = None, q: DealQuery = QUERY
) -> list[DealPage]:
    return [p async for p in src.changed_deals(q, since)]


def position(page_: DealPage) -> dict[str, str]:
    data: dict[str, str] = json.loads(page_.checkpoint.value)
    return data


def delta_cursor(link: str) -> Cursor:
    return Cursor(value=json.dumps({"mode": "delta", "link": link}))


async def test_first_read_takes_the_delta_link_then_reads_every_deal_with_its_account(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    link = delta_link()
    tracked_next = f"{DEALS}?$select=modifiedon&$skiptoken=%3Ccookie%20pagenumber%3D%222%22%3E"
    data_next = f"{DEALS}?$select=name&$skiptoken=%3Ccookie%20pagenumber%3D%223%22%3E"
    odata = OData()
    odata.on(
        "track",
        page([row(guid(1))], next_link=tracked_next, tracking=True),
        page([row(guid(2))], delta_link=link, tracking=True),
    )
    odata.on(
        "read",
        page([row(guid(1), name="Acme", parentaccountid=ACCOUNT)], next_link=data_next),
        page([row(guid(2), "2026-11-20T09:00:05Z", name="Globex", parentaccountid=None)]),
    )
    mock_deals(respx_mock, odata)
    src = source(page_size=250)
    pages = await read(src)
    await src.aclose()

    first, second = odata.seen["track"]
    assert "odata.track-changes" in first.headers["prefer"]
    assert "odata.maxpagesize=5000" in first.headers["prefer"]
    assert query(first) == {"$select": "modifiedon"}, "no $filter/$orderby/$expand with tracking"
    assert str(second.url) == tracked_next, "the nextLink is followed unchanged"
    assert second.headers["prefer"] == first.headers["prefer"]
    data, data_following = odata.seen["read"]
    params = query(data)
    assert params["$expand"] == "parentaccountid($select=websiteurl,new_customernumber)"
    assert params["$orderby"] == "modifiedon asc,opportunityid asc"
    assert "$filter" not in params
    assert set(params["$select"].split(",")) == {
        "modifiedon",
        "name",
        "new_specialdiscount",
        "new_paymentterms",
        "_parentaccountid_value",
    }
    assert "odata.maxpagesize=250" in data.headers["prefer"]
    assert "track-changes" not in data.headers["prefer"]
    assert str(data_following.url) == data_next
    assert [d.id for p in pages for d in p.deals] == [guid(1), guid(2)]
    assert position(pages[0]) == {"mode": "load", "link": link, "ts": "2026-11-20T09:00:00Z"}
    assert position(pages[-1]) == {"mode": "delta", "link": link}
    acme = pages[0].deals[0]
    assert acme.payload["parentaccountid"] == ACCOUNT
    assert "@odata.etag" not in acme.payload
    assert (
        acme.url
        == f"https://contoso.crm4.dynamics.com/main.aspx?pagetype=entityrecord&etn=opportunity&id={guid(1)}"
    )


async def test_every_request_sends_the_odata_headers(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page([]))
    mock_deals(respx_mock, odata)
    src = source()
    await read(src)
    await src.aclose()
    api_calls = [c.request for c in respx_mock.calls if str(c.request.url).startswith(API)]
    assert api_calls
    for request in api_calls:
        assert request.headers["odata-version"] == "4.0"
        assert request.headers["odata-maxversion"] == "4.0"
        assert request.headers["accept"] == "application/json"
        assert request.headers["if-none-match"] == "null"
        assert request.headers["authorization"] == "Bearer eyJ0.unit-access-1"


async def test_an_interrupted_first_read_resumes_at_its_last_modifiedon(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    link = delta_link()
    odata = OData().on("read", page([row(guid(7), "2026-11-21T10:00:00Z", name="Late")]))
    mock_deals(respx_mock, odata)
    src = source()
    since = Cursor(value=json.dumps({"mode": "load", "link": link, "ts": "2026-11-21T10:00:00Z"}))
    pages = await read(src, since)
    await src.aclose()
    assert "track" not in odata.seen, "the delta link was already taken"
    assert query(odata.seen["read"][0])["$filter"] == "modifiedon ge 2026-11-21T10:00:00Z"
    assert position(pages[-1]) == {"mode": "delta", "link": link}


async def test_delta_rereads_changed_deals_in_batches_and_reports_deleted_ones(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    old, new = delta_link("100!11/20/2026 09:00:00"), delta_link("200!11/21/2026 09:00:00")
    changed = [row(guid(n)) for n in range(1, 6)]
    odata = OData().on("delta", page([*changed, deleted(guid(9))], delta_link=new))
    odata.on(
        "reread",
        page([row(guid(1), name="a", parentaccountid=ACCOUNT), row(guid(2), name="b")]),
        page([row(guid(3), name="c"), row(guid(4), name="d")]),
        page([row(guid(5), name="e")]),
    )
    mock_deals(respx_mock, odata)
    src = source(id_batch_size=2)
    pages = await read(src, delta_cursor(old))
    await src.aclose()

    assert str(odata.seen["delta"][0].url) == old
    filters = [query(r)["$filter"] for r in odata.seen["reread"]]
    assert filters[0] == f"opportunityid eq {guid(1)} or opportunityid eq {guid(2)}"
    assert len(filters) == 3, "five changed deals, two per re-read"
    assert all("$expand" in query(r) for r in odata.seen["reread"]), "account in the same call"
    live = [d for p in pages for d in p.deals if not d.deleted]
    gone = [d for p in pages for d in p.deals if d.deleted]
    assert [d.id for d in live] == [guid(n) for n in range(1, 6)]
    assert [d.id for d in gone] == [guid(9)]
    assert [position(p)["link"] for p in pages] == [old, old, old, new]


async def test_a_changed_deal_the_reread_no_longer_returns_is_reported_removed(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("delta", page([row(guid(1)), row(guid(2))], delta_link=delta_link()))
    odata.on("reread", page([row(guid(1), name="still here")]))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src, delta_cursor(delta_link("1!11/19/2026 09:00:00")))
    await src.aclose()
    by_id = {d.id: d for p in pages for d in p.deals}
    assert not by_id[guid(1)].deleted
    assert by_id[guid(2)].deleted, "deleted since, or out of the select: gone either way"


async def test_the_mappings_select_is_anded_into_rereads_and_left_out_of_tracking(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("delta", page([row(guid(1))], delta_link=delta_link()))
    odata.on("reread", page([]))
    mock_deals(respx_mock, odata)
    src = source()
    q = DealQuery(fields=QUERY.fields, select="statecode eq 1")
    pages = await read(src, delta_cursor(delta_link("1!11/19/2026 09:00:00")), q)
    await src.aclose()
    assert query(odata.seen["reread"][0])["$filter"] == (
        f"opportunityid eq {guid(1)} and statecode eq 1"
    )
    assert [d.deleted for p in pages for d in p.deals] == [True], "left the select"


async def test_an_empty_delta_keeps_the_link_moving(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    old, new = delta_link("5!11/19/2026 09:00:00"), delta_link("5!11/20/2026 09:00:00")
    odata = OData().on("delta", page([], delta_link=new))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src, delta_cursor(old))
    await src.aclose()
    assert [len(p.deals) for p in pages] == [0]
    assert position(pages[-1]) == {"mode": "delta", "link": new}


async def test_an_empty_json_delta_answer_keeps_the_old_link(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    old = delta_link("5!11/19/2026 09:00:00")
    odata = OData().on("delta", httpx.Response(200, json={}))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src, delta_cursor(old))
    await src.aclose()
    assert position(pages[-1]) == {"mode": "delta", "link": old}


@pytest.mark.parametrize("status", [400, 410, 500])
async def test_an_expired_delta_link_is_known_by_its_code_and_starts_a_full_reread(
    respx_mock: respx.MockRouter, status: int
) -> None:
    metadata(respx_mock)
    new = delta_link("300!11/28/2026 09:00:00")
    expired = error(
        status,
        "0x80044352",
        "Version stamp associated with the client has expired. Please perform a full sync.",
    )
    odata = OData().on("delta", expired)
    odata.on("track", page([row(guid(1))], delta_link=new, tracking=True))
    odata.on("read", page([row(guid(1), name="all of it again")]))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src, delta_cursor(delta_link("1!11/01/2026 09:00:00")))
    await src.aclose()
    assert src.full_rereads == 1
    assert len(odata.seen["delta"]) == 1, "no retry of a stale link"
    assert [d.id for p in pages for d in p.deals] == [guid(1)]
    assert position(pages[-1]) == {"mode": "delta", "link": new}


async def test_a_malformed_delta_token_without_a_code_also_starts_over(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("delta", error(400, "", "The delta token is not valid."))
    odata.on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page([]))
    mock_deals(respx_mock, odata)
    src = source()
    await read(src, delta_cursor(f"{DEALS}?$select=modifiedon&$deltatoken=garbage"))
    await src.aclose()
    assert src.full_rereads == 1


async def test_another_400_on_a_delta_link_is_not_mistaken_for_a_stale_link(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on(
        "delta",
        error(
            400,
            "0x80060888",
            "Could not find a property named 'new_old' on type "
            "'Microsoft.Dynamics.CRM.opportunity'.",
        ),
    )
    mock_deals(respx_mock, odata)
    src = source()
    with pytest.raises(PermanentError, match="new_old"):
        await read(src, delta_cursor(delta_link()))
    await src.aclose()
    assert src.full_rereads == 0


async def test_a_table_without_change_tracking_is_polled_by_modifiedon(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock, change_tracking=False)
    odata = OData().on("read", page([row(guid(1), "2026-11-20T09:00:00Z", name="x")]))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src)
    await src.aclose()
    assert "track" not in odata.seen
    assert position(pages[-1]) == {"mode": "modifiedon", "ts": "2026-11-20T09:00:00Z"}


async def test_polling_rereads_the_overlap_so_equal_timestamps_are_never_skipped(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    same = "2026-11-20T09:00:00Z"
    odata = OData().on("read", page([row(guid(1), same), row(guid(2), same), row(guid(3), same)]))
    mock_deals(respx_mock, odata)
    src = source(incremental="modifiedon", overlap_seconds=60)
    since = Cursor(value=json.dumps({"mode": "modifiedon", "ts": same}))
    pages = await read(src, since)
    await src.aclose()
    params = query(odata.seen["read"][0])
    assert params["$filter"] == "modifiedon ge 2026-11-20T08:59:00Z", "ge, minus the overlap"
    assert params["$orderby"] == "modifiedon asc,opportunityid asc"
    assert [d.id for p in pages for d in p.deals] == [guid(1), guid(2), guid(3)]
    assert position(pages[-1]) == {"mode": "modifiedon", "ts": same}


async def test_polling_with_a_select_reports_deals_that_left_it_first(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("departures", page([row(guid(4))]))
    odata.on("read", page([row(guid(5), "2026-11-20T10:00:00Z")]))
    mock_deals(respx_mock, odata)
    src = source(incremental="modifiedon", overlap_seconds=0)
    since = Cursor(value=json.dumps({"mode": "modifiedon", "ts": "2026-11-20T09:00:00Z"}))
    q = DealQuery(fields=("name",), select="statecode eq 1")
    pages = await read(src, since, q)
    await src.aclose()
    assert query(odata.seen["departures"][0])["$filter"] == (
        "modifiedon ge 2026-11-20T09:00:00Z and not (statecode eq 1)"
    )
    assert [(d.id, d.deleted) for p in pages for d in p.deals] == [
        (guid(4), True),
        (guid(5), False),
    ]
    assert position(pages[0]) == {"mode": "modifiedon", "ts": "2026-11-20T09:00:00Z"}


async def test_no_delta_link_after_a_tracked_read_falls_back_to_polling(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("track", page([row(guid(1))]))
    odata.on("read", page([row(guid(1), "2026-11-20T09:00:00Z")]))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src)
    await src.aclose()
    assert position(pages[-1])["mode"] == "modifiedon"


async def test_choice_values_become_metadata_labels_and_a_missing_label_keeps_its_number(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock, terms={100000000: "Net 30", 100000009: None})
    rows = [
        row(
            guid(1),
            new_paymentterms=100000000,
            new_freeservices="100000000,100000001",
            statecode=1,
            new_region=2,
        ),
        row(guid(2), new_paymentterms=100000009),
        row(guid(3), new_paymentterms=None),
    ]
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page(rows))
    mock_deals(respx_mock, odata)
    src = source()
    q = DealQuery(fields=("new_paymentterms", "new_freeservices", "statecode", "new_region"))
    pages = await read(src, None, q)
    await src.aclose()
    deals = {d.id: d.payload for p in pages for d in p.deals}
    assert deals[guid(1)]["new_paymentterms"] == "Net 30"
    assert deals[guid(1)]["new_freeservices"] == ["Onsite training", "Priority support"]
    assert deals[guid(1)]["statecode"] == "Won"
    assert deals[guid(1)]["new_region"] == "South", "a global choice's options are read too"
    assert deals[guid(2)]["new_paymentterms"] == 100000009
    assert deals[guid(3)]["new_paymentterms"] is None
    [problem] = src.problems()
    assert guid(2) in problem
    assert "new_paymentterms = 100000009 has no label" in problem


async def test_a_deal_whose_account_is_gone_keeps_going_with_a_null_account(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    vanished = guid(777)
    rows = [
        row(guid(1), _parentaccountid_value=vanished, parentaccountid=None),
        row(guid(2), _parentaccountid_value=None, parentaccountid=None),
    ]
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page(rows))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src)
    await src.aclose()
    deals = [d for p in pages for d in p.deals]
    assert [d.payload["parentaccountid"] for d in deals] == [None, None]
    [problem] = src.problems()
    assert guid(1) in problem
    assert f"{vanished} no longer exists" in problem


async def test_a_renamed_custom_column_stops_the_job_before_any_deal_is_read(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData()
    mock_deals(respx_mock, odata)
    src = source()
    with pytest.raises(UnknownColumn) as caught:
        await read(src, None, DealQuery(fields=("new_specialdiscont",)))
    await src.aclose()
    assert caught.value.who_acts == "admin"
    assert "did you mean 'new_specialdiscount'?" in str(caught.value)
    assert not odata.seen, "no deal read was sent"


async def test_a_column_of_the_account_is_checked_against_the_account_table(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    mock_deals(respx_mock, OData())
    src = source()
    with pytest.raises(
        UnknownColumn, match=r"parentaccountid \(account\) has no readable column 'website'"
    ):
        await read(src, None, DealQuery(fields=("parentaccountid.website",)))
    await src.aclose()


async def test_an_unsafe_select_condition_is_refused_before_any_call(
    respx_mock: respx.MockRouter,
) -> None:
    src = source()
    with pytest.raises(QueryBuildError, match="unbalanced"):
        await read(src, None, DealQuery(fields=("name",), select="statecode eq 1) or (true"))
    await src.aclose()
    assert not respx_mock.calls


async def test_a_cursor_from_another_connector_is_refused_clearly(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    src = source()
    with pytest.raises(PermanentError, match="not a Dynamics cursor"):
        await read(src, Cursor(value='{"ts": "2026-01-01T00:00:00Z", "id": "006"}'))
    await src.aclose()


async def test_full_read_ignores_the_cursor(respx_mock: respx.MockRouter) -> None:
    metadata(respx_mock)
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page([]))
    mock_deals(respx_mock, odata)
    src = source()
    q = DealQuery(fields=("name",), full=True)
    await read(src, delta_cursor(delta_link("1!11/01/2026 09:00:00")), q)
    await src.aclose()
    assert "delta" not in odata.seen
    assert len(odata.seen["track"]) == 1


async def test_an_or_in_the_select_keeps_its_parentheses_next_to_the_id_batch(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock)
    odata = OData().on("delta", page([row(guid(1)), row(guid(2))], delta_link=delta_link()))
    odata.on("reread", page([]))
    mock_deals(respx_mock, odata)
    src = source()
    q = DealQuery(fields=("name",), select="statecode eq 1 or statecode eq 0")
    await read(src, delta_cursor(delta_link("1!11/19/2026 09:00:00")), q)
    await src.aclose()
    assert query(odata.seen["reread"][0])["$filter"] == (
        f"(opportunityid eq {guid(1)} or opportunityid eq {guid(2)}) and "
        "(statecode eq 1 or statecode eq 0)"
    )


async def test_an_unreadable_table_definition_only_costs_the_change_tracking_hint(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{API}/EntityDefinitions(LogicalName='opportunity')").mock(
        return_value=error(404, "0x8006088a", "Resource not found for the segment.")
    )
    metadata(respx_mock)  # the Attributes and casts still answer
    odata = OData().on("track", page([], delta_link=delta_link(), tracking=True))
    odata.on("read", page([row(guid(1), name="read anyway")]))
    mock_deals(respx_mock, odata)
    src = source()
    pages = await read(src, None, DealQuery(fields=("name",)))
    await src.aclose()
    assert [d.payload["name"] for p in pages for d in p.deals] == ["read anyway"]
    assert position(pages[-1])["mode"] == "delta", "the tracked read decided"


async def test_a_polling_cursor_starts_change_tracking_once_it_is_available(
    respx_mock: respx.MockRouter,
) -> None:
    metadata(respx_mock, change_tracking=True)
    link = delta_link()
    odata = OData().on("track", page([], delta_link=link, tracking=True))
    odata.on("read", page([row(guid(1))]))
    mock_deals(respx_mock, odata)
    src = source()
    since = Cursor(value=json.dumps({"mode": "modifiedon", "ts": "2026-11-20T09:00:00Z"}))
    pages = await read(src, since)
    await src.aclose()
    assert "$filter" not in query(odata.seen["read"][0]), "every deal, once"
    assert position(pages[-1]) == {"mode": "delta", "link": link}
