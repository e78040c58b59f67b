"""Zoho CRM source: COQL and list reads, the cursor, deletions, the catalog and bad input (respx).

Bodies are the hand-written fixtures in tests/fixtures/zoho (Zoho's documented shapes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from connectors.base import Cursor, DealPage, DealQuery, SalesSource
from connectors.errors import PermanentError
from connectors.registry import get_spec
from connectors.sales.zoho import ZohoSource
from connectors.sales.zoho.payloads import (
    CursorState,
    decode_cursor,
    encode_cursor,
    parse_time,
    zoho_time,
)
from tests.fixtures.zoho.support import (
    API,
    COQL,
    DEALS,
    DELETED,
    config,
    coql_body,
    coql_queries,
    coql_row,
    load,
    mock_fields,
    mock_token,
    source,
    use_env,
)

pytestmark = pytest.mark.anyio

MAPPED = (
    "Deal_Name",
    "Stage",
    "Special_Discount",
    "Payment_Terms",
    "Free_Services",
    "Account_Name.Website",
    "Account_Name.Customer_Number",
)
QUERY = DealQuery(fields=MAPPED)
T0 = "2025-03-28T15:12:13+05:30"
T0_UTC = datetime(2025, 3, 28, 9, 42, 13, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch)


@pytest.fixture
def zoho() -> Any:
    with respx.mock(assert_all_called=False) as router:
        mock_token(router)
        mock_fields(router)
        router.get(DELETED).mock(return_value=httpx.Response(204))
        yield router


async def read_all(
    src: ZohoSource, query: DealQuery = QUERY, since: Cursor | None = None
) -> list[DealPage]:
    return [page async for page in src.changed_deals(query, since)]


def cursor(live: datetime | None, deal_id: str = "", deleted: datetime | None = None) -> Cursor:
    return encode_cursor(CursorState(live=(live, deal_id) if live else None, deleted=deleted))


def deals_of(pages: list[DealPage]) -> list[Any]:
    return [d for p in pages for d in p.deals]


async def test_registry_lists_zoho_as_a_source_with_its_simulator() -> None:
    spec = get_spec("zoho")
    assert spec.role == "source"
    assert spec.simulator == "connectors.sales.zoho.simulator:demo_app"
    assert spec.contract_harness == "connectors.sales.zoho.simulator:contract_harness"
    assert isinstance(source(), SalesSource)


async def test_backfill_asks_coql_for_2000_deals_in_time_then_id_order(zoho: Any) -> None:
    route = zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    await read_all(source())
    (query,) = coql_queries(route)
    assert query.startswith("select id, Modified_Time, Deal_Name, Stage, Special_Discount")
    columns = query.split(" from ")[0].removeprefix("select ").split(", ")
    assert {"Account_Name.Website", "Account_Name.Customer_Number"} <= set(columns)
    assert "Account_Name.Account_Name" in columns, "the name tells a deleted account apart"
    assert query.endswith(
        "from Deals where Modified_Time is not null order by Modified_Time asc, id asc limit 2000"
    )


async def test_account_fields_come_folded_into_the_lookup_in_one_call(zoho: Any) -> None:
    route = zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    accounts = zoho.get(f"{API}/Accounts")
    first = deals_of(await read_all(source()))[0]
    assert first.payload["Account_Name"] == {
        "id": "3652397000000624046",
        "Website": "https://www.zylker.example",
        "Customer_Number": "CUST-2001",
        "Account_Name": "Zylker",
        "name": "Zylker",
    }
    assert route.call_count == 1
    assert not accounts.called, "COQL traversal needs no per-deal or per-page account call"


async def test_times_with_the_org_offset_become_utc_instants(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    pages = await read_all(source())
    first = deals_of(pages)[0]
    assert first.modified_at == T0_UTC
    assert first.payload["Modified_Time"] == T0, "the payload keeps Zoho's own text"
    last_live = json.loads(pages[0].checkpoint.value)
    assert last_live["ts"] == "2025-03-28T10:30:00+00:00"


async def test_picklist_labels_are_exposed_beside_the_values(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    query = DealQuery(fields=(*MAPPED, "$display.Payment_Terms"))
    first = deals_of(await read_all(source(), query))[0]
    assert first.payload["Payment_Terms"] == "Net 60"
    assert first.payload["$display"] == {"Payment_Terms": "Net 60 days"}


async def test_incremental_read_starts_at_the_cursor_minus_overlap_with_a_one_credit_limit(
    zoho: Any,
) -> None:
    route = zoho.post(COQL).mock(return_value=httpx.Response(204))
    since = cursor(T0_UTC, "3652397000009851001", deleted=T0_UTC)
    await read_all(source(), since=since)
    (query,) = coql_queries(route)
    assert "where Modified_Time >= '2025-03-28T09:37:13+00:00' order by" in query
    assert query.endswith("limit 200"), "1 to 200 rows cost one credit (FACTS.md §4.4)"


async def test_a_full_window_switches_to_2000_and_restarts_at_the_last_time(zoho: Any) -> None:
    rows1 = [coql_row(f"{i}", f"2025-03-28T15:12:{10 + i:02d}+05:30") for i in range(1, 4)]
    rows2 = [coql_row("3", "2025-03-28T15:12:13+05:30"), coql_row("4", "2025-03-28T15:13:00+05:30")]
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(200, json=coql_body(rows1, more=True)),
            httpx.Response(200, json=coql_body(rows2, more=False)),
        ]
    )
    since = cursor(T0_UTC - timedelta(minutes=1), deleted=T0_UTC)
    pages = await read_all(source(page_size=3), since=since)
    first, second = coql_queries(route)
    assert first.endswith("limit 3")
    assert "where Modified_Time >= '2025-03-28T09:42:13+00:00' order by" in second
    assert second.endswith("limit 4"), "row 3 is read again to check its group, plus 3 new"
    assert [d.id for d in deals_of(pages)] == ["1", "2", "3", "4"], "row 3 is not yielded twice"


async def test_a_tie_group_larger_than_a_page_is_walked_with_a_checked_offset(zoho: Any) -> None:
    at = "2025-03-28T15:12:13+05:30"
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "123"], more=True)),
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "345"], more=True)),
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "56"], more=False)),
        ]
    )
    pages = await read_all(source(page_size=3))
    queries = coql_queries(route)
    assert queries[1].endswith("limit 4 offset 2"), "skips two, re-reads the third to check"
    assert queries[2].endswith("limit 4 offset 4")
    assert [d.id for d in deals_of(pages)] == ["1", "2", "3", "4", "5", "6"]


async def test_a_tie_group_that_changed_mid_walk_is_read_again_from_its_start(zoho: Any) -> None:
    at = "2025-03-28T15:12:13+05:30"
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "123"], more=True)),
            # deal 1 was modified meanwhile: the group shifted, offset 2 now starts at 4
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "45"], more=False)),
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "234"], more=True)),
            httpx.Response(200, json=coql_body([coql_row(i, at) for i in "45"], more=False)),
        ]
    )
    pages = await read_all(source(page_size=3))
    queries = coql_queries(route)
    assert queries[2].endswith("limit 3"), "re-read from the group's start"
    assert sorted(d.id for d in deals_of(pages)) == ["1", "2", "3", "4", "5"]


async def test_the_admin_select_is_anded_into_the_where_clause_in_brackets(zoho: Any) -> None:
    route = zoho.post(COQL).mock(return_value=httpx.Response(204))
    select = "Stage = 'Closed Won'"
    await read_all(source(), DealQuery(fields=MAPPED, select=select))
    (query,) = coql_queries(route)
    assert "where ((Stage = 'Closed Won') and (Modified_Time is not null))" in query


async def test_deals_that_left_the_select_come_back_as_removed(zoho: Any) -> None:
    matched = coql_row("1", T0, Deal_Name="Still special", Stage="Closed Won")
    route = zoho.post(COQL).mock(
        side_effect=[
            httpx.Response(200, json=coql_body([matched], more=False)),
            httpx.Response(200, json=coql_body([coql_row("1", T0), coql_row("2", T0)], more=False)),
        ]
    )
    since = cursor(T0_UTC, "1", deleted=T0_UTC)
    query = DealQuery(fields=MAPPED, select="Has_Special_Terms = true")
    pages = await read_all(source(), query, since)
    departures = coql_queries(route)[1]
    assert departures.startswith("select id, Modified_Time from Deals where Modified_Time >=")
    removed = [d for d in deals_of(pages) if d.deleted]
    assert [(d.id, d.payload["departed"]) for d in removed] == [("2", True)]


def list_pages(zoho: Any, *answers: httpx.Response) -> tuple[respx.Route, respx.Route]:
    deals = zoho.get(DEALS).mock(side_effect=list(answers))
    accounts = zoho.get(f"{API}/Accounts").mock(
        return_value=httpx.Response(200, json=load("accounts_by_ids.json"))
    )
    return deals, accounts


def page1() -> httpx.Response:
    return httpx.Response(200, json=load("deals_page1.json"))


def page2() -> httpx.Response:
    return httpx.Response(200, json=load("deals_page2.json"))


async def test_list_reader_sends_if_modified_since_and_batches_accounts(zoho: Any) -> None:
    deals, accounts = list_pages(zoho, page1(), page2())
    since = cursor(T0_UTC, deleted=T0_UTC)
    pages = await read_all(source(read_via="list", page_size=2), since=since)
    first, second = (call.request for call in deals.calls)
    assert first.headers["If-Modified-Since"] == "2025-03-28T09:37:13+00:00"
    assert first.url.params["sort_by"] == "Modified_Time"
    assert first.url.params["sort_order"] == "asc"
    assert first.url.params["fields"].split(",")[:3] == ["Modified_Time", "Deal_Name", "Stage"]
    # the next query starts one second before the last record read, not at a page position
    assert "page_token" not in second.url.params
    assert second.headers["If-Modified-Since"] == "2025-03-28T09:42:12+00:00"
    ids = [call.request.url.params["ids"].split(",") for call in accounts.calls]
    assert ids == [["3652397000000624046"], ["3652397000000624047"]], "one call per page"
    zylker = deals_of(pages)[0].payload["Account_Name"]
    assert zylker["Customer_Number"] == "CUST-2001"
    assert zylker["name"] == "Zylker"
    assert len(deals_of(pages)) == 3


async def test_list_reader_follows_page_tokens_through_a_dense_second(zoho: Any) -> None:
    deals, _ = list_pages(zoho, page1(), page2())
    # the window starts at the very second page 1 fills: restarting would not move forward
    since = cursor(T0_UTC + timedelta(seconds=300), deleted=T0_UTC)
    await read_all(source(read_via="list", page_size=2), since=since)
    first, second = (call.request for call in deals.calls)
    assert second.url.params["page_token"] == "c8582xx9e7c7"
    assert second.headers["If-Modified-Since"] == first.headers["If-Modified-Since"]
    assert "page" not in second.url.params, "page and page_token never go together"


async def test_list_reader_restarts_when_a_page_token_has_expired(zoho: Any) -> None:
    expired = httpx.Response(400, json=load("error_expired_page_token.json"))
    deals, _ = list_pages(zoho, page1(), expired, page2())
    since = cursor(T0_UTC + timedelta(seconds=300), deleted=T0_UTC)
    pages = await read_all(source(read_via="list", page_size=2), since=since)
    third = deals.calls[2].request
    assert "page_token" not in third.url.params
    assert [d.id for d in deals_of(pages)] == [
        "3652397000009851001",
        "3652397000009851002",
        "3652397000009851004",
    ]


async def test_list_reader_treats_304_as_nothing_changed(zoho: Any) -> None:
    zoho.get(DEALS).mock(return_value=httpx.Response(304))
    pages = await read_all(source(read_via="list"), since=cursor(T0_UTC, deleted=T0_UTC))
    assert deals_of(pages) == []


async def test_deletions_since_the_watermark_are_deleted_deals(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(204))
    deleted = zoho.get(DELETED).mock(return_value=httpx.Response(200, json=load("deleted.json")))
    watermark = datetime(2025, 3, 28, 11, 0, tzinfo=UTC)
    pages = await read_all(source(), since=cursor(T0_UTC, deleted=watermark))
    request = deleted.calls[0].request
    assert request.headers["If-Modified-Since"] == "2025-03-28T10:55:00+00:00"
    assert request.url.params["type"] == "all"
    gone = deals_of(pages)
    assert [(d.id, d.deleted) for d in gone] == [
        ("3652397000009851077", True),
        ("3652397000009851078", True),
    ]
    assert gone[0].modified_at == datetime(2025, 3, 28, 12, 49, 38, tzinfo=UTC)
    final = json.loads(pages[-1].checkpoint.value)
    assert final["del"] == "2025-03-28T12:49:38+00:00", "the newest time Zoho reported"


async def test_a_first_read_asks_for_no_deletions(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    deleted = zoho.get(DELETED).mock(return_value=httpx.Response(200, json=load("deleted.json")))
    await read_all(source())
    assert not deleted.called


def capped_deletions(zoho: Any, entries: list[dict[str, Any]]) -> None:
    full_page = {"data": entries, "info": {"more_records": True, "page": 1}}
    zoho.get(DELETED).mock(
        side_effect=[
            httpx.Response(200, json=full_page),
            httpx.Response(400, json=load("error_discrete_pagination.json")),
        ]
    )


async def test_deletions_past_zohos_page_cap_listed_newest_first_are_reported(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(204))
    capped_deletions(zoho, load("deleted.json")["data"])  # 18:19 then 17:01: newest first
    src = source()
    pages = await read_all(src, since=cursor(T0_UTC, deleted=T0_UTC))
    assert len([d for d in deals_of(pages) if d.deleted]) == 2
    (problem,) = src.problems()
    assert "only the newest 2,000" in problem


async def test_deletions_past_the_cap_listed_oldest_first_resume_after_the_last(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(204))
    capped_deletions(zoho, list(reversed(load("deleted.json")["data"])))
    src = source()
    pages = await read_all(src, since=cursor(T0_UTC, deleted=T0_UTC))
    assert src.problems() == []
    assert json.loads(pages[-1].checkpoint.value)["del"] == "2025-03-28T12:49:38+00:00"


async def test_catalog_lists_custom_fields_picklist_values_labels_and_account_fields(
    zoho: Any,
) -> None:
    catalog = {f.path: f for f in await source().field_catalog()}
    terms = catalog["Payment_Terms"]
    assert (terms.type, terms.custom, terms.label) == ("picklist", True, "Payment Terms")
    assert terms.choices == ("Net 30", "Net 45", "Net 60"), "used actual values, not labels"
    labels = ("Net 30 days", "Net 45 days", "Net 60 days")
    assert catalog["$display.Payment_Terms"].choices == labels
    assert catalog["Account_Name.Customer_Number"].custom
    assert {"Account_Name.id", "Account_Name.name", "Owner.email", "id"} <= set(catalog)
    assert "Contact_Name.Email" not in catalog, "Contacts' fields were not listed by Zoho here"


async def test_a_renamed_field_stops_the_run_before_any_deal_is_read(zoho: Any) -> None:
    route = zoho.post(COQL)
    query = DealQuery(fields=("Deal_Name", "Special_Discont", "Account_Name.Websight"))
    with pytest.raises(PermanentError) as caught:
        await read_all(source(), query)
    assert caught.value.who_acts == "admin"
    text = str(caught.value)
    assert "'Special_Discont' (did you mean 'Special_Discount'?)" in text
    assert "'Account_Name.Websight' (did you mean 'Account_Name.Website'?)" in text
    assert not route.called


async def test_a_picklist_value_missing_from_the_catalog_is_reported_and_others_go_on(
    zoho: Any,
) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    src = source()
    deals = deals_of(await read_all(src))
    assert len(deals) == 3, "every deal is still yielded"
    stray = [p for p in src.problems() if "Payment_Terms" in p]
    assert len(stray) == 1
    assert "3652397000009851003" in stray[0]
    assert "'Net 90' is not an option" in stray[0]
    assert deals[2].payload["Payment_Terms"] == "Net 90", "the value is passed on unchanged"


async def test_a_deal_whose_account_was_deleted_is_reported_and_others_go_on(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    src = source()
    deals = deals_of(await read_all(src))
    orphan = [p for p in src.problems() if "no longer has" in p]
    assert len(orphan) == 1
    assert "3652397000009851003" in orphan[0]
    assert "3652397000000624099" in orphan[0]
    assert deals[2].payload["Account_Name"]["Customer_Number"] is None
    assert deals[0].payload["Account_Name"]["Customer_Number"] == "CUST-2001"


async def test_a_select_needs_the_coql_reader(zoho: Any) -> None:
    with pytest.raises(PermanentError, match="read_via: coql"):
        await read_all(source(read_via="list"), DealQuery(fields=MAPPED, select="Stage = 'X'"))


async def test_more_fields_than_zoho_returns_in_one_call_are_refused(zoho: Any) -> None:
    deals_meta = load("fields_deals.json")
    deals_meta["fields"] += [
        {"api_name": f"Extra_{i}", "data_type": "text", "field_label": f"Extra {i}"}
        for i in range(60)
    ]
    zoho.get(f"{API}/settings/fields").mock(return_value=httpx.Response(200, json=deals_meta))
    fields = tuple(f"Extra_{i}" for i in range(55))
    with pytest.raises(PermanentError, match="allows 50"):
        await read_all(source(), DealQuery(fields=fields))


async def test_a_cursor_from_another_connector_is_refused_with_the_fix(zoho: Any) -> None:
    with pytest.raises(PermanentError, match="--full"):
        await read_all(source(), since=Cursor(value="2025-03-28T09:42:13Z"))


async def test_record_url_links_each_deal(zoho: Any) -> None:
    zoho.post(COQL).mock(return_value=httpx.Response(200, json=load("coql_deals.json")))
    template = "https://crm.zoho.eu/crm/org20071234/tab/Potentials/{id}"
    first = deals_of(await read_all(source(record_url=template)))[0]
    assert first.url == "https://crm.zoho.eu/crm/org20071234/tab/Potentials/3652397000009851001"


@given(
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - Hypothesis takes naive bounds
        max_value=datetime(2100, 1, 1),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_any_org_offset_reads_back_as_the_same_instant(
    moment: datetime, offset_minutes: int
) -> None:
    whole = moment.replace(microsecond=0)
    text = whole.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
    assert parse_time(text) == whole
    assert parse_time(zoho_time(moment)) == whole, "bounds are cut to whole seconds, never later"


@given(
    live=st.none() | st.datetimes(timezones=st.just(UTC)),
    deal_id=st.text(alphabet="0123456789", min_size=1, max_size=19),
    deleted=st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_a_checkpoint_reads_back_as_written(
    live: datetime | None, deal_id: str, deleted: datetime | None
) -> None:
    state = CursorState(live=(live, deal_id) if live else None, deleted=deleted)
    assert decode_cursor(encode_cursor(state)) == state


def test_requests_in_flight_are_capped_at_the_editions_concurrency() -> None:
    assert config(edition="free").concurrency == 5
    assert config(edition="ultimate", max_in_flight=8).concurrency == 8
    assert config(edition="professional", max_in_flight=40).concurrency == 15
