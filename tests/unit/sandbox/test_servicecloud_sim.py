"""The Service Cloud simulator plays the documented org (FACTS.md): raw HTTP, no connector."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from connectors.service.servicecloud.simulator import (
    DEMO_BASE_URL,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    ServiceCloudSimulator,
)
from connectors.service.servicecloud.simulator.schema import FieldSpec

pytestmark = pytest.mark.anyio

V = "/services/data/v61.0"
MOMENT = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Raw:
    """Direct HTTP to the simulator, for answers a connector would hide."""

    def __init__(self, sim: ServiceCloudSimulator) -> None:
        self.sim = sim
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sim.app), base_url=DEMO_BASE_URL
        )
        self.token = ""

    async def login(self, **form: str) -> httpx.Response:
        body = {
            "grant_type": "client_credentials",
            "client_id": DEMO_CLIENT_ID,
            "client_secret": DEMO_CLIENT_SECRET,
        } | form
        answer = await self.client.post("/services/oauth2/token", data=body)
        self.token = answer.json().get("access_token", "")
        return answer

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **(extra or {})}

    async def soql(self, text: str, *, all_rows: bool = False, batch: int = 0) -> httpx.Response:
        extra = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else None
        path = f"{V}/queryAll" if all_rows else f"{V}/query"
        return await self.client.get(path, params={"q": text}, headers=self._headers(extra))

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=self._headers())

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.client.patch(path, json=body, headers=self._headers())

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self._headers())

    async def update(self, *records: dict[str, Any], all_or_none: bool = False) -> httpx.Response:
        body = {"allOrNone": all_or_none, "records": list(records)}
        return await self.patch(f"{V}/composite/sobjects", body)


@pytest.fixture
async def raw() -> AsyncIterator[Raw]:
    client = Raw(ServiceCloudSimulator().seed_demo())
    await client.login()
    yield client
    await client.client.aclose()


def account(record_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Account"}, "id": record_id, **fields}


# -- sessions and the allocation ---------------------------------------------------------------


async def test_client_credentials_grant_issues_a_session_at_the_instance(raw: Raw) -> None:
    answer = await raw.login()
    body = answer.json()
    assert answer.status_code == 200
    assert body["instance_url"] == DEMO_BASE_URL
    assert {"access_token", "token_type", "issued_at", "signature"} <= set(body)
    assert "refresh_token" not in body


async def test_a_wrong_secret_is_an_oauth_error(raw: Raw) -> None:
    answer = await raw.login(client_secret="wrong")
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }


async def test_an_expired_session_answers_invalid_session_id(raw: Raw) -> None:
    raw.sim.pass_time(7201)
    answer = await raw.get(f"{V}/limits")
    assert answer.status_code == 401
    assert answer.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]


async def test_every_call_carries_its_count_against_the_rolling_allocation(raw: Raw) -> None:
    first = await raw.get(f"{V}/limits")
    second = await raw.get(f"{V}/limits")
    assert first.headers["Sforce-Limit-Info"] == "api-usage=1/100000"
    assert second.headers["Sforce-Limit-Info"] == "api-usage=2/100000"
    assert second.json()["DailyApiRequests"] == {"Max": 100000, "Remaining": 99998}


async def test_a_spent_allocation_answers_403_until_calls_age_out_of_24_hours(raw: Raw) -> None:
    raw.sim.set_api_usage(500, limit=500)
    refused = await raw.get(f"{V}/limits")
    assert refused.status_code == 403
    assert refused.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert "retry-after" not in refused.headers
    assert refused.headers["Sforce-Limit-Info"] == "api-usage=500/500"
    raw.sim.pass_time(3600)
    assert (await raw.get(f"{V}/limits")).status_code == 403  # the window rolls, it does not reset
    raw.sim.pass_time(24 * 3600)
    await raw.login()
    assert (await raw.get(f"{V}/limits")).status_code == 200


# -- describe -----------------------------------------------------------------------------------


async def test_describe_reports_character_lengths_and_picklist_restriction(raw: Raw) -> None:
    body = (await raw.get(f"{V}/sobjects/Account/describe")).json()
    fields = {f["name"]: f for f in body["fields"]}
    notes = fields["Deal_Terms__c"]
    assert (notes["type"], notes["length"], notes["extraTypeInfo"]) == (
        "textarea",
        32768,
        "plaintextarea",
    )
    assert fields["Payment_Terms__c"]["restrictedPicklist"] is True
    assert fields["Service_Tier__c"]["restrictedPicklist"] is False
    net90 = next(v for v in fields["Payment_Terms__c"]["picklistValues"] if v["value"] == "Net 90")
    assert net90["active"] is False
    assert fields["Customer_Number__c"]["externalId"] is True
    assert fields["IsPersonAccount"]["updateable"] is False


async def test_person_account_fields_exist_only_where_person_accounts_are_enabled() -> None:
    client = Raw(ServiceCloudSimulator(person_accounts=False))
    await client.login()
    account_fields = (await client.get(f"{V}/sobjects/Account/describe")).json()["fields"]
    contact_fields = (await client.get(f"{V}/sobjects/Contact/describe")).json()["fields"]
    await client.client.aclose()
    names = {f["name"] for f in account_fields} | {f["name"] for f in contact_fields}
    assert not names & {"IsPersonAccount", "PersonEmail", "PersonContactId"}


# -- queries ------------------------------------------------------------------------------------


async def test_batches_follow_next_records_url_to_done() -> None:
    sim = ServiceCloudSimulator(batch_cap=4).seed_demo()
    client = Raw(sim)
    await client.login()
    page = (await client.soql("SELECT Id FROM Account ORDER BY Id")).json()
    ids = [r["Id"] for r in page["records"]]
    while not page["done"]:
        page = (await client.get(page["nextRecordsUrl"])).json()
        ids += [r["Id"] for r in page["records"]]
    await client.client.aclose()
    assert len(ids) == len(set(ids)) == len(sim.records("Account"))
    assert ids == sorted(ids)


async def test_batch_size_is_clamped_to_200_through_2000(raw: Raw) -> None:
    raw.sim.seed_bulk(450)
    small = (await raw.soql("SELECT Id FROM Account", batch=50)).json()
    large = (await raw.soql("SELECT Id FROM Account", batch=5000)).json()
    assert len(small["records"]) == 200
    assert len(large["records"]) == large["totalSize"]


@pytest.mark.parametrize(
    ("soql", "code", "words"),
    [
        ("SELECT Id, Nope__c FROM Account", "INVALID_FIELD", "No such column 'Nope__c'"),
        (
            "SELECT Id FROM Account WHERE SystemModstamp > '2026-01-01T00:00:00Z'",
            "INVALID_FIELD",
            "must be of type dateTime and should not be enclosed in quotes",
        ),
        (
            "SELECT Id FROM Account WHERE Deal_Terms__c = 'x'",
            "INVALID_FIELD",
            "can not be filtered",
        ),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", "MALFORMED_QUERY", ""),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "not supported"),
        (f"SELECT Id FROM Account WHERE Name = '{'x' * 4001}'", "MALFORMED_QUERY", "4000"),
    ],
)
async def test_refused_queries_fail_whole_with_a_top_level_error_array(
    raw: Raw, soql: str, code: str, words: str
) -> None:
    answer = await raw.soql(soql)
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == code
    assert words in error["message"]


async def test_a_uri_over_16384_bytes_is_refused(raw: Raw) -> None:
    ids = ", ".join(f"'001Dx{n:013d}'" for n in range(800))
    answer = await raw.soql(f"SELECT Id FROM Account WHERE Id IN ({ids})")
    assert answer.status_code == 414


async def test_text_filters_ignore_case_and_ids_compare_exactly(raw: Raw) -> None:
    hits = await raw.soql("SELECT Id FROM Account WHERE Customer_Number__c IN ('cust-1001')")
    assert [r["Id"] for r in hits.json()["records"]] == [raw.sim.customers["acme"][0]]
    lowered = raw.sim.customers["acme"][0].lower()
    misses = await raw.soql(f"SELECT Id FROM Account WHERE Id = '{lowered}'")
    assert misses.json()["records"] == []


async def test_a_unique_case_sensitive_field_compares_exactly(raw: Raw) -> None:
    raw.sim.add_field(
        "Account",
        FieldSpec("Legacy_Key__c", "string", "Legacy Key", length=20, case_sensitive=True),
    )
    record = raw.sim.add_account("Exact", Legacy_Key__c="AbC-1")
    describe = (await raw.get(f"{V}/sobjects/Account/describe")).json()
    [field] = [f for f in describe["fields"] if f["name"] == "Legacy_Key__c"]
    exact = await raw.soql("SELECT Id FROM Account WHERE Legacy_Key__c IN ('AbC-1')")
    lowered = await raw.soql("SELECT Id FROM Account WHERE Legacy_Key__c IN ('abc-1')")
    assert field["caseSensitive"] is True
    assert [r["Id"] for r in exact.json()["records"]] == [record]
    assert lowered.json()["records"] == []


async def test_query_leaves_the_recycle_bin_out_and_query_all_brings_it(raw: Raw) -> None:
    acme = raw.sim.customers["acme"][0]
    raw.sim.delete("Account", acme)
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Id = '{acme}'"
    assert (await raw.soql(soql)).json()["records"] == []
    [row] = (await raw.soql(soql, all_rows=True)).json()["records"]
    assert row["IsDeleted"] is True


async def test_the_keyset_pages_ties_in_id_order(raw: Raw) -> None:
    ids = [raw.sim.add_account(f"Tie {n}", stamp=MOMENT) for n in range(4)]
    soql = (
        "SELECT Id FROM Account WHERE (SystemModstamp > 2026-03-01T12:00:00Z OR "
        f"(SystemModstamp = 2026-03-01T12:00:00Z AND Id > '{ids[1]}')) "
        "ORDER BY SystemModstamp ASC, Id ASC"
    )
    rows = (await raw.soql(soql)).json()["records"]
    assert [r["Id"] for r in rows][:2] == ids[2:]


async def test_records_come_back_with_attributes_and_salesforce_datetimes(raw: Raw) -> None:
    record_id = raw.sim.add_account("Stamped", stamp=MOMENT)
    [row] = (
        await raw.soql(f"SELECT Id, SystemModstamp FROM Account WHERE Id = '{record_id}'")
    ).json()["records"]
    assert row == {
        "attributes": {"type": "Account", "url": f"{V}/sobjects/Account/{record_id}"},
        "Id": record_id,
        "SystemModstamp": "2026-03-01T12:00:00.000+0000",
    }


async def test_an_idle_query_locator_expires_after_15_minutes() -> None:
    sim = ServiceCloudSimulator(batch_cap=2).seed_demo()
    client = Raw(sim)
    await client.login()
    page = (await client.soql("SELECT Id FROM Account")).json()
    sim.pass_time(16 * 60)
    await client.login()
    answer = await client.get(page["nextRecordsUrl"])
    await client.client.aclose()
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


# -- sObject Collections ------------------------------------------------------------------------


async def test_a_collection_answers_save_results_in_request_order(raw: Raw) -> None:
    acme, globex = raw.sim.customers["acme"][0], raw.sim.customers["globex"][0]
    raw.sim.delete("Account", globex)
    answer = await raw.update(
        account(acme, SLA_Promise__c="4h"),
        account(globex, SLA_Promise__c="8h"),
        account("001Dx0000000999AAA", SLA_Promise__c="1h"),
        account("003Dx0000000000002", SLA_Promise__c="2h"),
    )
    assert answer.status_code == 200
    results = answer.json()
    assert results[0] == {"id": acme, "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == ["ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"]
    assert all("id" not in r and r["success"] is False for r in results[1:])
    assert raw.sim.record("Account", acme)["SLA_Promise__c"] == "4h"


async def test_an_unknown_field_refuses_the_whole_call_and_writes_nothing(raw: Raw) -> None:
    acme, globex = raw.sim.customers["acme"][0], raw.sim.customers["globex"][0]
    answer = await raw.update(account(acme, SLA_Promise__c="4h"), account(globex, Nope__c=1))
    assert answer.status_code == 400
    assert answer.json() == [
        {
            "message": "No such column 'Nope__c' on sobject of type Account",
            "errorCode": "INVALID_FIELD",
            "fields": ["Nope__c"],
        }
    ]
    assert raw.sim.record("Account", acme).get("SLA_Promise__c") is None


async def test_more_than_200_records_or_10_type_chunks_are_refused(raw: Raw) -> None:
    acme = raw.sim.customers["acme"][0]
    contact = raw.sim.customers["acme"][1]
    many = await raw.update(*[account(acme, SLA_Promise__c="x")] * 201)
    assert many.status_code == 400
    assert many.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    alternating = [
        account(acme) if n % 2 == 0 else {"attributes": {"type": "Contact"}, "id": contact}
        for n in range(11)
    ]
    chunks = await raw.update(*alternating)
    assert chunks.status_code == 400


async def test_text_areas_count_utf8_bytes_and_one_line_text_counts_characters(raw: Raw) -> None:
    acme = raw.sim.customers["acme"][0]
    fits_chars_not_bytes = "é" * 20_000  # 20,000 characters, 40,000 bytes > 32,768
    answer = await raw.update(
        account(acme, Deal_Terms__c=fits_chars_not_bytes),
        account(acme, SLA_Promise__c="é" * 255),
    )
    first, second = answer.json()
    assert first["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert first["errors"][0]["fields"] == ["Deal_Terms__c"]
    assert second["success"] is True


async def test_only_restricted_picklists_refuse_values_outside_their_list(raw: Raw) -> None:
    acme = raw.sim.customers["acme"][0]
    answer = await raw.update(
        account(acme, Payment_Terms__c="Net 90"),  # restricted, and Net 90 is inactive
        account(acme, Service_Tier__c="Platinum"),  # unrestricted: stored as given
    )
    restricted, unrestricted = answer.json()
    assert restricted["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert unrestricted["success"] is True
    assert raw.sim.record("Account", acme)["Service_Tier__c"] == "Platinum"


async def test_read_only_fields_and_required_fields_fail_their_record(raw: Raw) -> None:
    acme = raw.sim.customers["acme"][0]
    answer = await raw.update(account(acme, Account_Score__c=3.0), account(acme, Name=None))
    read_only, required = answer.json()
    assert read_only["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert required["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"


async def test_a_json_value_of_the_wrong_type_refuses_the_whole_call(raw: Raw) -> None:
    answer = await raw.update(account(raw.sim.customers["acme"][0], Special_Discount__c="ten"))
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


async def test_all_or_none_rolls_every_record_back(raw: Raw) -> None:
    acme, globex = raw.sim.customers["acme"][0], raw.sim.customers["globex"][0]
    answer = await raw.update(
        account(acme, SLA_Promise__c="4h"),
        account(globex, Payment_Terms__c="Net 99"),
        all_or_none=True,
    )
    first, second = answer.json()
    assert first["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert second["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert raw.sim.record("Account", acme).get("SLA_Promise__c") is None


async def test_locked_rows_and_validation_rules_fail_only_their_record(raw: Raw) -> None:
    acme, globex = raw.sim.customers["acme"][0], raw.sim.customers["globex"][0]
    raw.sim.lock(acme)
    raw.sim.add_validation_rule(
        "Account",
        lambda r: (r.get("Special_Discount__c") or 0) > 50,
        "Discount over 50% needs a VP",
        "Special_Discount__c",
    )
    answer = await raw.update(
        account(acme, SLA_Promise__c="4h"), account(globex, Special_Discount__c=60)
    )
    locked, ruled = answer.json()
    assert locked["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert ruled["errors"][0] == {
        "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
        "message": "Discount over 50% needs a VP",
        "fields": ["Special_Discount__c"],
    }
    again = await raw.update(account(acme, SLA_Promise__c="4h"))
    assert again.json()[0]["success"] is True  # the lock was held for one write


async def test_every_save_moves_system_modstamp_and_a_person_account_moves_its_contact() -> None:
    sim = ServiceCloudSimulator()
    account_id, contact_id = sim.add_person_account(
        "Dana", "Whitfield", "dana@whitfield.example", stamp=MOMENT
    )
    client = Raw(sim)
    await client.login()
    await client.update(account(account_id, PersonEmail="dana@new.example"))
    await client.client.aclose()
    saved_account, person_contact = (
        sim.record("Account", account_id),
        sim.record("Contact", contact_id),
    )
    assert saved_account["SystemModstamp"] > MOMENT
    assert person_contact["LastModifiedDate"] == saved_account["LastModifiedDate"]
    assert person_contact["Email"] == "dana@new.example"


async def test_an_admin_dropping_a_field_makes_it_unknown_to_queries_and_writes(raw: Raw) -> None:
    raw.sim.drop_field("Account", "SLA_Promise__c")
    raw.sim.add_field("Account", FieldSpec("Region__c", "string", "Region", length=20))
    query = await raw.soql("SELECT Id, SLA_Promise__c FROM Account")
    write = await raw.update(account(raw.sim.customers["acme"][0], Region__c="West"))
    assert query.json()[0]["errorCode"] == "INVALID_FIELD"
    assert write.json()[0]["success"] is True


# -- upsert, create: alert cases ------------------------------------------------------------------


async def test_upsert_by_external_id_creates_once_then_finds_the_same_case(raw: Raw) -> None:
    path = f"{V}/composite/sobjects/Case/Dealbridge_Key__c"
    record = {"attributes": {"type": "Case"}, "Dealbridge_Key__c": "alert-1", "Subject": "x"}
    first = (await raw.patch(path, {"allOrNone": False, "records": [record]})).json()
    second = (await raw.patch(path, {"allOrNone": False, "records": [record]})).json()
    assert first[0]["created"] is True
    assert second[0] == {"id": first[0]["id"], "success": True, "errors": [], "created": False}
    assert len(raw.sim.records("Case")) == 1


async def test_upsert_by_a_field_that_is_no_external_id_is_not_found(raw: Raw) -> None:
    answer = await raw.patch(f"{V}/composite/sobjects/Case/Subject", {"records": []})
    assert answer.status_code == 404
    assert answer.json()[0]["errorCode"] == "NOT_FOUND"


async def test_a_comment_on_a_deleted_case_is_refused(raw: Raw) -> None:
    created = (await raw.post(f"{V}/sobjects/Case", {"Subject": "x"})).json()
    assert created["success"] is True
    raw.sim.delete("Case", created["id"])
    comment = {"ParentId": created["id"], "CommentBody": "note", "IsPublished": False}
    answer = await raw.post(f"{V}/sobjects/CaseComment", comment)
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


async def test_a_comment_body_holds_4000_bytes(raw: Raw) -> None:
    case_id = (await raw.post(f"{V}/sobjects/Case", {"Subject": "x"})).json()["id"]
    too_long = {"ParentId": case_id, "CommentBody": "€" * 1334, "IsPublished": False}
    answer = await raw.post(f"{V}/sobjects/CaseComment", too_long)
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "STRING_TOO_LONG"


def test_seeded_demo_holds_every_customer_and_one_person_account() -> None:
    sim = ServiceCloudSimulator().seed_demo()
    people = [a for a in sim.records("Account") if a.get("IsPersonAccount")]
    assert len(people) == 1
    person_contact = sim.record("Contact", people[0]["PersonContactId"])
    assert person_contact["IsPersonAccount"] is True
    assert person_contact["Email"] == people[0]["PersonEmail"]
    assert len(sim.customers) == len(sim.records("Account"))


def test_seed_bulk_shares_stamps_three_by_three() -> None:
    sim = ServiceCloudSimulator()
    ids = sim.seed_bulk(9)
    stamps = [sim.record("Account", i)["SystemModstamp"] for i in ids]
    assert len(set(stamps)) == 3
    assert stamps == sorted(stamps)
    assert max(stamps) - min(stamps) == timedelta(seconds=2)
