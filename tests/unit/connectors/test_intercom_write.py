"""Intercom writes: one PUT per changed record by Intercom's id, values checked against the
data attributes first, agents' edits refused by a read just before the write, the issue's bad
input failing one record each, and the note as a contact note when configured."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import RecordChange, RecordRef, WriteResult
from connectors.errors import AuthError
from connectors.service.intercom.contact_notes import CLEARED
from connectors.service.intercom.simulator import COMPANY, CONTACT, DEMO_ADMIN_ID
from sandbox.controls import Fault
from tests.unit.connectors.intercom_support import Desk, desk, intercom_token

pytestmark = pytest.mark.anyio
__all__ = ["intercom_token"]


def change(
    kind: str, record_id: str, version: str | None = None, **attributes: Any
) -> RecordChange:
    """A change of custom attributes (``notes=`` for the contact note)."""
    fields = {
        (name if name == "notes" else f"custom_attributes.{name}"): value
        for name, value in attributes.items()
    }
    return RecordChange(
        ref=RecordRef(kind=kind, id=record_id), fields=fields, expected_version=version
    )


def company(d: Desk, key: str) -> str:
    return d.sim.customers[key][0]


def user(d: Desk, key: str) -> str:
    return d.sim.customers[key][1]


def attributes(d: Desk, kind: str, record_id: str) -> dict[str, Any]:
    return dict(d.sim.record(kind, record_id)["custom_attributes"])


async def test_only_the_changed_attributes_go_in_one_put_by_intercoms_own_id() -> None:
    d = desk(search_lag=0.0)
    acme = company(d, "acme")
    before = attributes(d, COMPANY, acme)
    results = await d.target().write(
        [change(COMPANY, acme, special_discount=15, payment_terms="Net 60")]
    )
    assert results == [
        WriteResult(
            ref=RecordRef(kind=COMPANY, id=acme),
            ok=True,
            fields={
                "custom_attributes.special_discount": 15.0,
                "custom_attributes.payment_terms": "Net 60",
            },
        )
    ]
    assert attributes(d, COMPANY, acme) == before | {
        "special_discount": 15.0,
        "payment_terms": "Net 60",
    }
    assert d.sim.requests("PUT", f"/companies/{acme}") == 1
    assert d.sim.requests("POST", "/companies") == 0  # create-or-update is never used
    d.assert_spec_clean()


async def test_a_change_without_fields_sends_nothing() -> None:
    d = desk(search_lag=0.0)
    results = await d.target().write([change(COMPANY, company(d, "acme"))])
    assert results[0].ok
    assert d.sim.requests("PUT") == 0


async def test_values_go_in_each_attributes_type_and_clearing_a_string_sends_empty() -> None:
    d = desk(search_lag=0.0)
    acme = company(d, "acme")
    results = await d.target().write(
        [
            change(
                COMPANY,
                acme,
                seats="12",
                strategic="true",
                sla_promise=None,
                special_discount="7.5",
            )
        ]
    )
    assert results[0].ok, results[0].error
    stored = attributes(d, COMPANY, acme)
    assert (
        stored["seats"],
        stored["strategic"],
        stored["sla_promise"],
        stored["special_discount"],
    ) == (
        12,
        True,
        "",
        7.5,
    )


# -- the bad input: each a record-level failure, the others written -------------------


async def test_bad_input_fails_only_its_record_with_what_to_do_and_writes_the_rest() -> None:
    d = desk(search_lag=0.0)
    ids = {key: company(d, key) for key in ("acme", "globex", "umbrella", "hooli", "initech")}
    agent_text = "A" * 240
    d.sim.agent_edit(COMPANY, ids["hooli"], custom_attributes={"dealbridge_terms": agent_text})
    gone = ids["initech"]
    target = d.target()
    await target.read([RecordRef(kind=COMPANY, id=gone)])  # matched and read...
    d.sim.delete(COMPANY, gone)  # ...then deleted by a teammate before the write
    note = agent_text + "\n\n=== dealbridge ===\n- 15%\n=== end ==="
    results = await target.write(
        [
            change(COMPANY, ids["acme"], not_in_catalog="x"),
            change(COMPANY, ids["globex"], payment_terms="Net 90"),
            change(COMPANY, ids["umbrella"], sla_promise="4h response"),
            change(COMPANY, ids["hooli"], dealbridge_terms=note),
            change(COMPANY, gone, sla_promise="4h"),
        ]
    )
    errors = [r.error for r in results]
    assert "custom_attributes.not_in_catalog is not a company data attribute" in str(errors[0])
    assert "create it under Settings > Data > Companies" in str(errors[0])
    assert "'Net 90' is not one of its options (Net 30, Net 45, Net 60)" in str(errors[1])
    assert results[2].ok
    assert f"would be {len(note)} characters; Intercom string attributes hold at most 255" in str(
        errors[3]
    )
    assert f"company {gone} not found in Intercom (deleted or merged?)" in str(errors[4])
    assert attributes(d, COMPANY, ids["umbrella"])["sla_promise"] == "4h response"
    assert attributes(d, COMPANY, ids["hooli"])["dealbridge_terms"] == agent_text  # untouched
    assert d.sim.requests("PUT") == 2  # umbrella, and the deleted one (404); none of the rest
    assert gone not in d.sim.store.companies  # and it was not created again
    d.assert_spec_clean()


async def test_an_attribute_created_since_the_catalog_was_read_is_written() -> None:
    d = desk(search_lag=0.0)
    target = d.target()
    acme = company(d, "acme")
    await target.write([change(COMPANY, acme, sla_promise="x")])  # catalog cached
    d.sim.store.define_attribute(COMPANY, "renewal_owner", "string")
    results = await target.write([change(COMPANY, acme, renewal_owner="Dana")])
    assert results[0].ok, results[0].error
    assert attributes(d, COMPANY, acme)["renewal_owner"] == "Dana"


async def test_an_archived_attribute_is_refused_naming_it() -> None:
    d = desk(search_lag=0.0)
    d.sim.store.archive_attribute(COMPANY, "sla_promise")
    results = await d.target().write([change(COMPANY, company(d, "acme"), sla_promise="x")])
    assert not results[0].ok
    assert "custom_attributes.sla_promise" in str(results[0].error)
    assert d.sim.requests("PUT") == 0


async def test_a_path_that_is_no_custom_attribute_or_notes_on_a_company_fails_that_record() -> None:
    d = desk(search_lag=0.0)
    acme = company(d, "acme")
    results = await d.target().write(
        [
            RecordChange(ref=RecordRef(kind=COMPANY, id=acme), fields={"name": "Renamed"}),
            RecordChange(ref=RecordRef(kind=COMPANY, id=acme), fields={"notes": "x"}),
            RecordChange(ref=RecordRef(kind="ticket", id="1"), fields={"x": 1}),
        ]
    )
    assert "write custom_attributes.<name>" in str(results[0].error)
    assert "companies take no notes" in str(results[1].error)
    assert "unknown Intercom record kind 'ticket'" in str(results[2].error)
    assert d.sim.requests("PUT") == 0


# -- agents' edits: the version read just before the write ------------------------------------


async def test_a_record_an_agent_changed_since_it_was_read_is_refused_not_overwritten() -> None:
    d = desk(search_lag=0.0)
    acme, globex = company(d, "acme"), company(d, "globex")
    target = d.target()
    read = {
        r.ref.id: r
        for r in await target.read([RecordRef(kind=COMPANY, id=i) for i in (acme, globex)])
    }
    d.sim.agent_edit(COMPANY, acme, custom_attributes={"sla_promise": "agent's promise"})
    d.sim.agent_edit(COMPANY, globex, website="https://globex.example")  # not an attribute
    results = await target.write(
        [
            change(COMPANY, acme, read[acme].version, sla_promise="ours"),
            change(COMPANY, globex, read[globex].version, sla_promise="ours"),
        ]
    )
    assert not results[0].ok
    assert "changed in Intercom since it was read" in str(results[0].error)
    assert results[0].moved
    assert attributes(d, COMPANY, acme)["sla_promise"] == "agent's promise"
    assert results[1].ok  # its attributes did not move
    assert d.sim.requests("GET", f"/companies/{acme}") == 2  # the engine's read, the recheck


async def test_without_a_planned_version_or_with_the_recheck_off_no_extra_read_is_made() -> None:
    d = desk(search_lag=0.0)
    acme = company(d, "acme")
    await d.target().write([change(COMPANY, acme, sla_promise="a")])
    version = (await d.target().read([RecordRef(kind=COMPANY, id=acme)]))[0].version
    d.sim.controls.reset_log()
    await d.target(verify_before_write=False).write(
        [change(COMPANY, acme, version, sla_promise="b")]
    )
    assert d.sim.requests("GET", "/companies/") == 0


# -- failures of the account stop the batch; throttles are waited out ----------------------------


async def test_a_revoked_token_stops_the_batch() -> None:
    d = desk(search_lag=0.0)
    target = d.target()
    await target.write([change(COMPANY, company(d, "acme"), sla_promise="a")])  # catalog cached
    d.sim.workspace.token = "rotated"
    with pytest.raises(AuthError):
        await target.write([change(COMPANY, company(d, "acme"), sla_promise="b")])


async def test_a_throttled_write_waits_for_the_window_and_is_sent_once() -> None:
    d = desk(search_lag=0.0)
    acme = company(d, "acme")
    body = {
        "type": "error.list",
        "request_id": None,
        "errors": [
            {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 167 in 10_seconds"}
        ],
    }
    d.sim.controls.inject(
        Fault(status=429, body=body, path_contains=f"/companies/{acme}", method="PUT")
    )
    results = await d.target().write([change(COMPANY, acme, sla_promise="once")])
    assert results[0].ok
    assert d.sim.requests("PUT", f"/companies/{acme}") == 2  # refused, then applied
    assert d.sleeps.calls, "the client waited before sending it again"


async def test_writes_keep_to_the_ten_second_window() -> None:
    d = desk(search_lag=0.0, requests_per_minute=60)  # 10 per 10 s at Intercom
    for n in range(25):
        d.sim.add_company(f"Co {n}", f"CO-{n}")
    target = d.target(requests_per_minute=60, write_concurrency=5)
    changes = [change(COMPANY, i, sla_promise="x") for i in list(d.sim.store.companies)[-25:]]
    results = await target.write(changes)
    assert all(r.ok for r in results)
    assert d.sim.requests("PUT") == 25  # none refused: the gate kept under 10 per window
    assert target.http_stats.throttled == 0


# -- the note as a contact note (note_place: contact_note) ----------------------------------------


async def test_a_contact_note_is_added_per_change_and_read_back_as_the_same_text() -> None:
    d = desk(search_lag=0.0)
    riley = user(d, "acme")
    target = d.target(note_place="contact_note")
    text = "=== dealbridge ===\n- 15% off <until> 2027 & more\n=== end ==="
    results = await target.write([change(CONTACT, riley, notes=text)])
    assert results[0].ok
    assert results[0].fields == {"notes": text}
    record = (await target.read([RecordRef(kind=CONTACT, id=riley)]))[0]
    assert record.fields["notes"] == text  # so a rerun finds nothing to add
    d.sim.store.add_note(riley, "<p>an agent's own note</p>", {"type": "admin", "id": "42"})
    record = (await target.read([RecordRef(kind=CONTACT, id=riley)]))[0]
    assert record.fields["notes"] == text  # agents' notes are not ours
    await target.write([change(CONTACT, riley, notes=None)])
    assert d.sim.store.notes_of(riley)[0]["body"] == f"<p>{CLEARED}</p>"
    record = (await target.read([RecordRef(kind=CONTACT, id=riley)]))[0]
    assert record.fields["notes"] == ""
    assert [n["author"]["id"] for n in d.sim.store.notes_of(riley)].count(DEMO_ADMIN_ID) == 2
    d.assert_spec_clean()


async def test_a_contact_note_over_its_limit_fails_that_contact_only() -> None:
    d = desk(search_lag=0.0)
    target = d.target(note_place="contact_note", note_max_length=300)
    results = await target.write(
        [
            change(CONTACT, user(d, "acme"), notes="x" * 301),
            change(CONTACT, user(d, "globex"), notes="ok"),
        ]
    )
    assert "notes would be 301 characters" in str(results[0].error)
    assert results[1].ok
    assert d.sim.requests("POST", "/notes") == 1


async def test_the_admin_notes_are_written_as_defaults_to_the_tokens_own() -> None:
    d = desk(search_lag=0.0)
    target = d.target(note_place="contact_note")
    await target.write(
        [change(CONTACT, user(d, "acme"), notes="a"), change(CONTACT, user(d, "globex"), notes="b")]
    )
    assert d.sim.requests("GET", "/me") == 1


# -- invariant: every change answered once, in order; nothing written twice ---------------------

OUTCOMES = ("ok", "missing_attribute", "bad_option", "deleted", "too_long")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=14),
    concurrency=st.integers(min_value=1, max_value=6),
)
def test_every_change_gets_one_result_in_order_and_only_good_ones_are_stored_once(
    plan: list[str], concurrency: int
) -> None:
    async def scenario() -> None:
        d = desk(search_lag=0.0)
        ids = [d.sim.add_company(f"Co {n}", f"CO-{n}")["id"] for n in range(len(plan))]
        changes = []
        for n, (record_id, outcome) in enumerate(zip(ids, plan, strict=True)):
            value = f"terms {n}"
            if outcome == "missing_attribute":
                changes.append(change(COMPANY, record_id, nowhere=value))
            elif outcome == "bad_option":
                changes.append(change(COMPANY, record_id, payment_terms="Net 99"))
            elif outcome == "too_long":
                changes.append(change(COMPANY, record_id, sla_promise="y" * 256))
            else:
                changes.append(change(COMPANY, record_id, sla_promise=value))
            if outcome == "deleted":
                d.sim.delete(COMPANY, record_id)
        target = d.target(write_concurrency=concurrency)
        results = await target.write(changes)
        assert [r.ref for r in results] == [c.ref for c in changes]
        for n, (record_id, outcome, result) in enumerate(zip(ids, plan, results, strict=True)):
            assert result.ok == (outcome == "ok"), (outcome, result.error)
            sent = d.sim.requests("PUT", f"/companies/{record_id}")
            assert sent == (1 if outcome in ("ok", "deleted") else 0)
            if outcome == "ok":
                assert attributes(d, COMPANY, record_id)["sla_promise"] == f"terms {n}"
            elif outcome != "deleted":
                assert attributes(d, COMPANY, record_id) == {}
        await target.aclose()

    asyncio.run(scenario())
