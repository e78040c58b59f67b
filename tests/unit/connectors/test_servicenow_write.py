"""ServiceNow target writes: checked values, version guard, Batch API, unserviced items, fallback.

Runs against the simulator (``connectors.service.servicenow.simulator``), which plays the
instance's silent acceptance of bad values: the tests show the connector refusing them first.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.base import RecordChange, RecordRef
from connectors.service.servicenow.simulator import ServiceNowSimulator
from connectors.service.servicenow.simulator.store import ColumnDef
from tests.unit.connectors.servicenow_kit import account, change, connect, contact, patched

pytestmark = pytest.mark.anyio


@pytest.fixture
def sim() -> ServiceNowSimulator:
    return ServiceNowSimulator().seed_demo()


async def test_changed_fields_go_through_one_batch_call_and_come_back_as_stored(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    refs = [account(sim, key) for key in ("acme", "globex", "initech")]
    results = await target.write(
        [change(ref, notes=f"deal note {n}", u_special_discount=15) for n, ref in enumerate(refs)]
    )
    assert [r.ok for r in results] == [True, True, True]
    assert results[0].fields == {"notes": "deal note 0", "u_special_discount": "15"}
    assert sim.requests("POST", "/api/now/v1/batch") == 1
    assert sim.requests("PATCH") == 0
    stored = sim.record("account", refs[2].id)
    assert stored["notes"] == "deal note 2"
    assert stored["sys_mod_count"] == "1"
    await target.aclose()


async def test_a_column_missing_from_the_catalog_fails_that_record_before_anything_is_sent(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    results = await target.write(
        [change(acme, u_special_discont=15, notes="x"), change(globex, u_special_discount=10)]
    )
    assert not results[0].ok
    assert results[0].error is not None
    assert "'u_special_discont' is not a column of customer_account" in results[0].error
    assert "core_company" in results[0].error  # the parent's columns were looked at too
    assert results[1].ok
    assert patched(sim, acme.id) == 0  # ServiceNow would have ignored it without a word
    assert sim.record("account", acme.id)["notes"].startswith("Key account since 2019")
    await target.aclose()


async def test_a_value_outside_the_choice_list_fails_that_record_naming_the_choices(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    results = await target.write(
        [change(acme, u_payment_terms="net90"), change(globex, u_payment_terms="net60")]
    )
    assert results[0].error is not None
    assert "'net90' is not a choice of customer_account.u_payment_terms" in results[0].error
    assert "net30, net45, net60" in results[0].error
    assert results[1].ok
    assert sim.record("account", acme.id)["u_payment_terms"] == ""
    assert sim.record("account", globex.id)["u_payment_terms"] == "net60"
    await target.aclose()


async def test_a_choice_column_is_never_cleared_with_an_empty_value(
    sim: ServiceNowSimulator,
) -> None:
    acme = account(sim, "acme")
    sim.agent_edit("account", acme.id, u_payment_terms="net30")
    target = connect(sim)
    (result,) = await target.write([change(acme, u_payment_terms=None)])
    assert not result.ok
    assert result.error is not None
    assert "does not clear through the API" in result.error
    assert sim.record("account", acme.id)["u_payment_terms"] == "net30"
    await target.aclose()


async def test_agent_text_alone_over_the_4000_character_limit_fails_the_record_unwritten(
    sim: ServiceNowSimulator,
) -> None:
    acme, globex = account(sim, "acme"), account(sim, "globex")
    agents = "Escalate to Tier 2. " * 205  # 4,100 characters of the agents' own text
    note = agents + "\n\n=== dealbridge: special terms ===\nSpecial terms: 1 active deal(s)"
    target = connect(sim)
    results = await target.write([change(acme, notes=note), change(globex, notes="fits")])
    assert results[0].error is not None
    assert "customer_account.notes holds 4,000 characters" in results[0].error
    assert "shorten it in ServiceNow" in results[0].error
    assert results[1].ok
    # The instance would have cut the text silently: nothing of it was sent.
    assert sim.record("account", acme.id)["notes"].startswith("Key account since 2019")
    assert patched(sim, acme.id) == 0
    await target.aclose()


async def test_a_record_deleted_between_lookup_and_write_fails_alone(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    sim.delete("account", acme.id)
    results = await target.write([change(acme, notes="a"), change(globex, notes="b")])
    assert results[0].error is not None
    assert "no longer exists in ServiceNow" in results[0].error
    assert results[1].ok
    assert sim.record("account", globex.id)["notes"] == "b"
    await target.aclose()


async def test_unserviced_batch_items_are_sent_again_and_written_exactly_once(
    sim: ServiceNowSimulator,
) -> None:
    refs = [account(sim, key) for key in ("acme", "globex", "initech", "umbrella")]
    sim.unservice_next(1)  # a size limit stops the first batch at its first item
    target = connect(sim)
    results = await target.write([change(ref, notes=f"note {ref.id}") for ref in refs])
    assert all(r.ok for r in results)
    # The stopped batch, then its four items again in two batches of half its size.
    assert sim.requests("POST", "/api/now/v1/batch") == 3
    for ref in refs:
        assert patched(sim, ref.id) == 1, "each record reached exactly once"
        assert sim.record("account", ref.id)["sys_mod_count"] == "1"
    assert any("unserviced" in fact for fact in target.notices())
    await target.aclose()


async def test_items_left_unserviced_in_every_round_fail_and_say_nothing_was_written(
    sim: ServiceNowSimulator,
) -> None:
    acme = account(sim, "acme")
    sim.unservice_next(100)
    target = connect(sim, batch_rounds=3)
    (result,) = await target.write([change(acme, notes="never")])
    assert result.error is not None
    assert "left this update unserviced 3 times" in result.error
    assert "nothing was written" in result.error
    assert patched(sim, acme.id) == 0
    await target.aclose()


async def test_batches_stay_inside_the_30_second_quota_as_items_prove_slow(
    sim: ServiceNowSimulator,
) -> None:
    sim.settings.item_seconds = 3.0  # 30 s of quota hold ten such items
    refs = sim.seed_bulk(40)
    target = connect(sim, batch_max_items=50, batch_item_seconds=0.2)
    results = await target.write(
        [change(RecordRef(kind="account", id=i), notes="slow") for i in refs]
    )
    assert all(r.ok for r in results)
    assert all(patched(sim, i) == 1 for i in refs)
    # The first batch learns the item time and the quota; later batches carry what fits.
    assert target.notices()[0].startswith("writes go through the Batch API, 3 PATCHes a call")
    await target.aclose()


async def test_without_a_batch_api_each_record_is_patched_and_notices_say_so(
    sim: ServiceNowSimulator,
) -> None:
    sim.remove_batch_api()
    target = connect(sim)
    refs = [account(sim, key) for key in ("acme", "globex")]
    results = await target.write([change(ref, u_sla_promise="4h response") for ref in refs])
    assert all(r.ok for r in results)
    assert sim.requests("PATCH") == 2
    assert sim.requests("POST", "/api/now/v1/batch") == 1  # tried once, then never again
    await target.write([change(refs[0], u_sla_promise="2h response")])
    assert sim.requests("POST", "/api/now/v1/batch") == 1
    assert any("refused the Batch API (HTTP 400" in fact for fact in target.notices())
    await target.aclose()


async def test_a_record_saved_since_it_was_read_is_refused_as_changed_since_read(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    before = {r.ref.id: r for r in await target.read([acme, globex])}
    assert before[acme.id].version == "0"
    sim.agent_edit("account", acme.id, u_sla_promise="agent's promise")
    results = await target.write(
        [
            change(acme, before[acme.id].version, u_sla_promise="deal's promise"),
            change(globex, before[globex.id].version, u_sla_promise="deal's promise"),
        ]
    )
    assert results[0].error is not None
    assert "changed since it was read (sys_mod_count 0 -> 1)" in results[0].error
    assert results[0].moved
    assert sim.record("account", acme.id)["u_sla_promise"] == "agent's promise"
    assert results[1].ok
    await target.aclose()


async def test_a_value_the_instance_cuts_is_reported_with_what_was_stored(
    sim: ServiceNowSimulator,
) -> None:
    # The catalog says 255; the column was shrunk to 10 after the catalog was read.
    target = connect(sim)
    await target.field_catalog()
    sim.add_column("account", ColumnDef("u_sla_promise", "string", 10, "SLA promise"))
    (result,) = await target.write(
        [change(account(sim, "acme"), u_sla_promise="4h response on P1")]
    )
    assert result.error is not None
    assert "ServiceNow cut u_sla_promise to 10 of 17 characters" in result.error
    await target.aclose()


async def test_contacts_take_their_note_in_a_custom_column_and_values_are_typed(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim, record_kinds=("account", "contact"))
    results = await target.write(
        [
            change(contact(sim, "acme"), u_dealbridge_note="15% discount until 2027-03-31"),
            change(contact(sim, "globex"), notes="contacts have no notes column"),
            change(account(sim, "acme"), u_terms_valid_until="2027-03-31", u_special_discount=12.5),
        ]
    )
    assert results[0].ok
    assert results[1].error is not None
    assert "not a column of customer_contact or its parent tables (sys_user)" in results[1].error
    assert results[2].fields == {"u_terms_valid_until": "2027-03-31", "u_special_discount": "12.5"}
    await target.aclose()


async def test_kinds_ids_and_types_the_connector_cannot_write_fail_without_a_request(
    sim: ServiceNowSimulator,
) -> None:
    target = connect(sim)
    await target.field_catalog()
    sim.controls.reset_log()
    acme = account(sim, "acme")
    results = await target.write(
        [
            RecordChange(ref=RecordRef(kind="organization", id=acme.id), fields={"notes": "x"}),
            change(RecordRef(kind="account", id="not-a-sys-id"), notes="x"),
            change(acme, u_special_discount="fifteen"),
            change(acme, u_terms_valid_until="next spring"),
            change(acme, number="ACCT0000001"),
        ]
    )
    errors = [r.error or "" for r in results]
    assert "'organization' is not a record kind of this connector (account)" in errors[0]
    assert "'not-a-sys-id' is not a ServiceNow sys_id" in errors[1]
    assert "takes a number; 'fifteen' is not one" in errors[2]
    assert "takes a date (YYYY-MM-DD); 'next spring' is not one" in errors[3]
    assert "customer_account.number is not writable" in errors[4]
    assert sim.controls.requests == []
    await target.aclose()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    outcomes=st.lists(
        st.sampled_from(["ok", "deleted", "bad_choice", "moved"]), min_size=1, max_size=12
    ),
    unserviced=st.integers(min_value=0, max_value=6),
    batch_max=st.integers(min_value=1, max_value=5),
)
async def test_every_change_is_written_exactly_once_or_reported(
    outcomes: list[str], unserviced: int, batch_max: int
) -> None:
    sim = ServiceNowSimulator()
    ids = sim.seed_bulk(len(outcomes))
    target = connect(sim, batch_max_items=batch_max, batch_rounds=10)
    refs = [RecordRef(kind="account", id=i) for i in ids]
    read = {r.ref.id: r.version for r in await target.read(refs)}
    changes = []
    for ref, outcome in zip(refs, outcomes, strict=True):
        terms = "net45" if outcome != "bad_choice" else "net120"
        changes.append(change(ref, read[ref.id], u_payment_terms=terms, notes=f"n {ref.id}"))
        if outcome == "deleted":
            sim.delete("account", ref.id)
        elif outcome == "moved":
            sim.agent_edit("account", ref.id, u_sla_promise="agent")
    sim.unservice_next(unserviced)
    results = await target.write(changes)
    assert [r.ref for r in results] == [c.ref for c in changes]
    for ref, outcome, result in zip(refs, outcomes, results, strict=True):
        assert result.ok is (outcome == "ok"), result.error
        if outcome == "ok":
            assert patched(sim, ref.id) == 1
            assert sim.record("account", ref.id)["notes"] == f"n {ref.id}"
        else:
            assert result.error
            assert patched(sim, ref.id) == 0
    await target.aclose()


async def test_concurrent_writes_keep_at_most_the_configured_batches_in_flight(
    sim: ServiceNowSimulator,
) -> None:
    ids = sim.seed_bulk(40)
    target = connect(sim, batches_in_flight=2, batch_max_items=5)
    await target.field_catalog()
    running, most = 0, 0
    original = target.api.batch

    async def watched(items: list[Any]) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            await anyio.sleep(0.01)
            return await original(items)
        finally:
            running -= 1

    target.api.batch = watched  # type: ignore[method-assign]
    groups = [ids[n : n + 10] for n in range(0, 40, 10)]
    async with anyio.create_task_group() as tasks:
        for group in groups:
            tasks.start_soon(
                target.write, [change(RecordRef(kind="account", id=i), notes="x") for i in group]
            )
    assert most == 2
    assert all(patched(sim, i) == 1 for i in ids)
    await target.aclose()


@pytest.mark.parametrize(
    ("answered", "documented"),
    [
        ({"display_value": "Deal A", "value": "deal note A"}, True),  # sysparm_display_value=all
        ({"text": "deal note A"}, False),  # no value
        ({"display_value": "deal note A", "link": "https://x"}, False),  # no value either
        ({"value": "deal note A", "shown": "Deal A"}, False),  # a member ServiceNow never sends
        ({"value": {"text": "deal note A"}}, False),  # a value that is an object
    ],
)
async def test_a_write_answer_holding_an_object_of_no_documented_shape_fails_that_record(
    sim: ServiceNowSimulator,
    monkeypatch: pytest.MonkeyPatch,
    answered: dict[str, Any],
    documented: bool,
) -> None:
    """The instance answers a PATCH with the stored record. A column as an object is a
    reference ({link, value}) or a display value ({display_value, value}); any other object
    is no value to take as what was stored: its record fails (it is read again on its next
    attempt), the other records of the batch are written."""
    rendered = sim.instance._value

    def answer(column: ColumnDef, value: str, links: bool) -> Any:
        return answered if value == "deal note A" else rendered(column, value, links)

    monkeypatch.setattr(sim.instance, "_value", answer)
    target = connect(sim)
    acme, globex = account(sim, "acme"), account(sim, "globex")
    results = await target.write([change(acme, notes="deal note A"), change(globex, notes="B")])
    assert results[1].ok
    assert results[1].fields == {"notes": "B"}
    if documented:
        assert results[0].ok
        assert results[0].fields == {"notes": "deal note A"}
    else:
        assert not results[0].ok
        assert results[0].error is not None
        assert results[0].error.startswith(
            f"ServiceNow account {acme.id} was written, but in its answer field notes is an object"
        )
    await target.aclose()
