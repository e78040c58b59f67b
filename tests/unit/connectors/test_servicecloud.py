"""Service Cloud target: login, identity feed, lookups, reads, limits, catalog (respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.base import Cursor, IdentityKey, RecordRef, ServiceTarget, TicketDesk
from connectors.errors import AuthError, BudgetExhausted, PermanentError
from connectors.service.servicecloud import ServiceCloudTarget
from connectors.service.servicecloud.identity import FeedCursor
from tests.fixtures.salesforce.support import FakeSleep
from tests.fixtures.servicecloud.support import (
    ACCESS_TOKEN,
    ACCOUNT,
    API,
    CLIENT_ID,
    CLIENT_SECRET,
    CONTACT,
    OTHER,
    PERSON,
    SECOND_TOKEN,
    TOKEN_URL,
    answer,
    load,
    make_config,
    make_target,
    mock_org,
    rows,
    soql_of,
    token_body,
)

pytestmark = pytest.mark.anyio

EXPIRED = load("../salesforce/expired_session_response.json")
TOTAL = [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}]
CONCURRENT = load("../salesforce/concurrent_limit_exceeded_response.json")


async def pages(target: ServiceTarget, since: Cursor | None = None) -> list[Any]:
    return [page async for page in target.customers(since)]


def test_the_target_offers_the_ticket_desk_capability(monkeypatch: pytest.MonkeyPatch) -> None:
    target = make_target(monkeypatch)
    assert isinstance(target, ServiceTarget)
    assert isinstance(target, TicketDesk)
    assert target.write_batch_size == 200


# -- login ---------------------------------------------------------------------------------------


async def test_client_credentials_login_then_calls_go_to_the_instance(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    limits = respx_mock.get(f"{API}/query").mock(return_value=answer(rows({"Id": ACCOUNT})))
    target = make_target(monkeypatch)
    health = await target.check()
    await target.aclose()
    login = respx_mock.post(TOKEN_URL)
    assert dict(httpx.QueryParams(login.calls[0].request.content.decode())) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    assert limits.calls.last.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    assert soql_of(limits.calls.last.request) == "SELECT Id FROM Account LIMIT 1"
    assert health.ok, health.detail
    assert health.api_usage == "19/100000 API requests used (rolling 24 h)"


async def test_an_expired_session_logs_in_once_more_and_replays(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    login = respx_mock.post(TOKEN_URL).mock(
        side_effect=[
            httpx.Response(200, json=token_body(ACCESS_TOKEN)),
            httpx.Response(200, json=token_body(SECOND_TOKEN)),
        ]
    )
    limits = respx_mock.get(f"{API}/query").mock(
        side_effect=[answer(EXPIRED, 401), answer(rows({"Id": ACCOUNT}))]
    )
    target = make_target(monkeypatch)
    assert (await target.check()).ok
    await target.aclose()
    assert login.call_count == 2
    assert limits.calls.last.request.headers["Authorization"] == f"Bearer {SECOND_TOKEN}"


async def test_a_refused_grant_is_an_unhealthy_check_naming_the_flow_without_the_secret(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = load("../salesforce/auth_error_response.json")
    respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(400, json=refused))
    target = make_target(monkeypatch)
    with capture_logs() as logs:
        health = await target.check()
    await target.aclose()
    assert not health.ok
    assert "client_credentials grant" in health.detail
    assert CLIENT_SECRET not in health.detail + repr(logs)


def test_config_mistakes_are_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="not a Salesforce field API name"):
        make_config(monkeypatch, note_field="Deal Terms")
    with pytest.raises(ValidationError, match="My Domain URL"):
        make_config(monkeypatch, base_url="https://login.salesforce.com")
    with pytest.raises(ValidationError, match="less than or equal to 200"):
        make_config(monkeypatch, write_batch_size=201)
    with pytest.raises(ValidationError, match="inline secrets are refused"):
        make_config(
            monkeypatch,
            auth={"flow": "client_credentials", "client_id": "x", "client_secret": "plain"},
        )


# -- the identity feed ----------------------------------------------------------------------------


async def test_feed_reads_identity_fields_by_keyset_with_deleted_rows(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    first = respx_mock.get(f"{API}/queryAll").mock(return_value=answer(load("accounts_page1.json")))
    more = respx_mock.get(f"{API}/query/01gRO0000016PIAYA2-2000").mock(
        return_value=answer(load("accounts_page2.json"))
    )
    target = make_target(monkeypatch)
    found = await pages(target)
    await target.aclose()
    soql = soql_of(first.calls.last.request)
    assert soql == (
        "SELECT Id, Name, SystemModstamp, IsDeleted, Customer_Number__c, Website, PersonEmail, "
        "IsPersonAccount FROM Account ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert first.calls.last.request.headers["Sforce-Query-Options"] == "batchSize=2000"
    assert more.call_count == 1
    records = [r for page in found for r in page.records]
    acme, person, globex, initech = records
    assert (acme.external_id, acme.domains, acme.emails) == (
        "CUST-1001",
        ("https://www.acme.example/",),
        (),
    )
    assert person.emails == ("dana@whitfield.example",)  # a person account: found by PersonEmail
    assert globex.deleted
    assert initech.version == "2026-02-01T10:05:00.000+0000"
    assert json.loads(found[-1].checkpoint.value)["account"] == {
        "id": "001RO000003oLrKYAU",
        "stamp": "2026-02-01T10:05:00+00:00",
    }


async def test_feed_resumes_after_its_checkpoint_with_the_id_keyset(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    query = respx_mock.get(f"{API}/queryAll").mock(return_value=answer(rows()))
    target = make_target(monkeypatch, record_kinds=["account", "contact"])
    since = Cursor(
        value=json.dumps({"account": {"stamp": "2026-02-01T09:30:00+00:00", "id": PERSON}})
    )
    found = await pages(target, since)
    await target.aclose()
    account_soql, contact_soql = (soql_of(c.request) for c in query.calls)
    assert account_soql.endswith(
        "FROM Account WHERE (SystemModstamp > 2026-02-01T09:30:00Z OR (SystemModstamp = "
        f"2026-02-01T09:30:00Z AND Id > '{PERSON}')) ORDER BY SystemModstamp ASC, Id ASC"
    )
    assert "WHERE IsPersonAccount = false" in contact_soql  # person contacts come as accounts
    assert json.loads(found[-1].checkpoint.value)["account"]["id"] == PERSON


async def test_feed_with_millisecond_stamps_restarts_at_the_second_and_drops_what_it_read(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    stamp = "2026-02-01T09:30:00.500+0000"
    earlier = {"Id": ACCOUNT, "Name": "A", "SystemModstamp": "2026-02-01T09:30:00.200+0000"}
    same = {"Id": PERSON, "Name": "P", "SystemModstamp": stamp}
    later = {"Id": OTHER, "Name": "O", "SystemModstamp": stamp}
    query = respx_mock.get(f"{API}/queryAll").mock(return_value=answer(rows(earlier, same, later)))
    target = make_target(monkeypatch)
    since = Cursor(
        value=json.dumps({"account": {"stamp": "2026-02-01T09:30:00.500+00:00", "id": PERSON}})
    )
    found = await pages(target, since)
    await target.aclose()
    assert "SystemModstamp > 2026-02-01T09:30:00Z" in soql_of(query.calls.last.request)
    assert [r.ref.id for p in found for r in p.records] == [OTHER]


def test_an_unreadable_cursor_reads_everything_again() -> None:
    assert FeedCursor.decode(Cursor(value="not json")) == FeedCursor()
    assert FeedCursor.decode(None).of("account").stamp is None


async def test_a_configured_identity_field_the_org_lacks_is_an_admin_error(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    target = make_target(monkeypatch, account_external_id_field="Cust_No__c")
    with pytest.raises(PermanentError, match="'Cust_No__c' is not a field of Account") as caught:
        await pages(target)
    await target.aclose()
    assert caught.value.who_acts == "admin"


# -- lookups and reads -----------------------------------------------------------------------------


async def test_lookups_batch_each_key_kind_into_one_soql_query(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    person = {
        "Id": PERSON,
        "Name": "Dana",
        "SystemModstamp": "2026-02-01T09:30:00.000+0000",
        "IsDeleted": False,
        "PersonEmail": "dana@whitfield.example",
        "IsPersonAccount": True,
    }
    query = respx_mock.get(f"{API}/query").mock(return_value=answer(rows(person)))
    target = make_target(monkeypatch)
    keys = [
        IdentityKey(match="external_id", value="cust-1001", kind="account"),
        IdentityKey(match="external_id", value="o'hara-7", kind="account"),
        IdentityKey(match="domain", value="acme.example", kind="account"),
        IdentityKey(match="email", value="dana@whitfield.example", kind="account"),
        IdentityKey(match="email", value="x@y.example", kind="contact"),  # not configured
    ]
    found = await target.lookup(keys)
    await target.aclose()
    texts = [soql_of(c.request) for c in query.calls]
    assert len(texts) == 3
    assert texts[0].endswith("WHERE Website LIKE '%acme.example%'")
    assert texts[1].endswith("WHERE PersonEmail IN ('dana@whitfield.example')")
    assert texts[2].endswith("WHERE Customer_Number__c IN ('cust-1001', 'o\\'hara-7')")
    assert [r.ref.key for r in found] == [f"account:{PERSON}"]


async def test_a_case_sensitive_external_id_is_also_asked_in_upper_case(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    exact = load("account_describe.json")
    for field in exact["fields"]:
        if field["name"] == "Customer_Number__c":
            field["caseSensitive"] = True
    respx_mock.get(f"{API}/sobjects/Account/describe").mock(return_value=answer(exact))
    query = respx_mock.get(f"{API}/query").mock(return_value=answer(rows()))
    target = make_target(monkeypatch)
    await target.lookup([IdentityKey(match="external_id", value="cust-1001", kind="account")])
    await target.aclose()
    assert soql_of(query.calls.last.request).endswith(
        "WHERE Customer_Number__c IN ('cust-1001', 'CUST-1001')"
    )


async def test_keys_a_kind_cannot_carry_cost_no_request(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    query = respx_mock.get(f"{API}/query").mock(return_value=answer(rows()))
    target = make_target(monkeypatch, record_kinds=["contact"])
    found = await target.lookup([IdentityKey(match="domain", value="acme.example", kind="contact")])
    await target.aclose()
    assert found == []
    assert query.call_count == 0


async def test_many_ids_are_read_in_queries_that_fit_the_uri(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    query = respx_mock.get(f"{API}/query").mock(return_value=answer(rows()))
    target = make_target(monkeypatch)
    refs = [RecordRef(kind="account", id=f"001RO{n:013d}") for n in range(450)]
    await target.read(refs)
    await target.aclose()
    sizes = [soql_of(c.request).count("'001RO") for c in query.calls]
    assert sizes == [200, 200, 50]
    assert all(len(str(c.request.url)) < 16_384 for c in query.calls)


async def test_read_returns_current_values_and_the_stamp_as_version(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    row = {
        "Id": ACCOUNT,
        "Name": "Acme",
        "SystemModstamp": "2026-02-02T08:00:00.000+0000",
        "IsDeleted": False,
        "Customer_Number__c": "CUST-1001",
        "Deal_Terms__c": "VIP: always escalate to Tier 2",
        "Special_Discount__c": 15.0,
    }
    query = respx_mock.get(f"{API}/query").mock(return_value=answer(rows(row)))
    target = make_target(monkeypatch)
    [record] = await target.read(
        [RecordRef(kind="account", id=ACCOUNT), RecordRef(kind="account", id=OTHER)]
    )
    await target.aclose()
    soql = soql_of(query.calls.last.request)
    assert "Deal_Terms__c" in soql
    assert "Special_Discount__c" in soql
    assert "Account_Score__c" not in soql  # not updateable: never a mapping's field
    assert soql.endswith(f"FROM Account WHERE Id IN ('{ACCOUNT}', '{OTHER}')")
    assert record.version == "2026-02-02T08:00:00.000+0000"
    assert record.fields["Deal_Terms__c"] == "VIP: always escalate to Tier 2"
    assert target.text_limit == 32768 // 4


async def test_a_field_deleted_after_the_describe_is_described_again_and_read_without_it(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    gone = [
        {
            "message": "No such column 'SLA_Promise__c' on entity 'Account'",
            "errorCode": "INVALID_FIELD",
        }
    ]
    narrower = load("account_describe.json")
    narrower["fields"] = [f for f in narrower["fields"] if f["name"] != "SLA_Promise__c"]
    describe = respx_mock.get(f"{API}/sobjects/Account/describe").mock(
        side_effect=[answer(load("account_describe.json")), answer(narrower)]
    )
    query = respx_mock.get(f"{API}/query").mock(
        side_effect=[answer(gone, 400), answer(rows({"Id": ACCOUNT, "Name": "Acme"}))]
    )
    target = make_target(monkeypatch)
    found = await target.read([RecordRef(kind="account", id=ACCOUNT)])
    await target.aclose()
    assert [r.ref.id for r in found] == [ACCOUNT]
    assert describe.call_count == 2
    assert "SLA_Promise__c" not in soql_of(query.calls.last.request)


# -- limits --------------------------------------------------------------------------------------


async def test_the_spent_daily_allocation_stops_the_job_at_once(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    query = respx_mock.get(f"{API}/queryAll").mock(
        return_value=answer(TOTAL, 403, usage="api-usage=100000/100000")
    )
    target = make_target(monkeypatch, api_reserve=0)
    with pytest.raises(BudgetExhausted, match="allocation is spent") as caught:
        await pages(target)
    await target.aclose()
    assert query.call_count == 1
    assert caught.value.exact is False


async def test_the_concurrent_limit_is_waited_out_and_retried(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(
        side_effect=[answer(CONCURRENT, 403), answer(load("accounts_page2.json"))]
    )
    sleep = FakeSleep()
    target = make_target(monkeypatch, sleep, throttle_retry_after=7)
    found = await pages(target)
    await target.aclose()
    assert len(found[0].records) == 2
    assert 7 in [round(s) for s in sleep.calls]


async def test_dealbridge_stops_before_spending_the_share_left_to_the_org(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock, usage="api-usage=80000/100000")
    query = respx_mock.get(f"{API}/queryAll").mock(return_value=answer(rows()))
    target = make_target(monkeypatch, api_reserve=0.2)
    with pytest.raises(BudgetExhausted, match=r"api-usage 80000/100000; 20% is left") as caught:
        await pages(target)
    await target.aclose()
    assert query.call_count == 0  # the describe's answer said it: the query was never sent
    assert caught.value.budget == "24-hour API allocation"


async def test_under_the_share_nothing_is_held_back(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock, usage="api-usage=79999/100000")
    respx_mock.get(f"{API}/queryAll").mock(return_value=answer(rows()))
    target = make_target(monkeypatch, api_reserve=0.2)
    assert len(await pages(target)) == 1
    await target.aclose()


async def test_an_auth_refusal_on_every_call_is_an_admin_problem(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.get(f"{API}/queryAll").mock(return_value=answer(EXPIRED, 401))
    target = make_target(monkeypatch)
    with pytest.raises(AuthError):
        await pages(target)
    await target.aclose()


# -- the catalog and the note's limit ------------------------------------------------------------


async def test_catalog_lists_writable_fields_with_choices_and_the_note_limit_in_characters(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    target = make_target(monkeypatch, record_kinds=["account", "contact"])
    catalog = {f.path: f for f in await target.field_catalog()}
    await target.aclose()
    assert catalog["Payment_Terms__c"].choices == ("Net 30", "Net 45", "Net 60")
    assert catalog["Service_Tier__c"].choices == ("Gold", "Silver", "Bronze")
    assert "Account_Score__c" not in catalog
    assert "Id" not in catalog
    assert "OwnerId" not in catalog
    # On both objects: the smaller length (Contact's 4,096 bytes) in characters that always fit.
    assert catalog["Deal_Terms__c"].max_length == 4096 // 4 == target.text_limit
    assert catalog["Deal_Terms__c"].label == "Deal Terms (Account, Contact)"
    assert catalog["SLA_Promise__c"].max_length == 255


async def test_note_max_chars_raises_the_limit_up_to_the_fields_length(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    raised = make_target(monkeypatch, note_max_chars=30000)
    capped = make_target(monkeypatch, note_max_chars=99999)
    await raised.field_catalog()
    await capped.field_catalog()
    await raised.aclose()
    await capped.aclose()
    assert (raised.text_limit, capped.text_limit) == (30000, 32768)


async def test_a_note_field_the_org_lacks_makes_check_unhealthy_and_says_what_to_do(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.get(f"{API}/query").mock(return_value=answer(rows()))
    target: ServiceCloudTarget = make_target(monkeypatch, note_field="Deal_Notes__c")
    health = await target.check()
    await target.aclose()
    assert not health.ok
    assert "note_field 'Deal_Notes__c' is not a writable text field of Account" in health.detail
    assert any("Deal_Notes__c" in fact for fact in target.notices())


async def test_contacts_are_read_and_found_by_email(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    contact = {
        "Id": CONTACT,
        "Name": "Riley Chen",
        "SystemModstamp": "2026-02-01T09:30:00.000+0000",
        "IsDeleted": False,
        "Email": "Ops@Acme.example",
        "IsPersonAccount": False,
    }
    query = respx_mock.get(f"{API}/query").mock(
        return_value=answer(rows(contact, sobject="Contact"))
    )
    target = make_target(monkeypatch, record_kinds=["contact"])
    [found] = await target.lookup(
        [IdentityKey(match="email", value="ops@acme.example", kind="contact")]
    )
    await target.aclose()
    assert soql_of(query.calls.last.request).endswith(
        "FROM Contact WHERE (Email IN ('ops@acme.example')) AND (IsPersonAccount = false)"
    )
    assert found.emails == ("ops@acme.example",)
    assert found.ref.kind == "contact"
