"""Service Cloud target writes: sObject Collections, per-record results, bad input and versions
(respx)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx

from connectors.base import RecordChange, RecordRef
from connectors.errors import PermanentError
from tests.fixtures.salesforce.support import FakeSleep
from tests.fixtures.servicecloud.support import (
    ACCOUNT,
    API,
    CONTACT,
    OTHER,
    PERSON,
    answer,
    load,
    make_target,
    mock_org,
    rows,
    soql_of,
)

pytestmark = pytest.mark.anyio

UPDATE = f"{API}/composite/sobjects"
STAMP = "2026-02-02T08:00:00.000+0000"


def change(
    record_id: str, kind: str = "account", version: str | None = None, **fields: Any
) -> RecordChange:
    return RecordChange(
        ref=RecordRef(kind=kind, id=record_id), fields=fields, expected_version=version
    )


def ok(record_id: str) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": []}


def failed(code: str, message: str, *fields: str) -> dict[str, Any]:
    return {
        "success": False,
        "errors": [{"statusCode": code, "message": message, "fields": list(fields)}],
    }


def sent(route: respx.Route, call: int = -1) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[call].request.content)
    return body


async def test_changes_go_out_as_one_collection_with_all_or_none_false(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT), ok(CONTACT)]))
    target = make_target(monkeypatch, record_kinds=["account", "contact"])
    results = await target.write(
        [
            change(CONTACT, "contact", Preferred_Channel__c="Chat"),
            change(
                ACCOUNT,
                Special_Discount__c="15",
                Terms_Valid_Until__c="2027-03-31",
                Has_Special_Terms__c="true",
                Payment_Terms__c="Net 60",
                Deal_Terms__c="VIP\n\n=== dealbridge ===\n- 15% discount\n=== end dealbridge ===",
            ),
        ]
    )
    await target.aclose()
    body = sent(update)
    assert update.call_count == 1
    assert body["allOrNone"] is False
    account, contact = body["records"]  # accounts first: one chunk per type
    assert account == {
        "attributes": {"type": "Account"},
        "id": ACCOUNT,
        "Special_Discount__c": 15,
        "Terms_Valid_Until__c": "2027-03-31",
        "Has_Special_Terms__c": True,
        "Payment_Terms__c": "Net 60",
        "Deal_Terms__c": "VIP\n\n=== dealbridge ===\n- 15% discount\n=== end dealbridge ===",
    }
    assert contact == {
        "attributes": {"type": "Contact"},
        "id": CONTACT,
        "Preferred_Channel__c": "Chat",
    }
    assert [r.ref.id for r in results] == [CONTACT, ACCOUNT]  # results in the caller's order
    assert all(r.ok for r in results)
    assert results[1].fields["Special_Discount__c"] == 15


async def test_per_record_save_results_fail_only_their_record(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.patch(UPDATE).mock(return_value=answer(load("collection_update_mixed.json")))
    target = make_target(monkeypatch)
    ids = [ACCOUNT, PERSON, OTHER, "001RO000003oLrKYAU"]
    results = await target.write(
        [
            change(ids[0], SLA_Promise__c="4h"),
            change(ids[1], SLA_Promise__c="8h"),
            change(ids[2], Payment_Terms__c="Net 45"),
            change(ids[3], Special_Discount__c=60),
        ]
    )
    await target.aclose()
    good, deleted, picklist, rule = results
    assert good.ok
    assert not deleted.ok
    assert not picklist.ok
    assert not rule.ok
    assert deleted.error is not None
    assert "no longer exists in Salesforce (ENTITY_IS_DELETED" in deleted.error
    assert picklist.error == (
        f"Salesforce refused account {ids[2]}: Payment Terms: bad value for restricted picklist "
        "field: Net 75 (INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST); sent Payment_Terms__c = "
        "'Net 45'; add the value to the picklist in Setup, or map the canonical value to an "
        "existing one with 'map:'"
    )
    assert rule.error is not None
    assert "Discounts over 50% need a VP" in rule.error
    assert "sent Special_Discount__c = 60" in rule.error


async def test_a_field_missing_from_describe_fails_its_record_before_anything_is_sent(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT)]))
    target = make_target(monkeypatch, describe_refresh=0)
    results = await target.write(
        [change(OTHER, Special_Discont__c=15), change(ACCOUNT, SLA_Promise__c="4h")]
    )
    await target.aclose()
    assert results[0].error == (
        "Account has no field 'Special_Discont__c' (describe of the Salesforce org): create it, "
        "or fix the mapping's write: key"
    )
    assert [r["id"] for r in sent(update)["records"]] == [ACCOUNT]  # one bad record, the call goes
    assert respx_mock.get(f"{API}/sobjects/Account/describe").call_count == 2  # asked again once


async def test_a_field_created_since_the_describe_is_found_by_describing_again(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    wider = load("account_describe.json")
    text = next(f for f in wider["fields"] if f["name"] == "SLA_Promise__c")
    wider["fields"].append(dict(text, name="Region__c", label="Region"))
    respx_mock.get(f"{API}/sobjects/Account/describe").mock(
        side_effect=[answer(load("account_describe.json")), answer(wider)]
    )
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT)]))
    target = make_target(monkeypatch, describe_refresh=0)
    [result] = await target.write([change(ACCOUNT, Region__c="West")])
    await target.aclose()
    assert result.ok
    assert sent(update)["records"][0]["Region__c"] == "West"


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        (
            "Service_Tier__c",
            "Platinum",
            "'Platinum' is not one of the unrestricted (Salesforce would store it) picklist's "
            "values (Gold, Silver, Bronze)",
        ),
        ("Payment_Terms__c", "Net 90", "is not one of the restricted picklist's values"),
        ("Special_Discount__c", "ten", "Special_Discount__c takes a number, not 'ten'"),
        ("Terms_Valid_Until__c", "next spring", "takes a date (YYYY-MM-DD)"),
        ("Account_Score__c", 3, "is read-only for the integration user"),
        ("Name", None, "Name is required and cannot be cleared"),
        ("SLA_Promise__c", "x" * 256, "would hold 256 characters, over the 255"),
        ("OwnerId", "005RO0000000001AAA", "of type reference, which dealbridge does not write"),
    ],
)
async def test_bad_values_fail_their_record_with_the_field_and_what_to_do(
    respx_mock: respx.MockRouter,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    value: Any,
    words: str,
) -> None:
    mock_org(respx_mock)
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT)]))
    target = make_target(monkeypatch, describe_refresh=3600)
    bad, good = await target.write([change(OTHER, **{field: value}), change(ACCOUNT, Phone="1")])
    await target.aclose()
    assert not bad.ok
    assert bad.error is not None
    assert words in bad.error
    assert bad.error.startswith(f"Account {OTHER}:")
    assert good.ok
    assert [r["id"] for r in sent(update)["records"]] == [ACCOUNT]


async def test_the_note_counts_utf8_bytes_in_a_text_area(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT)]))
    target = make_target(monkeypatch)
    agents = "Kunde bevorzugt Rückruf - nur über die Zentrale. " * 650  # 31,850 chars, 33,150 bytes
    assert len(agents) < 32768 < len(agents.encode())
    too_big, fits = await target.write(
        [change(OTHER, Deal_Terms__c=agents), change(ACCOUNT, Deal_Terms__c=agents[:20000])]
    )
    await target.aclose()
    assert too_big.error is not None
    assert (
        f"Deal_Terms__c would hold {len(agents.encode())} UTF-8 bytes, over the 32768"
        in too_big.error
    )
    assert "the agents' own text in this field leaves no room" in too_big.error
    assert fits.ok
    assert len(sent(update)["records"]) == 1


async def test_a_record_deleted_between_lookup_and_write_fails_alone(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.patch(UPDATE).mock(
        return_value=answer([failed("ENTITY_IS_DELETED", "entity is deleted"), ok(ACCOUNT)])
    )
    target = make_target(monkeypatch)
    gone, kept = await target.write(
        [change(OTHER, SLA_Promise__c="4h"), change(ACCOUNT, SLA_Promise__c="4h")]
    )
    await target.aclose()
    assert not gone.ok
    assert kept.ok
    assert gone.error == (
        f"account {OTHER} no longer exists in Salesforce (ENTITY_IS_DELETED: deleted or merged "
        "since it was looked up); its deals are matched again after the next index refresh"
    )


async def test_a_locked_row_is_sent_again_once_then_reported(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    lock = failed("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record")
    update = respx_mock.patch(UPDATE).mock(
        side_effect=[answer([lock, ok(ACCOUNT), lock]), answer([ok(OTHER), lock])]
    )
    sleep = FakeSleep()
    target = make_target(monkeypatch, sleep)
    results = await target.write(
        [change(OTHER, Phone="1"), change(ACCOUNT, Phone="2"), change(PERSON, Phone="3")]
    )
    await target.aclose()
    assert [r.ok for r in results] == [True, True, False]
    assert sum(sleep.calls) > 0.9  # a pause (LOCK_PAUSE, 1 s) before the locked rows go again
    assert [r["id"] for r in sent(update, 1)["records"]] == [OTHER, PERSON]
    assert results[2].error is not None
    assert "UNABLE_TO_LOCK_ROW" in results[2].error


async def test_a_whole_call_refused_for_a_deleted_field_is_sent_again_without_its_records(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    narrower = load("account_describe.json")
    narrower["fields"] = [f for f in narrower["fields"] if f["name"] != "SLA_Promise__c"]
    respx_mock.get(f"{API}/sobjects/Account/describe").mock(
        side_effect=[answer(load("account_describe.json")), answer(narrower)]
    )
    refused = [
        {
            "message": "No such column 'SLA_Promise__c' on sobject of type Account",
            "errorCode": "INVALID_FIELD",
            "fields": ["SLA_Promise__c"],
        }
    ]
    update = respx_mock.patch(UPDATE).mock(
        side_effect=[answer(refused, 400), answer([ok(ACCOUNT)])]
    )
    target = make_target(monkeypatch)
    stale, good = await target.write(
        [change(OTHER, SLA_Promise__c="4h"), change(ACCOUNT, Phone="1")]
    )
    await target.aclose()
    assert stale.error is not None
    assert "Account has no field 'SLA_Promise__c'" in stale.error
    assert good.ok
    assert [r["id"] for r in sent(update)["records"]] == [ACCOUNT]
    assert update.call_count == 2


async def test_a_malformed_request_is_a_developer_error_not_a_record_failure(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    refused = [
        {"message": "Cannot deserialize instance of double", "errorCode": "JSON_PARSER_ERROR"}
    ]
    respx_mock.patch(UPDATE).mock(return_value=answer(refused, 400))
    target = make_target(monkeypatch)
    with pytest.raises(PermanentError, match="Cannot deserialize"):
        await target.write([change(ACCOUNT, Phone="1")])
    await target.aclose()


async def test_results_missing_from_the_answer_are_failures_not_successes(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT), "garbage"]))
    target = make_target(monkeypatch)
    results = await target.write(
        [change(ACCOUNT, Phone="1"), change(OTHER, Phone="2"), change(PERSON, Phone="3")]
    )
    await target.aclose()
    assert [r.ok for r in results] == [True, False, False]
    assert results[2].error is not None
    assert "no result for this record" in results[2].error


async def test_more_changes_than_a_collection_takes_go_in_several_calls(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)

    def echo(request: httpx.Request) -> httpx.Response:
        records = json.loads(request.content)["records"]
        return answer([ok(r["id"]) for r in records])

    update = respx_mock.patch(UPDATE).mock(side_effect=echo)
    target = make_target(monkeypatch)
    changes = [change(f"001RO{n:013d}", Phone=str(n)) for n in range(450)]
    results = await target.write(changes)
    await target.aclose()
    assert [len(sent(update, i)["records"]) for i in range(update.call_count)] == [200, 200, 50]
    assert [r.ref.id for r in results] == [c.ref.id for c in changes]


# -- expected versions ----------------------------------------------------------------------


async def test_records_changed_since_read_are_refused_with_one_query_per_batch(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    moved = "2026-02-02T09:15:00.000+0000"
    versions = respx_mock.get(f"{API}/query").mock(
        return_value=answer(
            rows({"Id": ACCOUNT, "SystemModstamp": STAMP}, {"Id": PERSON, "SystemModstamp": moved})
        )
    )
    update = respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT), ok(CONTACT)]))
    target = make_target(monkeypatch)
    same, edited, gone, unversioned = await target.write(
        [
            change(ACCOUNT, version="2026-02-02T08:00:00Z", Phone="1"),  # same instant, other form
            change(PERSON, version=STAMP, Phone="2"),
            change(OTHER, version=STAMP, Phone="3"),
            change(CONTACT, "account", Phone="4"),
        ]
    )
    await target.aclose()
    assert versions.call_count == 1
    assert soql_of(versions.calls.last.request) == (
        f"SELECT Id, SystemModstamp FROM Account WHERE Id IN ('{ACCOUNT}', '{PERSON}', '{OTHER}')"
    )
    assert same.ok
    assert unversioned.ok
    assert edited.error == (
        f"account {PERSON} changed since read: SystemModstamp moved from {STAMP} to {moved} "
        "(someone saved it after dealbridge read it); nothing was written, and it is planned "
        "again from its new values"
    )
    assert edited.moved, "a moved record is planned again at once"
    assert gone.error is not None
    assert "no longer exists in Salesforce" in gone.error
    assert not gone.moved, "a deleted record is matched again later, not replanned"
    assert [r["id"] for r in sent(update)["records"]] == [ACCOUNT, CONTACT]


async def test_without_expected_versions_or_with_checks_off_no_version_query_is_made(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    versions = respx_mock.get(f"{API}/query").mock(return_value=answer(rows()))
    respx_mock.patch(UPDATE).mock(return_value=answer([ok(ACCOUNT)]))
    plain = make_target(monkeypatch)
    off = make_target(monkeypatch, check_versions=False)
    assert (await plain.write([change(ACCOUNT, Phone="1")]))[0].ok
    assert (await off.write([change(ACCOUNT, version=STAMP, Phone="1")]))[0].ok
    await plain.aclose()
    await off.aclose()
    assert versions.call_count == 0


async def test_a_change_without_fields_sends_nothing(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    update = respx_mock.patch(UPDATE).mock(return_value=answer([]))
    target = make_target(monkeypatch)
    [result] = await target.write([change(ACCOUNT)])
    await target.aclose()
    assert result.ok
    assert update.call_count == 0


async def test_an_unknown_record_kind_fails_its_record(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    target = make_target(monkeypatch)
    [result] = await target.write([change(CONTACT, "contact", Email="a@b.example")])
    await target.aclose()
    assert result.error == "unknown Service Cloud record kind 'contact' (use account)"
