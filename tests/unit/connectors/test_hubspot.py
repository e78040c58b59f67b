"""HubSpot source: search paging, the incremental window and cursor, embedded related records,
archived deals, the field catalog, and config.

Payloads come from tests/fixtures/hubspot (hand-written in HubSpot's documented shapes).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from connectors.base import Cursor, DealPage, DealQuery, SalesSource
from connectors.errors import PermanentError
from connectors.registry import get_spec
from connectors.sales.hubspot import HubSpotConfig, HubSpotSource
from connectors.sales.hubspot.timefmt import to_ms
from connectors.settings import ConnectorOptions
from tests.fixtures.hubspot.builders import (
    BASE,
    NOW,
    SEARCH,
    TOKEN,
    TOKEN_ENV,
    config,
    load,
    mock_archived,
    mock_related,
    search_bodies,
    source,
)

pytestmark = pytest.mark.anyio

MAPPED = (
    "properties.special_discount",
    "properties.payment_terms",
    "properties.free_services",
    "companies.properties.customer_number",
    "companies.properties.domain",
    "contacts.properties.email",
    "owner.email",
)


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token reaches config as ``${HUBSPOT_UNIT_TOKEN}``, as an admin would write it."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


def two_search_pages(router: respx.MockRouter) -> respx.Route:
    return router.post(SEARCH).mock(
        side_effect=[
            httpx.Response(200, json=load("search_deals_page1.json")),
            httpx.Response(200, json=load("search_deals_page2.json")),
        ]
    )


async def read_all(
    src: HubSpotSource, query: DealQuery, since: Cursor | None = None
) -> list[DealPage]:
    return [page async for page in src.changed_deals(query, since)]


def cursor(ts: str, deal_id: str = "") -> Cursor:
    return Cursor(value=json.dumps({"ts": ts, "id": deal_id}))


def checkpoint(page: DealPage) -> dict[str, str]:
    data: dict[str, str] = json.loads(page.checkpoint.value)
    return data


# --- protocol and registry -------------------------------------------------------------------


async def test_registry_builds_a_source_that_satisfies_the_sales_source_protocol() -> None:
    spec = get_spec("hubspot")
    built = spec.factory(
        "emea", spec.config_model.model_validate(config().model_dump()), ConnectorOptions()
    )
    typed: SalesSource = HubSpotSource("emea", config(), ConnectorOptions())
    assert isinstance(built, SalesSource)
    assert spec.role == "source"
    assert spec.simulator == "connectors.sales.hubspot.simulator:demo_app"
    await built.aclose()
    await typed.aclose()


# --- paging, payloads, checkpoints -----------------------------------------------------------


async def test_pages_through_search_to_the_end_with_companies_contacts_and_owner_embedded(
    respx_mock: respx.MockRouter,
) -> None:
    two_search_pages(respx_mock)
    mock_related(respx_mock)
    mock_archived(respx_mock)
    pages = await read_all(source(), DealQuery(fields=MAPPED))
    deals = [d for p in pages for d in p.deals if not d.deleted]
    assert [d.id for d in deals] == ["18452339012", "18452339077", "18452339101"]
    acme = deals[0].payload
    assert acme["properties"]["special_discount"] == "10"
    assert acme["properties"]["free_services"] == "Onsite training;Priority support"
    assert [c["properties"]["customer_number"] for c in acme["companies"]] == ["CUST-1001"]
    assert acme["companies"][0]["primary"] is True
    assert [c["properties"]["email"] for c in acme["contacts"]] == ["ops@acme.example"]
    assert acme["owner"]["email"] == "jonas.weber@seller.example"
    assert deals[0].modified_at == datetime(2025, 3, 28, 9, 12, 44, 107000, tzinfo=UTC)


async def test_deal_without_associations_or_owner_embeds_empty_lists_and_no_owner(
    respx_mock: respx.MockRouter,
) -> None:
    two_search_pages(respx_mock)
    mock_related(respx_mock)
    mock_archived(respx_mock)
    pages = await read_all(source(), DealQuery(fields=MAPPED))
    globex = next(d.payload for p in pages for d in p.deals if d.id == "18452339101")
    assert globex["companies"] == []
    assert globex["contacts"] == []
    assert globex["owner"] is None
    assert globex["properties"]["amount"] is None


async def test_values_stay_the_strings_hubspot_sent(respx_mock: respx.MockRouter) -> None:
    two_search_pages(respx_mock)
    mock_related(respx_mock)
    mock_archived(respx_mock)
    pages = await read_all(source(), DealQuery(fields=MAPPED))
    umbrella = pages[0].deals[1].payload["properties"]
    assert umbrella["amount"] == "64000.50"
    assert umbrella["terms_valid_until"] == "1767139200000"
    assert umbrella["has_special_terms"] == "false"


async def test_checkpoint_stops_before_an_instant_that_continues_on_the_next_page(
    respx_mock: respx.MockRouter,
) -> None:
    """Page 1 ends at 09:15:02.550 and page 2 holds another deal at that instant."""
    two_search_pages(respx_mock)
    mock_related(respx_mock)
    mock_archived(respx_mock, "archived_deals.json")
    pages = await read_all(source(read_archived=False), DealQuery(fields=MAPPED))
    assert checkpoint(pages[0]) == {"ts": "2025-03-28T09:12:44.107Z", "id": "18452339012"}
    assert checkpoint(pages[1]) == {"ts": "2025-03-28T09:15:02.550Z", "id": "18452339101"}


async def test_search_filters_modified_date_from_cursor_minus_overlap_to_now_ascending(
    respx_mock: respx.MockRouter,
) -> None:
    route = two_search_pages(respx_mock)
    mock_related(respx_mock)
    since = cursor("2025-03-28T09:00:00.000Z", "18452330000")
    await read_all(
        source(read_archived=False, overlap_seconds=300), DealQuery(fields=MAPPED), since
    )
    first, second = search_bodies(route)
    start = to_ms(datetime(2025, 3, 28, 8, 55, tzinfo=UTC))
    assert first["filterGroups"] == [
        {
            "filters": [
                {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(start)},
                {
                    "propertyName": "hs_lastmodifieddate",
                    "operator": "LTE",
                    "value": str(to_ms(NOW)),
                },
            ]
        }
    ]
    assert first["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert first["limit"] == 200
    assert "after" not in first
    # Keyset paging: the second page is a new search from the instant the first one ended at
    # (HubSpot's `after` is an offset that an edit mid-read shifts), never `after`.
    assert "after" not in second
    assert second["filterGroups"][0]["filters"][0] == {
        "propertyName": "hs_lastmodifieddate",
        "operator": "GTE",
        "value": "1743153302550",
    }
    assert second["filterGroups"][0]["filters"][1] == first["filterGroups"][0]["filters"][1]
    assert {"special_discount", "payment_terms", "hs_lastmodifieddate", "hs_object_id"} <= set(
        first["properties"]
    )


async def test_first_run_reads_from_the_epoch(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(200, json={"total": 0, "results": []})
    )
    assert await read_all(source(read_archived=False), DealQuery(fields=MAPPED)) == []
    assert search_bodies(route)[0]["filterGroups"][0]["filters"][0]["value"] == "0"


async def test_full_read_ignores_the_stored_cursor(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(200, json={"total": 0, "results": []})
    )
    query = DealQuery(fields=MAPPED, full=True)
    await read_all(source(read_archived=False), query, cursor("2025-03-01T00:00:00Z"))
    assert search_bodies(route)[0]["filterGroups"][0]["filters"][0]["value"] == "0"


def _deal(deal_id: str, modified: str = "2025-03-28T09:15:02.550Z") -> dict[str, Any]:
    base: dict[str, Any] = load("search_deals_page2.json")["results"][0]
    return base | {
        "id": deal_id,
        "properties": base["properties"]
        | {"hs_object_id": deal_id, "hs_lastmodifieddate": modified},
    }


def _answer(*deals: dict[str, Any], more: bool = False) -> httpx.Response:
    body: dict[str, Any] = {"total": len(deals) + int(more), "results": list(deals)}
    if more:
        body["paging"] = {"next": {"after": str(len(deals)), "link": f"?after={len(deals)}"}}
    return httpx.Response(200, json=body)


async def test_a_page_filled_by_one_instants_ties_is_read_by_object_id_then_past_the_instant(
    respx_mock: respx.MockRouter,
) -> None:
    """HubSpot sorts by one property and promises no order among ties: the instant is read
    in id order (EQ + hs_object_id GT), then the window continues strictly after it."""
    route = respx_mock.post(SEARCH).mock(
        side_effect=[
            _answer(_deal("18452339077"), _deal("18452339101"), more=True),
            _answer(_deal("18452339077"), _deal("18452339101"), more=True),
            _answer(_deal("18452339102")),
            _answer(),
        ]
    )
    mock_related(respx_mock)
    pages = await read_all(source(read_archived=False), DealQuery(fields=MAPPED))
    bodies = search_bodies(route)
    ties = [b["filterGroups"][0]["filters"][:2] for b in bodies[1:3]]
    instant = {"propertyName": "hs_lastmodifieddate", "operator": "EQ", "value": "1743153302550"}
    assert ties == [
        [instant, {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}],
        [instant, {"propertyName": "hs_object_id", "operator": "GT", "value": "18452339101"}],
    ]
    assert bodies[1]["sorts"] == [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
    assert bodies[3]["filterGroups"][0]["filters"][0] == instant | {"operator": "GT"}
    assert all("after" not in body for body in bodies)
    ids = [d.id for p in pages for d in p.deals]
    assert ids == ["18452339077", "18452339101", "18452339102"], "each tie once"


async def test_a_deal_edited_during_the_read_is_read_again_and_hides_no_other(
    respx_mock: respx.MockRouter,
) -> None:
    """The page boundary's deal comes back on the next page (dropped: already read); a deal
    edited since its page comes back at its new instant (yielded again, newer version)."""
    route = respx_mock.post(SEARCH).mock(
        side_effect=[
            _answer(
                _deal("1", "2025-03-28T09:00:00Z"), _deal("2", "2025-03-28T09:01:00Z"), more=True
            ),
            _answer(
                _deal("2", "2025-03-28T09:01:00Z"), _deal("3", "2025-03-28T09:02:00Z"), more=True
            ),
            _answer(_deal("3", "2025-03-28T09:02:00Z"), _deal("1", "2025-03-28T09:30:00Z")),
        ]
    )
    mock_related(respx_mock)
    pages = await read_all(source(read_archived=False), DealQuery(fields=MAPPED))
    read = [(d.id, d.modified_at.minute) for p in pages for d in p.deals]
    assert read == [("1", 0), ("2", 1), ("3", 2), ("1", 30)]
    assert [b["filterGroups"][0]["filters"][0]["value"] for b in search_bodies(route)[1:]] == [
        str(to_ms(datetime(2025, 3, 28, 9, 1, tzinfo=UTC))),
        str(to_ms(datetime(2025, 3, 28, 9, 2, tzinfo=UTC))),
    ]


async def test_a_search_that_does_not_move_past_its_key_stops_with_an_error(
    respx_mock: respx.MockRouter,
) -> None:
    page = load("search_deals_page1.json")
    respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json=page))
    mock_related(respx_mock)
    with pytest.raises(PermanentError, match="did not move past"):
        await read_all(source(read_archived=False), DealQuery(fields=MAPPED))


# --- select -----------------------------------------------------------------------------------


async def test_select_filter_groups_are_anded_with_the_time_filters(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.post(SEARCH).mock(
        return_value=httpx.Response(200, json={"total": 0, "results": []})
    )
    won = {"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}
    flagged = {"propertyName": "has_special_terms", "operator": "EQ", "value": "true"}
    select = json.dumps({"filterGroups": [{"filters": [won]}, {"filters": [flagged]}]})
    await read_all(source(read_archived=False), DealQuery(fields=MAPPED, select=select))
    groups = search_bodies(route)[0]["filterGroups"]
    assert [g["filters"][2] for g in groups] == [won, flagged]
    assert all(g["filters"][0]["propertyName"] == "hs_lastmodifieddate" for g in groups)


@pytest.mark.parametrize(
    ("select", "problem"),
    [
        ("dealstage = closedwon", "is not JSON"),
        ('[{"propertyName": "dealstage", "operator": "LIKE", "value": "x"}]', "operator 'LIKE'"),
        (
            json.dumps([{"propertyName": f"p{i}", "operator": "HAS_PROPERTY"} for i in range(9)]),
            "allows 8",
        ),
        (json.dumps({"filterGroups": [{"filters": []}] * 6}), "allows 5"),
    ],
)
async def test_a_select_hubspot_would_refuse_stops_the_job_for_the_admin(
    respx_mock: respx.MockRouter, select: str, problem: str
) -> None:
    """Refused before any call: respx would fail the test on an unexpected request."""
    src = source()
    with pytest.raises(PermanentError, match=problem) as caught:
        await read_all(src, DealQuery(select=select))
    assert caught.value.who_acts == "admin"
    await src.aclose()


# --- odd payloads ----------------------------------------------------------------------------


async def test_odd_payloads_nulls_epoch_dates_and_missing_fields_are_tolerated(
    respx_mock: respx.MockRouter,
) -> None:
    odd = {
        "total": 4,
        "results": [
            {
                "id": "501",
                "properties": {"hs_lastmodifieddate": "1743152400000", "hubspot_owner_id": ""},
            },
            {"id": "502", "properties": None, "updatedAt": "2025-03-28T09:00:00Z"},
            {"id": "503", "properties": {"hs_lastmodifieddate": "2025-03-28 09:00:00"}},
            "not an object",
            {"properties": {"hs_lastmodifieddate": "2025-03-28T09:00:00Z"}},
        ],
    }
    respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json=odd))
    v4 = f"{BASE}/crm/v4/associations/deals"
    links = {
        "status": "COMPLETE",
        "results": [{"from": {"id": "501"}, "to": [{"toObjectId": None}, {}]}],
    }
    respx_mock.post(f"{v4}/companies/batch/read").mock(return_value=httpx.Response(200, json=links))
    respx_mock.post(f"{v4}/contacts/batch/read").mock(
        return_value=httpx.Response(200, json={"results": None})
    )
    respx_mock.get(f"{BASE}/crm/v3/owners").mock(
        return_value=httpx.Response(200, json={"results": []})
    )
    fields = ("companies.properties.domain", "contacts.properties.email", "owner.email")
    pages = await read_all(source(read_archived=False), DealQuery(fields=fields))
    deals = {d.id: d for p in pages for d in p.deals}
    assert set(deals) == {"501", "502", "503"}
    assert all(d.modified_at == datetime(2025, 3, 28, 9, 0, tzinfo=UTC) for d in deals.values())
    assert deals["501"].payload["companies"] == []
    assert deals["501"].payload["owner"] is None
    assert deals["502"].payload["properties"] == {}


async def test_an_unknown_mapped_property_is_left_missing_from_the_payload(
    respx_mock: respx.MockRouter,
) -> None:
    """HubSpot's search silently omits unknown properties; validate catches them, not reads."""
    route = two_search_pages(respx_mock)
    pages = await read_all(
        source(read_archived=False), DealQuery(fields=("properties.special_discont",))
    )
    assert "special_discont" in search_bodies(route)[0]["properties"]
    assert all("special_discont" not in d.payload["properties"] for p in pages for d in p.deals)


async def test_only_the_related_records_a_mapping_reaches_are_fetched(
    respx_mock: respx.MockRouter,
) -> None:
    two_search_pages(respx_mock)
    pages = await read_all(
        source(read_archived=False), DealQuery(fields=("properties.special_discount",))
    )
    assert "companies" not in pages[0].deals[0].payload
    assert "owner" not in pages[0].deals[0].payload


# --- archived deals ---------------------------------------------------------------------------


async def test_archived_deals_in_the_window_arrive_as_deletions_after_live_deals(
    respx_mock: respx.MockRouter,
) -> None:
    two_search_pages(respx_mock)
    mock_related(respx_mock)
    route = mock_archived(respx_mock)
    since = cursor("2025-03-28T08:00:00.000Z")
    pages = await read_all(source(), DealQuery(fields=MAPPED), since)
    last = pages[-1]
    assert [(d.id, d.deleted) for d in last.deals] == [("18452339500", True)]
    assert last.deals[0].modified_at == datetime(2025, 3, 28, 9, 0, tzinfo=UTC)
    assert checkpoint(last)["ts"] == "2025-03-28T09:15:02.550Z"  # never moves backwards
    assert route.calls[0].request.url.params["limit"] == "100"


async def test_archived_listing_is_followed_to_its_last_page(respx_mock: respx.MockRouter) -> None:
    respx_mock.post(SEARCH).mock(return_value=httpx.Response(200, json={"total": 0, "results": []}))
    first = load("archived_deals.json") | {"paging": {"next": {"after": "18452339500"}}}
    second = {"results": [load("archived_deals.json")["results"][0] | {"id": "18452339600"}]}
    route = respx_mock.get(f"{BASE}/crm/v3/objects/deals").mock(
        side_effect=[httpx.Response(200, json=first), httpx.Response(200, json=second)]
    )
    pages = await read_all(source(), DealQuery(full=True, fields=MAPPED))
    assert sorted(d.id for p in pages for d in p.deals) == [
        "18452330001",
        "18452339500",
        "18452339600",
    ]
    assert route.calls[1].request.url.params["after"] == "18452339500"


# --- catalog, health, config ------------------------------------------------------------------


async def test_field_catalog_lists_properties_as_payload_paths_with_types_and_choices(
    respx_mock: respx.MockRouter,
) -> None:
    for kind in ("deals", "companies", "contacts"):
        body = load(f"properties_{kind}.json")
        respx_mock.get(f"{BASE}/crm/v3/properties/{kind}").mock(
            return_value=httpx.Response(200, json=body)
        )
    src = source()
    catalog = {f.path: f for f in await src.field_catalog()}
    await src.aclose()
    assert catalog["properties.free_services"].type == "enumeration/checkbox"
    assert catalog["properties.payment_terms"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["properties.special_discount"].custom is True
    assert catalog["properties.dealname"].custom is False
    assert catalog["properties.has_special_terms"].choices == ("true", "false")
    assert "companies.properties.customer_number" in catalog
    assert "contacts.properties.email" in catalog
    assert "owner.email" in catalog
    assert "properties.old_discount" not in catalog  # archived property


async def test_check_reports_the_ten_second_budget_left(respx_mock: respx.MockRouter) -> None:
    headers = {
        "X-HubSpot-RateLimit-Max": "190",
        "X-HubSpot-RateLimit-Remaining": "187",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    respx_mock.get(f"{BASE}/crm/v3/objects/deals").mock(
        return_value=httpx.Response(200, json={"results": []}, headers=headers)
    )
    src = source()
    health = await src.check()
    await src.aclose()
    assert health.ok
    assert health.api_usage == "187/190 requests left in the 10-second window"


def test_deep_link_needs_the_portal_id() -> None:
    assert source().deal_url("123") is None
    assert (
        source(portal_id=4412).deal_url("123")
        == "https://app.hubspot.com/contacts/4412/record/0-3/123"
    )


def test_config_needs_exactly_one_way_to_authenticate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HS_SECRET", "client-secret-value")
    oauth: dict[str, Any] = {
        "client_id": "abc",
        "client_secret": "${HS_SECRET}",
        "refresh_token": "${HS_SECRET}",
    }
    assert HubSpotConfig.model_validate({"kind": "hubspot", **oauth}).uses_oauth
    with pytest.raises(ValidationError, match="not both"):
        config(**oauth)
    with pytest.raises(ValidationError, match="needs access_token"):
        HubSpotConfig.model_validate({"kind": "hubspot", "client_id": "abc"})


def test_config_refuses_an_inline_token() -> None:
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        HubSpotConfig.model_validate({"kind": "hubspot", "access_token": TOKEN})


def test_page_size_cannot_exceed_the_search_maximum() -> None:
    with pytest.raises(ValidationError, match="less than or equal to 200"):
        config(page_size=201)
