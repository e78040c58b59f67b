"""Pipedrive source: the three deal walks merged by time, the checkpoint and its ties, custom
fields by name with labels, related records in batches, the select, and config.

Bodies come from tests/fixtures/pipedrive (hand-written in the shapes FACTS.md documents).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from connectors.base import Cursor, DealPage, DealQuery, SalesSource, unreadable_reason
from connectors.errors import PermanentError
from connectors.registry import get_spec
from connectors.sales.pipedrive import PipedriveConfig, PipedriveSource
from connectors.sales.pipedrive.catalog import parse_catalog, slug
from connectors.sales.pipedrive.cursor import digest
from connectors.settings import ConnectorOptions
from sync_jobs.config.yamlio import parse_yaml
from sync_jobs.domain.mapping import Mapping, MappingFailed, MappingSpec
from tests.fixtures.pipedrive.builders import (
    BASE,
    KEYS,
    MAPPED,
    ORGS,
    PERSONS,
    TOKEN,
    TOKEN_ENV,
    USERS,
    DealLists,
    config,
    empty,
    load,
    mock_account,
    source,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token reaches config as ``${PIPEDRIVE_UNIT_TOKEN}``, as an admin would write it."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)


async def read_all(
    src: PipedriveSource, query: DealQuery | None = None, since: Cursor | None = None
) -> list[DealPage]:
    return [page async for page in src.changed_deals(query or DealQuery(fields=MAPPED), since)]


def ids(pages: list[DealPage]) -> list[str]:
    return [d.id for p in pages for d in p.deals]


def checkpoint(page: DealPage) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(page.checkpoint.value)
    return data


def cursor(
    ts: str,
    *deal_ids: int,
    keys: dict[str, str] | None = None,
    polled: str = "2026-12-06T09:55:00Z",
) -> Cursor:
    """A checkpoint that read the fixture versions of ``deal_ids`` in second ``ts``, written by
    a run that started at ``polled`` (five minutes before NOW by default)."""
    seen = {str(i): digest(fixture_deal(i)) for i in deal_ids}
    data = {"ts": ts, "seen": seen, "keys": keys or {}, "polled": polled}
    return Cursor(value=json.dumps(data))


def deal_body(*deals: dict[str, Any], next_cursor: str | None = None) -> dict[str, Any]:
    return {"success": True, "data": list(deals), "additional_data": {"next_cursor": next_cursor}}


def fixture_deal(deal_id: int) -> dict[str, Any]:
    for name in ("deals_page1.json", "deals_page2.json", "deals_deleted.json"):
        for deal in load(name)["data"]:
            if deal["id"] == deal_id:
                return dict(deal)
    raise KeyError(deal_id)


# --- protocol and registry -------------------------------------------------------------------


async def test_registry_builds_a_source_that_satisfies_the_sales_source_protocol() -> None:
    spec = get_spec("pipedrive")
    built = spec.factory("nordics", config(), ConnectorOptions())
    typed: SalesSource = PipedriveSource("nordics", config(), ConnectorOptions())
    assert isinstance(built, SalesSource)
    assert spec.role == "source"
    assert spec.simulator == "connectors.sales.pipedrive.simulator:demo_app"
    assert spec.contract_harness == "connectors.sales.pipedrive.simulator:contract_harness"
    await built.aclose()
    await typed.aclose()


# --- the three walks, merged by time -----------------------------------------------------------


async def test_reads_every_page_and_merges_deleted_and_archived_deals_in_update_time_order(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source())
    assert ids(pages) == ["7", "9", "5", "3", "4", "2", "12"]
    deals = {d.id: d for p in pages for d in p.deals}
    assert deals["5"].deleted is True
    assert [d.id for d in deals.values() if d.deleted] == ["5"]
    assert deals["2"].payload["is_archived"] is True  # archived: still a live deal
    assert deals["7"].modified_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert deals["7"].url == f"{BASE}/deal/7"


async def test_every_walk_asks_for_update_time_order_with_the_largest_page(
    respx_mock: respx.MockRouter,
) -> None:
    lists = mock_account(respx_mock)
    await read_all(source())
    first_live, second_live = lists.params("live")
    assert first_live == {"sort_by": "update_time", "sort_direction": "asc", "limit": "500"}
    assert second_live["cursor"] == load("deals_page1.json")["additional_data"]["next_cursor"]
    assert lists.params("deleted") == [first_live | {"status": "deleted"}]
    assert lists.params("archived") == [first_live]
    assert lists.params("archived_deleted") == [first_live | {"status": "deleted"}]


async def test_without_read_archived_the_archived_list_is_never_asked(
    respx_mock: respx.MockRouter,
) -> None:
    lists = mock_account(respx_mock)
    pages = await read_all(source(read_archived=False))
    assert "2" not in ids(pages)
    assert lists.params("archived") == []
    assert lists.params("archived_deleted") == []


async def test_a_next_cursor_that_repeats_ends_the_walk_instead_of_looping(
    respx_mock: respx.MockRouter,
) -> None:
    looping = deal_body(fixture_deal(7), next_cursor="c2FtZQ")
    lists = DealLists(live=[looping, looping])
    lists.deleted = lists.archived = [load("deals_empty.json")]
    mock_account(respx_mock, lists)
    pages = await read_all(source())
    assert ids(pages) == ["7", "7"]
    assert len(lists.params("live")) == 2


async def test_an_archived_deal_that_was_deleted_comes_as_a_deletion(
    respx_mock: respx.MockRouter,
) -> None:
    """Archived deals are in no /deals list (FACTS.md §3.5), deleted or not."""
    gone = load("deals_archived.json")["data"][0] | {"is_deleted": True}
    lists = empty("live", "deleted", "archived")
    lists.archived_deleted = [deal_body(gone)]
    mock_account(respx_mock, lists)
    [page] = await read_all(source())
    [deal] = page.deals
    assert deal.id == "2"
    assert deal.deleted is True


# --- payload: custom fields by name, related records -----------------------------------------


async def test_custom_fields_are_addressed_by_name_and_option_ids_become_labels(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    acme = (await read_all(source()))[0].deals[0].payload
    custom = acme["custom_fields"]
    assert custom["special_discount"] == 12
    assert custom["payment_terms"] == "Net 45"
    assert custom["free_services"] == ["Onsite training"]
    assert custom["contract_value_net"] == {"value": 44800, "currency": "EUR"}
    assert not any(len(key) == 40 for key in custom), "no hash keys reach the mapping"


async def test_organization_person_and_owner_are_embedded_with_their_custom_fields(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source(), DealQuery())
    acme = next(d.payload for p in pages for d in p.deals if d.id == "7")
    assert acme["organization"]["name"] == "Acme Corporation"
    assert acme["organization"]["custom_fields"]["customer_number"] == "CUST-1001"
    assert acme["person"]["emails"][0]["value"] == "ops@acme.example"
    assert acme["person"]["custom_fields"]["contact_role"] == "Buyer"
    assert acme["owner"] == {
        "id": 201,
        "name": "Sigrid Berg",
        "email": "sigrid.berg@seller.example",
    }


async def test_a_deal_without_organization_or_person_embeds_none(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source())
    hooli = next(d.payload for p in pages for d in p.deals if d.id == "12")
    initech = next(d.payload for p in pages for d in p.deals if d.id == "4")
    assert hooli["organization"] is None
    assert initech["person"] is None


async def test_related_records_come_in_one_batch_per_page_and_are_not_asked_twice(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source(page_size=3))
    assert len(pages) == 3
    calls = [r for r, _ in respx_mock.calls if str(r.url).startswith(ORGS)]
    asked = [r.url.params["ids"].split(",") for r in calls]
    # page 1 (7, 9, 5-deleted) asks 11 and 12; page 2 (3, 4, 2) asks 13 and 15 but not 11 again
    assert asked == [["11", "12"], ["13", "15"]]


async def test_a_page_with_more_than_100_organizations_asks_100_ids_per_call(
    respx_mock: respx.MockRouter,
) -> None:
    base = fixture_deal(9)
    many = [
        base | {"id": 1000 + i, "org_id": 5000 + i, "person_id": None,
                "update_time": "2026-12-01T10:00:00Z"}
        for i in range(250)
    ]  # fmt: skip
    lists = empty("deleted", "archived")
    lists.live = [deal_body(*many)]
    mock_account(respx_mock, lists)
    pages = await read_all(source(), DealQuery(fields=("organization.name",)))
    assert len(ids(pages)) == 250
    calls = [r for r, _ in respx_mock.calls if str(r.url).startswith(ORGS)]
    assert [len(r.url.params["ids"].split(",")) for r in calls] == [100, 100, 50]


async def test_only_what_the_mapping_reads_is_fetched(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    await read_all(source(), DealQuery(fields=("title", "status")))
    asked = {r.url.path for r, _ in respx_mock.calls}
    assert asked == {"/api/v2/deals", "/api/v2/deals/archived"}


async def test_a_deleted_deal_comes_as_a_deletion_without_related_lookups(
    respx_mock: respx.MockRouter,
) -> None:
    lists = empty("live", "archived")
    mock_account(respx_mock, lists)
    [page] = await read_all(source())
    [gone] = page.deals
    assert gone.id == "5"
    assert gone.deleted is True
    assert "organization" not in gone.payload
    assert not any(str(r.url).startswith(ORGS) for r, _ in respx_mock.calls)


# --- bad input: deleted organization, option without a label ------------------------------------


NORDICS = """
record: organization
active_when: {field: stage, in: ["won"]}
identity:
  - {from: organization.custom_fields.customer_number, match: external_id}
  - {from: person.emails.value, match: email}
terms:
  name: {from: title}
  stage: {from: status}
  account_name: {from: organization.name}
  discount_percent: {from: custom_fields.special_discount, type: percent}
  payment_terms: {from: custom_fields.payment_terms, type: enum,
                  values: {"Net 30": net30, "Net 45": net45, "Net 60": net60}}
  free_services: {from: custom_fields.free_services, type: list}
"""


def nordics_mapping() -> Mapping:
    spec = MappingSpec.model_validate(parse_yaml(NORDICS, "nordics.yaml"))
    return Mapping(
        spec, job="nordics", source="pd", system="pipedrive", territory="Nordics", base_dir=Path()
    )


async def test_a_deal_whose_organization_was_deleted_fails_mapping_alone(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock, missing_orgs=frozenset({13}))
    pages = await read_all(source(), DealQuery(fields=nordics_mapping().source_paths()))
    deals = {d.id: d for p in pages for d in p.deals}
    reason = unreadable_reason(deals["3"].payload["organization"])
    assert reason is not None
    assert "organization 13" in reason
    assert "deleted or merged" in reason
    with pytest.raises(MappingFailed) as caught:
        nordics_mapping().apply(deals["3"])
    assert {p.field for p in caught.value.problems} == {"account_name", "identity[0]"}
    assert nordics_mapping().apply(deals["7"]).account.external_ids == ("cust-1001",)


async def test_an_option_id_without_a_label_fails_only_that_deal(
    respx_mock: respx.MockRouter,
) -> None:
    broken = fixture_deal(9)
    broken["custom_fields"] = {**broken["custom_fields"], KEYS["payment_terms"]: 77}
    lists = empty("deleted", "archived")
    lists.live = [deal_body(fixture_deal(7), broken)]
    mock_account(respx_mock, lists)
    [page] = await read_all(source(), DealQuery(fields=nordics_mapping().source_paths()))
    good, bad = page.deals
    reason = unreadable_reason(bad.payload["custom_fields"]["payment_terms"])
    assert reason is not None
    assert "option id 77" in reason
    assert "'Payment terms'" in reason
    with pytest.raises(MappingFailed, match="option id 77"):
        nordics_mapping().apply(bad)
    assert nordics_mapping().apply(good).payment_terms == "net45"


async def test_an_unlabelled_option_inside_a_set_is_marked_and_the_rest_kept(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source(), DealQuery())
    hooli = next(d.payload for p in pages for d in p.deals if d.id == "12")
    assert unreadable_reason(hooli["person"]["custom_fields"]["contact_role"]) is not None
    assert hooli["custom_fields"]["free_services"] is None


# --- the checkpoint: newest second and the ids read in it ---------------------------------------


async def test_the_checkpoint_holds_the_newest_second_and_every_id_read_in_it(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    pages = await read_all(source(page_size=5))
    first, second = (checkpoint(p) for p in pages)
    assert first["ts"] == "2026-12-01T09:00:07Z"
    assert first["seen"] == {"3": digest(fixture_deal(3)), "4": digest(fixture_deal(4))}
    assert second["ts"] == "2026-12-01T09:01:00Z"
    assert list(second["seen"]) == ["12"]
    assert second["keys"]["custom_fields.payment_terms"] == KEYS["payment_terms"]


async def test_a_resumed_read_asks_from_the_checkpoint_second_and_skips_only_ids_read_in_it(
    respx_mock: respx.MockRouter,
) -> None:
    lists = DealLists(live=[deal_body(fixture_deal(3), fixture_deal(4), fixture_deal(12))])
    lists.deleted = [load("deals_empty.json")]
    mock_account(respx_mock, lists)
    pages = await read_all(source(), since=cursor("2026-12-01T09:00:07Z", 3))
    assert ids(pages) == ["4", "2", "12"]
    assert lists.params("live")[0]["updated_since"] == "2026-12-01T09:00:07Z"
    assert lists.params("deleted")[0]["updated_since"] == "2026-12-01T09:00:07Z"


async def test_a_deal_written_later_in_the_checkpoint_second_is_not_skipped(
    respx_mock: respx.MockRouter,
) -> None:
    """Deal 1 (a smaller id) was written in 09:00:07 after the last run read deal 3 there."""
    late = fixture_deal(3) | {"id": 1, "title": "Late in the same second"}
    lists = DealLists(live=[deal_body(late, fixture_deal(3))])
    lists.deleted = lists.archived = [load("deals_empty.json")]
    mock_account(respx_mock, lists)
    pages = await read_all(source(), since=cursor("2026-12-01T09:00:07Z", 3))
    assert ids(pages) == ["1"]
    assert sorted(checkpoint(pages[-1])["seen"]) == ["1", "3"]


async def test_a_second_edit_within_the_checkpoint_second_is_read_again(
    respx_mock: respx.MockRouter,
) -> None:
    """Deal 3 was read at 09:00:07, then edited again within that second: same update_time."""
    edited = fixture_deal(3)
    edited["custom_fields"] = {**edited["custom_fields"], KEYS["special_discount"]: 20}
    lists = DealLists(live=[deal_body(edited, fixture_deal(4))])
    lists.deleted = lists.archived = [load("deals_empty.json")]
    mock_account(respx_mock, lists)
    pages = await read_all(source(), since=cursor("2026-12-01T09:00:07Z", 3, 4))
    [again] = [d for p in pages for d in p.deals]
    assert again.id == "3"
    assert again.payload["custom_fields"]["special_discount"] == 20


async def test_overlap_seconds_moves_updated_since_back(respx_mock: respx.MockRouter) -> None:
    lists = mock_account(respx_mock, empty("live", "deleted", "archived"))
    assert await read_all(source(overlap_seconds=30), since=cursor("2026-12-01T09:00:07Z")) == []
    assert lists.params("live")[0]["updated_since"] == "2026-12-01T08:59:37Z"


async def test_a_full_read_ignores_the_cursor(respx_mock: respx.MockRouter) -> None:
    lists = mock_account(respx_mock)
    query = DealQuery(fields=MAPPED, full=True)
    pages = await read_all(source(), query, since=cursor("2026-12-01T09:00:07Z", 3))
    assert "updated_since" not in lists.params("live")[0]
    assert "updated_since" not in lists.params("deleted")[0]
    assert len(ids(pages)) == 7


async def test_nothing_changed_yields_no_page_and_reads_no_catalog(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock, empty("live", "deleted", "archived"))
    assert await read_all(source(), since=cursor("2026-12-05T09:00:00Z", 3)) == []
    assert {r.url.path for r, _ in respx_mock.calls} == {"/api/v2/deals", "/api/v2/deals/archived"}


async def test_a_cursor_this_connector_did_not_write_is_refused_with_a_fix(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    with pytest.raises(PermanentError, match="--full") as caught:
        await read_all(source(), since=Cursor(value='{"ts": "yesterday"}'))
    assert caught.value.who_acts == "admin"


async def test_a_poll_more_than_30_days_after_the_last_is_reported(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock, empty("live", "deleted", "archived"))
    src = source()
    await read_all(src, since=cursor("2026-10-01T00:00:00Z", polled="2026-10-20T08:00:00Z"))
    [problem] = src.problems()
    assert "previous read was on 2026-10-20, more than 30 days ago" in problem
    assert "--full" in problem


async def test_a_quiet_territory_is_not_mistaken_for_one_that_was_not_polled(
    respx_mock: respx.MockRouter,
) -> None:
    """No deal changed since October, but the job polled every day: nothing to report."""
    mock_account(respx_mock, empty("live", "deleted", "archived"))
    src = source()
    await read_all(src, since=cursor("2026-10-01T00:00:00Z", polled="2026-12-05T22:00:00Z"))
    assert src.problems() == []


async def test_a_run_that_finds_nothing_stores_when_it_polled_once_a_day(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock, empty("live", "deleted", "archived"))
    since = cursor("2026-12-01T09:00:07Z", 3, polled="2026-12-05T09:00:00Z")
    [page] = await read_all(source(), since=since)
    assert page.deals == ()
    stored = checkpoint(page)
    assert stored["polled"] == "2026-12-06T10:00:00Z"
    assert stored["ts"] == "2026-12-01T09:00:07Z"
    assert list(stored["seen"]) == ["3"]
    again = Cursor(value=page.checkpoint.value)
    assert await read_all(source(), since=again) == []  # polled less than a day ago


# --- renamed and missing custom fields -------------------------------------------------------


def renamed_catalog(respx_mock: respx.MockRouter, new_name: str) -> None:
    catalog = load("deal_fields.json")
    for item in catalog["data"]:
        if item["field_code"] == KEYS["payment_terms"]:
            item["field_name"] = new_name
    respx_mock.get(f"{BASE}/api/v2/dealFields").respond(json=catalog)


async def test_a_renamed_custom_field_stops_the_job_naming_the_new_path(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    renamed_catalog(respx_mock, "Payment conditions")
    keys = {"custom_fields.payment_terms": KEYS["payment_terms"]}
    with pytest.raises(PermanentError) as caught:
        await read_all(source(), since=cursor("2026-12-01T09:00:00Z", keys=keys))
    message = str(caught.value)
    assert "renamed in Pipedrive to 'Payment conditions'" in message
    assert "custom_fields.payment_conditions" in message
    assert caught.value.who_acts == "admin"


async def test_a_custom_field_the_catalog_does_not_know_stops_the_job_with_a_suggestion(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    query = DealQuery(fields=("custom_fields.special_discont",))
    with pytest.raises(PermanentError, match=r"did you mean custom_fields\.special_discount\?"):
        await read_all(source(), query)


# --- select -------------------------------------------------------------------------------------


async def test_select_filters_every_walk(respx_mock: respx.MockRouter) -> None:
    lists = mock_account(respx_mock)
    await read_all(source(), DealQuery(fields=MAPPED, select="pipeline_id=3 & owner_id=201"))
    for walk in ("live", "deleted", "archived"):
        assert lists.params(walk)[0]["pipeline_id"] == "3"
        assert lists.params(walk)[0]["owner_id"] == "201"


@pytest.mark.parametrize(
    ("select", "problem"),
    [
        ("stage_id = won", "must be an id"),
        ("title=Acme", "is not name=value"),
        ("filter_id=4, pipeline_id=3", "cannot be combined"),
        ("pipeline_id=3 & pipeline_id=4", "given twice"),
    ],
)
async def test_a_bad_select_is_refused_before_any_call(
    respx_mock: respx.MockRouter, select: str, problem: str
) -> None:
    mock_account(respx_mock)
    with pytest.raises(PermanentError, match=problem) as caught:
        await read_all(source(), DealQuery(fields=MAPPED, select=select))
    assert caught.value.who_acts == "admin"
    assert not respx_mock.calls


# --- the field catalog --------------------------------------------------------------------------


async def test_the_field_catalog_lists_custom_fields_by_name_with_their_labels(
    respx_mock: respx.MockRouter,
) -> None:
    mock_account(respx_mock)
    catalog = {f.path: f for f in await source().field_catalog()}
    terms = catalog["custom_fields.payment_terms"]
    assert terms.label == "Payment terms"
    assert terms.type == "enum"
    assert terms.custom is True
    assert terms.choices == ("Net 30", "Net 45", "Net 60")
    assert "custom_fields.contract_value_net.value" in catalog
    assert "custom_fields.contract_value_net.currency" in catalog
    assert "custom_fields.contract_value_net" not in catalog  # an object, mapped by its parts
    assert catalog["organization.custom_fields.customer_number"].label == "Customer number"
    assert catalog["person.custom_fields.contact_role"].choices == ("Buyer", "Champion", "Billing")
    for path in ("title", "status", "organization.name", "person.emails.value", "owner.email"):
        assert path in catalog
    assert not any(len(p.rsplit(".", 1)[-1]) == 40 for p in catalog), "no hash keys"


def test_two_fields_whose_names_give_one_path_both_get_a_key_suffix() -> None:
    items = [
        {"field_name": "Region", "field_code": "a" * 40, "field_type": "varchar",
         "is_custom_field": True},
        {"field_name": "region!", "field_code": "b" * 40, "field_type": "varchar",
         "is_custom_field": True},
        {"field_name": "Title", "field_code": "title", "field_type": "varchar",
         "is_custom_field": False},
    ]  # fmt: skip
    fields = parse_catalog("deal", items)
    assert sorted(fields.by_path_name) == ["region_aaaaaaaa", "region_bbbbbbbb"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Special discount (%)", "special_discount"),
        ("Payment terms", "payment_terms"),
        ("Zahlungsbedingungen für Kunden", "zahlungsbedingungen_für_kunden"),
        ("SLA -- 24/7", "sla_24_7"),
        ("%%%", "field"),
    ],
)
def test_slug_of_a_field_name(name: str, expected: str) -> None:
    assert slug(name) == expected


@given(st.text(max_size=60))
def test_a_slug_is_one_dot_free_path_segment_and_stable(name: str) -> None:
    made = slug(name)
    assert made
    assert "." not in made
    assert not made.startswith("_")
    assert not made.endswith("_")
    assert slug(made) == made


# --- config -------------------------------------------------------------------------------------


def test_an_inline_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        PipedriveConfig.model_validate(
            {"kind": "pipedrive", "auth": {"flow": "api_token", "api_token": TOKEN}}
        )


def test_base_url_keeps_the_host_only() -> None:
    assert config(base_url="https://acme.pipedrive.com/api/v2/").base_url == (
        "https://acme.pipedrive.com"
    )
    with pytest.raises(ValidationError, match="must start with https://"):
        config(base_url="acme.pipedrive.com")


def test_page_size_is_capped_at_the_documented_500() -> None:
    with pytest.raises(ValidationError):
        config(page_size=501)


async def test_check_reports_burst_window_and_tokens_spent(respx_mock: respx.MockRouter) -> None:
    headers = {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "19", "x-ratelimit-reset": "2"}
    respx_mock.get(f"{BASE}/api/v2/deals").mock(
        return_value=httpx.Response(200, json=load("deals_empty.json"), headers=headers)
    )
    health = await source().check()
    assert health.ok is True
    assert health.api_usage is not None
    assert "19/20 requests left" in health.api_usage
    assert "10 API tokens spent" in health.api_usage


async def test_check_reports_refused_credentials_without_the_token(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{BASE}/api/v2/deals").respond(401, json=load("error_401_api_token.json"))
    health = await source().check()
    assert health.ok is False
    assert "unauthorized access" in health.detail
    assert TOKEN not in health.detail


async def test_users_are_read_once_per_run(respx_mock: respx.MockRouter) -> None:
    mock_account(respx_mock)
    await read_all(source(page_size=2))
    assert sum(1 for r, _ in respx_mock.calls if str(r.url).startswith(USERS)) == 1
    assert sum(1 for r, _ in respx_mock.calls if str(r.url).startswith(PERSONS)) >= 2


# --- the run stops at Pipedrive's own clock ----------------------------------------------------


def dated(lists: DealLists, date: str) -> Callable[[httpx.Request], httpx.Response]:
    """The deal lists' answers, each with Pipedrive's ``Date`` header."""

    def respond(request: httpx.Request) -> httpx.Response:
        answer = lists.respond(request)
        answer.headers["Date"] = date
        return answer

    return respond


async def test_deals_changed_in_the_last_second_by_pipedrives_clock_wait_for_the_next_run(
    respx_mock: respx.MockRouter,
) -> None:
    lists = mock_account(respx_mock)
    respx_mock.get(f"{BASE}/api/v2/deals").mock(
        side_effect=dated(lists, "Tue, 01 Dec 2026 09:00:08 GMT")
    )
    pages = await read_all(source(now=datetime(2026, 12, 1, 9, 0, 8, tzinfo=UTC)))
    # 3 and 4 changed at 09:00:07, one second before the first answer's Date: left for later
    assert ids(pages) == ["7", "9", "5"]
    assert checkpoint(pages[-1])["ts"] == "2026-12-01T09:00:06Z"
    assert len(lists.params("live")) == 1, "nothing newer can follow: page 2 is not asked"


async def test_a_date_far_from_our_clock_does_not_bound_the_run(
    respx_mock: respx.MockRouter,
) -> None:
    lists = mock_account(respx_mock)
    respx_mock.get(f"{BASE}/api/v2/deals").mock(
        side_effect=dated(lists, "Mon, 01 Jan 2024 00:00:00 GMT")
    )
    pages = await read_all(source())
    assert len(ids(pages)) == 7
