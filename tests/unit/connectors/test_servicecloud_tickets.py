"""Service Cloud alerts: a Case per alert, internal CaseComments, follow-ups (simulator, respx)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx

from connectors.base import DeskTicket
from connectors.errors import TransientError
from connectors.service.servicecloud import ServiceCloudConfig, ServiceCloudTarget
from connectors.service.servicecloud.simulator import (
    DEMO_ENV,
    ServiceCloudSimulator,
    connector_config,
)
from connectors.service.servicecloud.tickets import COMMENT_BYTES, fit_bytes
from connectors.settings import ConnectorOptions
from sandbox.controls import Fault
from tests.fixtures.salesforce.support import FakeSleep
from tests.fixtures.servicecloud.support import API, answer, make_target, mock_org

pytestmark = pytest.mark.anyio

ALERT = DeskTicket(
    key="a1b2c3d4e5f6",
    subject="dealbridge: 3 deals held for review (West)",
    body="Acme Corporation: territories differ on Special_Discount__c: 10 (EMEA) vs 15 (West)",
    severity="critical",
    group="00GRO000000Qe1AAAS",
)


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEMO_ENV.items():
        monkeypatch.setenv(name, value)


def connect(sim: ServiceCloudSimulator, **overrides: Any) -> ServiceCloudTarget:
    config = ServiceCloudConfig.model_validate(connector_config(**overrides))
    options = ConnectorOptions(transport=httpx.ASGITransport(app=sim.app), sleep=FakeSleep())
    return ServiceCloudTarget("desk", config, options)


@pytest.fixture
async def desk() -> AsyncIterator[tuple[ServiceCloudTarget, ServiceCloudSimulator]]:
    sim = ServiceCloudSimulator().seed_demo()
    target = connect(sim, case_origin="Web")
    yield target, sim
    await target.aclose()


async def test_an_alert_opens_a_case_with_an_internal_comment(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    case_id = await target.open_ticket(ALERT)
    case = sim.record("Case", case_id)
    [comment] = sim.records("CaseComment")
    assert (case["Subject"], case["Priority"], case["Origin"], case["Status"]) == (
        ALERT.subject,
        "High",
        "Web",
        "New",
    )
    assert case["OwnerId"] == ALERT.group
    assert case["Dealbridge_Key__c"] == ALERT.key
    assert comment["ParentId"] == case_id
    assert comment["CommentBody"] == ALERT.body
    assert comment["IsPublished"] is False


async def test_a_retried_open_finds_the_first_case_and_does_not_comment_twice(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    first = await target.open_ticket(ALERT)
    again = await target.open_ticket(ALERT)  # the outbox retries after a lost answer
    assert again == first
    assert len(sim.records("Case")) == 1
    assert len(sim.records("CaseComment")) == 1


async def test_a_case_whose_comment_was_lost_gets_it_on_the_retry(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    lost = Fault(503, "Service Unavailable", path_contains="/sobjects/CaseComment", method="POST")
    sim.controls.inject(lost)
    with pytest.raises(TransientError):
        await target.open_ticket(ALERT)
    assert len(sim.records("Case")) == 1
    assert not sim.records("CaseComment")
    case_id = await target.open_ticket(ALERT)
    assert [c["ParentId"] for c in sim.records("CaseComment")] == [case_id]


async def test_follow_ups_are_internal_comments_on_the_open_case(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    case_id = await target.open_ticket(ALERT)
    update = ALERT.model_copy(update={"body": "Resolved by a service lead: West wins"})
    assert await target.add_internal_note(case_id, update) == case_id
    bodies = [c["CommentBody"] for c in sim.records("CaseComment")]
    assert bodies == [ALERT.body, update.body]


async def test_a_closed_case_is_followed_by_a_new_case_pointing_at_it(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    closed = await target.open_ticket(ALERT)
    sim.agent_edit("Case", closed, Status="Closed")
    follow_up = await target.add_internal_note(closed, ALERT)
    assert follow_up != closed
    assert sim.record("Case", follow_up)["ParentId"] == closed
    assert await target.add_internal_note(closed, ALERT) != closed  # same alert, same follow-up
    assert len(sim.records("Case")) == 2


async def test_a_deleted_case_is_replaced_by_a_new_one(
    desk: tuple[ServiceCloudTarget, ServiceCloudSimulator],
) -> None:
    target, sim = desk
    gone = await target.open_ticket(ALERT)
    sim.delete("Case", gone)
    sim.purge("Case", gone)
    other = ALERT.model_copy(update={"key": "ffeeddccbbaa"})
    replacement = await target.add_internal_note(gone, other)
    assert replacement != gone
    assert sim.record("Case", replacement)["Subject"] == ALERT.subject


async def test_without_a_key_field_the_case_is_created_once_per_call() -> None:
    sim = ServiceCloudSimulator().seed_demo()
    target = connect(sim, case_key_field=None)
    case_id = await target.open_ticket(ALERT.model_copy(update={"severity": "info"}))
    await target.aclose()
    assert sim.record("Case", case_id)["Priority"] == "Low"
    cases = sim.requests("POST", "/sobjects/Case") - sim.requests("POST", "/sobjects/CaseComment")
    assert cases == 1


def test_a_long_body_is_cut_to_4000_bytes_at_a_character_boundary() -> None:
    body = "ü" * 3000  # 6,000 bytes
    cut = fit_bytes(body)
    assert len(cut.encode("utf-8")) <= COMMENT_BYTES
    assert cut.endswith("the full alert is in dealbridge alerts list]")
    assert fit_bytes("short") == "short"


async def test_the_case_request_leaves_out_what_the_orgs_case_lacks(
    respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock_org(respx_mock)
    upsert = respx_mock.patch(f"{API}/composite/sobjects/Case/Dealbridge_Key__c").mock(
        return_value=answer(
            [{"id": "500RO000001AbCdYAK", "success": True, "errors": [], "created": True}]
        )
    )
    comment = respx_mock.post(f"{API}/sobjects/CaseComment").mock(
        return_value=answer({"id": "00aRO000000XyZ1YAK", "success": True, "errors": []}, 201)
    )
    target = make_target(monkeypatch, case_key_field="Dealbridge_Key__c", case_origin="Chatter")
    case_id = await target.open_ticket(ALERT.model_copy(update={"severity": "warning"}))
    await target.aclose()
    [record] = json.loads(upsert.calls.last.request.content)["records"]
    assert record == {
        "attributes": {"type": "Case"},
        "Dealbridge_Key__c": ALERT.key,
        "Subject": ALERT.subject,
        "Priority": "Medium",
        "OwnerId": ALERT.group,
    }  # "Chatter" is no Origin value of this org: left out rather than refused
    assert json.loads(comment.calls.last.request.content) == {
        "ParentId": case_id,
        "CommentBody": ALERT.body,
        "IsPublished": False,
    }
