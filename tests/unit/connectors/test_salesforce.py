"""Salesforce source: SOQL reads, paging, cursor, payload shape and field catalog (respx)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx

from connectors.base import Cursor, DealPage, DealQuery, SalesSource
from connectors.errors import PermanentError
from connectors.registry import get_spec
from connectors.sales.salesforce import SalesforceSource
from connectors.sales.salesforce.soql import QueryBuildError
from tests.fixtures.salesforce.support import (
    API,
    INSTANCE,
    limit_headers,
    load,
    make_source,
    mock_login,
)

pytestmark = pytest.mark.anyio

MAPPING_PATHS = (
    "Name",
    "StageName",
    "Amount",
    "Special_Discount__c",
    "Free_Services__c",
    "Account.Website",
    "Account.Customer_Number__c",
    "Owner.Name",
    "OpportunityContactRoles.Contact.Email",
)
NEXT_URL = f"{INSTANCE}/services/data/v61.0/query/01gD0000002HU6KIAW-3"


def cursor(ts: str, record_id: str) -> Cursor:
    return Cursor(value=json.dumps({"ts": ts, "id": record_id}))


async def read_all(
    source: SalesforceSource, query: DealQuery, since: Cursor | None = None
) -> list[DealPage]:
    pages = [page async for page in source.changed_deals(query, since)]
    await source.aclose()
    return pages


def soql_of(route: respx.Route, call: int = 0) -> str:
    return str(route.calls[call].request.url.params["q"])


def two_pages(respx_mock: respx.MockRouter) -> tuple[respx.Route, respx.Route]:
    mock_login(respx_mock)
    first = respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(
            200, json=load("opportunities_page1.json"), headers=limit_headers()
        )
    )
    second = respx_mock.get(NEXT_URL).mock(
        return_value=httpx.Response(
            200, json=load("opportunities_page2.json"), headers=limit_headers(19)
        )
    )
    return first, second


# -- paging and the cursor ---------------------------------------------------------------------


async def test_pages_follow_next_records_url_until_done(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    assert [len(p.deals) for p in pages] == [3, 2]
    assert [d.id for p in pages for d in p.deals][-1] == "0065g00000AAA005AAA"
    assert first.call_count == 1
    assert second.call_count == 1


async def test_every_query_call_asks_for_the_configured_batch_size(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = two_pages(respx_mock)
    await read_all(make_source(monkeypatch, page_size=500), DealQuery(fields=MAPPING_PATHS))
    for route in (first, second):
        assert route.calls.last.request.headers["Sforce-Query-Options"] == "batchSize=500"


async def test_query_selects_cursor_fields_mapping_paths_and_one_child_subquery(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    assert soql_of(first) == (
        "SELECT Id, SystemModstamp, IsDeleted, Name, StageName, Amount, Special_Discount__c, "
        "Free_Services__c, Account.Website, Account.Customer_Number__c, Owner.Name, "
        "(SELECT Contact.Email FROM OpportunityContactRoles) "
        "FROM Opportunity ORDER BY SystemModstamp ASC, Id ASC"
    )


async def test_incremental_read_starts_overlap_before_the_cursor_inclusively(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    since = cursor("2026-11-20T09:30:00+00:00", "0065g00000AAA001AAA")
    await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)), since)
    assert "WHERE SystemModstamp >= 2026-11-20T09:25:00Z ORDER BY SystemModstamp ASC, Id ASC" in (
        soql_of(first)
    )


async def test_checkpoint_is_the_last_record_of_each_page(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    assert [json.loads(p.checkpoint.value) for p in pages] == [
        {"ts": "2026-11-20T10:00:00+00:00", "id": "0065g00000AAA003AAA"},
        {"ts": "2026-11-21T08:15:42+00:00", "id": "0065g00000AAA005AAA"},
    ]


async def test_records_sharing_the_cursor_timestamp_are_read_again_not_skipped(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    # The cursor stopped after AAA001, which shares its SystemModstamp with AAA002.
    since = cursor("2026-11-20T09:30:00+00:00", "0065g00000AAA001AAA")
    pages = await read_all(
        make_source(monkeypatch, overlap_seconds=0), DealQuery(fields=("Name",)), since
    )
    assert "SystemModstamp >= 2026-11-20T09:30:00Z" in soql_of(first)
    assert "0065g00000AAA002AAA" in [d.id for p in pages for d in p.deals]


async def test_checkpoint_never_moves_back_behind_the_incoming_cursor(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    since = cursor("2026-11-20T11:00:00+00:00", "0065g00000ZZZ999AAA")
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)), since)
    position = json.loads(pages[0].checkpoint.value)  # the overlap re-read ends before it
    assert (position["ts"], position["id"]) == ("2026-11-20T11:00:00+00:00", "0065g00000ZZZ999AAA")
    assert json.loads(pages[1].checkpoint.value)["id"] == "0065g00000AAA005AAA"


async def test_full_read_ignores_the_cursor(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    since = cursor("2026-11-20T09:30:00+00:00", "0065g00000AAA001AAA")
    await read_all(make_source(monkeypatch), DealQuery(fields=("Name",), full=True), since)
    assert "SystemModstamp >=" not in soql_of(first)


async def test_deleted_rows_come_from_query_all_as_deletions(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    deleted = [d.id for p in pages for d in p.deals if d.deleted]
    assert deleted == ["0065g00000AAA003AAA"]


async def test_select_condition_is_anded_in_parentheses(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    query = DealQuery(fields=("Name",), select="StageName = 'Closed Won' OR Amount > 1000")
    await read_all(make_source(monkeypatch), query)
    assert soql_of(first).endswith(
        "FROM Opportunity WHERE (StageName = 'Closed Won' OR Amount > 1000) "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )


async def test_deals_leaving_the_select_condition_come_first_as_deletions(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    departed = {
        "totalSize": 1,
        "done": True,
        "records": [
            {
                "attributes": {"type": "Opportunity", "url": "/x/0065g00000AAA009AAA"},
                "Id": "0065g00000AAA009AAA",
                "SystemModstamp": "2026-11-20T09:40:00.000+0000",
                "IsDeleted": False,
            }
        ],
    }
    route = respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[
            httpx.Response(200, json=departed),
            httpx.Response(200, json=load("query_empty_response.json")),
        ]
    )
    since = cursor("2026-11-20T09:30:00+00:00", "0065g00000AAA001AAA")
    query = DealQuery(fields=("Name",), select="Has_Special_Terms__c = true")
    pages = await read_all(make_source(monkeypatch), query, since)
    assert soql_of(route, 0) == (
        "SELECT Id, SystemModstamp, IsDeleted FROM Opportunity WHERE SystemModstamp >= "
        "2026-11-20T09:25:00Z AND (NOT (Has_Special_Terms__c = true)) "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert "AND (Has_Special_Terms__c = true)" in soql_of(route, 1)
    assert [(d.id, d.deleted) for d in pages[0].deals] == [("0065g00000AAA009AAA", True)]
    assert pages[0].checkpoint == since  # the main query has not covered that time yet


async def test_first_run_reads_no_departures(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    query = DealQuery(fields=("Name",), select="Has_Special_Terms__c = true")
    await read_all(make_source(monkeypatch), query)
    assert first.call_count == 1


async def test_an_empty_result_yields_no_page(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(
        return_value=httpx.Response(200, json=load("query_empty_response.json"))
    )
    assert await read_all(make_source(monkeypatch), DealQuery(fields=("Name",))) == []


# -- payload shape -----------------------------------------------------------------------------


async def test_payload_drops_attributes_and_turns_child_results_into_lists(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    acme = pages[0].deals[0].payload
    assert "attributes" not in acme
    assert acme["Account"] == {
        "Website": "https://www.acme.example",
        "Customer_Number__c": "CUST-1001",
    }
    assert acme["OpportunityContactRoles"] == [
        {"Contact": {"Email": "ops@acme.example"}},
        {"Contact": None},
    ]


async def test_null_parent_stays_null_and_null_child_result_becomes_empty_list(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    globex = pages[0].deals[1].payload
    assert globex["Account"] is None
    assert globex["OpportunityContactRoles"] == []


async def test_numbers_sent_as_strings_and_multiselect_values_pass_through_untouched(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    acme, globex = pages[0].deals[0].payload, pages[0].deals[1].payload
    assert (globex["Amount"], globex["Special_Discount__c"]) == ("48000.00", "10")
    assert acme["Free_Services__c"] == "Onsite training;Priority support"
    assert acme["CloseDate"] == "2026-11-18"


async def test_a_lone_surrogate_in_a_deal_reads_as_the_replacement_character(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Half an emoji, as a UTF-16 system cuts it: JSON carries it, no store or desk can.
    mock_login(respx_mock)
    body = load("opportunities_page2.json")
    body["records"][0]["Name"] = "Renewal \ud83d"
    body["records"][0]["Account"] = {"Website": "acme\udc00.example"}
    escaped = json.dumps(body).encode()  # ensure_ascii: the surrogates as \\u escapes
    respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, content=escaped))
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    deals = [d for p in pages for d in p.deals]
    assert len(deals) == len(body["records"]), "every record is read"
    assert deals[0].payload["Name"] == "Renewal \ufffd"
    assert deals[0].payload["Account"]["Website"] == "acme\ufffd.example"
    for deal in deals:
        json.dumps(deal.payload, ensure_ascii=False).encode("utf-8")  # raises if it cannot


async def test_modstamp_forms_parse_to_aware_utc(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    stamps = {d.id[-6:-3]: d.modified_at for p in pages for d in p.deals}
    assert stamps["001"] == datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # .000+0000
    assert stamps["004"] == datetime(2026, 11, 21, 8, 15, 42, tzinfo=UTC)  # Z
    assert stamps["005"] == stamps["004"]  # +0100 is the same instant
    assert all(s.utcoffset() is not None for s in stamps.values())


async def test_unreadable_modstamp_keeps_the_record_with_the_previous_time(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    body = load("opportunities_page2.json")
    body["records"][1]["SystemModstamp"] = "21/11/2026 09:15"
    respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, json=body))
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    first, odd = pages[0].deals
    assert odd.modified_at == first.modified_at


async def test_a_record_without_an_id_is_skipped_and_the_rest_are_kept(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    body = load("opportunities_page2.json")
    del body["records"][0]["Id"]
    respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, json=body))
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    assert [d.id for d in pages[0].deals] == ["0065g00000AAA005AAA"]


async def test_deep_link_opens_the_lightning_record_page_on_the_instance(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    two_pages(respx_mock)
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=("Name",)))
    assert pages[0].deals[0].url == (f"{INSTANCE}/lightning/r/Opportunity/0065g00000AAA001AAA/view")


async def test_child_results_cut_short_are_completed_from_their_own_locator(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    body = load("opportunities_page2.json")
    roles = body["records"][0]["OpportunityContactRoles"]
    roles.update(done=False, totalSize=2, nextRecordsUrl="/services/data/v61.0/query/01gCHILD-1")
    rest = {
        "totalSize": 2,
        "done": True,
        "records": [
            {
                "attributes": {"type": "OpportunityContactRole"},
                "Contact": {"Email": "bruce@wayne.example"},
            }
        ],
    }
    respx_mock.get(f"{API}/queryAll").mock(return_value=httpx.Response(200, json=body))
    respx_mock.get(f"{API}/query/01gCHILD-1").mock(return_value=httpx.Response(200, json=rest))
    pages = await read_all(make_source(monkeypatch), DealQuery(fields=MAPPING_PATHS))
    emails = [r["Contact"]["Email"] for r in pages[0].deals[0].payload["OpportunityContactRoles"]]
    assert emails == ["lucius@wayne.example", "bruce@wayne.example"]


# -- query building refuses what is not SOQL-safe ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["Account.Website FROM User --", "Name,Id", "Owner..Name", "1Name", "Amount__c)", ""],
)
async def test_field_paths_that_are_not_api_names_are_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter, path: str
) -> None:
    source = make_source(monkeypatch)
    with pytest.raises(QueryBuildError, match="is not a Salesforce field path") as caught:
        await read_all(source, DealQuery(fields=("Name", path)))
    assert caught.value.who_acts == "admin"


@pytest.mark.parametrize(
    "condition", ["Amount > 1) OR (Id != null", "Name = 'open", "WHERE Amount > 1", "  "]
)
async def test_select_conditions_that_could_escape_their_parentheses_are_refused(
    monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter, condition: str
) -> None:
    with pytest.raises(QueryBuildError):
        await read_all(make_source(monkeypatch), DealQuery(fields=("Name",), select=condition))


async def test_quotes_and_parentheses_inside_string_literals_are_allowed_in_select(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    condition = r"Name LIKE 'O\'Brien (%' AND StageName != 'x)'"
    await read_all(make_source(monkeypatch), DealQuery(fields=("Name",), select=condition))
    assert f"({condition})" in soql_of(first)


async def test_paths_repeating_a_field_in_another_case_are_selected_once(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, _ = two_pages(respx_mock)
    fields = (
        "id",
        "Name",
        "NAME",
        "opportunitycontactroles.Contact.Email",
        "OpportunityContactRoles.contact.email",
    )
    await read_all(make_source(monkeypatch), DealQuery(fields=fields))
    assert soql_of(first).startswith(
        "SELECT Id, SystemModstamp, IsDeleted, Name, "
        "(SELECT Contact.Email FROM OpportunityContactRoles) FROM"
    )


async def test_a_cursor_this_connector_did_not_write_is_refused_with_a_hint(
    monkeypatch: pytest.MonkeyPatch, respx_mock: respx.MockRouter
) -> None:
    with pytest.raises(PermanentError, match="run the job once with a full read"):
        await read_all(make_source(monkeypatch), DealQuery(), Cursor(value="1700000000000"))


# -- field catalog -----------------------------------------------------------------------------


def mock_describes(respx_mock: respx.MockRouter, **bodies: Any) -> dict[str, respx.Route]:
    return {
        name: respx_mock.get(f"{API}/sobjects/{name}/describe").mock(
            return_value=httpx.Response(200, json=body)
        )
        for name, body in bodies.items()
    }


async def test_field_catalog_lists_own_parent_and_child_paths_with_picklist_choices(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    mock_describes(
        respx_mock,
        Whizbang=load("sobject_describe_success_response.json"),
        User=load("user_describe_response.json"),
        Note=load("note_describe_response.json"),
    )
    source = make_source(monkeypatch, object="Whizbang", child_relationships=["Notes"])
    catalog = {f.path: f for f in await source.field_catalog()}
    assert catalog["Picklist_Multiselect_Field"].choices == ("four", "five", "six")
    assert catalog["Picklist_Multiselect_Field"].type == "multipicklist"
    assert catalog["CreatedBy.Email"].type == "email"
    assert catalog["ParentWhizbang__r.Text_Field"].type == "string"
    assert {"Owner.Id", "Owner.Name"} <= catalog.keys()  # polymorphic: common fields only
    assert catalog["Notes.Title"].max_length == 80
    assert catalog["Notes.Parent.Email_Field"].type == "email"
    assert not any(f.writable for f in catalog.values())
    await source.aclose()


async def test_describes_are_cached_per_connector_instance(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    routes = mock_describes(
        respx_mock,
        Whizbang=load("sobject_describe_success_response.json"),
        User=load("user_describe_response.json"),
    )
    source = make_source(monkeypatch, object="Whizbang", child_relationships=[])
    first = await source.field_catalog()
    assert await source.field_catalog() == first
    assert [r.call_count for r in routes.values()] == [1, 1]
    await source.aclose()


async def test_a_related_object_the_user_cannot_describe_is_left_out(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_login(respx_mock)
    mock_describes(respx_mock, Whizbang=load("sobject_describe_success_response.json"))
    respx_mock.get(f"{API}/sobjects/User/describe").mock(
        return_value=httpx.Response(404, json=load("sobject_describe_error_response.json"))
    )
    source = make_source(monkeypatch, object="Whizbang", child_relationships=[])
    paths = {f.path for f in await source.field_catalog()}
    assert "Text_Field" in paths
    assert not any(p.startswith("CreatedBy.") for p in paths)
    await source.aclose()


# -- wiring ------------------------------------------------------------------------------------


def test_registry_builds_a_sales_source(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = get_spec("salesforce")
    assert spec.role == "source"
    assert spec.simulator == "connectors.sales.salesforce.simulator:demo_app"
    source: SalesSource = make_source(monkeypatch)
    assert isinstance(source, SalesSource)
    assert source.system == "salesforce"
