"""The Dataverse doc-fake behaves as connectors/sales/dynamics/FACTS.md says (plain httpx)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.crm_common import ManualClock
from tests.docfakes.dynamics import DataverseFake, Limits

pytestmark = pytest.mark.anyio
ENV = "https://acme.crm4.dynamics.com"
API = f"{ENV}/api/data/v9.2"
TOKEN_URL = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
FEW = settings(max_examples=25, deadline=None)
ODATA = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}


def run(body: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(body())


def make(limits: Limits | None = None) -> DataverseFake:
    fake = DataverseFake(ManualClock(), limits=limits)
    fake.add_client("app-id", "s3cret")
    return fake


def client(fake: DataverseFake) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))


async def bearer(http: httpx.AsyncClient) -> dict[str, str]:
    answer = await http.post(
        TOKEN_URL,
        data={
            "grant_type": "client_credentials",
            "client_id": "app-id",
            "client_secret": "s3cret",
            "scope": f"{ENV}/.default",
        },
    )
    return {**ODATA, "Authorization": f"Bearer {answer.json()['access_token']}"}


async def pages(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Follows ``@odata.nextLink`` unchanged, re-sending the same Prefer header (§4.2)."""
    bodies = []
    next_url: str | None = url
    while next_url:
        answer = await http.get(next_url, headers=headers)
        assert answer.status_code == 200, answer.text
        bodies.append(answer.json())
        next_url = bodies[-1].get("@odata.nextLink")
    return bodies


async def test_client_credentials_token_and_the_documented_entra_errors() -> None:
    fake = make()
    form = {
        "grant_type": "client_credentials",
        "client_id": "app-id",
        "client_secret": "s3cret",
        "scope": f"{ENV}/.default",
    }
    async with client(fake) as http:
        granted = await http.post(TOKEN_URL, data=form)
        wrong_secret = await http.post(TOKEN_URL, data={**form, "client_secret": "nope"})
        bare_scope = await http.post(TOKEN_URL, data={**form, "scope": ENV})
    token = granted.json()
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == token["ext_expires_in"] == 3599
    assert "refresh_token" not in token
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert wrong_secret.json()["error_codes"] == [7000215]
    assert set(wrong_secret.json()) >= {
        "error_description",
        "timestamp",
        "trace_id",
        "correlation_id",
    }
    assert bare_scope.status_code == 400
    assert bare_scope.json()["error_description"].startswith("AADSTS1002012:")


async def test_expired_or_missing_tokens_get_401_with_a_bearer_challenge() -> None:
    fake = make()
    async with client(fake) as http:
        headers = await bearer(http)
        fresh = await http.get(f"{API}/opportunities", headers=headers)
        fake.clock.advance(3599)
        stale = await http.get(f"{API}/opportunities", headers=headers)
        anonymous = await http.get(f"{API}/opportunities", headers=ODATA)
    assert fresh.status_code == 200
    for answer in (stale, anonymous):
        assert answer.status_code == 401
        assert answer.content == b""
        assert answer.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


@FEW
@given(count=st.integers(0, 25), size=st.integers(1, 7), spread=st.integers(0, 3))
def test_next_links_walk_every_opportunity_once_in_a_stable_order(
    count: int, size: int, spread: int
) -> None:
    async def body() -> None:
        fake = make()
        ids = []
        for n in range(count):
            ids.append(fake.add_opportunity(f"deal {n}"))
            fake.clock.advance(n % (spread + 1))  # many rows share a second
        async with client(fake) as http:
            headers = {**await bearer(http), "Prefer": f"odata.maxpagesize={size}"}
            url = (
                f"{API}/opportunities?$select=name,modifiedon"
                "&$orderby=modifiedon asc,opportunityid asc"
            )
            bodies = await pages(http, url, headers)
        rows = [row for b in bodies for row in b["value"]]
        assert sorted(row["opportunityid"] for row in rows) == sorted(ids)
        keys = [(row["modifiedon"], row["opportunityid"]) for row in rows]
        assert keys == sorted(keys)
        assert all(len(b["value"]) <= size for b in bodies)

    run(body)


@FEW
@given(offsets=st.lists(st.integers(0, 10), max_size=20), boundary=st.integers(0, 10))
def test_modifiedon_ge_includes_every_row_of_the_boundary_second(
    offsets: list[int], boundary: int
) -> None:
    async def body() -> None:
        fake = make()
        start = fake.clock.now()
        for n, offset in enumerate(sorted(offsets)):
            fake.clock.advance(offset - (fake.clock.now() - start).total_seconds())
            fake.add_opportunity(f"deal {n}")
        since = start.replace(second=boundary).strftime("%Y-%m-%dT%H:%M:%SZ")
        async with client(fake) as http:
            headers = await bearer(http)
            bodies = await pages(
                http,
                f"{API}/opportunities?$select=modifiedon&$filter=modifiedon ge {since}",
                headers,
            )
        got = {row["opportunityid"] for b in bodies for row in b["value"]}
        expected = {
            key
            for key, row in fake.opportunities.rows.items()
            if row["modifiedon"] >= start.replace(second=boundary)
        }
        assert got == expected

    run(body)


async def test_expand_nests_the_parent_account_and_annotations_add_labels() -> None:
    fake = make()
    fake.add_choice_column("new_paymentterms", {100000000: "Net 30", 100000001: "Net 60"})
    acme = fake.add_account(
        "Acme", websiteurl="https://acme.example", emailaddress1="ap@acme.example"
    )
    deal = fake.add_opportunity("Big deal", account=acme, new_paymentterms=100000001)
    async with client(fake) as http:
        headers = {
            **await bearer(http),
            "Prefer": 'odata.include-annotations="OData.Community.Display.V1.FormattedValue"',
        }
        answer = await http.get(
            f"{API}/opportunities?$select=name,new_paymentterms,_parentaccountid_value"
            "&$expand=parentaccountid($select=name,websiteurl)",
            headers=headers,
        )
    row = answer.json()["value"][0]
    assert row["opportunityid"] == deal
    assert row["parentaccountid"] == {
        "name": "Acme",
        "websiteurl": "https://acme.example",
        "accountid": acme,
    }
    assert row["_parentaccountid_value"] == acme
    assert row["_parentaccountid_value@OData.Community.Display.V1.FormattedValue"] == "Acme"
    assert row["new_paymentterms"] == 100000001
    assert row["new_paymentterms@OData.Community.Display.V1.FormattedValue"] == "Net 60"
    assert row["@odata.etag"].startswith('W/"')
    assert "OData.Community.Display.V1.FormattedValue" in answer.headers["Preference-Applied"]


async def test_page_size_is_capped_at_5000_skip_is_refused_and_top_yields_to_maxpagesize() -> None:
    fake = make()
    for n in range(3):
        fake.add_opportunity(f"deal {n}")
    async with client(fake) as http:
        headers = await bearer(http)
        capped = await http.get(
            f"{API}/opportunities", headers={**headers, "Prefer": "odata.maxpagesize=9000"}
        )
        skipped = await http.get(f"{API}/opportunities?$skip=1", headers=headers)
        top_only = await http.get(f"{API}/opportunities?$top=1", headers=headers)
        top_ignored = await http.get(
            f"{API}/opportunities?$top=1", headers={**headers, "Prefer": "odata.maxpagesize=2"}
        )
    assert capped.headers["Preference-Applied"] == "odata.maxpagesize=5000"
    assert skipped.status_code == 400
    assert skipped.json()["error"]["message"].startswith("The query parameter $skip")
    assert len(top_only.json()["value"]) == 1
    assert "@odata.nextLink" not in top_only.json()
    assert len(top_ignored.json()["value"]) == 2
    assert "@odata.nextLink" in top_ignored.json()


async def test_change_tracking_gives_a_delta_link_then_changes_then_deletions() -> None:
    fake = make()
    first, second, third = (fake.add_opportunity(f"deal {n}") for n in range(3))
    async with client(fake) as http:
        headers = {**await bearer(http), "Prefer": "odata.track-changes,odata.maxpagesize=2"}
        initial = await pages(http, f"{API}/opportunities?$select=name", headers)
        assert "@odata.deltaLink" not in initial[0]  # §6.3: only on the last page
        delta_link = initial[-1]["@odata.deltaLink"]
        fake.clock.advance(60)
        fake.update_opportunity(second, name="renamed")
        fake.delete_opportunity(third)
        added = fake.add_opportunity("new")
        delta_pages = await pages(http, delta_link, headers)
        empty = (await http.get(delta_pages[-1]["@odata.deltaLink"], headers=headers)).json()
    delta = {**delta_pages[0], "value": [row for b in delta_pages for row in b["value"]]}
    assert sorted(row["opportunityid"] for b in initial for row in b["value"]) == sorted(
        [first, second, third]
    )
    assert len(delta_pages) == 2  # three changes, two per page
    assert "$deltatoken=" in delta_link
    version, _, stamp = unquote(delta_link.split("$deltatoken=")[1]).partition("!")
    assert version.isdigit()
    assert stamp.count("/") == 2
    assert delta["@odata.context"].endswith("/$delta")
    changed = [row for row in delta["value"] if "reason" not in row]
    deleted = [row for row in delta["value"] if "reason" in row]
    assert [(row["opportunityid"], row["name"]) for row in changed] == [
        (second, "renamed"),
        (added, "new"),
    ]
    assert deleted == [
        {
            "@odata.context": f"{API}/$metadata#opportunities/$deletedEntity",
            "id": third,
            "reason": "deleted",
        }
    ]
    assert delta["value"].index(deleted[0]) == len(delta["value"]) - 1  # deletions last
    assert empty["value"] == []
    assert "@odata.deltaLink" in empty


@pytest.mark.parametrize(
    "option", ["$filter=name eq 'x'", "$orderby=name", "$expand=parentaccountid", "$top=1"]
)
async def test_track_changes_refuses_filter_orderby_expand_and_top(option: str) -> None:
    fake = make()
    async with client(fake) as http:
        headers = {**await bearer(http), "Prefer": "odata.track-changes"}
        answer = await http.get(f"{API}/opportunities?{option}", headers=headers)
    name = option.split("=")[0]
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )


async def test_a_delta_token_older_than_the_expiry_fails_with_expired_version_stamp() -> None:
    fake = make()
    fake.add_opportunity("deal")
    async with client(fake) as http:
        headers = {**await bearer(http), "Prefer": "odata.track-changes"}
        link = (await http.get(f"{API}/opportunities", headers=headers)).json()["@odata.deltaLink"]
        fake.clock.advance(7 * 86_400 + 1)
        headers = {**await bearer(http), "Prefer": "odata.track-changes"}  # token expired too
        answer = await http.get(link, headers=headers)
        broken = await http.get(f"{API}/opportunities?$deltatoken=garbage", headers=headers)
    assert answer.json()["error"] == {
        "code": "0x80044352",
        "message": (
            "Version stamp associated with the client has expired. Please perform a full sync."
        ),
    }
    assert broken.status_code == 400


async def test_rows_changed_during_a_paged_initial_load_can_miss_the_delta() -> None:
    """§6.3 (3p): the token marks the end of the initial load; a modifiedon overlap finds them."""
    fake = make()
    early = fake.add_opportunity("early")
    fake.add_opportunity("late")
    load_started = fake.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    async with client(fake) as http:
        headers = {**await bearer(http), "Prefer": "odata.track-changes,odata.maxpagesize=1"}
        page_one = (await http.get(f"{API}/opportunities", headers=headers)).json()
        fake.clock.advance(5)
        fake.update_opportunity(early, name="changed while paging")
        last = (await http.get(page_one["@odata.nextLink"], headers=headers)).json()
        delta = (await http.get(last["@odata.deltaLink"], headers=headers)).json()
        overlap = (
            await http.get(
                f"{API}/opportunities?$filter=modifiedon ge {load_started}",
                headers={k: v for k, v in headers.items() if k != "Prefer"},
            )
        ).json()
    assert delta["value"] == []
    assert [row["name"] for row in overlap["value"] if row["opportunityid"] == early] == [
        "changed while paging"
    ]


async def test_picklist_metadata_has_the_documented_option_set_shape() -> None:
    fake = make()
    fake.add_choice_column("new_paymentterms", {100000000: "Net 30", 100000001: "Net 60"})
    fake.add_choice_column("new_region", {1: "EMEA"}, is_global=True)
    async with client(fake) as http:
        headers = await bearer(http)
        answer = await http.get(
            f"{API}/EntityDefinitions(LogicalName='opportunity')/Attributes/"
            "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
            "?$select=LogicalName&$expand=OptionSet($select=Options),GlobalOptionSet($select=Options)",
            headers=headers,
        )
    by_name = {row["LogicalName"]: row for row in answer.json()["value"]}
    local = by_name["new_paymentterms"]
    option = local["OptionSet"]["Options"][1]
    assert option["Value"] == 100000001
    assert option["Label"]["UserLocalizedLabel"]["Label"] == "Net 60"
    assert option["Label"]["LocalizedLabels"][0]["LanguageCode"] == 1033
    assert local["GlobalOptionSet"] is None
    assert by_name["new_region"]["OptionSet"] is None
    assert by_name["new_region"]["GlobalOptionSet"]["IsGlobal"] is True


async def test_the_attribute_catalog_flags_custom_columns() -> None:
    fake = make()
    fake.add_column("new_specialdiscount", "Decimal")
    async with client(fake) as http:
        headers = await bearer(http)
        answer = await http.get(
            f"{API}/EntityDefinitions(LogicalName='opportunity')/Attributes"
            "?$select=LogicalName,AttributeType,IsCustomAttribute",
            headers=headers,
        )
    rows = {row["LogicalName"]: row for row in answer.json()["value"]}
    assert rows["new_specialdiscount"]["IsCustomAttribute"] is True
    assert rows["new_specialdiscount"]["AttributeType"] == "Decimal"
    assert rows["name"]["IsCustomAttribute"] is False


async def test_the_request_limit_answers_429_with_retry_after_and_the_documented_code() -> None:
    fake = make(Limits(requests=5))
    async with client(fake) as http:
        headers = await bearer(http)
        answers = [await http.get(f"{API}/opportunities", headers=headers) for _ in range(6)]
        fake.clock.advance(int(answers[-1].headers["Retry-After"]))
        recovered = await http.get(f"{API}/opportunities", headers=headers)
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert [a.headers["x-ms-ratelimit-burst-remaining-xrm-requests"] for a in answers[:5]] == [
        "4",
        "3",
        "2",
        "1",
        "0",
    ]
    assert answers[-1].json()["error"] == {
        "code": "0x80072322",
        "message": "Number of requests exceeded the limit of 5 over time window of 300 seconds.",
    }
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 300
    assert recovered.status_code == 200


def test_default_service_protection_limits_are_the_documented_ones() -> None:
    limits = DataverseFake().limits
    assert (limits.requests, limits.execution_ms, limits.concurrent) == (6000, 1_200_000, 52)


async def test_the_execution_time_limit_answers_429_with_its_own_code() -> None:
    fake = make(Limits(execution_ms=1000, cost_ms_per_request=500))
    async with client(fake) as http:
        headers = await bearer(http)
        answers = [await http.get(f"{API}/opportunities", headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "0x80072321"
    assert "Retry-After" in answers[-1].headers


async def test_too_many_concurrent_requests_are_refused_at_once() -> None:
    fake = make(Limits(concurrent=2))
    async with client(fake) as http:
        headers = await bearer(http)
        fake.in_flight.hold()
        held = [
            asyncio.create_task(http.get(f"{API}/opportunities", headers=headers)) for _ in range(2)
        ]
        await fake.in_flight.until(2)
        refused = await http.get(f"{API}/opportunities", headers=headers)
        fake.in_flight.release()
        done = await asyncio.gather(*held)
    assert refused.status_code == 429
    assert refused.json()["error"] == {
        "code": "0x80072326",
        "message": "Number of concurrent requests exceeded the limit of 2.",
    }
    assert [a.status_code for a in done] == [200, 200]


async def test_related_accounts_come_in_one_filtered_query() -> None:
    fake = make()
    acme, globex = fake.add_account("Acme"), fake.add_account("Globex")
    fake.add_account("Other")
    async with client(fake) as http:
        headers = await bearer(http)
        answer = await http.get(
            f"{API}/accounts?$select=name&$filter=accountid eq {acme} or accountid eq {globex}",
            headers=headers,
        )
    assert sorted(row["name"] for row in answer.json()["value"]) == ["Acme", "Globex"]


async def test_missing_rows_unknown_sets_and_columns_get_the_error_object() -> None:
    fake = make()
    async with client(fake) as http:
        headers = await bearer(http)
        missing = await http.get(
            f"{API}/opportunities(00000000-0000-0000-0000-0000000000aa)", headers=headers
        )
        unknown_set = await http.get(f"{API}/quotes", headers=headers)
        unknown_column = await http.get(f"{API}/opportunities?$select=nope", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"].endswith("Does Not Exist")
    assert unknown_set.status_code == 404
    assert unknown_column.status_code == 400
    assert set(unknown_column.json()["error"]) == {"code", "message"}
