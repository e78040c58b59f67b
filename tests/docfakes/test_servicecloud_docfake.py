"""The Service Cloud doc-fake behaves as connectors/service/servicecloud/FACTS.md says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.docfakes.desk_clock import FakeClock
from tests.docfakes.servicecloud import FieldDef, ServiceCloudFake

BASE = "https://acme-service.my.salesforce.com"
API = "/services/data/v62.0"
DEAL = FieldDef("Deal_Terms__c", "textarea", 1_000, custom=True)
TIER = FieldDef(
    "Tier__c", "picklist", 255, custom=True, picklist=("Gold", "Silver"), restricted=True
)
EXT = FieldDef("Territory_Id__c", "string", 40, custom=True, external_id=True)
pytestmark = pytest.mark.anyio


def new_fake(clock: FakeClock, **options: Any) -> ServiceCloudFake:
    fake = ServiceCloudFake(clock, **options)
    for definition in (DEAL, TIER, EXT):
        fake.define_field("Account", definition)
    return fake


@asynccontextmanager
async def open_session(fake: ServiceCloudFake) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a client-credentials session (§1.1)."""
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": "consumer-key",
            "client_secret": "consumer-secret",
        }
        token = await client.post("/services/oauth2/token", data=form)
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        yield client


def run(fake: ServiceCloudFake, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        async with open_session(fake) as client:
            await scenario(client)

    asyncio.run(main())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> ServiceCloudFake:
    return new_fake(clock)


@pytest.fixture
async def client(fake: ServiceCloudFake) -> AsyncIterator[httpx.AsyncClient]:
    async with open_session(fake) as client:
        yield client


def error_code(response: httpx.Response) -> str:
    """§7.3: top-level errors are a JSON array of ``{message, errorCode}``."""
    body = response.json()
    assert isinstance(body, list)
    return str(body[0]["errorCode"])


async def soql(client: httpx.AsyncClient, query: str) -> httpx.Response:
    return await client.get(f"{API}/query", params={"q": query})


async def update(
    client: httpx.AsyncClient, records: list[dict[str, Any]], *, all_or_none: bool = False
) -> Any:
    body = {"allOrNone": all_or_none, "records": records}
    response = await client.patch(f"{API}/composite/sobjects", json=body)
    assert response.status_code == 200
    return response.json()


def account(record_id: str, **values: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "id": record_id, **values}


# ---- authentication and limits ------------------------------------------------------------------


async def test_client_credentials_and_jwt_bearer_both_open_a_session(clock: FakeClock) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = new_fake(clock, jwt_public_key=public.decode())
    claims = {
        "iss": "consumer-key",
        "sub": "integration@acme",
        "aud": "https://login.salesforce.com",
        "exp": int(clock.now()) + 180,
    }
    assertion = jwt.encode(claims, key, algorithm="RS256")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=fake.app), base_url=BASE
    ) as client:
        granted = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
            },
        )
        assert granted.status_code == 200
        assert granted.json()["instance_url"] == BASE
        wrong = await client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "consumer-key",
                "client_secret": "x",
            },
        )
        assert wrong.status_code == 400
        assert wrong.json() == {
            "error": "invalid_client",
            "error_description": "invalid client credentials",
        }


async def test_an_expired_session_is_401_invalid_session_id(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    clock.advance(7_200)
    response = await soql(client, "SELECT Id FROM Account")
    assert response.status_code == 401
    assert error_code(response) == "INVALID_SESSION_ID"


async def test_usage_is_reported_on_every_answer_and_the_daily_allocation_ends_in_403(
    clock: FakeClock,
) -> None:
    fake = new_fake(clock, daily_limit=3, session_seconds=2 * 86_400)
    async with open_session(fake) as client:
        answers = [await soql(client, "SELECT Id FROM Account") for _ in range(4)]
        assert [r.headers["Sforce-Limit-Info"] for r in answers] == [
            "api-usage=1/3",
            "api-usage=2/3",
            "api-usage=3/3",
            "api-usage=3/3",
        ]
        refused = answers[-1]
        assert refused.status_code == 403
        assert refused.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
        assert "Retry-After" not in refused.headers
        clock.advance(86_400)  # the rolling 24 hours let the first calls go
        assert (await soql(client, "SELECT Id FROM Account")).status_code == 200


# ---- catalog and reads --------------------------------------------------------------------------


async def test_describe_gives_length_updateable_and_restricted_picklists(
    client: httpx.AsyncClient,
) -> None:
    fields = {
        f["name"]: f
        for f in (await client.get(f"{API}/sobjects/Account/describe")).json()["fields"]
    }
    assert fields["Deal_Terms__c"]["type"] == "textarea"
    assert fields["Deal_Terms__c"]["length"] == 1_000
    assert fields["Deal_Terms__c"]["custom"] is True
    assert fields["Description"]["length"] == 32_000
    assert fields["IsPersonAccount"]["updateable"] is False
    assert fields["Tier__c"]["restrictedPicklist"] is True
    assert [v["value"] for v in fields["Tier__c"]["picklistValues"]] == ["Gold", "Silver"]
    assert fields["Territory_Id__c"]["externalId"] is True


async def test_external_ids_are_looked_up_in_one_soql_in_clause(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    for n in range(5):
        fake.insert("Account", {"Name": f"A{n}", "Territory_Id__c": f"sf-{n}"})
    response = await soql(
        client,
        "SELECT Id, Territory_Id__c FROM Account WHERE Territory_Id__c IN ('sf-1', 'sf-4', 'sf-9')",
    )
    assert sorted(r["Territory_Id__c"] for r in response.json()["records"]) == ["sf-1", "sf-4"]
    assert response.json()["records"][0]["attributes"]["type"] == "Account"


async def test_a_field_the_org_does_not_have_fails_the_whole_query(
    client: httpx.AsyncClient,
) -> None:
    response = await soql(client, "SELECT Id, Missing__c FROM Account")
    assert response.status_code == 400
    assert error_code(response) == "INVALID_FIELD"


@given(rows=st.integers(0, 25), batch=st.integers(1, 7))
@settings(max_examples=25, deadline=None)
def test_next_records_url_pages_through_every_row_once(rows: int, batch: int) -> None:
    fake = new_fake(FakeClock(), query_batch=batch)
    ids = {fake.insert("Account", {"Name": str(n)}) for n in range(rows)}

    async def scenario(client: httpx.AsyncClient) -> None:
        page = (await soql(client, "SELECT Id FROM Account")).json()
        seen = [r["Id"] for r in page["records"]]
        while not page["done"]:
            assert page["totalSize"] == rows
            page = (await client.get(page["nextRecordsUrl"])).json()
            seen += [r["Id"] for r in page["records"]]
        assert sorted(seen) == sorted(ids)

    run(fake, scenario)


@given(
    gaps=st.lists(st.sampled_from([0.0, 0.0, 0.5, 1.0]), min_size=1, max_size=20),
    limit=st.integers(1, 5),
)
@settings(max_examples=30, deadline=None)
def test_keyset_on_system_modstamp_reads_every_row_once_despite_equal_stamps(
    gaps: list[float], limit: int
) -> None:
    clock = FakeClock()
    fake = new_fake(clock)
    ids = []
    for gap in gaps:
        clock.advance(gap)
        ids.append(fake.insert("Account", {"Name": "x"}))

    async def scenario(client: httpx.AsyncClient) -> None:
        stamp, last, seen = "2000-01-01T00:00:00.000+0000", "", []
        while True:
            where = f"SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{last}')"
            page = (
                await soql(
                    client,
                    f"SELECT Id, SystemModstamp FROM Account WHERE {where} "
                    f"ORDER BY SystemModstamp, Id LIMIT {limit}",
                )
            ).json()
            if not page["records"]:
                break
            seen += [r["Id"] for r in page["records"]]
            stamp, last = page["records"][-1]["SystemModstamp"], page["records"][-1]["Id"]
        assert sorted(seen) == sorted(ids)
        assert len(seen) == len(set(seen))

    run(fake, scenario)


async def test_collection_retrieve_keeps_id_order_and_answers_null_for_unknown_ids(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    first = fake.insert("Account", {"Name": "One"})
    second = fake.insert("Account", {"Name": "Two"})
    body = {"ids": [second, "001000000000999AAA", first], "fields": ["Name", "Deal_Terms__c"]}
    records = (await client.post(f"{API}/composite/sobjects/Account", json=body)).json()
    assert [r and r["Name"] for r in records] == ["Two", None, "One"]


# ---- writes -------------------------------------------------------------------------------------


async def test_a_collection_reports_each_record_in_order_and_writes_the_valid_ones(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    ok = fake.insert("Account", {"Name": "ok"})
    gone = fake.insert("Account", {"Name": "gone"})
    fake.delete("Account", gone)
    long = fake.insert("Account", {"Name": "long"})
    tier = fake.insert("Account", {"Name": "tier"})
    person = fake.add_person_account("Doe", "doe@example.test")
    results = await update(
        client,
        [
            account(ok, Deal_Terms__c="10% off"),
            account(gone, Deal_Terms__c="x"),
            account(long, Deal_Terms__c="é" * 501),  # 1,002 bytes in a 1,000 field
            account(tier, Tier__c="Platinum"),
            account(person, IsPersonAccount=False),
            account("not-an-id", Deal_Terms__c="x"),
        ],
    )
    assert results[0] == {"id": ok, "success": True, "errors": []}
    codes = [[e["statusCode"] for e in r["errors"]] for r in results[1:]]
    assert codes == [
        ["ENTITY_IS_DELETED"],
        ["STRING_TOO_LONG"],
        ["INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"],
        ["INVALID_FIELD_FOR_INSERT_UPDATE"],
        ["MALFORMED_ID"],
    ]
    assert all(r["success"] is False and "id" not in r for r in results[1:])
    assert results[2]["errors"][0]["fields"] == ["Deal_Terms__c"]
    assert fake.objects["Account"].records[ok]["Deal_Terms__c"] == "10% off"
    assert fake.objects["Account"].records[long]["Deal_Terms__c"] is None


async def test_all_or_none_rolls_every_record_back_when_one_fails(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    ok = fake.insert("Account", {"Name": "ok"})
    bad = fake.insert("Account", {"Name": "bad"})
    results = await update(
        client, [account(ok, Deal_Terms__c="x"), account(bad, Tier__c="Nope")], all_or_none=True
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert fake.objects["Account"].records[ok]["Deal_Terms__c"] is None


async def test_more_than_200_records_fail_the_whole_call_and_200_cost_one_request(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    ids = [fake.insert("Account", {"Name": str(n)}) for n in range(201)]
    too_many = await client.patch(
        f"{API}/composite/sobjects", json={"records": [account(i, Deal_Terms__c="x") for i in ids]}
    )
    assert too_many.status_code == 400
    assert error_code(too_many) == "EXCEEDED_ID_LIMIT"
    used_before = len(fake.usage)
    results = await update(client, [account(i, Deal_Terms__c="x") for i in ids[:200]])
    assert all(r["success"] for r in results)
    assert len(fake.usage) == used_before + 1


async def test_an_unknown_field_fails_the_whole_collection_call(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    ok = fake.insert("Account", {"Name": "ok"})
    response = await client.patch(
        f"{API}/composite/sobjects",
        json={"records": [account(ok, Deal_Terms__c="x"), account(ok, Nope__c="x")]},
    )
    assert response.status_code == 400
    assert error_code(response) == "INVALID_FIELD"
    assert fake.objects["Account"].records[ok]["Deal_Terms__c"] is None


@given(text=st.text(alphabet=st.sampled_from("aé€😀"), max_size=400))
@settings(max_examples=40, deadline=None)
def test_long_text_is_measured_in_utf8_bytes(text: str) -> None:
    fake = new_fake(FakeClock())
    fake.define_field("Account", FieldDef("Short_Note__c", "textarea", 600, custom=True))
    record = fake.insert("Account", {"Name": "x"})

    async def scenario(client: httpx.AsyncClient) -> None:
        result = (await update(client, [account(record, Short_Note__c=text)]))[0]
        assert result["success"] is (len(text.encode()) <= 600)

    run(fake, scenario)


async def test_a_person_account_update_moves_the_person_contacts_modstamp_too(
    client: httpx.AsyncClient, fake: ServiceCloudFake, clock: FakeClock
) -> None:
    person = fake.add_person_account("Doe", "doe@example.test")
    contact_id = fake.objects["Account"].records[person]["PersonContactId"]
    clock.advance(60)
    await update(client, [account(person, Deal_Terms__c="x")])
    account_stamp = fake.objects["Account"].records[person]["SystemModstamp"]
    assert fake.objects["Contact"].records[contact_id]["SystemModstamp"] == account_stamp


async def test_field_history_names_who_changed_the_note_but_not_long_text(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    fake.track_history("Account", "Deal_Terms__c")
    record = fake.insert("Account", {"Name": "Acme", "Deal_Terms__c": "short"})
    fake.agent_edit("Account", record, {"Deal_Terms__c": "x" * 300})
    rows = (
        await soql(
            client,
            f"SELECT CreatedById, OldValue, NewValue FROM AccountHistory "
            f"WHERE AccountId = '{record}'",
        )
    ).json()["records"]
    assert [(r["CreatedById"], r["OldValue"], r["NewValue"]) for r in rows] == [
        ("005000000000AGENT", "short", None)
    ]


async def test_a_case_comment_needs_its_case_and_fits_4000_bytes(
    client: httpx.AsyncClient, fake: ServiceCloudFake
) -> None:
    case = (await client.post(f"{API}/sobjects/Case", json={"Subject": "Deal conflict"})).json()
    assert case["success"] is True
    created = await client.post(
        f"{API}/sobjects/CaseComment",
        json={"ParentId": case["id"], "CommentBody": "x", "IsPublished": False},
    )
    assert created.status_code == 201
    orphan = await client.post(f"{API}/sobjects/CaseComment", json={"CommentBody": "x"})
    assert error_code(orphan) == "REQUIRED_FIELD_MISSING"
    too_long = await client.post(
        f"{API}/sobjects/CaseComment", json={"ParentId": case["id"], "CommentBody": "€" * 1_334}
    )
    assert error_code(too_long) == "STRING_TOO_LONG"
