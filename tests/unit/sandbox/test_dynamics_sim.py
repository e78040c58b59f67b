"""The Dataverse simulator behaves as FACTS.md describes (each test names its section)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from connectors.sales.dynamics.simulator import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_TENANT,
    ENVIRONMENT_URL,
    DynamicsSimulator,
    LimitSettings,
    SimClock,
    TrackingSettings,
)

pytestmark = pytest.mark.anyio

API = f"{ENVIRONMENT_URL}/api/data/v9.2"
TOKEN_PATH = f"/{DEMO_TENANT}/oauth2/v2.0/token"


class Dataverse:
    """A signed-in HTTP client on one simulator."""

    def __init__(self, sim: DynamicsSimulator, client: httpx.AsyncClient) -> None:
        self.sim = sim
        self.client = client

    async def get(self, path: str, prefer: str = "", **params: str) -> httpx.Response:
        headers = {"Prefer": prefer} if prefer else {}
        url = path if path.startswith("http") else f"{API}/{path}"
        return await self.client.get(url, params=params or None, headers=headers)


async def sign_in(client: httpx.AsyncClient, **form: str) -> httpx.Response:
    data = {
        "grant_type": "client_credentials",
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
        "scope": f"{ENVIRONMENT_URL}/.default",
    } | form
    return await client.post(f"https://login.microsoftonline.com{TOKEN_PATH}", data=data)


@pytest.fixture
async def dataverse() -> AsyncIterator[Dataverse]:
    sim = DynamicsSimulator(clock=SimClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC)))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        answer = await sign_in(client)
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        yield Dataverse(sim, client)


def ids(body: dict[str, Any]) -> list[str]:
    return [r.get("opportunityid") or r["id"] for r in body["value"]]


# -- §2 Entra ------------------------------------------------------------------------------
async def test_token_endpoint_grants_a_bearer_token_with_its_lifetime() -> None:
    sim = DynamicsSimulator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        answer = await sign_in(client)
    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3599
    assert "refresh_token" not in body, "client credentials give no refresh token (§2.4)"


@pytest.mark.parametrize(
    ("form", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"scope": f"{ENVIRONMENT_URL}/user_impersonation"}, 400, "invalid_scope", 1002012),
        ({"scope": "https://other.crm.dynamics.com/.default"}, 400, "invalid_scope", 500011),
        ({"client_id": "nobody"}, 400, "unauthorized_client", 700016),
    ],
)
async def test_token_endpoint_refusals_carry_the_oauth_error_fields(
    form: dict[str, str], status: int, error: str, code: int
) -> None:
    sim = DynamicsSimulator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        answer = await sign_in(client, **form)
    body = answer.json()
    assert answer.status_code == status
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert {"trace_id", "correlation_id", "timestamp"} <= set(body)


async def test_api_calls_without_a_valid_token_get_an_empty_401_with_a_challenge(
    dataverse: Dataverse,
) -> None:
    dataverse.client.headers["Authorization"] = "Bearer not-a-token"
    answer = await dataverse.get("opportunities")
    assert answer.status_code == 401
    assert answer.content == b""
    assert answer.headers["www-authenticate"].startswith("Bearer authorization_uri=")


async def test_a_token_stops_working_when_it_expires(dataverse: Dataverse) -> None:
    assert (await dataverse.get("opportunities")).status_code == 200
    dataverse.sim.clock.advance(3600)
    assert (await dataverse.get("opportunities")).status_code == 401


# -- §3, §4 reads and paging ------------------------------------------------------------------
async def test_pages_follow_maxpagesize_with_a_next_link_until_the_last(
    dataverse: Dataverse,
) -> None:
    created = [dataverse.sim.add_deal(f"Deal {n}") for n in range(5)]
    first = await dataverse.get("opportunities", "odata.maxpagesize=2", **{"$select": "name"})
    assert first.headers["preference-applied"] == "odata.maxpagesize=2"
    seen, body = ids(first.json()), first.json()
    while "@odata.nextLink" in body:
        assert "$skiptoken=" in body["@odata.nextLink"]
        answer = await dataverse.get(body["@odata.nextLink"], "odata.maxpagesize=2")
        body = answer.json()
        seen += ids(body)
    assert seen == sorted(created), "without $orderby rows come by primary key (§4.4)"


async def test_a_page_size_over_5000_is_capped_and_skip_is_refused(dataverse: Dataverse) -> None:
    answer = await dataverse.get("opportunities", "odata.maxpagesize=9000")
    assert answer.headers["preference-applied"] == "odata.maxpagesize=5000"
    refused = await dataverse.get("opportunities", **{"$skip": "10"})
    assert refused.status_code == 400


async def test_paging_is_evaluated_from_the_cookie_so_a_changed_row_moves(
    dataverse: Dataverse,
) -> None:
    sim = dataverse.sim
    base = datetime(2026, 11, 1, tzinfo=UTC)
    early, middle, late = (
        sim.add_deal(name, modifiedon=base + timedelta(minutes=n))
        for n, name in enumerate(("early", "middle", "late"))
    )
    params = {"$select": "name", "$orderby": "modifiedon asc"}
    first = (await dataverse.get("opportunities", "odata.maxpagesize=1", **params)).json()
    assert ids(first) == [early]
    sim.update_deal(early, name="early, edited")  # moves to the end of the order
    rest, body = [], first
    while "@odata.nextLink" in body:
        body = (await dataverse.get(body["@odata.nextLink"], "odata.maxpagesize=1")).json()
        rest += ids(body)
    assert rest == [middle, late, early]


async def test_select_returns_the_columns_and_the_key_and_lookups_by_value_name(
    dataverse: Dataverse,
) -> None:
    sim = dataverse.sim
    account = sim.add_account("Acme", websiteurl="https://www.acme.example")
    sim.add_deal("Acme deal", parentaccountid=account, new_paymentterms=100000001)
    select = "name,_parentaccountid_value,new_paymentterms"
    [item] = (await dataverse.get("opportunities", **{"$select": select})).json()["value"]
    assert set(item) == {
        "@odata.etag",
        "name",
        "_parentaccountid_value",
        "new_paymentterms",
        "opportunityid",
    }
    assert item["@odata.etag"].startswith('W/"')
    assert item["_parentaccountid_value"] == account


async def test_expand_brings_the_account_with_its_key_or_null(dataverse: Dataverse) -> None:
    sim = dataverse.sim
    account = sim.add_account("Acme", websiteurl="https://www.acme.example")
    with_account = sim.add_deal("a", parentaccountid=account)
    without = sim.add_deal("b")
    answer = await dataverse.get(
        "opportunities",
        **{"$select": "name", "$expand": "parentaccountid($select=websiteurl)"},
    )
    rows = {r["opportunityid"]: r for r in answer.json()["value"]}
    assert rows[with_account]["parentaccountid"] == {
        "@odata.etag": rows[with_account]["parentaccountid"]["@odata.etag"],
        "websiteurl": "https://www.acme.example",
        "accountid": account,
    }
    assert rows[without]["parentaccountid"] is None


async def test_expand_refuses_options_other_than_select(dataverse: Dataverse) -> None:
    answer = await dataverse.get(
        "opportunities", **{"$expand": "parentaccountid($filter=name eq 'x')"}
    )
    assert answer.status_code == 400


async def test_filters_compare_dates_guids_text_and_choices(dataverse: Dataverse) -> None:
    sim = dataverse.sim
    old = sim.add_deal("Old", modifiedon=datetime(2026, 1, 1, tzinfo=UTC), statecode=1)
    new = sim.add_deal("O'Brien", modifiedon=datetime(2026, 6, 1, tzinfo=UTC), statecode=0)
    cases = {
        "modifiedon ge 2026-03-01T00:00:00Z": [new],
        f"opportunityid eq {old} or opportunityid eq {new.upper()}": sorted([old, new]),
        "name eq 'O''Brien'": [new],
        "not (statecode eq 1) and contains(name,'bri')": [new],
        "new_paymentterms eq null and statecode eq 1": [old],
    }
    for condition, expected in cases.items():
        answer = await dataverse.get("opportunities", **{"$filter": condition})
        assert sorted(ids(answer.json())) == expected, condition


async def test_an_unknown_column_is_a_400_naming_it(dataverse: Dataverse) -> None:
    answer = await dataverse.get("opportunities", **{"$select": "new_specialdiscont"})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "0x80060888"
    assert "Could not find a property named 'new_specialdiscont'" in error["message"]


async def test_a_missing_row_is_404_with_its_id(dataverse: Dataverse) -> None:
    answer = await dataverse.get("opportunities(00000000-0000-4000-8000-000000000009)")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "0x80040217"
    assert "Does Not Exist" in answer.json()["error"]["message"]


async def test_formatted_values_come_only_when_asked(dataverse: Dataverse) -> None:
    dataverse.sim.add_deal("x", new_paymentterms=100000002)
    plain = (await dataverse.get("opportunities", **{"$select": "new_paymentterms"})).json()
    asked = (
        await dataverse.get(
            "opportunities",
            'odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
            **{"$select": "new_paymentterms"},
        )
    ).json()
    key = "new_paymentterms@OData.Community.Display.V1.FormattedValue"
    assert key not in plain["value"][0]
    assert asked["value"][0][key] == "Net 60"


# -- §6 change tracking -------------------------------------------------------------------------
async def track(dataverse: Dataverse, size: int = 5000) -> tuple[list[str], str]:
    prefer = f"odata.track-changes,odata.maxpagesize={size}"
    answer = await dataverse.get("opportunities", prefer, **{"$select": "name"})
    assert "odata.track-changes" in answer.headers["preference-applied"]
    body, seen = answer.json(), ids(answer.json())
    while "@odata.nextLink" in body:
        assert "@odata.deltaLink" not in body, "the delta link comes on the last page only"
        body = (await dataverse.get(body["@odata.nextLink"], prefer)).json()
        seen += ids(body)
    return seen, body["@odata.deltaLink"]


async def test_track_changes_refuses_filter_orderby_expand_and_top(dataverse: Dataverse) -> None:
    for option, value in (
        ("filter", "statecode eq 1"),
        ("orderby", "name"),
        ("expand", "parentaccountid"),
        ("top", "1"),
    ):
        answer = await dataverse.get(
            "opportunities", "odata.track-changes", **{f"${option}": value}
        )
        assert answer.status_code == 400
        assert answer.json()["error"]["message"] == (
            f'The "${option}" query parameter isn\'t supported when Change Tracking is enabled.'
        )


async def test_a_delta_lists_changes_once_with_current_values_then_deletions(
    dataverse: Dataverse,
) -> None:
    sim = dataverse.sim
    kept, edited, removed = (sim.add_deal(n) for n in ("kept", "edited", "removed"))
    _, link = await track(dataverse)
    assert "$deltatoken=" in link
    sim.update_deal(edited, name="edited once")
    sim.update_deal(edited, name="edited twice")
    sim.delete_deal(removed)
    brief = sim.add_deal("brief")
    sim.delete_deal(brief)
    created = sim.add_deal("created")
    body = (await dataverse.get(link)).json()
    assert body["@odata.context"].endswith("/$delta")
    changed = [r for r in body["value"] if "opportunityid" in r]
    gone = [r for r in body["value"] if r.get("reason") == "deleted"]
    assert [(r["opportunityid"], r["name"]) for r in changed] == [
        (edited, "edited twice"),
        (created, "created"),
    ]
    assert [r["id"] for r in gone] == [removed, brief], "created then deleted shows as deleted"
    assert gone[0]["@odata.context"].endswith("#opportunities/$deletedEntity")
    assert body["value"].index(gone[0]) > body["value"].index(changed[-1]), "deletions last"
    assert kept not in ids({"value": changed})
    again = (await dataverse.get(body["@odata.deltaLink"])).json()
    assert again["value"] == []


async def test_a_large_delta_pages_and_ends_with_a_new_delta_link(dataverse: Dataverse) -> None:
    sim = dataverse.sim
    _, link = await track(dataverse)
    made = [sim.add_deal(f"d{n}") for n in range(5)]
    body = (await dataverse.get(link, "odata.maxpagesize=2")).json()
    seen = ids(body)
    while "@odata.nextLink" in body:
        body = (await dataverse.get(body["@odata.nextLink"], "odata.maxpagesize=2")).json()
        seen += ids(body)
    assert seen == made
    assert "@odata.deltaLink" in body


async def test_rows_changed_while_the_first_read_pages_can_miss_the_next_delta(
    dataverse: Dataverse,
) -> None:
    """The reported risk (FACTS.md §6.3): the data token describes the end of the load."""
    sim = dataverse.sim
    made = sorted(sim.add_deal(f"d{n}") for n in range(4))
    prefer = "odata.track-changes,odata.maxpagesize=2"
    first = (await dataverse.get("opportunities", prefer, **{"$select": "name"})).json()
    assert ids(first) == made[:2]
    sim.update_deal(made[0], name="changed during the load")
    last = (await dataverse.get(first["@odata.nextLink"], prefer)).json()
    delta = (await dataverse.get(last["@odata.deltaLink"])).json()
    assert delta["value"] == [], "the change to an already-read row is in neither"


async def test_an_old_delta_token_expires_with_the_version_stamp_code() -> None:
    sim = DynamicsSimulator(tracking=TrackingSettings(expire_days=7, expired_status=410))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        client.headers["Authorization"] = f"Bearer {(await sign_in(client)).json()['access_token']}"
        dataverse = Dataverse(sim, client)
        _, link = await track(dataverse)
        sim.clock.advance(8 * 86400)
        client.headers["Authorization"] = f"Bearer {(await sign_in(client)).json()['access_token']}"
        answer = await dataverse.get(link)
    assert answer.status_code == 410
    assert answer.json()["error"] == {
        "code": "0x80044352",
        "message": "Version stamp associated with the client has expired. Please perform a "
        "full sync.",
    }


async def test_a_mangled_delta_token_is_refused(dataverse: Dataverse) -> None:
    answer = await dataverse.get(f"{API}/opportunities?$deltatoken={quote('nonsense')}")
    assert answer.status_code == 400


async def test_a_table_without_change_tracking_ignores_the_preference(
    dataverse: Dataverse,
) -> None:
    dataverse.sim.set_change_tracking(False)
    answer = await dataverse.get("opportunities", "odata.track-changes")
    assert "@odata.deltaLink" not in answer.json()
    assert "track-changes" not in answer.headers.get("preference-applied", "")


async def test_an_empty_delta_can_be_an_empty_json_object() -> None:
    sim = DynamicsSimulator(tracking=TrackingSettings(empty_delta_body=True))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        client.headers["Authorization"] = f"Bearer {(await sign_in(client)).json()['access_token']}"
        dataverse = Dataverse(sim, client)
        _, link = await track(dataverse)
        answer = await dataverse.get(link)
    assert answer.json() == {}


# -- §7 metadata --------------------------------------------------------------------------------
async def test_attributes_list_types_custom_flags_and_companions(dataverse: Dataverse) -> None:
    path = "EntityDefinitions(LogicalName='opportunity')/Attributes"
    select = "LogicalName,AttributeType,IsCustomAttribute,AttributeOf,IsValidForRead"
    items = (await dataverse.get(path, **{"$select": select})).json()["value"]
    by_name = {i["LogicalName"]: i for i in items}
    assert by_name["new_specialdiscount"]["IsCustomAttribute"] is True
    assert by_name["parentaccountid"]["AttributeType"] == "Lookup"
    assert by_name["parentaccountidname"]["AttributeOf"] == "parentaccountid"
    assert by_name["new_internalscore"]["IsValidForRead"] is False
    assert "DisplayName" not in by_name["name"], "only what was selected (and MetadataId)"
    assert "MetadataId" in by_name["name"]


async def test_option_sets_come_only_from_the_casts(dataverse: Dataverse) -> None:
    root = "EntityDefinitions(LogicalName='opportunity')/Attributes"
    refused = await dataverse.get(root, **{"$expand": "OptionSet"})
    assert refused.status_code == 400
    cast = f"{root}/Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    expand = "OptionSet($select=Options),GlobalOptionSet($select=Options)"
    items = (await dataverse.get(cast, **{"$select": "LogicalName", "$expand": expand})).json()
    by_name = {i["LogicalName"]: i for i in items["value"]}
    terms = by_name["new_paymentterms"]["OptionSet"]["Options"]
    assert [(o["Value"], o["Label"]["UserLocalizedLabel"]["Label"]) for o in terms] == [
        (100000000, "Net 30"),
        (100000001, "Net 45"),
        (100000002, "Net 60"),
    ]
    assert by_name["new_region"]["OptionSet"] is None
    assert by_name["new_region"]["GlobalOptionSet"]["IsGlobal"] is True


async def test_an_option_without_a_label_has_no_localized_labels(dataverse: Dataverse) -> None:
    dataverse.sim.set_option("opportunity", "new_paymentterms", 100000009, None)
    cast = (
        "EntityDefinitions(LogicalName='opportunity')/Attributes/"
        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
    )
    items = (await dataverse.get(cast, **{"$expand": "OptionSet"})).json()["value"]
    terms = next(i for i in items if i["LogicalName"] == "new_paymentterms")
    unlabelled = next(o for o in terms["OptionSet"]["Options"] if o["Value"] == 100000009)
    assert unlabelled["Label"] == {"LocalizedLabels": [], "UserLocalizedLabel": None}


async def test_a_renamed_column_is_gone_under_its_old_name(dataverse: Dataverse) -> None:
    dataverse.sim.rename_column("opportunity", "new_specialdiscount", "new_discountpercent")
    old = await dataverse.get("opportunities", **{"$select": "new_specialdiscount"})
    new = await dataverse.get("opportunities", **{"$select": "new_discountpercent"})
    assert (old.status_code, new.status_code) == (400, 200)


# -- §8 service protection ----------------------------------------------------------------------
async def test_the_request_limit_answers_429_with_retry_after_and_lengthens_when_pushed() -> None:
    clock = SimClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    sim = DynamicsSimulator(clock=clock, limits=LimitSettings(requests=3, penalty_seconds=5))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        client.headers["Authorization"] = f"Bearer {(await sign_in(client)).json()['access_token']}"
        dataverse = Dataverse(sim, client)
        answers = [await dataverse.get("opportunities") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert answers[-1].headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"
        refused = await dataverse.get("opportunities")
        pushed = await dataverse.get("opportunities")
        clock.advance(400)
        later = await dataverse.get("opportunities")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "0x80072322"
    assert refused.json()["error"]["message"] == (
        "Number of requests exceeded the limit of 3 over time window of 300 seconds."
    )
    assert int(pushed.headers["retry-after"]) > int(refused.headers["retry-after"])
    assert later.status_code == 200


async def test_combined_execution_time_has_its_own_limit_and_code() -> None:
    clock = SimClock(datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    limits = LimitSettings(execution_seconds=1.0, request_seconds=0.6)
    sim = DynamicsSimulator(clock=clock, limits=limits)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sim.app)) as client:
        client.headers["Authorization"] = f"Bearer {(await sign_in(client)).json()['access_token']}"
        dataverse = Dataverse(sim, client)
        statuses = [(await dataverse.get("opportunities")).status_code for _ in range(3)]
        refused = await dataverse.get("opportunities")
    assert statuses == [200, 200, 429]
    assert refused.json()["error"]["code"] == "0x80072321"
    assert "Combined execution time" in refused.json()["error"]["message"]
    assert "retry-after" in refused.headers
