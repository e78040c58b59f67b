"""Freshdesk target: reading records, writing changed fields one PUT each, the field catalog."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from connectors.base import RecordChange, RecordRef
from connectors.errors import AuthError
from tests.unit.connectors.test_freshdesk import (
    BASE,
    COMPANIES,
    CONTACTS,
    api_key_env,
    load,
    make_target,
)

pytestmark = pytest.mark.anyio
__all__ = ["api_key_env"]  # the autouse fixture that puts the API key in the environment


def change(kind: str, record_id: str, **fields: Any) -> RecordChange:
    """A change; ``custom__x`` in keyword names stands for ``custom_fields.x``."""
    paths = {k.replace("custom__", "custom_fields."): v for k, v in fields.items()}
    return RecordChange(ref=RecordRef(kind=kind, id=record_id), fields=paths)


def stored(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)


async def test_write_puts_only_the_changed_fields_and_returns_what_freshdesk_stored(
    respx_mock: respx.MockRouter,
) -> None:
    answer = load("company_updated.json") | {
        "custom_fields": {"cf_payment_terms": "Net 60", "website": "https://www.supernova.org"}
    }
    route = respx_mock.put(f"{COMPANIES}/1").mock(return_value=stored(answer))
    results = await make_target().write(
        [
            change(
                "company",
                "1",
                description="Rocket Manufacturing",
                custom__cf_payment_terms="Net 60",
            )
        ]
    )
    sent = json.loads(route.calls.last.request.content)
    assert sent == {
        "description": "Rocket Manufacturing",
        "custom_fields": {"cf_payment_terms": "Net 60"},
    }
    assert results[0].ok
    assert results[0].fields == {
        "description": "Rocket Manufacturing",
        "custom_fields.cf_payment_terms": "Net 60",
    }


async def test_a_validation_error_fails_only_that_record_and_names_the_field_and_value(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(f"{COMPANIES}/1").mock(
        return_value=httpx.Response(400, json=load("validation_error.json"))
    )
    respx_mock.put(f"{COMPANIES}/2").mock(return_value=stored(load("company.json") | {"id": 2}))
    results = await make_target().write(
        [
            change("company", "1", custom__cf_payment_terms="Net 90"),
            change("company", "2", description="Space Shuttle Manufacturing"),
        ]
    )
    assert [r.ok for r in results] == [False, True]
    error = results[0].error or ""
    assert "cf_payment_terms" in error
    assert "It should be one of these values: 'Net 30,Net 60'" in error
    assert "custom_fields.cf_payment_terms = 'Net 90'" in error


async def test_writing_a_record_deleted_in_freshdesk_fails_that_record_only(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(f"{CONTACTS}/5").mock(return_value=httpx.Response(404))
    results = await make_target().write([change("contact", "5", description="x")])
    assert not results[0].ok
    assert results[0].error == "contact 5 not found in Freshdesk (deleted or merged?)"


async def test_a_field_the_kind_does_not_have_is_refused_without_calling_freshdesk() -> None:
    results = await make_target().write(
        [change("contact", "5", note="contacts have no note"), change("ticket", "1", subject="x")]
    )
    assert [r.ok for r in results] == [False, False]
    assert "contact has no writable field 'note'" in (results[0].error or "")
    assert "unknown Freshdesk record kind 'ticket'" in (results[1].error or "")


async def test_refused_credentials_stop_the_batch_instead_of_failing_records(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.put(f"{COMPANIES}/1").mock(return_value=stored(load("company.json")))
    respx_mock.put(f"{COMPANIES}/2").mock(
        return_value=httpx.Response(403, json=load("access_denied.json"))
    )
    with pytest.raises(AuthError, match="not authorized"):
        await make_target().write(
            [change("company", "1", note="a"), change("company", "2", note="b")]
        )


async def test_dates_decimals_and_clears_are_sent_the_way_freshdesk_reads_them(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.put(f"{CONTACTS}/3").mock(return_value=stored(load("contact.json")))
    await make_target().write(
        [
            change(
                "contact",
                "3",
                custom__cf_until=date(2027, 3, 31),
                custom__cf_discount=Decimal("12.50"),
                custom__cf_seats=Decimal(40),
                custom__cf_seen=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
                custom__cf_services=("Onsite training", "Priority support"),
                description=None,
            )
        ]
    )
    assert json.loads(route.calls.last.request.content) == {
        "description": None,
        "custom_fields": {
            "cf_until": "2027-03-31",
            "cf_discount": 12.5,
            "cf_seats": 40,
            "cf_seen": "2024-01-02T03:04:05Z",
            "cf_services": ["Onsite training", "Priority support"],
        },
    }


async def test_a_written_date_is_reported_in_the_form_the_next_read_gives_back(
    respx_mock: respx.MockRouter,
) -> None:
    # Freshdesk documents custom dates as YYYY-MM-DD but prints the default renewal_date as
    # "2020-12-31T00:00:00Z" (python-freshdesk's company.json): whatever form it prints, a
    # write reports what the PUT answered, which is what the next GET answers.
    printed = load("company.json") | {"custom_fields": {"cf_until": "2027-03-31T00:00:00Z"}}
    respx_mock.put(f"{COMPANIES}/1").mock(return_value=stored(printed))
    respx_mock.get(f"{COMPANIES}/1").mock(return_value=stored(printed))
    target = make_target()
    (result,) = await target.write([change("company", "1", custom__cf_until=date(2027, 3, 31))])
    (after,) = await target.read([RecordRef(kind="company", id="1")])
    assert result.fields == {"custom_fields.cf_until": after.fields["custom_fields.cf_until"]}


async def test_writes_run_in_batches_of_write_batch_size_in_the_changes_order(
    respx_mock: respx.MockRouter,
) -> None:
    route = respx_mock.put(url__regex=rf"{COMPANIES}/\d+").mock(
        side_effect=lambda request: stored(
            load("company.json") | {"id": int(request.url.path.rsplit("/", 1)[1]), "note": "n"}
        )
    )
    target = make_target(write_concurrency=3)
    results = await target.write([change("company", str(n), note="n") for n in range(7)])
    assert [r.ref.id for r in results] == [str(n) for n in range(7)]
    assert all(r.ok and r.fields == {"note": "n"} for r in results)
    assert route.call_count == 7
    assert target.write_batch_size == 3


async def test_an_empty_change_succeeds_without_a_request() -> None:
    results = await make_target().write([change("company", "1")])
    assert results[0].ok


async def test_read_fetches_each_record_and_leaves_out_missing_ones(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{COMPANIES}/1").mock(return_value=stored(load("company.json")))
    respx_mock.get(f"{CONTACTS}/2").mock(return_value=httpx.Response(404))
    respx_mock.get(f"{CONTACTS}/1").mock(return_value=stored(load("contact.json")))
    refs = [
        RecordRef(kind="company", id="1"),
        RecordRef(kind="contact", id="2"),
        RecordRef(kind="contact", id="1"),
    ]
    records = await make_target().read(refs)
    assert [r.ref.key for r in records] == ["company:1", "contact:1"]
    assert records[0].fields["description"] == "Space Shuttle Manufacturing"
    assert records[0].fields["note"] is None
    assert "note" not in records[1].fields  # contacts have description only
    assert records[1].fields["description"] is None


async def test_field_catalog_lists_built_ins_and_custom_fields_with_choices(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{BASE}/api/v2/company_fields").mock(
        return_value=stored(load("company_fields.json"))
    )
    respx_mock.get(f"{BASE}/api/v2/contact_fields").mock(
        return_value=stored(load("contact_fields.json"))
    )
    target = make_target(note_max_length=8000)
    catalog = {f.path: f for f in await target.field_catalog()}
    assert set(catalog) == {
        "description",
        "note",
        "custom_fields.cf_customer_number",
        "custom_fields.cf_payment_terms",
        "custom_fields.cf_special_discount",
        "custom_fields.cf_terms_valid_until",
        "custom_fields.cf_history",
        "custom_fields.cf_vip",
    }
    terms = catalog["custom_fields.cf_payment_terms"]
    assert (terms.type, terms.choices, terms.custom, terms.writable) == (
        "custom_dropdown",
        ("Net 30", "Net 60"),
        True,
        True,
    )
    assert terms.label == "Payment terms (company, contact)"
    assert catalog["note"].label == "Note (company)"
    assert catalog["description"].max_length == target.text_limit == 8000
    assert catalog["custom_fields.cf_customer_number"].max_length == 255
    assert catalog["custom_fields.cf_vip"].type == "custom_checkbox"
